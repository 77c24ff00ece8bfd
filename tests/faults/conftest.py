"""The fault suite: each test runs the all-features host app under one fault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._app import HostApp, build_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HostApp]:
    """The host app with every feature on and no fault."""
    host = build_app(tmp_path)
    yield host
    host.close()
