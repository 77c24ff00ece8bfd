"""``--db``, ``--config`` and ``--json`` work before and after the sub-command, for every command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import llmguard
from llmguard import Guard
from llmguard.cli import app
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
SHARED = ("--db", "--config", "--json")


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every sub-group and command under ``command`` (click's, whichever copy typer uses)."""
    out: list[tuple[tuple[str, ...], Any]] = [(path, command)] if path else []
    for name, sub in (getattr(command, "commands", None) or {}).items():
        out.extend(_commands(sub, (*path, name)))
    return out


def _seed_feedback(db: Path) -> None:
    guard = Guard(db_path=db, pin_policy="off")
    with FakeOpenAI(reply="Paris.").client(llmguard.OpenAI, guard=guard) as client:
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Capital?"}]
        )
        llmguard.feedback(answer, "thumbs", True, user_id="alice", guard=guard)
    guard.close()


def test_every_command_accepts_the_shared_options() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 10
    missing = [
        (" ".join(path), opt)
        for path, command in commands
        for opt in SHARED
        if not any(opt in param.opts for param in command.params)
    ]
    assert missing == []
    extra = [
        (" ".join(path), param.opts)
        for path, command in commands
        for param in command.params
        if "--install-completion" in param.opts or "--show-completion" in param.opts
    ]
    assert extra == []  # only the shared options are added


def test_db_and_json_after_the_subcommand(tmp_path: Path) -> None:
    db = tmp_path / "fb.db"
    _seed_feedback(db)
    runner = CliRunner()
    before = runner.invoke(app, ["--db", str(db), "--json", "feedback", "summary"])
    after = runner.invoke(app, ["feedback", "summary", "--db", str(db), "--json"])
    between = runner.invoke(app, ["feedback", "--db", str(db), "summary", "--json"])
    assert before.exit_code == 0, before.output
    assert after.exit_code == 0, after.output
    assert between.exit_code == 0, between.output
    assert json.loads(after.stdout) == json.loads(before.stdout) == json.loads(between.stdout)
    exported = runner.invoke(app, ["feedback", "export", "--db", str(db)])
    assert exported.exit_code == 0, exported.output
    assert [json.loads(line)["name"] for line in exported.stdout.splitlines()] == ["thumbs"]


def test_db_after_the_subcommand_is_the_one_read(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["feedback", "summary", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2
    assert "none.db" in missing.output


def test_config_after_the_subcommand(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "llmguard.toml"
    config.parent.mkdir()
    config.write_text('[budgets]\nlimits = [{period = "day", hard_usd = 100}]\n', encoding="utf-8")
    db = tmp_path / "cost.db"
    guard = Guard(db_path=db, pin_policy="off", ledger=True)
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    guard.close()
    runner = CliRunner()
    without = runner.invoke(app, ["cost", "check", "--db", str(db)])
    assert without.exit_code == 2  # no budgets table: the config was not read
    result = runner.invoke(app, ["cost", "check", "--db", str(db), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


@pytest.mark.parametrize("where", ["before", "after"])
def test_missing_config_is_a_usage_error(tmp_path: Path, where: str) -> None:
    opts = ["--config", str(tmp_path / "nope.toml")]
    args = [*opts, "cost", "report"] if where == "before" else ["cost", "report", *opts]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "nope.toml: no such file" in result.output


def test_pins_check_keeps_its_own_json_option(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text('model = "gpt-4o-2024-08-06"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["pins", "check", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["pinned"] == 1
