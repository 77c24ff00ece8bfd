"""A SQLite file runs its per-call storage on the stdlib ``sqlite3`` module, from SQL compiled by SQLAlchemy.

The all-on guard (ledger, budget, judgments in the guard's database, telemetry) must not import
SQLAlchemy in the app's process; the SQL it runs is a generated snapshot of the one schema, which
must be current; errors stay typed; fork and concurrent creation stay safe.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from llmguard._storage import Database, _database, _gen, _lite, _migrate, _sqlite_sql, open_database
from llmguard.cost import SQLLedger
from llmguard.cost._ledger import COLUMNS
from llmguard.exceptions import SchemaVersionError, StorageError

ROOT = Path(__file__).resolve().parents[1]


def _row(call_id: str, cost: int = 10) -> tuple[Any, ...]:
    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update(
        call_id=call_id,
        ts_ns=1,
        day="2026-01-01",
        kind="app",
        service="svc",
        environment="prod",
        provider="openai",
        cost_nanos=cost,
        duration_s=0.1,
        status="ok",
        refused=0,
    )
    return tuple(values[c] for c in COLUMNS)


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_the_sql_snapshot_is_what_the_schema_compiles_to() -> None:
    current = _gen.TARGET.read_text(encoding="utf-8")
    assert current == _gen.render(), f"{_gen.TARGET.name} is out of date: run `{_gen.COMMAND}`"
    assert _migrate.head() == _sqlite_sql.REVISION, f"a migration was added: run `{_gen.COMMAND}`"


def test_the_all_on_guard_stores_everything_without_sqlalchemy(tmp_path: Path) -> None:
    code = """
import json, sqlite3, sys
from benchmarks._all_on import PROMPT
from benchmarks._worker import build, handler
import llmguard
from llmguard._storage import Database

reads = []
original = Database.read_rows
def counting(self, sql, params=()):
    reads.append(sql)
    return original(self, sql, params)
Database.read_rows = counting

client = build("llmguard-all", handler, store_judgments=True)
guard = client.guard
for i in range(400):
    with llmguard.use_prompt(PROMPT):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": str(i)}])
