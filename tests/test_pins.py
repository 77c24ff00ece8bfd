"""Tests for llmguard._pins: reviewed expectations, SDK drift, rules (Hypothesis) and policy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import importlib.resources
import json
import subprocess
import sys
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import pytest
import typing_extensions
import yaml
from hypothesis import given
from hypothesis import strategies as st

from llmguard._pins import (
    PROVIDERS,
    PinDecision,
    PinMode,
    PinVerdict,
    Provider,
    classify,
    decide,
    guess_provider,
    refusal_message,
)

EXPECTATIONS_FILE = Path(__file__).parent / "data" / "pin_expectations.yaml"
PINNED_KINDS = {
    "dated",
    "legacy_date",
    "fine_tune",
    "dateless_snapshot",
    "no_snapshot_published",
    "legacy_version",
    "revision",
    "declared",
}
MODES: tuple[PinMode, ...] = ("enforce", "warn", "off")


def _expectations() -> dict[str, dict[str, dict[str, Any]]]:
    loaded = yaml.safe_load(EXPECTATIONS_FILE.read_text(encoding="utf-8"))
    return cast(dict[str, dict[str, dict[str, Any]]], loaded)


def _data() -> dict[str, dict[str, dict[str, str]]]:
    text = (importlib.resources.files("llmguard") / "data" / "model_pins.yaml").read_text("utf-8")
    return cast(dict[str, dict[str, dict[str, str]]], yaml.safe_load(text))


def test_the_json_snapshot_matches_the_reviewed_yaml() -> None:
    from llmguard import _pins_gen

    assert _pins_gen.TARGET.read_text(encoding="utf-8") == _pins_gen.render(), f"run {_pins_gen.COMMAND}"
    assert json.loads(_pins_gen.TARGET.read_text(encoding="utf-8")) == _data()


def test_checking_pins_imports_no_yaml() -> None:
    code = (
        "import sys, llmguard; g = llmguard.Guard(pin_policy='enforce'); "
        "g.runtime.pins.decide('gpt-4o-2024-08-06', 'openai'); print('yaml' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


EXPECTED = [
    pytest.param(provider, name, expected, id=f"{provider}:{name}")
    for provider, names in _expectations().items()
    for name, expected in names.items()
]


# --- reviewed expectations and SDK drift --------------------------------------------------------


@pytest.mark.parametrize(("provider", "model", "expected"), EXPECTED)
def test_expectation(provider: Provider, model: str, expected: dict[str, Any]) -> None:
    verdict = classify(model, provider)
    assert (verdict.pinned, verdict.kind) == (expected["pinned"], expected["kind"])
    assert verdict.suggestion == expected.get("suggestion")
    assert verdict.model == model
    assert verdict.reason


def test_expectation_file_only_uses_known_providers_and_kinds() -> None:
    expectations = _expectations()
    assert set(expectations) <= set(PROVIDERS)
    for names in expectations.values():
        for expected in names.values():
            assert (expected["kind"] in PINNED_KINDS) == expected["pinned"]


def _literal_strings(tp: object) -> Iterator[str]:
    """Every string literal inside a (possibly aliased, nested, unioned) type."""
    if isinstance(tp, str):
        yield tp
        return
    value = getattr(tp, "__value__", None)
    if value is not None:
        yield from _literal_strings(value)
    for arg in typing.get_args(tp):
        yield from _literal_strings(arg)


# Where each SDK keeps its model Literals; a module an older SDK lacks is skipped.
_MODEL_TYPES = {
    "openai": [
        ("openai.types.shared.chat_model", "ChatModel"),
        ("openai.types.shared.responses_model", "ResponsesModel"),
        ("openai.types.shared_params.chat_model", "ChatModel"),
        ("openai.types.shared_params.responses_model", "ResponsesModel"),
        ("openai.types.audio.speech_model", "SpeechModel"),
        ("openai.types.audio_model", "AudioModel"),
        ("openai.types.embedding_model", "EmbeddingModel"),
        ("openai.types.image_model", "ImageModel"),
        ("openai.types.moderation_model", "ModerationModel"),
        ("openai.types.video_model", "VideoModel"),
    ],
    "anthropic": [
        ("anthropic.types.model", "Model"),
        ("anthropic.types.model_param", "ModelParam"),
        ("anthropic.types.beta.beta_managed_agents_model", "BetaManagedAgentsModel"),
    ],
}


def _sdk_model_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for family, places in _MODEL_TYPES.items():
        names[family] = set()
        for module, attr in places:
            try:
                tp = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                continue
            names[family] |= set(_literal_strings(tp))
    return names


def test_literal_extraction_sees_through_aliases_unions_and_nesting() -> None:
    # The property the reviewed-names test relies on, on a constructed type: a release that renames or drops a
    # model (anthropic 2.15.0 dropped claude-sonnet-4-5-20250929) cannot break it.
    inner = Literal["a-1", "b-2"]
    alias = typing_extensions.TypeAliasType("alias", inner | Literal["c-3"])
    nested = typing.Union.__getitem__((str, alias, list[Literal["d-4"]]))  # a Union built at run time
    assert set(_literal_strings(nested)) == {"a-1", "b-2", "c-3", "d-4"}


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_the_installed_sdk_lists_model_names(family: str) -> None:
    names = _sdk_model_names()[family]
    assert names, f"no model Literal found in the installed {family} SDK: the extraction needs updating"
    assert all(isinstance(n, str) and n == n.strip() and n for n in names)


def _unreviewed(sdk_names: Mapping[str, set[str]]) -> list[str]:
    expectations, data = _expectations(), _data()
    unreviewed: list[str] = []
    for family, names in sdk_names.items():
        explicit = {n.lower() for section in data[family].values() for n in section}
        explicit |= {n.lower() for n in expectations[family]}
        unreviewed += [f"{family}:{n}" for n in sorted(names) if n.lower() not in explicit]
    return unreviewed


def test_every_sdk_model_name_is_reviewed() -> None:
    """Fails after an SDK upgrade adds model names nobody has reviewed yet."""
    unreviewed = _unreviewed(_sdk_model_names())
    assert not unreviewed, (
        f"the installed SDKs list {len(unreviewed)} model name(s) with no reviewed pin classification: "
        f"{', '.join(unreviewed)}; add each to tests/data/pin_expectations.yaml (and, if the naming "
        f"rules get it wrong, to src/llmguard/data/model_pins.yaml)"
    )


def test_a_new_sdk_name_is_reported_by_name() -> None:
    fake = {"openai": {"gpt-4o", "gpt-7-nova"}, "anthropic": {"claude-sonnet-4-6", "claude-verse-6"}}
    assert _unreviewed(fake) == ["openai:gpt-7-nova", "anthropic:claude-verse-6"]


# --- the data file is self-consistent -----------------------------------------------------------


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_data_sections_are_consistent(family: Literal["openai", "anthropic"]) -> None:
    section = _data()[family]
    assert set(section) == {"known_snapshots", "no_snapshot_published", "aliases", "legacy_versions"}
    for alias, snapshot in section["known_snapshots"].items():
        assert not classify(alias, family).pinned, alias
        assert classify(snapshot, family).pinned or snapshot == "gpt-4-1106-vision-preview", snapshot
    for name in section["no_snapshot_published"]:
        assert not name.endswith("latest"), f"{name}: '-latest' always floats"
    allowlisted = set(section["no_snapshot_published"]) | set(section["legacy_versions"])
    assert not allowlisted & set(section["aliases"])
    assert not allowlisted & set(section["known_snapshots"])


# --- rules (Hypothesis) -------------------------------------------------------------------------

_BASE = st.from_regex(r"\A[a-z][a-z0-9.]{0,8}(-[a-z0-9.]{1,6}){0,3}\Z")
_FAMILY = st.from_regex(r"\A[a-z]{2,10}\Z")
_DATES = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))
_GEO = st.sampled_from(["", "us.", "eu.", "apac.", "global.", "jp.", "au.", "us-gov."])


@given(_BASE, _DATES)
def test_openai_iso_dated_names_are_pinned(base: str, date: dt.date) -> None:
    verdict = classify(f"{base}-{date.isoformat()}", "openai")
    assert verdict.pinned
    assert verdict.kind == "dated"


@given(_BASE, st.sampled_from(PROVIDERS))
def test_latest_always_floats(base: str, provider: Provider) -> None:
    for name in (f"{base}-latest", f"claude-{base}-latest", "latest"):
        verdict = classify(name, provider)
        assert not verdict.pinned


@given(_FAMILY, st.integers(1, 12), st.integers(1, 12))
def test_anthropic_dateless_generation_rule(family: str, major: int, minor: int) -> None:
    verdict = classify(f"claude-{family}-{major}-{minor}", "anthropic")
    assert verdict.pinned == ((major, minor) >= (4, 6))
    assert verdict.kind == ("dateless_snapshot" if verdict.pinned else "alias")


@given(_FAMILY, st.integers(1, 12))
def test_anthropic_major_only_and_dash_zero(family: str, major: int) -> None:
    assert classify(f"claude-{family}-{major}", "anthropic").pinned == (major >= 5)
    dash_zero = classify(f"claude-{family}-{major}-0", "anthropic")
    assert not dash_zero.pinned
    assert dash_zero.kind == "alias"


@given(_FAMILY, st.integers(1, 12), st.integers(1, 12), _DATES)
def test_anthropic_dated_ids_are_pinned(family: str, major: int, minor: int, date: dt.date) -> None:
    assert classify(f"claude-{family}-{major}-{minor}-{date:%Y%m%d}", "anthropic").kind == "dated"


@given(_GEO, _FAMILY, st.integers(1, 12), st.integers(1, 9), st.sampled_from(["", "-v1", "-v2:0", ":0"]))
def test_bedrock_classifies_like_the_bare_id(
    geo: str, family: str, major: int, minor: int, suffix: str
) -> None:
    bare = f"claude-{family}-{major}-{minor}"
    for model in (bare, f"{bare}-20250101"):
        expected = classify(model, "anthropic")
        verdict = classify(f"{geo}anthropic.{model}{suffix}", "bedrock")
        assert (verdict.pinned, verdict.kind) == (expected.pinned, expected.kind)


@given(_FAMILY, st.integers(1, 12), st.integers(1, 9))
def test_vertex_default_only_pins_dateless_generations(family: str, major: int, minor: int) -> None:
    bare = f"claude-{family}-{major}-{minor}"
    assert classify(f"{bare}@default", "vertex").pinned == classify(bare, "anthropic").pinned
    assert classify(f"{bare}@20250101", "vertex").pinned


@given(_BASE, st.sampled_from(PROVIDERS), st.booleans())
def test_case_and_provider_prefix_do_not_matter(base: str, provider: Provider, upper: bool) -> None:
    for name in (f"{base}-2025-01-01", f"claude-{base}-4-6", base):
        expected = classify(name, provider)
        prefixed = classify(f"{provider}/{name.upper() if upper else name}", provider)
        if provider not in ("azure", "openai_compatible"):
            assert (prefixed.pinned, prefixed.kind) == (expected.pinned, expected.kind)


@given(_BASE, st.sampled_from(PROVIDERS), st.dictionaries(_BASE, _BASE, max_size=3))
def test_off_never_rewrites_or_refuses(model: str, provider: Provider, lock: dict[str, str]) -> None:
    decision = decide(model, provider, "off", lock | {model: "gpt-4o-2024-08-06"}, {model: "x"})
    assert (decision.action, decision.effective, decision.locked) == ("off", model, None)


@given(_BASE, st.sampled_from(PROVIDERS), st.sampled_from(MODES))
def test_decide_actions_match_the_verdict(model: str, provider: Provider, mode: PinMode) -> None:
    decision = decide(model, provider, mode, {}, {})
    assert decision.effective == decision.requested == model
    if mode == "off":
        assert decision.action == "off"
    elif decision.verdict.pinned:
        assert decision.action == "allow"
    else:
        assert decision.action == ("refuse" if mode == "enforce" else "warn")


# --- decide() table ---------------------------------------------------------------------------

LOCK = {"gpt-4o": "gpt-4o-2024-08-06", "claude-sonnet-4-5": "claude-sonnet-4-5-20250929"}
DECLARED = {"prod-chat": "gpt-4o-2024-08-06", "floaty": "gpt-4o", "llama": "meta-llama/L@" + "a" * 40}

DECIDE_TABLE: list[tuple[str, Provider, PinMode, str, str, str | None]] = [
    # model, provider, mode, action, effective, locked
    ("gpt-4o", "openai", "enforce", "rewrite", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
    ("gpt-4o", "openai", "warn", "rewrite", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
    ("gpt-4o", "openai", "off", "off", "gpt-4o", None),
    ("gpt-4o-mini", "openai", "enforce", "refuse", "gpt-4o-mini", None),
    ("gpt-4o-mini", "openai", "warn", "warn", "gpt-4o-mini", None),
    ("gpt-4o-2024-08-06", "openai", "enforce", "allow", "gpt-4o-2024-08-06", None),
    ("gpt-6-astra", "openai", "enforce", "allow", "gpt-6-astra", None),
    ("text-embedding-3-small", "openai", "enforce", "allow", "text-embedding-3-small", None),
    ("chatgpt-4o-latest", "openai", "enforce", "refuse", "chatgpt-4o-latest", None),
    (
        "claude-sonnet-4-5",
        "anthropic",
        "enforce",
        "rewrite",
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5-20250929",
    ),
    ("claude-sonnet-4-6", "anthropic", "enforce", "allow", "claude-sonnet-4-6", None),
    ("claude-sonnet-4-0", "anthropic", "enforce", "refuse", "claude-sonnet-4-0", None),
    ("prod-chat", "azure", "enforce", "allow", "prod-chat", None),
    ("floaty", "azure", "enforce", "refuse", "floaty", None),
    ("other-deployment", "azure", "enforce", "refuse", "other-deployment", None),
    ("other-deployment", "azure", "warn", "warn", "other-deployment", None),
    ("llama", "openai_compatible", "enforce", "allow", "llama", None),
    (
        "meta-llama/Llama-3.1-8B-Instruct",
        "openai_compatible",
        "enforce",
        "refuse",
        "meta-llama/Llama-3.1-8B-Instruct",
        None,
    ),
    ("anthropic.claude-sonnet-4-6", "bedrock", "enforce", "allow", "anthropic.claude-sonnet-4-6", None),
    ("claude-sonnet-4-5@default", "vertex", "enforce", "refuse", "claude-sonnet-4-5@default", None),
]


@pytest.mark.parametrize(("model", "provider", "mode", "action", "effective", "locked"), DECIDE_TABLE)
def test_decide_table(
    model: str, provider: Provider, mode: PinMode, action: str, effective: str, locked: str | None
) -> None:
    decision = decide(model, provider, mode, LOCK, DECLARED)
    assert (decision.action, decision.effective, decision.locked) == (action, effective, locked)
    assert decision.requested == model


def test_declared_verdicts() -> None:
    pinned = decide("prod-chat", "azure", "enforce", {}, DECLARED).verdict
    assert (pinned.pinned, pinned.kind, pinned.model) == (True, "declared", "prod-chat")
    floating = decide("floaty", "azure", "enforce", {}, DECLARED).verdict
    assert (floating.pinned, floating.kind, floating.suggestion) == (False, "alias", "gpt-4o-2024-08-06")
    assert "declared as 'gpt-4o'" in floating.reason


def test_rewrite_keeps_the_verdict_of_the_requested_alias() -> None:
    decision = decide("gpt-4o", "openai", "enforce", LOCK, {})
    assert decision.verdict == classify("gpt-4o", "openai")


def test_results_are_frozen_and_cached() -> None:
    verdict = classify("gpt-4o", "openai")
    assert classify("gpt-4o", "openai") is verdict
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.pinned = True  # type: ignore[misc]
    assert decide("gpt-4o", "openai", "enforce", {}, {}) is decide("gpt-4o", "openai", "enforce", {}, {})


# --- refusal messages ---------------------------------------------------------------------------


def _message(model: str, provider: Provider, declared: Mapping[str, str] | None = None) -> str:
    decision = decide(model, provider, "enforce", {}, declared or {})
    assert decision.action == "refuse"
    return refusal_message(decision)


def test_refusal_message_for_an_alias_with_a_snapshot() -> None:
    assert _message("gpt-4o", "openai") == (
        "model 'gpt-4o' is a floating alias; pin a dated snapshot such as 'gpt-4o-2024-08-06' "
        "or lock it in llmguard.lock"
    )


@pytest.mark.parametrize(
    ("model", "provider", "fragments"),
    [
        (
            "claude-sonnet-5-0",
            "anthropic",
            ["'claude-sonnet-5-0'", "fixed snapshot such as 'claude-sonnet-5'"],
        ),
        ("claude-3-5-sonnet-latest", "anthropic", ["floating alias", "'claude-3-5-sonnet-20241022'"]),
        ("chatgpt-4o-latest", "openai", ["'chatgpt-4o-latest'", "no published snapshot", "llmguard.lock"]),
        ("my-deployment", "azure", ["'my-deployment'", 'pins = {"my-deployment": "<snapshot>"}']),
        ("org/model", "openai_compatible", ["'org/model'", "<repo>@<40-hex commit>", "pins = {"]),
        ("my-custom-model", "openai", ["'my-custom-model'", "not pinned", "dated snapshot", "pins = {"]),
        ("arn:aws:bedrock:us-east-1:1:application-inference-profile/x", "bedrock", ["opaque", "declare"]),
    ],
)
def test_refusal_messages_are_actionable(model: str, provider: Provider, fragments: list[str]) -> None:
    message = _message(model, provider)
    for fragment in fragments:
        assert fragment in message


def test_refusal_message_of_a_pinned_decision_says_so() -> None:
    decision = PinDecision("x", "x", None, PinVerdict("x", True, "dated", "dated"), "allow")
    assert "is pinned" in refusal_message(decision)


# --- provider guess -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o", "openai"),
        ("claude-sonnet-4-6", "anthropic"),
        ("claude-sonnet-4-5@20250929", "vertex"),
        ("us.anthropic.claude-sonnet-4-6", "bedrock"),
        ("arn:aws:bedrock:us-east-1:1:application-inference-profile/x", "bedrock"),
        ("meta-llama/Llama-3.1-8B-Instruct", "openai_compatible"),
        ("azure/prod-chat", "azure"),
        ("openai/gpt-4o", "openai"),
    ],
)
def test_guess_provider(model: str, provider: Provider) -> None:
    assert guess_provider(model) == provider


@pytest.mark.parametrize("provider", ["azure", "openai_compatible"])
def test_lock_entries_of_user_named_providers_are_declarations(provider: Provider) -> None:
    """The deployment / served name must be sent unchanged, so it is never rewritten."""
    pins = {"prod": "gpt-4o-2024-08-06" if provider == "azure" else "org/m@" + "b" * 40}
    decision = decide("prod", provider, "enforce", pins, {})
    assert (decision.action, decision.effective, decision.locked) == ("allow", "prod", None)
    assert decision.verdict.kind == "declared"
