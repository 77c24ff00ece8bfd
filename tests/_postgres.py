"""A real PostgreSQL server for the tests: started once per session from the Debian binaries.

``LLMGUARD_TEST_POSTGRES_URL`` points the tests at a server you run yourself. Otherwise the
fixture runs ``initdb`` and ``pg_ctl`` (as the ``postgres`` user when the tests run as root, since
``initdb`` refuses root) in a temporary folder, listening on 127.0.0.1 on a free port. Without
PostgreSQL binaries the PostgreSQL variants skip, unless ``LLMGUARD_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres_server"]


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A running server: make databases on it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._template: str | None = None

    def admin(self) -> object:
        import psycopg

        return psycopg.connect(f"{self.base_url}/postgres".replace("+psycopg", ""), autocommit=True)

    def new_database(self, *, migrated: bool = True) -> str:
        """A fresh, empty database (at the newest schema when ``migrated``); returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:  # type: ignore[attr-defined]
            template = self._migrated_template(conn) if migrated else "template0"
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return f"{self.base_url}/{name}"

    def _migrated_template(self, conn: object) -> str:
        if self._template is None:
            name = f"tpl_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')  # type: ignore[attr-defined]
            from llmguard._storage import _migrate
            from llmguard._storage._database import Database

            db = Database(f"{self.base_url}/{name}")
            _migrate.upgrade(db)
            db.dispose()
            self._template = name
        return self._template


def _start() -> Iterator[PostgresServer]:
    url = os.environ.get("LLMGUARD_TEST_POSTGRES_URL")
    if url:
        yield PostgresServer(url.replace("postgresql://", "postgresql+psycopg://", 1))
        return
    bindir = _binaries()
    if bindir is None:
        if os.environ.get("LLMGUARD_REQUIRE_POSTGRES") == "1":
            pytest.fail("LLMGUARD_REQUIRE_POSTGRES=1 but no PostgreSQL binaries (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="llmguard-pg-"))
    as_root = os.geteuid() == 0
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off -c max_connections=200"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer(f"postgresql+psycopg://postgres@127.0.0.1:{port}")
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session."""
    yield from _start()