assert guard.flush(30)
from llmguard.cost._state import ledger_of
from llmguard._feedback._known import _stored
ledger, _ = ledger_of(guard)
row = ledger.db.read_rows("SELECT call_id FROM cost_ledger LIMIT 1")[0]
known = [_stored(ledger.db, row[0]), _stored(ledger.db, "c-never-made")]
path = str(ledger.db.path)
guard.close()
print(json.dumps({
    "path": path,
    "budget_reads": sum("cost_ledger" in sql for sql in reads),
    "known": known,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic")),
}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMGUARD_", "OTEL_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loaded"] == []
    path = Path(out["path"])
    assert _count(path, "cost_ledger") == 400  # every call, written through the stdlib connection
    assert _count(path, "llmguard_judgments") > 0  # 5% sampled: about 20
    assert out["budget_reads"] > 0  # the budget refresh read the ledger
    assert out["known"] == [True, False]
    conn = sqlite3.connect(path)
    try:
        assert _lite.revision(conn) == _migrate.head()  # created new, stamped
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_a_new_file_is_created_by_the_snapshot_as_the_engine_would(tmp_path: Path) -> None:
    stdlib = open_database(tmp_path / "stdlib.db")
    stdlib.ensure_schema()  # the stdlib path
    engine = Database(f"sqlite:///{tmp_path / 'engine.db'}")
    from llmguard._storage._schema import METADATA

    with engine.engine.begin() as conn:  # the engine compiling the schema now, not the snapshot
        METADATA.create_all(conn)
    engine.dispose()
    mine, theirs = (sqlite3.connect(p) for p in (tmp_path / "stdlib.db", tmp_path / "engine.db"))
    try:
        query = (
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        declared = {r[1] for r in theirs.execute(query)}
        assert declared == set(METADATA.tables) | _index_names(METADATA)
        # byte for byte the statements create_all runs (the version table is the migrations')
        assert {r for r in mine.execute(query) if r[1] != _lite.VERSION_TABLE} == set(theirs.execute(query))
    finally:
        mine.close()
        theirs.close()


def _index_names(metadata: Any) -> set[str]:
    return {str(i.name) for t in metadata.tables.values() for i in t.indexes}


def test_an_older_file_is_migrated_by_alembic_when_first_used(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(f"sqlite:///{path}")
    _migrate.upgrade(old, _migrate.REVISIONS[-2])
    old.dispose()
    ledger = SQLLedger(Database(f"sqlite:///{path}"))
    ledger.write([_row("c1")])
    assert ledger.query("SELECT call_id FROM cost_ledger") == [("c1",)]
    assert _migrate.current(ledger.db) == _migrate.head()
    ledger.close()


def test_a_newer_revision_is_refused_on_the_stdlib_path(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    open_database(path).ensure_schema()
    conn = sqlite3.connect(path)
    conn.execute(f"UPDATE {_lite.VERSION_TABLE} SET version_num = 'ffff'")
    conn.commit()
    conn.close()
    ledger = SQLLedger(Database(f"sqlite:///{path}"))
    with pytest.raises(SchemaVersionError, match=r"ffff.*newer llmguard"):
        ledger.write([_row("c1")])
    with pytest.raises(SchemaVersionError):
        ledger.query("SELECT 1")
    ledger.close()


def test_a_file_that_is_no_database_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database at all, " * 100)
    ledger = SQLLedger(Database(f"sqlite:///{path}"))
    with pytest.raises(StorageError, match=r"junk\.db.*DatabaseError"):
        ledger.write([_row("c1")])
    ledger.close()


def test_a_failed_batch_stores_nothing_and_is_a_storage_error(tmp_path: Path) -> None:
    db = open_database(tmp_path / "x.db")
    with pytest.raises(StorageError, match=r"x\.db.*IntegrityError"):
        db.write_rows(_sqlite_sql.LEDGER_INSERT, [_row("ok"), (*_row("bad")[:2], None, *_row("bad")[3:])])
    assert db.query("SELECT COUNT(*) FROM cost_ledger") == [(0,)]
    db.write_rows(_sqlite_sql.LEDGER_INSERT, [_row("after")])  # the connection is usable again
    assert db.execute("DELETE FROM cost_ledger WHERE call_id = :id", {"id": "after"}) == 1
    db.dispose()


def test_a_failure_in_a_later_statement_of_a_batch_stores_nothing(tmp_path: Path) -> None:
    db = open_database(tmp_path / "x.db")
    rows = [_row(f"c{i}") for i in range(300)]
    rows[290] = (*rows[290][:2], None, *rows[290][3:])  # `day` is NOT NULL: the batch's last statement fails
    with pytest.raises(StorageError, match=r"x\.db.*IntegrityError"):
        db.write_rows(_sqlite_sql.LEDGER_INSERT, rows)
    assert db.query("SELECT COUNT(*) FROM cost_ledger") == [(0,)]
    db.dispose()


def test_a_batch_goes_in_a_few_statements_of_a_few_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One statement per row would hand the GIL back per row (the writer falls behind busy callers);
    one statement per batch size would cache a prepared statement for each size (MiBs each)."""
    statements: list[str] = []
    connect = _lite.connect

    def traced(path: Path) -> sqlite3.Connection:
        conn = connect(path)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(_lite, "connect", traced)
    _database.many_rows.cache_clear()
    ledger = SQLLedger(tmp_path / "x.db")
    assert ledger.db.read_rows("SELECT COUNT(*) FROM cost_ledger") == [(0,)]  # the file is created
    statements.clear()
    ledger.write([_row(f"a{i}") for i in range(500)])
    inserts = [s for s in statements if s.startswith("INSERT INTO cost_ledger")]
    assert len(inserts) == 10  # 7 x 64 + 32 + 16 + 4 rows
    assert statements[0] == "BEGIN IMMEDIATE"
    assert statements[-1] == "COMMIT"
    statements.clear()
    ledger.write([_row("single")])
    assert [s.split(" ", 2)[:2] for s in statements] == [["INSERT", "INTO"]]  # autocommit: one statement
    for size in range(2, 130):
        ledger.write([_row(f"b{size}-{i}") for i in range(size)])
    assert _database.many_rows.cache_info().currsize == 7  # 1, 2, 4, ..., 64 rows
    assert ledger.db.query("SELECT COUNT(*) FROM cost_ledger") == [(500 + 1 + sum(range(2, 130)),)]
    ledger.write([_row("a7"), _row("new")])  # a known call_id is still ignored, in a multi-row statement
    assert ledger.db.query("SELECT COUNT(*) FROM cost_ledger") == [(500 + 2 + sum(range(2, 130)),)]
    ledger.close()


def test_null_parameters_are_bound_through_an_adapter_and_stored_as_null(tmp_path: Path) -> None:
    db = open_database(tmp_path / "x.db")
    db.write_rows(_sqlite_sql.LEDGER_INSERT, [_row("n")])
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None
    assert db.query("SELECT user_id, tags, error_type FROM cost_ledger") == [(None, None, None)]
    db.dispose()


def test_an_adapter_the_app_registered_for_none_is_kept(tmp_path: Path) -> None:
    code = (
        "import sqlite3, sys\n"
        "from llmguard.cost import SQLLedger\n"
        "sqlite3.register_adapter(type(None), lambda value: 'the app')\n"
        "ledger = SQLLedger(sys.argv[1])\n"
        "ledger.query('SELECT 1')\n"
        "print(sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.db")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the app"


def test_every_connection_has_the_small_page_cache(tmp_path: Path) -> None:
    db = open_database(tmp_path / "x.db")
    assert db.query("PRAGMA cache_size") == [(-_lite.CACHE_KIB,)]  # the held stdlib connection
    with db.read() as conn:  # the engine's connections (other stores)
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -_lite.CACHE_KIB
    db.dispose()


def test_a_stale_snapshot_never_creates_a_database_the_migrations_go_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_sql, "REVISION", "0000-stale")
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.ensure_schema()
    assert _migrate.current(db) == _migrate.head()
    db.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_held_connection_is_the_processs_own_after_fork(tmp_path: Path) -> None:
    ledger = SQLLedger(tmp_path / "fork.db")
    ledger.write([_row("parent-1")])
    parents = ledger.db._writer
    assert parents is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            assert ledger.db._writer is None  # the parent's connection is neither used nor closed
            ledger.write([_row(f"child-{n}") for n in range(50)])
            assert ledger.db._writer is not parents
            code = 0
        finally:
            os._exit(code)
    ledger.write([_row("parent-2")])  # while the child writes
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ledger.db._writer is parents
    ledger.write([_row("parent-3")])
    assert ledger.query("SELECT COUNT(*) FROM cost_ledger") == [(53,)]
    ledger.close()


def test_processes_creating_one_new_file_at_once_all_write(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    code = (
        "import sys; from llmguard.cost import SQLLedger; from tests.test_storage_stdlib_sqlite import _row; "
        f"l = SQLLedger({str(path)!r}); l.write([_row('c' + sys.argv[1])]); l.close()"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(n)], env=env, stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert _count(path, "cost_ledger") == 4
    conn = sqlite3.connect(path)
    try:
        assert _lite.revision(conn) == _migrate.head()
        assert conn.execute(f"SELECT COUNT(*) FROM {_lite.VERSION_TABLE}").fetchone() == (1,)
    finally:
        conn.close()


def test_budget_alerts_are_claimed_once_across_processes_without_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    code = f"""
import json, sys
from llmguard._storage import Database
from llmguard.cost._alerts import AlertDispatcher
from llmguard.cost._ledger import SQLLedger
from llmguard.cost._rules import Alert
alert = Alert("r", "budget", "cost", "2026-12-01", 2.0, 1.0, "over", "warning", {{}})
ledger = SQLLedger({str(path)!r})
delivered = [len(AlertDispatcher(ledger).deliver([alert])) for _ in range(2)]  # two replicas' dispatchers
ledger.close()
print(json.dumps([delivered, sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy")]))
"""
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    outs = [json.loads(run.stdout.strip().splitlines()[-1]) for run in runs]
    assert outs == [[[1, 0], []], [[0, 0], []]]  # the second process finds the window claimed
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT rule, window, message FROM cost_alerts").fetchall() == [
            ("r", "2026-12-01", "over")
        ]
    finally:
        conn.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_during_a_read_on_the_held_connection_leaves_both_processes_working(tmp_path: Path) -> None:
    import threading

    ledger = SQLLedger(tmp_path / "fork-read.db")
    ledger.write([_row("parent-1")])
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) "
        "SELECT COUNT(*) FROM cost_ledger, c"
    )
    started, results = threading.Event(), []

    def read() -> None:
        started.set()
        results.append(ledger.query(slow))

    reader = threading.Thread(target=read)
    reader.start()
    started.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()  # waits for the read in flight (llmguard._db takes the held connection's lock)
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            ledger.write([_row("child-1")])
            code = 0 if ledger.query("SELECT COUNT(*) FROM cost_ledger") == [(2,)] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    reader.join(60)
    assert os.waitstatus_to_exitcode(status) == 0
    assert results == [[(400000,)]]
    ledger.write([_row("parent-2")])
    assert ledger.query("SELECT COUNT(*) FROM cost_ledger") == [(3,)]
    ledger.close()
