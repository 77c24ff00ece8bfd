"""The storage layer: one schema on SQLite and PostgreSQL, migrations, and every store on both engines."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmguard._storage import Database, _migrate, display_url, open_database, resolve_url
from llmguard._storage._schema import METADATA, VERSION_TABLE
from llmguard.cost._alerts import AlertDispatcher
from llmguard.cost._ledger import COLUMNS, SQLLedger
from llmguard.cost._rules import Alert
from llmguard.exceptions import ConfigurationError, LabelConflictError, SchemaVersionError


def _row(call_id: str, cost: int = 1000, day: str | None = None, tags: str | None = None) -> tuple[Any, ...]:
    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update(
        call_id=call_id, ts_ns=1, day=day or datetime.now(UTC).date().isoformat(), kind="chat", service="svc",
        environment="dev", provider="openai", model="gpt-4o-2024-08-06", cost_nanos=cost, duration_s=0.1,
        status="ok", refused=0, tags=tags,
    )  # fmt: skip
    return tuple(values[c] for c in COLUMNS)


# -- URLs -------------------------------------------------------------------------------------------


def test_paths_and_urls_resolve_to_one_canonical_url(tmp_path: Path) -> None:
    assert resolve_url(tmp_path / "a.db") == f"sqlite:///{tmp_path / 'a.db'}"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
    assert resolve_url("postgres://u:secret@h/db") == "postgresql+psycopg://u:secret@h/db"
    assert resolve_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert display_url("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"
    for bad in ("", "   ", "mysql://u@h/db", "redis://x"):
        with pytest.raises(ConfigurationError) as info:
            resolve_url(bad)
        assert "secret" not in str(info.value)


def test_a_bad_db_setting_names_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    import llmguard

    monkeypatch.setenv("LLMGUARD_DB", "mysql://root:pw@db/app")
    with pytest.raises(ConfigurationError, match="LLMGUARD_DB") as info:
        llmguard.Guard()
    assert "pw" not in str(info.value)
    monkeypatch.setenv("LLMGUARD_DB", "postgresql://app@db/llm")
    assert llmguard.Guard().db == "postgresql+psycopg://app@db/llm"
    assert llmguard.Guard(db="other.db").db == "sqlite:///other.db"  # the argument wins


# -- schema -----------------------------------------------------------------------------------------


def test_the_migrated_schema_is_the_declared_one(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database(db_url)
    db.ensure_schema()

    def ours(name: str | None, kind: str, _parent: object) -> bool:  # not the job queue's tables
        return kind != "table" or name in METADATA.tables

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": ours})
        diff = compare_metadata(context, METADATA)
    db.dispose()
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)] == []


def test_the_revision_list_is_the_migration_scripts() -> None:
    script = _migrate._script()
    walked = [rev.revision for rev in script.walk_revisions()]  # newest first
    assert tuple(reversed(walked)) == _migrate.REVISIONS
    assert script.get_current_head() == _migrate.head()


def _schema_sql(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall()
    finally:
        conn.close()
    return {name: " ".join((sql or "").split()) for name, sql in rows}


def test_an_empty_sqlite_database_is_created_as_the_migrations_would_without_alembic(tmp_path: Path) -> None:
    from alembic import command

    migrated = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    with migrated.engine.connect() as conn:  # the scripts, every one of them
        command.upgrade(_migrate._config(conn), "head")
        conn.commit()
    migrated.dispose()
    created = tmp_path / "created.db"
    code = (
        "import sys; from llmguard._storage import Database; "
        f"Database('sqlite:///{created}').ensure_schema(); "
        "print(sorted(m for m in ('alembic', 'mako', 'pygments', 'sqlalchemy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"  # created without importing the migration tooling, nor SQLAlchemy
    assert _schema_sql(created) == _schema_sql(tmp_path / "migrated.db")
    assert _migrate.current(Database(f"sqlite:///{created}")) == _migrate.head()


def test_a_pre_alembic_sqlite_database_is_adopted_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE cost_ledger (call_id TEXT PRIMARY KEY, ts_ns INTEGER NOT NULL, day TEXT NOT NULL,
            kind TEXT NOT NULL, service TEXT NOT NULL, environment TEXT NOT NULL, provider TEXT NOT NULL,
            requested_model TEXT, model TEXT, response_model TEXT, prompt_name TEXT, prompt_version TEXT,
            input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER, cache_write_tokens INTEGER,
            reasoning_tokens INTEGER, cost_nanos INTEGER, duration_s REAL NOT NULL, ttfc_s REAL,
            status TEXT NOT NULL, error_type TEXT, refused INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
        CREATE TABLE llmguard_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
        INSERT INTO llmguard_schema VALUES ('cost_ledger', 1);
        INSERT INTO cost_ledger VALUES ('c-old', 1, '2025-01-01', 'app', 'svc', 'prod', 'openai', NULL, 'm',
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 10, 0.1, NULL, 'ok', NULL, 0);
        """
    )
    conn.close()
    ledger = SQLLedger(path)
    assert ledger.query("SELECT call_id, cost_nanos, user_id FROM cost_ledger") == [("c-old", 10, None)]
    assert {"user_id", "session_id", "tags", "metadata"} <= ledger.columns("cost_ledger")
    assert "llmguard_schema" not in ledger.tables()
    assert {"llmguard_feedback", "llmguard_judgments", "prompt_labels"} <= ledger.tables()
    assert _migrate.current(ledger.db) == _migrate.head()
    ledger.close()


