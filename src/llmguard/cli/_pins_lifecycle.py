"""Model lifecycle for the ``llmguard pins`` commands: the check's lifecycle column and ``update``.

``llmguard pins check`` looks each model name found (its locked snapshot when a lock rewrites
it) up in the lifecycle table: retired models, and models whose committed shutdown falls within
``--within`` days (default 90), are *due*; deprecated models with a later shutdown, and active
ones whose soft "not sooner than" date falls within the horizon, are listed but not due. ``--strict`` makes any due model fail the check. ``--today`` judges the dates as of
another day (plan ahead, or reproduce a report).

``llmguard pins update`` downloads the dataset's JSON API, validates it strictly and only then
replaces the user cache file (`llmguard._model_lifecycle.cache_file`); a failed or invalid download
leaves the current table in place. Without a cache file the bundled snapshot is used.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date
from typing import Annotated

import typer

from llmguard._model_lifecycle import (
    DEFAULT_SOURCE_URL,
    MAX_TABLE_BYTES,
    LifecycleTable,
    ModelLifecycle,
    Status,
    cache_file,
    current_table,
    today_utc,
    write_table,
)
from llmguard.exceptions import ModelDataError

__all__ = ["DEFAULT_WITHIN_DAYS", "LifecycleNote", "fetch_table", "lifecycle_note", "parse_day", "update"]

DEFAULT_WITHIN_DAYS = 90
"""Default planning horizon of ``llmguard pins check --within``."""


@dataclass(frozen=True, slots=True)
class LifecycleNote:
    """The lifecycle of one model name found by ``pins check``.

    Attributes:
        model: The model looked up (the locked snapshot when a lock rewrites the name).
        entry: Its lifecycle entry.
        state: Its state on the day of the check.
        days_left: Days to its shutdown (negative once passed), None without a date.
        due: Retired, or a committed shutdown within the horizon, or deprecated with no date yet
            (a soft "not sooner than" date within the horizon is listed, not due).
    """

    model: str
    entry: ModelLifecycle
    state: Status
    days_left: int | None
    due: bool

    def text(self) -> str:
        """One short cell: ``retired 2026-08-05 -> claude-opus-4-8``."""
        entry = self.entry
        if self.state == "retired":
            head = f"retired {entry.shutdown}" if entry.shutdown else "retired"
        elif entry.shutdown_on is None and entry.shutdown is not None:
            head = f"{self.state}, shuts down not sooner than {entry.shutdown} (in {self.days_left} days)"
        elif entry.shutdown is not None:
            head = f"{self.state}, shuts down {entry.shutdown} (in {self.days_left} days)"
        else:
            head = f"{self.state}, no shutdown date yet"
        return head + (f" -> {entry.replacement}" if entry.replacement else "")

    def as_json(self) -> dict[str, object]:
        """The machine-readable form."""
        entry = self.entry

        def iso(day: date | None) -> str | None:
            return day.isoformat() if day else None

        return {
            "model": self.model,
            "status": self.state,
            "due": self.due,
            "deprecated_on": iso(entry.deprecated_on),
            "shutdown_on": iso(entry.shutdown),
            "shutdown_is_soft": entry.shutdown_on is None and entry.earliest_shutdown_on is not None,
            "days_left": self.days_left,
            "replacement": entry.replacement,
            "sources": list(entry.sources),
        }


def lifecycle_note(
    model: str, provider: str, table: LifecycleTable, day: date, within: int
) -> LifecycleNote | None:
    """The note for a model sent to a provider, or None when it is active with no shutdown in view."""
    entry = table.lookup(model, provider)
    if entry is None:
        return None
    state = entry.status_on(day)
    left = entry.days_left(day)
    committed = entry.shutdown_on is not None and left is not None and left <= within
    due = state == "retired" or committed or (state == "deprecated" and left is None)
    if state == "active" and (left is None or left > within):
        return None
    return LifecycleNote(model, entry, state, left, due)


def parse_day(value: str | None, today: date) -> date:
    """``--today``: an ISO date, or ``today`` when not given.

    Raises:
        typer.BadParameter: Not an ISO date.
    """
    if value is None:
        return today
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--today") from exc


# --- update ------------------------------------------------------------------------------------


def fetch_table(url: str, timeout: float) -> bytes:
    """Download at most `MAX_TABLE_BYTES` (+1, so an oversized body is detected) from ``url``.

    Raises:
        ModelDataError: Not an http(s) or file URL, unreachable, an HTTP error, or a timeout.
    """
    if not url.startswith(("https://", "http://", "file:")):
        raise ModelDataError(f"--url {url!r}: only https://, http:// and file: URLs are accepted")
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "llmguard"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_TABLE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ModelDataError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelDataError(f"{url}: cannot download: {reason}") from exc
    return data


def _counts(table: LifecycleTable, day: date) -> str:
    states = [entry.status_on(day) for entry in table.entries]
    return ", ".join(f"{states.count(s)} {s}" for s in ("active", "deprecated", "retired"))


def update(
    url: Annotated[
        str, typer.Option("--url", help="The dataset's JSON API (or a file: URL).")
    ] = DEFAULT_SOURCE_URL,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the server.")
    ] = 30.0,
) -> None:
    """Refresh the model lifecycle table from the dataset's JSON API into the user cache.

    The download is validated before anything is written; on any failure the current table
    (the cached one, else the bundled snapshot) stays in use. Exits 0 on success, 2 on failure.
    """
    target = cache_file()
    try:
        data = fetch_table(url, timeout)
        table = write_table(data, target)
    except ModelDataError as exc:
        try:
            kept = current_table(target).source
        except ModelDataError:
            kept = "the bundled snapshot (the cached table is invalid)"
        typer.echo(f"error: {exc}\nnothing was changed; still using {kept}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"updated {target}: {len(table.entries)} OpenAI and Anthropic models from {url}")
    typer.echo(f"as of today: {_counts(table, today_utc())}")
