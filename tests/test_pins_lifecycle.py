"""Model retirements: the lifecycle table, ``llmguard pins check`` dates, ``pins update``, run-time refusal.

No test here depends on the real date: the CLI takes ``--today``, the run-time policy takes the
day from ``llmguard._pin_policy.today_utc`` (frozen per test), and synthetic tables use dates
far in the past or future where a real table is not the point.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import llmguard
from llmguard import Guard
from llmguard._model_lifecycle import (
    MAX_TABLE_BYTES,
    ModelLifecycle,
    bundled_table,
    cache_file,
    current_table,
    parse_table,
)
from llmguard.cli._pins import pins_app
from llmguard.exceptions import ModelDataError, RetiredModelError, UnpinnedModelError
from llmguard.testing import FakeAnthropic, FakeOpenAI

runner = CliRunner()
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def _entry(provider: str, model: str, **fields: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "model": model,
        "status": "active",
        "last_verified": "2026-07-30",
        "sources": ["https://example.com/deprecations"],
        **fields,
    }


RETIRED = _entry(
    "openai",
    "gpt-4o-2024-05-13",
    deprecated_on="2000-01-01",
    shutdown_on="2001-01-01",
    status="retired",
    replacements=[{"provider": "openai", "model": "gpt-4.1-2025-04-14", "recommended": True}],
)
DEPRECATED = _entry(
    "anthropic",
    "claude-opus-4-1-20250805",
    aliases=["claude-opus-4-1"],
    deprecated_on="2000-01-01",
    shutdown_on="2999-01-01",
    status="deprecated",
    replacements=[
        {"provider": "anthropic", "model": "claude-opus-4-5", "recommended": False},
        {"provider": "anthropic", "model": "claude-opus-4-8", "recommended": True},
    ],
)
SOFT = _entry("anthropic", "claude-sonnet-4-5-20250929", earliest_shutdown_on="2001-01-01")
ACTIVE = _entry("openai", "gpt-4.1-2025-04-14")
TABLE = [RETIRED, DEPRECATED, SOFT, ACTIVE]


def _bytes(entries: object) -> bytes:
    return json.dumps(entries).encode()


@pytest.fixture
def table_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A synthetic table installed as the refreshed cache file (under `.cache`, which scans skip)."""
    path = cache_file()
    assert path.is_relative_to(tmp_path / ".cache")
    path.parent.mkdir(parents=True)
    path.write_bytes(_bytes(TABLE))
    return path


# -- the table ----------------------------------------------------------------------------------


def test_the_bundled_table_ships_with_its_license() -> None:
    table = bundled_table()
    assert {e.provider for e in table.entries} == {"openai", "anthropic"}
    assert len(table.entries) == 137
    import importlib.resources

    folder = importlib.resources.files("llmguard") / "data" / "model_deprecations"
    assert "MIT License" in (folder / "LICENSE").read_text()
    assert "modeldeprecations.dev" in (folder / "README.md").read_text()


def test_lookup_by_alias_provider_prefix_and_case() -> None:
    table = parse_table(_bytes(TABLE), "t")
    assert table.lookup("claude-opus-4-1", "anthropic") is table.lookup(
        "CLAUDE-OPUS-4-1-20250805", "anthropic"
    )
    assert table.lookup("openai/gpt-4o-2024-05-13", "openai") is not None
    assert table.lookup("gpt-4o-2024-05-13", "anthropic") is None  # another provider's id
    assert table.lookup("gpt-4o-2024-05-13", "azure") is None  # Azure retires on its own schedule


def test_recommended_replacement_wins_over_the_first_listed() -> None:
    entry = parse_table(_bytes(TABLE), "t").lookup("claude-opus-4-1", "anthropic")
    assert entry is not None
    assert entry.replacement == "claude-opus-4-8"


@pytest.mark.parametrize(
    ("fields", "day", "state"),
    [
        ({"deprecated_on": "2026-01-01", "shutdown_on": "2026-06-01"}, "2026-05-31", "deprecated"),
        ({"deprecated_on": "2026-01-01", "shutdown_on": "2026-06-01"}, "2026-06-01", "retired"),
        ({"shutdown_on": "2026-06-01"}, "2025-01-01", "deprecated"),
        ({"earliest_shutdown_on": "2026-06-01"}, "2026-05-31", "active"),
        ({"earliest_shutdown_on": "2026-06-01"}, "2026-06-01", "retired"),
        ({"status": "retired"}, "2026-01-01", "retired"),
    ],
)
def test_state_on_a_day(fields: dict[str, str], day: str, state: str) -> None:
    entry = parse_table(_bytes([_entry("openai", "m-1", **fields), ACTIVE, SOFT]), "t").entries[0]
    assert entry.status_on(date.fromisoformat(day)) == state


