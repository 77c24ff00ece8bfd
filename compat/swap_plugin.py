"""pytest plugin for `compat/run.py`: swap llmguard's clients into an SDK's own test suite.

Loaded with ``-p swap_plugin`` (``compat/`` on ``PYTHONPATH``), i.e. while pytest parses its
arguments, *before* the suite's ``tests/conftest.py`` runs ``from openai import OpenAI``. At import
time it rebinds the SDK's public client names to replacement classes, so every
``from openai import OpenAI`` / ``openai.OpenAI(...)`` in the suite gets the replacement.

Environment (all set by ``compat/run.py``):

``LLMGUARD_COMPAT_SDK``
    ``openai`` or ``anthropic``: which names to rebind.
``LLMGUARD_COMPAT_SWAP``
    ``none`` (stock classes, observe only), ``probe`` (a trivial ``class OpenAI(openai.OpenAI): pass``,
    proves the mechanism) or ``llmguard`` (``llmguard.OpenAI`` ... configured with
    ``pin_policy=warn`` and a real OTel SDK ``TracerProvider``).
``LLMGUARD_COMPAT_PIN_POLICY``
    Pin policy for the llmguard swap (default ``warn``).
``LLMGUARD_COMPAT_CONFIGURE``
    Optional JSON object of extra ``llmguard.configure`` keywords (e.g. ``{"inject_stream_usage": false}``).
``LLMGUARD_COMPAT_REPORT``
    Path of a JSON report written by the controlling pytest process at session end.

What is rebound: the attributes of the SDK package (``openai.OpenAI``, ``anthropic.Anthropic``,
...) and of the public re-export module ``openai.lib.azure``. Deliberately **not** rebound: the
defining module globals ``openai._client.OpenAI`` / ``anthropic._client.Anthropic``. The SDK
itself reads those at run time (``anthropic._client._is_base_client`` is
``type(client) in (Anthropic, AsyncAnthropic)``); rebinding them would make the subclass pass
for the base class and hide exactly the behaviour differences this harness exists to find.
No test in the selected files imports the classes from ``_client``; the collection scan below
fails the run if any test module still holds a stock class.

Proof that the swap happened (so the stock/swapped comparison is not vacuous): the plugin
records the type of every fixture value and of every module-level object in the test modules
that is a client, and at session end (after merging the pytest-xdist workers' observations)
fails the session (exit status 3) when, in ``probe``/``llmguard`` mode, no replacement-class
instance was seen or a test module still bound a stock class.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from typing import Any

import pytest

MODE = os.environ.get("LLMGUARD_COMPAT_SWAP", "none").strip().lower() or "none"
SDK = os.environ.get("LLMGUARD_COMPAT_SDK", "").strip().lower()
PIN_POLICY = os.environ.get("LLMGUARD_COMPAT_PIN_POLICY", "warn")
REPORT_PATH = os.environ.get("LLMGUARD_COMPAT_REPORT", "")

if MODE not in {"none", "probe", "llmguard"}:
    raise pytest.UsageError(f"LLMGUARD_COMPAT_SWAP must be none|probe|llmguard, not {MODE!r}")
if SDK not in {"openai", "anthropic"}:
    raise pytest.UsageError(f"LLMGUARD_COMPAT_SDK must be openai|anthropic, not {SDK!r}")

# (module, attribute) sites to rebind, per SDK. The first module is the package.
_NAMES: dict[str, list[str]] = {
    "openai": ["OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI"],
    "anthropic": [
        "Anthropic",
        "AsyncAnthropic",
        "AnthropicBedrock",
        "AsyncAnthropicBedrock",
        "AnthropicVertex",
        "AsyncAnthropicVertex",
    ],
}
_EXTRA_SITES: dict[str, dict[str, list[str]]] = {
    # Public re-export/defining module of the Azure classes; tests import from here
    # (`from openai.lib.azure import AzureOpenAI`). azure.py never reads these names at run time.
    "openai": {"openai.lib.azure": ["AzureOpenAI", "AsyncAzureOpenAI"]},
    "anthropic": {},
}
# Names every llmguard/probe swap must provide; the others are swapped when available.
_REQUIRED = {
    "openai": {"OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI"},
    "anthropic": {"Anthropic", "AsyncAnthropic"},
}

_state: dict[str, Any] = {
    "mode": MODE,
    "sdk": SDK,
    "pid_role": "controller",
    "rebound": [],  # "module.attr -> replacement"
    "configure": None,  # how llmguard was configured
    "fixture_instances": collections.Counter(),  # "swapped:<cls>" / "stock:<cls>" / "other:<cls>"
    "module_instances": collections.Counter(),
    "stock_bindings": [],  # test-module globals still bound to a stock class (swap modes)
    "spans": collections.Counter(),
    "call_records": 0,
    "call_records_with_usage": 0,
    "errors": [],
}

_originals: dict[str, type] = {}  # name -> stock class
_replacements: dict[str, type] = {}  # name -> replacement class


class _CountingSpanProcessor:
    """Minimal OTel SpanProcessor that only counts ended spans by name (no memory growth)."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def _on_ending(self, span: Any) -> None:
        pass

    def on_end(self, span: Any) -> None:
        _state["spans"][span.name] += 1

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _CountingObserver:
    """llmguard CallObserver counting finished calls (and those that carried usage)."""

    def on_start(self, call: Any) -> None:
        pass

    def on_end(self, call: Any, record: Any) -> None:
        _state["call_records"] += 1
        if getattr(record, "usage", None) is not None:
            _state["call_records_with_usage"] += 1


