"""Execute ``examples/notebook.ipynb`` in a fresh kernel: offline, and every cell must succeed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"
KERNEL_NAME = "llmguard-test"
_read_notebook: Any = nbformat.read  # untyped in nbformat


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec that runs this interpreter, in a private Jupyter data dir (works on a fresh machine)."""
    from ipykernel.kernelspec import install

    prefix = tmp_path / "jupyter-prefix"
    install(kernel_name=KERNEL_NAME, prefix=str(prefix))
    kernel_json = prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    assert sys.executable in kernel_json.read_text(encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return KERNEL_NAME


def _outputs(nb: Any) -> str:
    """All text a run produced; a cell's stream chunks are joined first (the kernel may split a print)."""
    parts: list[str] = []
    for cell in nb.cells:
        streams: dict[str, str] = {}
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                streams[output.get("name", "")] = streams.get(output.get("name", ""), "") + output.get(
                    "text", ""
                )
            data = output.get("data", {})
            parts.extend(str(data.get(mime, "")) for mime in ("text/plain", "text/html"))
        parts.extend(streams.values())
    return "\n".join(parts)


def test_notebook_runs_offline(kernel: str, tmp_path: Path) -> None:
    nb = _read_notebook(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name=kernel, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    text = _outputs(nb)
    assert "<b>llmguard.Guard</b></caption>" in text  # the Guard's _repr_html_
    assert "pin_policy='enforce'" in text  # its plain repr
    assert "Hello from the notebook!" in text
    assert "gpt-4o -> gpt-4o-2024-08-06 (rewrite)" in text
    assert "UnpinnedModelError: model 'gpt-4o-mini' is a floating alias" in text
    assert "requests sent: 0" in text
    assert "event loop running: True" in text
    assert "sync call inside the loop: Hello from the notebook!" in text
    assert "async: Hello from the notebook!" in text
    assert "stream completed: True" in text
    assert not list(tmp_path.glob(".llmguard")), "the notebook must not write a database"
