"""Prompt store faults: missing, corrupt. A typed error naming the file; calls without it still work."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmguard import PromptFormatError, PromptNotFoundError

from ._app import HostApp, assert_accounted, build_app, write_prompts

pytestmark = pytest.mark.timeout(60)


def _fallback_works(app: HostApp) -> None:
    for _ in range(3):
        assert app.serve_without_prompt().startswith("Open Settings")
    acc = app.accounting()
    assert_accounted(app, acc)
    assert acc.ledger_rows == app.calls == 3
    assert acc.spans == 3


def test_prompt_store_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    app = build_app(tmp_path, prompts=missing)
    try:
        with pytest.raises(PromptNotFoundError, match="support-bot") as error:
            app.serve()
        assert str(missing) in str(error.value)
        _fallback_works(app)
    finally:
        app.close()


@pytest.mark.parametrize(
    ("file", "text"),
    [("v1.0.0.yaml", "version: [unclosed\n  : :"), ("labels.yaml", "production: [\n")],
    ids=["version-file", "labels-file"],
)
def test_prompt_store_corrupt(tmp_path: Path, file: str, text: str) -> None:
    root = write_prompts(tmp_path / "prompts")
    corrupt = root / "support-bot" / file
    corrupt.write_text(text)
    app = build_app(tmp_path, prompts=root)
    try:
        with pytest.raises(PromptFormatError) as error:
            app.serve()
        assert str(corrupt) in str(error.value)
        _fallback_works(app)
    finally:
        app.close()
