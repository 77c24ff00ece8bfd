"""Labels: mutable pointers to versions (or weighted canary splits) and their append-only history.

Pure helpers shared by every store: parsing and formatting targets, the compare-and-set check,
replaying a label's history into a stack for rollback, and the deterministic canary choice.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llmguard.exceptions import LabelConflictError, PromptFormatError, PromptNotFoundError

from ._semver import parse_version

__all__ = [
    "ANY",
    "DEFAULT_PROTECTED",
    "LABEL_PATTERN",
    "LabelMove",
    "LabelTarget",
    "check_expect",
    "check_label",
    "current_user",
    "format_target",
    "history_line",
    "label_stack",
    "now",
    "parse_target",
    "rollback_target",
    "split_versions",
]

LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""Every label matches this (in full): a letter or digit, then letters, digits, ``.``, ``_``, ``-``; 64 at most."""

DEFAULT_PROTECTED: tuple[str, ...] = ("production",)
"""Labels protected unless ``protected_labels`` says otherwise: promoting one needs eval evidence."""

LabelTarget = str | Mapping[str, int]
"""A version (``"2.1.0"``) or a canary split (``{"2.0.0": 90, "2.1.0": 10}``)."""

ANY: Any = type("_Any", (), {"__repr__": lambda self: "ANY"})()
"""``expect=ANY`` skips the compare-and-set check (the default of the Python API)."""


@dataclass(frozen=True, slots=True)
class LabelMove:
    """One recorded label move.

    Attributes:
        name: The prompt.
        label: The label moved.
        from_: Its target before (``None`` when it was unset), formatted.
        to: Its target after, formatted (``2.1.0`` or ``2.0.0=90,2.1.0=10``).
        who: Who moved it.
        when: ISO-8601 UTC time.
        why: The reason given.
        action: ``promote`` or ``rollback``.
        evidence: Eval evidence that justified the move (scores, run ids...).
    """

    name: str
    label: str
    from_: str | None
    to: str
    who: str
    when: str
    why: str = ""
    action: Literal["promote", "rollback"] = "promote"
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_`` is written as ``from``)."""
        data = asdict(self)
        data["from"] = data.pop("from_")
        data["evidence"] = dict(self.evidence)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelMove:
        """Read one history line back."""
        return cls(
            name=str(data["name"]),
            label=check_label(data["label"], "history"),
            from_=data.get("from"),
            to=str(data["to"]),
            who=str(data.get("who", "")),
            when=str(data.get("when", "")),
            why=str(data.get("why", "")),
            action="rollback" if data.get("action") == "rollback" else "promote",
            evidence=dict(data.get("evidence") or {}),
        )


def check_label(label: object, where: str = "label") -> str:
    """Return ``label`` if it matches `LABEL_PATTERN`.

    Raises:
        PromptFormatError: Empty, too long, or holding anything else (spaces, newlines, escapes,
            markup such as ``[/]``).
    """
    if not isinstance(label, str) or LABEL_PATTERN.fullmatch(label) is None:
        raise PromptFormatError(
            f"{where}: invalid label {label!r}: a label is 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. production, staging, canary-eu)"
        )
    return label


_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def history_line(move: LabelMove) -> str:
    """One ``history.jsonl`` line: JSON whose text holds no character any reader splits lines on.

    ``json.dumps`` escapes control characters but leaves U+2028, U+2029 and U+0085 raw, which
    ``str.splitlines`` (and many editors) treat as line breaks; they are written escaped.
    """
    text = json.dumps(move.to_json(), sort_keys=True, ensure_ascii=False)
    for raw, escaped in _LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text + "\n"


def current_user() -> str:
    """The OS user name, for ``who`` (``unknown`` when it cannot be read)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # pragma: no cover - no user database in some containers
        return "unknown"