def test_a_passed_soft_date_is_not_a_certain_retirement() -> None:
    soft = parse_table(_bytes(TABLE), "t").lookup("claude-sonnet-4-5-20250929", "anthropic")
    assert isinstance(soft, ModelLifecycle)
    assert soft.status_on(date(2026, 1, 1)) == "retired"
    assert not soft.certainly_retired(date(2026, 1, 1))


def test_the_api_catalog_shape_is_accepted() -> None:
    models = [
        {**e, "name": "n", "description": "d", "computed_status": e["status"]}
        for e in [*TABLE, _entry("google", "gemini-1.0-pro", sources=[{"url": "https://x.dev"}])]
    ]
    models[0]["sources"] = [{"url": "https://example.com/d", "title": "t", "accessed": "2026-07-30"}]
    catalog = {
        "$schema": "https://modeldeprecations.dev/api/v1/schema.json",
        "generatedAt": "2026-08-21T00:00:00Z",
        "count": 5,
        "models": models,
    }
    table = parse_table(_bytes(catalog), "api")
    assert [e.model for e in table.entries] == [e["model"] for e in TABLE]  # other providers dropped
    assert table.entries[0].sources == ("https://example.com/d",)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not json", "JSON"),
        (b'"a string"', "top level"),
        (_bytes({"models": "x"}), "top level"),
        (_bytes({"count": 9, "models": TABLE}), "field 'count'"),
        (_bytes([*TABLE, 3]), "entry 4: expected an object"),
        (_bytes([*TABLE, {**ACTIVE, "model": "gpt 4"}]), "field 'model'"),
        (_bytes([*TABLE, {**ACTIVE, "status": "sunset"}]), "field 'status'"),
        (_bytes([*TABLE, {**ACTIVE, "shutdown_on": "2026-02-30"}]), "not a calendar date"),
        (_bytes([*TABLE, {**ACTIVE, "shutdown_on": 20260101}]), "ISO date"),
        (
            _bytes([*TABLE, {**ACTIVE, "deprecated_on": "2026-05-01", "shutdown_on": "2026-01-01"}]),
            "precedes",
        ),
        (_bytes([*TABLE, {**ACTIVE, "last_verified": None}]), "'last_verified': missing"),
        (_bytes([*TABLE, {**ACTIVE, "aliases": "gpt-4"}]), "field 'aliases'"),
        (
            _bytes([*TABLE, {**ACTIVE, "replacements": [{"model": "x", "recommended": "yes"}]}]),
            "'recommended'",
        ),
        (_bytes([*TABLE, {**ACTIVE, "sources": ["javascript:alert(1)"]}]), "sources[0]"),
        (_bytes([RETIRED, ACTIVE]), "no entry for anthropic"),
        (_bytes([]), "no entry for anthropic, openai"),
        (b"[" * 100_000, "JSON"),
        (b" " * (MAX_TABLE_BYTES + 1), "over the"),
    ],
)
def test_bad_data_is_a_typed_error_naming_the_place(data: bytes, fragment: str) -> None:
    with pytest.raises(ModelDataError) as info:
        parse_table(data, "src.json")
    assert str(info.value).startswith("src.json: ")
    assert fragment in str(info.value)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["openai", "anthropic", "2026-01-01"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from([*ACTIVE, "models", "count", "aliases", "replacements"]), inner, max_size=6
        )
    ),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(
    document=_json,
    entry=st.dictionaries(st.sampled_from([*ACTIVE, "aliases", "replacements", "shutdown_on"]), _json),
)
def test_any_json_gives_a_table_or_a_model_data_error(document: object, entry: dict[str, object]) -> None:
    """An HTTP body is attacker-controlled: whatever its shape, only ModelDataError comes out."""
    for data in (_bytes(document), _bytes([*TABLE, {**ACTIVE, **entry}])):
        try:
            table = parse_table(data, "body")
        except ModelDataError as exc:
            message = str(exc)
        else:
            assert {e.provider for e in table.entries} == {"openai", "anthropic"}
            continue
        assert message.startswith("body: ")