def _build_probe_classes(sdk_mod: Any, names: list[str]) -> dict[str, type]:
    out: dict[str, type] = {}
    for name in names:
        base = getattr(sdk_mod, name, None)
        if isinstance(base, type):
            cls = type(name, (base,), {"__module__": "compat_probe", "__doc__": f"Probe subclass of {name}."})
            cls.__qualname__ = name
            out[name] = cls
    return out


def _build_llmguard_classes(names: list[str]) -> dict[str, type]:
    import llmguard

    out: dict[str, type] = {}
    for name in names:
        try:
            cls = getattr(llmguard, name)
        except AttributeError:
            continue
        if isinstance(cls, type):
            out[name] = cls

    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    provider.add_span_processor(_CountingSpanProcessor())  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {"pin_policy": PIN_POLICY, "tracer_provider": provider}
    kwargs.update(json.loads(os.environ.get("LLMGUARD_COMPAT_CONFIGURE") or "{}"))
    try:
        kwargs["observers"] = [_CountingObserver()]
        llmguard.configure(**kwargs)
        shown = {k: v for k, v in kwargs.items() if k not in ("tracer_provider", "observers")}
        _state["configure"] = (
            f"llmguard.configure(**{shown!r}, tracer_provider=TracerProvider(), observers=[counter])"
        )
    except Exception as exc:  # older llmguard: no tracer_provider/observers keyword
        kwargs.pop("observers", None)
        kwargs.pop("tracer_provider", None)
        llmguard.configure(**kwargs)
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        _state["configure"] = (
            f"llmguard.configure(pin_policy={PIN_POLICY!r}) + global OTel TracerProvider "
            f"(configure rejected tracer_provider/observers: {exc!r})"
        )
    return out


def _install() -> None:
    import importlib

    sdk_mod = importlib.import_module(SDK)
    names = _NAMES[SDK]
    for name in names:
        value = getattr(sdk_mod, name, None)
        if isinstance(value, type):
            _originals[name] = value
    if MODE == "none":
        return
    replacements = _build_probe_classes(sdk_mod, names) if MODE == "probe" else _build_llmguard_classes(names)
    missing = _REQUIRED[SDK] - set(replacements)
    if missing:
        raise pytest.UsageError(f"swap {MODE!r}: no replacement for {sorted(missing)}")
    for name, cls in replacements.items():
        if name not in _originals or not issubclass(cls, _originals[name]):
            raise pytest.UsageError(f"swap {MODE!r}: {cls!r} is not a subclass of {SDK}.{name}")
    _replacements.update(replacements)
    sites: dict[str, list[str]] = {SDK: names, **_EXTRA_SITES[SDK]}
    by_id = {id(_originals[n]): r for n, r in _replacements.items()}
    for mod_name in sites:
        mod = importlib.import_module(mod_name)
        # Every public attribute bound to a swapped stock class, aliases included
        # (`anthropic.Client` is `anthropic.Anthropic`; tests that walk `dir(anthropic)` see both).
        for attr, value in list(vars(mod).items()):
            repl = by_id.get(id(value))
            if repl is None or attr.startswith("_"):
                continue
            setattr(mod, attr, repl)
            _state["rebound"].append(f"{mod_name}.{attr} -> {repl.__module__}.{repl.__qualname__}")


