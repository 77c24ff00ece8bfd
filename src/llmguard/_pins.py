"""Model-pin classification and the pin-policy decision: pure, data-backed, cached.

A *pinned* model name addresses one fixed model snapshot; a *floating* one (an alias) can be
moved by the provider to different weights at any time. Telling the two apart needs per-provider
rules plus reviewed data, because "no date means alias" is wrong for both providers:

* OpenAI pins with an ISO date (``gpt-4o-2024-08-06``), a legacy ``-MMDD`` (``gpt-4-0613``) or a
  fine-tune id (``ft:...``), but several current models publish no dated snapshot at all.
* Anthropic pins with ``-YYYYMMDD`` before the 4.6 generation; from 4.6 on the dateless id
  (``claude-sonnet-4-6``, ``claude-sonnet-5``) is itself the fixed snapshot.
* Bedrock and Vertex wrap the Anthropic ids; Azure deployment names and OpenAI-compatible served
  names cannot be judged by name and need a declared mapping.

The data lives in ``llmguard/data/model_pins.yaml``. `classify` is cached because it runs on
every LLM call; `decide` applies a pin policy, a lock file and declared pins on top of it.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import yaml

__all__ = [
    "MAX_MODEL_NAME",
    "PROVIDERS",
    "PinDecision",
    "PinMode",
    "PinVerdict",
    "Provider",
    "classify",
    "decide",
    "guess_provider",
    "model_name_problem",
    "refusal_message",
    "snapshot_of",
]

PinMode = Literal["enforce", "warn", "off"]
Provider = Literal["openai", "azure", "anthropic", "bedrock", "vertex", "openai_compatible"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)

_CACHE_SIZE = 4096

MAX_MODEL_NAME = 256
"""The longest model name accepted (characters)."""


@dataclass(frozen=True, slots=True)
class PinVerdict:
    """Whether one model name addresses a fixed snapshot, and why.

    Attributes:
        model: The model name as given.
        pinned: True when the name always addresses the same model snapshot.
        kind: The rule that decided, e.g. ``"dated"``, ``"alias"``, ``"undeclared_deployment"``.
        reason: One short human sentence.
        suggestion: A pinned name to use instead, when one is known.
    """

    model: str
    pinned: bool
    kind: str
    reason: str
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class PinDecision:
    """What a pin policy does with one requested model.

    Attributes:
        requested: The model name the caller asked for.
        effective: The model name to send (the locked snapshot when rewritten).
        locked: The snapshot the lock rewrote to, else None.
        verdict: The verdict of the requested name (or of its declared mapping).
        action: ``"allow"``, ``"rewrite"``, ``"refuse"``, ``"warn"`` or ``"off"``.
    """

    requested: str
    effective: str
    locked: str | None
    verdict: PinVerdict
    action: Literal["allow", "rewrite", "refuse", "warn", "off"]


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Data:
    """The reviewed lists of one provider family, keys lower-cased."""

    known_snapshots: Mapping[str, str]
    no_snapshot_published: Mapping[str, str]
    aliases: Mapping[str, str]
    legacy_versions: Mapping[str, str]


def _str_map(section: Mapping[str, Any], key: str) -> dict[str, str]:
    raw = section.get(key) or {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise RuntimeError(f"llmguard/data/model_pins.yaml: '{key}' must map names to strings")
    return {str(k).lower(): v for k, v in raw.items()}


@functools.cache
def _data(family: Literal["openai", "anthropic"]) -> _Data:
    text = (importlib.resources.files("llmguard") / "data" / "model_pins.yaml").read_text("utf-8")
    section = yaml.safe_load(text)[family]
    return _Data(*(_str_map(section, k) for k in _Data.__slots__))


# --- rules ------------------------------------------------------------------------------------

_LATEST = re.compile(r"(^|-)latest$")
_OPENAI_FT = re.compile(r"^ft:[^:]+:[^:]*:[^:]*:[a-z0-9]+$")
_OPENAI_ISO = re.compile(r"^(?P<base>.+)-(?P<date>20\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))$")
_OPENAI_MMDD = re.compile(
    r"^(?P<base>(gpt-4|gpt-3\.5-turbo)[a-z0-9.-]*?)-(0[1-9]|1[0-2])\d{2}(-vision)?(-preview)?$"
)
_ANT_DATED = re.compile(r"^claude-[a-z0-9-]+-(?P<date>20\d{6})$")
_ANT_NEW = re.compile(r"^claude-(?P<fam>[a-z]+)-(?P<maj>\d+)(?:-(?P<min>\d{1,2}))?$")
_ANT_OLD = re.compile(r"^claude-(?P<maj>\d)(?:-(?P<min>\d))?-(?P<fam>[a-z]+)$")
_BEDROCK = re.compile(
    r"^(?P<geo>(?:us|eu|apac|global|us-gov|jp|au)\.)?anthropic\."
    r"(?P<id>claude-[a-z0-9.-]+?)(?:-v(?P<v>\d+))?(?::(?P<tp>\d+))?$"
)
_BEDROCK_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(?P<res>[a-z-]+)/(?P<id>.+)$")
_VERTEX = re.compile(r"^(?P<id>claude-[a-z0-9-]+)@(?P<ver>20\d{6}|default)$")
_REVISION = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
_PREFIXES = ("openai/", "azure/", "anthropic/", "bedrock/", "vertex_ai/", "vertex/")
_FIRST_DATELESS = (4, 6)
_USER_NAMED = frozenset({"azure", "openai_compatible"})


_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"})


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def model_name_problem(model: object) -> str | None:
    """What makes ``model`` an invalid model name, or ``None`` when it is valid.

    One rule for every provider: a model name is 1 to `MAX_MODEL_NAME` characters with no
    whitespace and no control, format or unassigned characters. Names are never normalised:
    ``"gpt-4o-2024-08-06 "`` is refused under ``enforce`` and warned about under ``warn``.
    """
    if not isinstance(model, str):
        return f"a model name must be a string, not {type(model).__name__}"
    if not model:
        return "the name is empty"
    if len(model) > MAX_MODEL_NAME:
        return f"the name is {len(model)} characters long; the limit is {MAX_MODEL_NAME}"
    for at, char in enumerate(model):
        if char.isspace() or unicodedata.category(char) in _INVISIBLE:
            where = "leading" if at == 0 else "trailing" if at == len(model) - 1 else "inner"
            return f"it has a {where} {_describe(char)} at position {at}"
    return None


def _invalid(model: str, problem: str) -> PinVerdict:
    cleaned = "".join(c for c in model.strip() if not (c.isspace() or unicodedata.category(c) in _INVISIBLE))
    suggestion = cleaned if cleaned and model_name_problem(cleaned) is None else None
    return _v(model, False, "invalid_name", problem, suggestion)


def _normalize(model: str) -> str:
    name = model.strip().lower()
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _v(model: str, pinned: bool, kind: str, reason: str, suggestion: str | None = None) -> PinVerdict:
    return PinVerdict(model, pinned, kind, reason, suggestion)


def _listed(model: str, name: str, data: _Data) -> PinVerdict | None:
    """Apply the reviewed data lists that override the naming rules."""
    if name in data.aliases:
        return _v(model, False, "alias", data.aliases[name], data.known_snapshots.get(name))
    if name in data.no_snapshot_published:
        return _v(model, True, "no_snapshot_published", data.no_snapshot_published[name])
    if name in data.legacy_versions:
        return _v(model, True, "legacy_version", data.legacy_versions[name])
    return None


def _latest(model: str, data: _Data, name: str) -> PinVerdict:
    reason = "a '-latest' name always floats to the newest model"
    return _v(model, False, "latest_alias", reason, data.known_snapshots.get(name))


def _classify_openai(model: str, name: str) -> PinVerdict:
    data = _data("openai")
    if _LATEST.search(name):
        return _latest(model, data, name)
    if _OPENAI_FT.match(name):
        return _v(model, True, "fine_tune", "a fine-tuned model id is immutable")
    listed = _listed(model, name, data)
    if listed is not None:
        return listed
    if _OPENAI_ISO.match(name):
        return _v(model, True, "dated", "the name ends in a dated snapshot (YYYY-MM-DD)")
    if _OPENAI_MMDD.match(name):
        return _v(model, True, "legacy_date", "the name ends in a legacy dated snapshot (MMDD)")
    if name in data.known_snapshots:
        reason = "an undated name that OpenAI moves to newer snapshots"
        return _v(model, False, "alias", reason, data.known_snapshots[name])
    return _v(model, False, "unknown", "not in llmguard's model data, so its pin cannot be judged")


def _ant_dateless(model: str, name: str, data: _Data, *, vertex: bool = False) -> PinVerdict | None:
    m = _ANT_NEW.match(name)
    if m is None:
        return None
    version = (int(m["maj"]), int(m["min"] or 0))
    if m["min"] != "0" and version >= _FIRST_DATELESS:
        reason = "from the Claude 4.6 generation on, the dateless id is a fixed snapshot"
        return _v(model, True, "dateless_snapshot", reason)
    suggestion = data.known_snapshots.get(name)
    if suggestion is None and version >= _FIRST_DATELESS:
        suggestion = f"claude-{m['fam']}-{m['maj']}"
    reason = "an undated Claude id before the 4.6 generation is an alias"
    if m["min"] == "0":
        reason = "a '-0' Claude id is an alias"
    return _v(model, False, "alias", reason, _vertex_form(suggestion) if vertex else suggestion)


def _classify_anthropic(model: str, name: str, *, vertex: bool = False) -> PinVerdict:
    data = _data("anthropic")
    if _LATEST.search(name):
        latest = _latest(model, data, name)
        return _v(model, False, latest.kind, latest.reason, _maybe_vertex(latest.suggestion, vertex))
    listed = _listed(model, name, data)
    if listed is not None:
        return listed
    if _ANT_DATED.match(name):
        return _v(model, True, "dated", "the id ends in a dated snapshot (YYYYMMDD)")
    dateless = _ant_dateless(model, name, data, vertex=vertex)
    if dateless is not None:
        return dateless
    if _ANT_OLD.match(name):
        reason = "an undated Claude 3.x id is an alias"
        return _v(model, False, "alias", reason, _maybe_vertex(data.known_snapshots.get(name), vertex))
    return _v(model, False, "unknown", "not in llmguard's model data, so its pin cannot be judged")


def _vertex_form(snapshot: str | None) -> str | None:
    """``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5@20250929`` (dateless ids unchanged)."""
    if snapshot is None:
        return None
    m = _ANT_DATED.match(snapshot)
    return f"{snapshot[: m.start('date') - 1]}@{m['date']}" if m else snapshot


def _maybe_vertex(snapshot: str | None, vertex: bool) -> str | None:
    return _vertex_form(snapshot) if vertex else snapshot


def _classify_vertex(model: str, name: str) -> PinVerdict:
    m = _VERTEX.match(name)
    if m is None:
        return _classify_anthropic(model, name, vertex=True)
    if m["ver"] != "default":
        return _v(model, True, "dated", "the Vertex id carries a dated snapshot (@YYYYMMDD)")
    inner = _classify_anthropic(model, m["id"], vertex=True)
    if inner.kind == "dateless_snapshot":
        return _v(model, True, "dateless_snapshot", "'@default' of a Claude 4.6+ id is its fixed snapshot")
    return _v(model, False, "alias", "'@default' of a pre-4.6 Claude id is an alias", inner.suggestion)


def _classify_bedrock(model: str, name: str) -> PinVerdict:
    arn = _BEDROCK_ARN.match(name)
    if arn is not None and arn["res"] in ("foundation-model", "inference-profile"):
        return _classify_bedrock(model, arn["id"])
    if arn is not None:
        reason = "an application inference profile ARN is opaque; declare the snapshot it serves"
        return _v(model, False, "undeclared_deployment", reason)
    m = _BEDROCK.match(name)
    if m is None:
        return _v(model, False, "unknown", "not a Bedrock Anthropic model id llmguard can judge")
    inner = _classify_anthropic(model, m["id"])
    return _v(model, inner.pinned, inner.kind, inner.reason, None)


def _classify_azure(model: str) -> PinVerdict:
    reason = (
        f"an Azure deployment name does not show its model version; declare it with "
        f'pins = {{"{model}": "<snapshot>"}} and set its version upgrade policy to NoAutoUpgrade'
    )
    return _v(model, False, "undeclared_deployment", reason)


def _classify_compatible(model: str) -> PinVerdict:
    if _REVISION.match(model.strip()) or re.fullmatch(r"[0-9a-f]{40}", model.strip()):
        return _v(model, True, "revision", "the served name carries a 40-hex commit revision")
    reason = (
        f"a served model name carries no revision; serve it as '<repo>@<40-hex commit>' or declare "
        f'pins = {{"{model}": "<repo>@<commit>"}}'
    )
    return _v(model, False, "unrevisioned", reason)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def classify(model: str, provider: Provider) -> PinVerdict:
    """Classify a model name as pinned or floating for one provider.

    Matching is case-insensitive after stripping a provider prefix such as ``openai/``. A name
    that breaks `model_name_problem`'s rule (whitespace, control characters...) is never pinned
    (kind ``invalid_name``). The result is cached, so repeated calls cost one dictionary lookup.

    Args:
        model: The model name exactly as it would be sent.
        provider: Where it is sent; decides which naming rules apply.

    Returns:
        The verdict, with a pinned suggestion when one is known.
    """
    problem = model_name_problem(model)
    if problem is not None:
        return _invalid(model, problem)
    name = _normalize(model)
    if provider == "openai":
        return _classify_openai(model, name)
    if provider == "azure":
        return _classify_azure(model)
    if provider == "anthropic":
        return _classify_anthropic(model, name)
    if provider == "bedrock":
        return _classify_bedrock(model, name)
    if provider == "vertex":
        return _classify_vertex(model, name)
    return _classify_compatible(model)


def guess_provider(model: str) -> Provider:
    """Guess the provider from a bare model name, for scanning code and lock files.

    Args:
        model: A model name found outside any client, e.g. in a config file.

    Returns:
        ``"bedrock"`` for Bedrock ids and ARNs, ``"vertex"`` for ``claude-...@...``,
        ``"anthropic"`` for other ``claude`` names, ``"openai_compatible"`` for ``org/repo``
        names, else ``"openai"``.
    """
    name = _normalize(model)
    if name.startswith("arn:aws") or _BEDROCK.match(name) or model.lower().startswith("bedrock/"):
        return "bedrock"
    if name.startswith("claude"):
        return "vertex" if "@" in name or model.lower().startswith("vertex") else "anthropic"
    if "/" in name:
        return "openai_compatible"
    return "azure" if model.lower().startswith("azure/") else "openai"


# --- policy -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _declared_verdict(model: str, target: str, provider: Provider) -> PinVerdict:
    target_provider: Provider = "openai" if provider == "azure" else provider
    inner = classify(target, target_provider)
    if inner.pinned:
        return _v(model, True, "declared", f"declared as the pinned snapshot '{target}'")
    reason = f"declared as '{target}', which is not pinned: {inner.reason}"
    return _v(model, False, inner.kind, reason, inner.suggestion)


def decide(
    model: str,
    provider: Provider,
    mode: PinMode,
    lock: Mapping[str, str],
    declared: Mapping[str, str],
) -> PinDecision:
    """Decide what the pin policy does with one requested model.

    Args:
        model: The requested model name.
        provider: Where the request goes.
        mode: ``"enforce"`` refuses floating names, ``"warn"`` lets them through with a
            warning, ``"off"`` checks nothing.
        lock: Alias -> snapshot rewrites (``llmguard.lock``), applied in enforce and warn.
            For Azure and OpenAI-compatible servers the name sent must stay the deployment or
            served name, so a lock entry there is read as a declaration, never a rewrite.
        declared: Names that cannot be judged by name (Azure deployments, served names) ->
            the snapshot or revision they serve.

    Returns:
        The decision; ``effective`` is the model to send.
    """
    if mode == "off":
        return _decision(model, provider, mode, None, None)
    if provider in _USER_NAMED:
        target = declared.get(model) or lock.get(model)
        return _decision(model, provider, mode, None, target)
    locked = lock.get(model) if lock else None
    target = declared.get(model) if declared and locked is None else None
    return _decision(model, provider, mode, locked, target)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _decision(
    model: str, provider: Provider, mode: PinMode, locked: str | None, target: str | None
) -> PinDecision:
    """Build (once) the decision for one combination of inputs; frozen, so safe to share."""
    if mode == "off":
        return PinDecision(model, model, None, classify(model, provider), "off")
    if locked is not None:
        return PinDecision(model, locked, locked, classify(model, provider), "rewrite")
    verdict = classify(model, provider) if target is None else _declared_verdict(model, target, provider)
    if verdict.pinned:
        return PinDecision(model, model, None, verdict, "allow")
    return PinDecision(model, model, None, verdict, "refuse" if mode == "enforce" else "warn")


def snapshot_of(evaluated: str, declared: str) -> bool:
    """Whether a model evaluated is the model declared: the same name, or a dated snapshot of the alias.

    ``gpt-4o-2024-08-06`` is a snapshot of ``gpt-4o`` (evaluating the pinned form of a prompt's
    alias); ``gpt-4o-mini-2024-07-18`` is not, nor is one snapshot of another.
    """
    evaluated, declared = _normalize(evaluated), _normalize(declared)
    if evaluated == declared:
        return True
    openai = _OPENAI_ISO.match(evaluated)
    if openai is not None:
        return openai["base"] == declared
    anthropic = _ANT_DATED.match(evaluated)
    return anthropic is not None and evaluated[: anthropic.start("date") - 1] == declared


def _looks_dated(name: str) -> bool:
    return bool(
        _OPENAI_ISO.match(name) or _OPENAI_MMDD.match(name) or _ANT_DATED.match(name) or "@20" in name
    )


def refusal_message(decision: PinDecision) -> str:
    """Say why a model was refused (or warned about) and what to do instead.

    Args:
        decision: A decision whose verdict is not pinned.

    Returns:
        One actionable sentence naming the model and the pinned form to use.
    """
    verdict = decision.verdict
    model = decision.requested
    if verdict.kind == "invalid_name":
        instead = f"; did you mean {verdict.suggestion!r}?" if verdict.suggestion else ""
        return (
            f"model {model!r} is not a valid model name: {verdict.reason}{instead} (a model name is 1-"
            f"{MAX_MODEL_NAME} characters with no whitespace or control characters)"
        )
    if verdict.pinned:
        return f"model '{model}' is pinned ({verdict.kind}): {verdict.reason}"
    if verdict.kind in ("alias", "latest_alias") and verdict.suggestion:
        form = "a dated snapshot" if _looks_dated(verdict.suggestion.lower()) else "a fixed snapshot"
        return (
            f"model '{model}' is a floating alias; pin {form} such as '{verdict.suggestion}' "
            f"or lock it in llmguard.lock"
        )
    if verdict.kind in ("alias", "latest_alias"):
        return (
            f"model '{model}' is a floating alias with no published snapshot ({verdict.reason}); "
            f"switch to a dated model or lock it in llmguard.lock to one"
        )
    if verdict.kind in ("undeclared_deployment", "unrevisioned"):
        return f"model '{model}' cannot be judged by name: {verdict.reason}"
    return (
        f"model '{model}' is not pinned: {verdict.reason}; use a dated snapshot, declare it with "
        f'pins = {{"{model}": "<snapshot>"}} or lock it in llmguard.lock'
    )