def test_the_cache_file_wins_and_an_invalid_one_is_an_error(table_file: Path) -> None:
    assert current_table().source == str(table_file)
    table_file.write_text("{", encoding="utf-8")
    with pytest.raises(ModelDataError, match="JSON"):
        current_table()
    table_file.unlink()
    assert current_table() is bundled_table()


# -- llmguard pins check ------------------------------------------------------------------------

APP = """\
from openai import OpenAI
from anthropic import Anthropic

FALLBACK_MODEL = "gpt-4o-2024-05-13"
client = OpenAI()
client.chat.completions.create(model="gpt-4.1-2025-04-14", messages=[])
Anthropic().messages.create(model="claude-opus-4-1-20250805", max_tokens=10, messages=[])
"""


def _check(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(pins_app, ["check", "--json", str(root), *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_check_reports_retired_and_soon_retiring_pins(tmp_path: Path) -> None:
    """Bundled data, fixed day: claude-opus-4-1 shut down 2026-08-05, gpt-4o-2024-05-13 shuts down 2026-10-23."""
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    code, report = _check(tmp_path, "--today", "2026-09-01")
    assert code == 0  # every name is pinned; lifecycle fails the check only under --strict
    life = {f["model"]: f["lifecycle"] for f in report["findings"]}
    assert life["gpt-4.1-2025-04-14"] is None
    retired = life["claude-opus-4-1-20250805"]
    assert (retired["status"], retired["shutdown_on"], retired["due"]) == ("retired", "2026-08-05", True)
    assert retired["replacement"] == "claude-opus-4-8"
    assert retired["sources"]
    soon = life["gpt-4o-2024-05-13"]
    assert (soon["status"], soon["shutdown_on"], soon["days_left"], soon["due"]) == (
        "deprecated",
        "2026-10-23",
        52,
        True,
    )
    assert soon["replacement"] == "gpt-5.6-sol"
    assert {k: report["summary"][k] for k in ("retired", "deprecated", "due")} == {
        "retired": 1,
        "deprecated": 1,
        "due": 2,
    }
    assert report["lifecycle"]["as_of"] == "2026-09-01"
    assert report["lifecycle"]["table"].startswith("bundled")

    assert _check(tmp_path, "--today", "2026-09-01", "--strict")[0] == 1
    code, report = _check(tmp_path, "--today", "2026-09-01", "--within", "30", "--strict")
    assert code == 1  # the retired one is always due
    assert report["summary"]["due"] == 1
    code, report = _check(tmp_path, "--today", "2026-01-01", "--strict")
    assert (code, report["summary"]["due"]) == (0, 0)  # both still far from shutdown that day


def test_check_table_output_names_date_and_replacement(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    result = runner.invoke(
        pins_app, ["check", str(tmp_path), "--today", "2026-09-01", "--strict"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 1
    assert "retired 2026-08-05 -> claude-opus-4-8" in result.stdout
    assert "shuts down 2026-10-23 (in 52 days) -> gpt-5.6-sol" in result.stdout
    assert "FAIL:" in result.stdout
    assert "1 retired, 2 due within 90 days" in result.stdout


def test_check_looks_up_the_locked_snapshot(tmp_path: Path, table_file: Path) -> None:
    (tmp_path / "app.py").write_text('model = "gpt-4o"\n', encoding="utf-8")
    (tmp_path / "llmguard.lock").write_text('[pins]\n"gpt-4o" = "gpt-4o-2024-05-13"\n', encoding="utf-8")
    code, report = _check(tmp_path, "--today", "2026-09-01", "--strict")
    assert code == 1
    (finding,) = report["findings"]
    assert finding["status"] == "locked"
    assert finding["lifecycle"]["model"] == "gpt-4o-2024-05-13"
    assert finding["lifecycle"]["status"] == "retired"


def test_check_lists_a_soft_date_without_failing_strict(tmp_path: Path, table_file: Path) -> None:
    (tmp_path / "app.py").write_text('model = "claude-sonnet-4-5-20250929"\n', encoding="utf-8")
    code, report = _check(tmp_path, "--today", "2000-12-02", "--strict")
    (finding,) = report["findings"]
    assert (code, finding["lifecycle"]["due"], finding["lifecycle"]["shutdown_is_soft"]) == (0, False, True)
    assert finding["lifecycle"]["days_left"] == 30
    assert _check(tmp_path, "--today", "2000-12-02", "--within", "29")[1]["findings"][0]["lifecycle"] is None
    code, report = _check(tmp_path, "--today", "2001-01-01", "--strict")
    assert (code, report["findings"][0]["lifecycle"]["status"]) == (1, "retired")  # the dataset's rule


def test_check_rejects_a_bad_day_and_a_bad_cached_table(tmp_path: Path, table_file: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    assert runner.invoke(pins_app, ["check", str(tmp_path), "--today", "next week"]).exit_code == 2
    table_file.write_text("[]", encoding="utf-8")
    result = runner.invoke(pins_app, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert str(table_file) in result.stderr
    assert "no entry for" in result.stderr


# -- llmguard pins update -----------------------------------------------------------------------


class _Server:
    """A loopback HTTP server answering every GET with ``status`` and ``body``."""

    def __init__(self) -> None:
        self.status, self.body, self.paths = 200, b"", list[str]()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.paths.append(self.path)
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/models.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[_Server]:
    served = _Server()
    yield served
    served.close()


def _update(*args: str) -> Any:
    return runner.invoke(pins_app, ["update", *args])


def test_update_writes_the_user_cache_and_the_table_is_used(server: _Server, tmp_path: Path) -> None:
    server.body = _bytes({"count": len(TABLE), "models": TABLE})
    result = _update("--url", server.url)
    assert result.exit_code == 0, result.output
    assert server.paths == ["/api/v1/models.json"]
    assert f"updated {cache_file()}: 4 OpenAI and Anthropic models" in result.stdout
    assert cache_file().read_bytes() == server.body
    assert current_table().source == str(cache_file())
    assert current_table().lookup("gpt-4o-2024-05-13", "openai") is not None


@pytest.mark.parametrize(
    ("status", "body", "fragment"),
    [
        (200, b"<html>oops</html>", "JSON"),
        (200, _bytes([ACTIVE]), "no entry for anthropic"),
        (500, b"", "HTTP 500"),
    ],
)
def test_a_bad_update_changes_nothing(
    server: _Server, table_file: Path, status: int, body: bytes, fragment: str
) -> None:
    before = table_file.read_bytes()
    server.status, server.body = status, body
    result = _update("--url", server.url)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert f"nothing was changed; still using {table_file}" in result.stderr
    assert table_file.read_bytes() == before
    assert [p.name for p in table_file.parent.iterdir()] == [table_file.name]  # no temp file left


def test_update_from_a_file_url_and_unreachable_servers(tmp_path: Path) -> None:
    source = tmp_path / "models.json"
    source.write_bytes(_bytes(TABLE))
    assert _update("--url", source.as_uri()).exit_code == 0
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    result = _update("--url", f"http://127.0.0.1:{port}/x.json", "--timeout", "5")
    assert result.exit_code == 2
    assert "cannot download" in result.stderr
    assert "only https://" in _update("--url", "ftp://example.com/x.json").stderr
    assert cache_file().read_bytes() == _bytes(TABLE)


# -- run time -----------------------------------------------------------------------------------


@pytest.fixture
def frozen_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmguard._pin_policy.today_utc", lambda: date(2026, 9, 1))


def _chat(client: Any, model: str) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES)


def test_a_retired_snapshot_is_refused_under_enforce_before_any_io(table_file: Path) -> None:
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        for _ in range(2):
            with pytest.raises(RetiredModelError) as info:
                _chat(client, "gpt-4o-2024-05-13")
    assert fake.calls == []
    error = info.value
    assert isinstance(error, UnpinnedModelError)
    assert (error.model, error.suggestion, error.shutdown_on) == (
        "gpt-4o-2024-05-13",
        "gpt-4.1-2025-04-14",
        "2001-01-01",
    )
    assert "retired by openai on 2001-01-01" in str(error)
    assert "replace it with 'gpt-4.1-2025-04-14'" in str(error)


def test_a_lock_rewrite_to_a_retired_snapshot_is_refused(table_file: Path) -> None:
    fake = FakeOpenAI()
    guard = Guard(pin_policy="enforce", pins={"gpt-4o": "gpt-4o-2024-05-13"})
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        with pytest.raises(RetiredModelError, match=r"'gpt-4o-2024-05-13' \(locked from 'gpt-4o'\)"):
            _chat(client, "gpt-4o")
    assert fake.calls == []


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_deprecated_snapshot_is_advised_once_per_model(
    table_file: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    fake = FakeAnthropic(reply="ok")
    with fake.client(llmguard.Anthropic, guard=Guard(pin_policy=mode)) as client:  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            for _ in range(3):
                client.messages.create(model="claude-opus-4-1-20250805", max_tokens=5, messages=MESSAGES)
    assert fake.call_count == 3
    advisories = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(advisories) == 1
    assert "shuts down on 2999-01-01" in advisories[0]
    assert "replace it with 'claude-opus-4-8'" in advisories[0]


def test_warn_advises_a_retired_snapshot_and_lets_the_call_through(
    table_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOpenAI(reply="served")
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="warn")) as client:
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            assert _chat(client, "gpt-4o-2024-05-13").choices[0].message.content == "served"
            _chat(client, "gpt-4o-2024-05-13")
    messages = [r.getMessage() for r in caplog.records if "retired" in r.getMessage()]
    assert len(messages) == 1
    assert "'enforce' would refuse this call" in messages[0]


def test_a_passed_soft_date_is_advised_not_refused(
    table_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeAnthropic(reply="ok")
    with fake.client(llmguard.Anthropic, guard=Guard(pin_policy="enforce")) as client:
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            client.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=5, messages=MESSAGES)
    assert fake.call_count == 1
    assert any("not sooner than" in r.getMessage() for r in caplog.records)


def test_pins_off_does_no_lifecycle_work(table_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> Any:
        raise AssertionError("the lifecycle table was read with the pin policy off")

    monkeypatch.setattr("llmguard._pin_policy.runtime_table", boom)
    guard = Guard(pin_policy="off")
    assert guard.runtime.pins is None
    fake = FakeOpenAI(reply="ok")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        _chat(client, "gpt-4o-2024-05-13")
    assert fake.call_count == 1


def test_the_table_is_read_once_per_model(table_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llmguard._pin_policy as pin_policy

    reads: list[int] = []
    real = pin_policy.runtime_table

    def counting() -> Any:
        reads.append(1)
        return real()

    monkeypatch.setattr(pin_policy, "runtime_table", counting)
    fake = FakeOpenAI(reply="ok")
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        for _ in range(5):
            _chat(client, "gpt-4.1-2025-04-14")
    assert (len(reads), fake.call_count) == (1, 5)


def test_an_invalid_cache_file_falls_back_to_the_bundled_table(
    table_file: Path, caplog: pytest.LogCaptureFixture, frozen_day: None
) -> None:
    table_file.write_text("{broken", encoding="utf-8")
    fake = FakeAnthropic()
    with fake.client(llmguard.Anthropic, guard=Guard(pin_policy="enforce")) as client:
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            with pytest.raises(RetiredModelError, match="2026-08-05"):  # bundled: shut down 2026-08-05
                client.messages.create(model="claude-opus-4-1-20250805", max_tokens=5, messages=MESSAGES)
    assert fake.calls == []
    assert any("using the bundled model table" in r.getMessage() for r in caplog.records)


def test_a_refusal_says_when_the_suggested_snapshot_is_itself_retired(table_file: Path) -> None:
    """The pin data suggests the snapshot an alias pointed to; the lifecycle data knows when it died."""
    dead = _entry(
        "openai",
        "gpt-4o-2024-08-06",
        shutdown_on="2001-01-01",
        status="retired",
        replacements=[{"provider": "openai", "model": "gpt-4.1-2025-04-14", "recommended": True}],
    )
    table_file.write_bytes(_bytes([*TABLE, dead]))
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        with pytest.raises(UnpinnedModelError) as info:
            _chat(client, "gpt-4o")
    assert not isinstance(info.value, RetiredModelError)
    assert info.value.suggestion == "gpt-4o-2024-08-06"
    assert str(info.value).endswith(
        "(note: 'gpt-4o-2024-08-06' was retired (shutdown 2001-01-01); openai recommends 'gpt-4.1-2025-04-14')"
    )
    assert fake.calls == []