def now() -> str:
    """The current UTC time, ISO-8601 with seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def parse_target(value: object, where: str) -> LabelTarget:
    """Read a label target from a file or the CLI (``2.1.0``, ``{2.0.0: 90, ...}`` or ``2.0.0=90,2.1.0=10``).

    Raises:
        PromptFormatError: Not a semantic version or a split with positive integer weights.
    """
    if isinstance(value, str) and "=" in value:
        pairs = (part.split("=", 1) for part in value.split(",") if part.strip())
        value = {k.strip(): _weight(w.strip(), where) for k, w in pairs}
    if isinstance(value, Mapping):
        split = {str(k): _weight(w, where) for k, w in value.items()}
        if not split:
            raise PromptFormatError(f"{where}: a canary split needs at least one version")
        for version in split:
            _check_version(version, where)
        return split
    if isinstance(value, str):
        return _check_version(value, where)
    raise PromptFormatError(
        f"{where}: expected a version string or a {{version: weight}} mapping, got {value!r}"
    )


def _check_version(text: str, where: str) -> str:
    try:
        parse_version(text)
    except PromptFormatError as exc:
        raise PromptFormatError(f"{where}: {exc}") from None
    return text


def _weight(value: object, where: str) -> int:
    try:
        weight = int(str(value))
    except ValueError:
        weight = -1
    if weight < 0 or isinstance(value, bool | float):
        raise PromptFormatError(f"{where}: canary weight {value!r} must be a non-negative integer")
    return weight


def format_target(target: LabelTarget | None) -> str | None:
    """Canonical text of a target: ``2.1.0`` or ``2.0.0=90,2.1.0=10`` (sorted by version)."""
    if target is None or isinstance(target, str):
        return target
    ordered = sorted(target.items(), key=lambda kv: parse_version(kv[0]))
    return ",".join(f"{k}={w}" for k, w in ordered)


def split_versions(target: LabelTarget) -> list[str]:
    """Every version a target can serve."""
    return [target] if isinstance(target, str) else [k for k, w in target.items() if w > 0]


def check_expect(current: LabelTarget | None, expect: object, name: str, label: str) -> None:
    """The compare-and-set test: ``expect`` must equal the label's current target.

    ``expect=ANY`` always passes; ``None`` or ``"none"`` means the label must be unset.

    Raises:
        LabelConflictError: The label points elsewhere now.
    """
    if expect is ANY:
        return
    wanted = (
        None
        if expect in (None, "none", "")
        else format_target(parse_target(expect, f"{name} {label} expect"))
    )
    have = format_target(current)
    if wanted != have:
        raise LabelConflictError(
            f"{name}: label {label!r} points at {have or 'nothing'}, not {wanted or 'nothing'} as expected; "
            "someone moved it: re-read the label and retry"
        )


def label_stack(history: Sequence[LabelMove], label: str, current: str | None) -> list[str]:
    """Replay ``label``'s moves into a stack of targets (promote pushes, rollback pops).

    A current target that differs from the replayed top (a label edited by hand in a PR) is pushed.
    """
    stack: list[str] = []
    for move in history:
        if move.label != label:
            continue
        if move.action == "rollback":
            while stack and stack[-1] != move.to:
                stack.pop()
            if not stack:
                stack.append(move.to)
        else:
            stack.append(move.to)
    if current is not None and (not stack or stack[-1] != current):
        stack.append(current)
    return stack


def rollback_target(stack: Sequence[str], to: str | None, name: str, label: str) -> str:
    """The target a rollback moves to: the previous entry, or the named version further down.

    Raises:
        PromptNotFoundError: Nothing to roll back to (the first promotion) or ``to`` is not in the history.
    """
    if len(stack) < 2:
        raise PromptNotFoundError(f"{name}: label {label!r} has no earlier promotion to roll back to")
    if to is None:
        return stack[-2]
    if to not in stack[:-1]:
        raise PromptNotFoundError(
            f"{name}: label {label!r} never pointed at {to!r} before; history: {list(stack)}"
        )
    return to