_install()


def _classify(value: Any) -> str | None:
    tp = type(value)
    if not _originals:
        return None
    if any(issubclass(tp, r) for r in _replacements.values()):
        return f"swapped:{tp.__module__}.{tp.__qualname__}"
    if tp in _originals.values():
        return f"stock:{tp.__module__}.{tp.__qualname__}"
    if isinstance(value, tuple(_originals.values())):
        return f"other:{tp.__module__}.{tp.__qualname__}"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    outcome = yield
    try:
        value = outcome.get_result()
    except BaseException:
        return
    kind = _classify(value)
    if kind:
        _state["fixture_instances"][kind] += 1


def pytest_collection_finish(session: pytest.Session) -> None:
    stock_ids = {id(c): n for n, c in _originals.items()}
    swapped_names = set(_replacements)
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not (mod_name == "tests" or mod_name.startswith("tests.")):
            continue
        for attr, value in list(vars(mod).items()):
            if isinstance(value, type):
                name = stock_ids.get(id(value))
                if name is not None and name in swapped_names:
                    _state["stock_bindings"].append(f"{mod_name}.{attr} is stock {SDK}.{name}")
                continue
            kind = _classify(value)
            if kind:
                _state["module_instances"][kind] += 1


def _serialisable() -> dict[str, Any]:
    out = dict(_state)
    for key in ("fixture_instances", "module_instances", "spans"):
        out[key] = dict(_state[key])
    return out


def _merge(other: dict[str, Any]) -> None:
    for key in ("fixture_instances", "module_instances", "spans"):
        _state[key].update(other.get(key, {}))
    for key in ("call_records", "call_records_with_usage"):
        _state[key] += other.get(key, 0)
    for b in other.get("stock_bindings", []):
        if b not in _state["stock_bindings"]:
            _state["stock_bindings"].append(b)
    _state["errors"].extend(other.get("errors", []))
    _state["workers"] = _state.get("workers", 0) + 1


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist controller: merge a worker's observations."""
    raw = getattr(node, "workeroutput", {}).get("llmguard_compat")
    if raw:
        _merge(json.loads(raw))


def _swapped_seen() -> int:
    return sum(
        v
        for k, v in (_state["fixture_instances"] + _state["module_instances"]).items()
        if k.startswith("swapped:")
    )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand observations to the controller
        workeroutput["llmguard_compat"] = json.dumps(_serialisable())
        return
    problems: list[str] = []
    if MODE != "none":
        if _swapped_seen() == 0:
            problems.append(
                f"swap {MODE!r}: no instance of a replacement class was observed; the swap did not happen"
            )
        required = [b for b in _state["stock_bindings"] if b.rsplit(".", 1)[-1] in _REQUIRED[SDK]]
        if required:
            problems.append(f"swap {MODE!r}: test modules still bind stock classes: {required[:5]}")
    _state["problems"] = problems
    _state["swapped_instances_seen"] = _swapped_seen()
    if REPORT_PATH:
        with open(REPORT_PATH, "w", encoding="utf-8") as fh:
            json.dump(_serialisable(), fh, indent=2, sort_keys=True)
    if problems:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if getattr(config, "workeroutput", None) is not None:
        return
    tr = terminalreporter
    tr.section(f"llmguard compat swap ({SDK}, mode={MODE})")
    for line in _state["rebound"]:
        tr.write_line(f"rebound {line}")
    if _state["configure"]:
        tr.write_line(f"configured: {_state['configure']}")
    tr.write_line(f"fixture clients: {dict(_state['fixture_instances'])}")
    tr.write_line(f"module-level clients: {dict(_state['module_instances'])}")
    if MODE == "llmguard":
        top = dict(_state["spans"].most_common(8))
        tr.write_line(
            f"llmguard call records: {_state['call_records']} ({_state['call_records_with_usage']} with usage); "
            f"spans ended: {sum(_state['spans'].values())} {top}"
        )
    for p in _state.get("problems", []):
        tr.write_line(f"SWAP CHECK FAILED: {p}", red=True, bold=True)