def test_postgres_is_never_migrated_behind_the_replicas_back(postgres_server: Any, tmp_path: Path) -> None:
    url = postgres_server.new_database(migrated=False)
    ledger = SQLLedger(url)
    with pytest.raises(SchemaVersionError, match="llmguard db upgrade"):
        ledger.write([_row("c1")])
    env = {"PATH": "/usr/bin:/bin", "LLMGUARD_DB": url}
    check = subprocess.run(
        [sys.executable, "-m", "llmguard", "db", "current", "--check"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert check.returncode == 1, check.stderr
    assert "behind" in check.stdout
    for expected in ("migrated from (empty) to", "already at schema revision"):  # idempotent
        done = subprocess.run(
            [sys.executable, "-m", "llmguard", "db", "upgrade"], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
    ledger = SQLLedger(Database(ledger.db.url))  # a process started after the upgrade
    ledger.write([_row("c1")])
    assert ledger.query("SELECT COUNT(*) FROM cost_ledger") == [(1,)]
    ledger.close()


def test_sqlite_is_created_in_wal_mode_and_upgrades_are_idempotent(tmp_path: Path) -> None:
    db = open_database(tmp_path / "deep" / "folder" / "x.db")  # folders are created
    assert _migrate.upgrade(db) == (None, _migrate.head())
    assert _migrate.upgrade(db) == (_migrate.head(), _migrate.head())
    assert db.query("PRAGMA journal_mode") == [("wal",)]


def test_a_schema_from_a_newer_llmguard_is_refused(tmp_path: Path) -> None:
    db = open_database(tmp_path / "new.db")
    db.ensure_schema()
    db.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff-future'")
    with pytest.raises(SchemaVersionError, match="newer llmguard"):
        Database(db.url).ensure_schema()


def test_unreachable_postgres_is_a_storage_error_for_the_cli(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LLMGUARD_DB": "postgresql://nobody:pw@127.0.0.1:1/none"}
    done = subprocess.run(
        [sys.executable, "-m", "llmguard", "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "pw" not in done.stderr
    assert "127.0.0.1" in done.stderr


def test_import_and_unstored_calls_load_no_sqlalchemy(tmp_path: Path) -> None:
    code = (
        "import sys, llmguard\n"
        "from llmguard.testing import FakeOpenAI\n"
        "g = llmguard.Guard(pin_policy='off', ledger=False)\n"
        "with FakeOpenAI(reply='hi').client(llmguard.OpenAI, guard=g) as c:\n"
        "    c.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'x'}])\n"
        "print(sorted(m for m in ('sqlalchemy', 'psycopg', 'alembic') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- every store, on both engines --------------------------------------------------------------------


def test_ledger_rows_are_written_once_and_read_back(db_url: str) -> None:
    ledger = SQLLedger(db_url)
    ledger.write(
        [_row("a", tags='["x", "y"]', day="1970-01-01"), _row("b", 500, day="1970-01-01"), _row("new")]
    )
    ledger.write([_row("a", 999_999)])  # the same call again: ignored
    assert ledger.query("SELECT call_id, cost_nanos FROM cost_ledger ORDER BY call_id") == [
        ("a", 1000), ("b", 500), ("new", 1000),
    ]  # fmt: skip
    assert ledger.prune(2) == 2  # the 1970 rows
    assert ledger.query("SELECT call_id FROM cost_ledger") == [("new",)]
    ledger.close()


def test_ledger_series_and_tag_filters_agree_on_both_engines(db_url: str) -> None:
    from llmguard.cost._series import load_series

    ledger = SQLLedger(db_url)
    ledger.write([_row("a", 1_000_000_000, tags='["x"]'), _row("b", 2_000_000_000, tags='["y"]'), _row("c")])
    today = datetime.now(UTC).date()
    assert load_series(ledger, "cost", today, {"tag": "x"}).values == {today: 1.0}
    assert load_series(ledger, "calls", today).values == {today: 3.0}
    ledger.close()


def test_judgments_round_trip(db_url: str) -> None:
    from llmguard.judging._sinks import SQLJudgmentSink
    from llmguard.judging._types import Judgment

    sink = SQLJudgmentSink(db_url)
    sink.write([Judgment(call_id="c1", judge="j", status="ok", created_ns=5)])
    assert [(r["call_id"], r["judge"], r["status"]) for r in sink.rows()] == [("c1", "j", "ok")]
    sink.close()


def test_feedback_upserts_per_user_and_keeps_content_once(db_url: str) -> None:
    from llmguard._feedback._model import FeedbackEntry
    from llmguard._feedback._ref import CallRef
    from llmguard._feedback._sqlite import SQLFeedbackSink

    sink = SQLFeedbackSink(db_url)
    ref = CallRef(call_id="c1")

    def entry(value: bool, user: str) -> FeedbackEntry:
        return FeedbackEntry(
            ref=ref, name="thumbs", value=value, value_type="boolean", score=float(value), label=None,
            user_id=user, negative=not value, content={"output": "hi"},
        )  # fmt: skip

    for value in (True, False):
        sink.write([entry(value, "u1")])
    sink.write([entry(True, "u2")])
    db = sink.db
    rows = db.query("SELECT user_id, negative, revisions FROM llmguard_feedback ORDER BY user_id")
    assert rows == [("u1", 1, 2), ("u2", 0, 1)]
    assert db.query("SELECT COUNT(*) FROM llmguard_feedback_content") == [(1,)]
    sink.close()


def test_prompt_labels_move_under_compare_and_set(db_url: str) -> None:
    from llmguard.prompts import PromptRegistry, PromptVersion, SQLStore

    store = SQLStore(db_url)
    for version in ("1.0.0", "1.1.0", "1.0.0"):  # the same version twice: stored once
        store.save(PromptVersion(name="bot", version=version, system_prompt=f"v{version}"))
    assert store.names() == ["bot"]
    registry = PromptRegistry(store)
    registry.promote("bot", "1.0.0", label="staging", expect=None)
    with pytest.raises(LabelConflictError):  # expected the label unset, but it points at 1.0.0
        registry.promote("bot", "1.1.0", label="staging", expect=None)
    registry.promote("bot", "1.1.0", label="staging", expect="1.0.0")
    assert PromptRegistry(SQLStore(Database(store.db.url))).get("bot", label="staging").version == "1.1.0"
    assert [(m.from_, m.to) for m in store.history("bot")] == [(None, "1.0.0"), ("1.0.0", "1.1.0")]
    store.close()


def test_alerts_are_delivered_once_across_replicas(db_url: str) -> None:
    ledger = SQLLedger(db_url)
    alert = Alert("r", "budget", "cost", "2026-12-01", 2.0, 1.0, "over", "warning", {})
    replica = SQLLedger(Database(ledger.db.url))  # another process's handle
    first, second = AlertDispatcher(ledger), AlertDispatcher(replica)
    assert [len(first.deliver([alert])), len(second.deliver([alert]))] == [1, 0]
    replica.close()
    ledger.close()


def test_writes_from_many_threads_are_all_kept(db_url: str) -> None:
    ledger = SQLLedger(db_url)

    def work(t: int) -> None:
        for i in range(50):
            ledger.write([_row(f"t{t}-{i}")])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.query("SELECT COUNT(*) FROM cost_ledger") == [(400,)]
    ledger.close()
