"""``llmguard pins check`` reads Python with ``ast`` (defaults, conditionals, getenv) and skips generated folders."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from llmguard.cli import app
from llmguard.cli._pins import find_models

CODE = """\
import os

def answer(question, model="gpt-4.1"):
    ...

async def judge(x, *, judge_model: str = "o3", temperature=0.2, model_path="./weights"):
    ...

summarise = lambda text, model="claude-3-5-sonnet-latest": text
DEFAULT_MODEL = os.getenv("LLM_MODEL", "gpt-4o")
model = "gpt-4o-2024-08-06" if fast else "gpt-4.5-preview"
client.create(model=settings.get("model_key", "o1") or "o3-mini", messages=[])
client.create(model=f"gpt-{version}", messages=[])
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_defaults_conditionals_and_fallbacks_are_found(tmp_path: Path) -> None:
    _write(tmp_path, {"app.py": CODE})
    assert [(f.line, f.model) for f in find_models([tmp_path], {})] == [
        (3, "gpt-4.1"),
        (6, "o3"),
        (9, "claude-3-5-sonnet-latest"),
        (10, "gpt-4o"),  # the fallback, not the variable name "LLM_MODEL"
        (11, "gpt-4o-2024-08-06"),
        (11, "gpt-4.5-preview"),
        (12, "o1"),  # not the lookup key "model_key"
        (12, "o3-mini"),
    ]


def test_generated_folders_are_skipped(tmp_path: Path) -> None:
    record = '{"model": "gpt-4o", "prompt": {"model": "gpt-4o-mini"}}'
    _write(
        tmp_path,
        {
            "app.py": 'client.create(model="gpt-4o-2024-08-06")\n',
            "evals/bot.suite.yaml": "prompt: bot@1.0.0\nmodel: gpt-4o-2024-08-06\n",
            "evals/cache/ab/key.json": record,
            "evals/records/bot/abc/gpt-4o/run.json": record,
            "qa/other.suite.yml": "prompt: bot@1.0.0\ncache_dir: ../replay\nrecords_dir: evidence\n",
            "replay/cd/key.json": record,
            "qa/evidence/run.json": record,
            ".llmguard/export.json": record,
            ".mypy_cache/3.12/x.json": record,
            ".pytest_cache/v/cache.json": record,
            "build/lib/app.py": 'model = "gpt-4o"\n',
            "dist/app.py": 'model = "gpt-4o"\n',
            "site/search.json": record,
            "node_modules/x/package.json": record,
            "pkg.egg-info/x.json": record,
        },
    )
    result = CliRunner().invoke(app, ["pins", "check", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {(Path(f["file"]).name, f["model"]) for f in report["findings"]} == {
        ("app.py", "gpt-4o-2024-08-06"),
        ("bot.suite.yaml", "gpt-4o-2024-08-06"),
    }


def test_a_records_folder_without_a_suite_is_still_scanned(tmp_path: Path) -> None:
    _write(tmp_path, {"records/config.json": '{"model": "gpt-4o"}'})
    assert [f.model for f in find_models([tmp_path], {})] == ["gpt-4o"]
