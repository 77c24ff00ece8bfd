"""The immutable per-call record every observer and store reads."""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal, TypeVar

from ._scope import ContextValues

__all__ = [
    "PROMPT_HEADER",
    "CallKind",
    "CallRecord",
    "Cost",
    "PromptRef",
    "Usage",
    "build_cost",
    "build_record",
    "build_usage",
    "call_id_of",
    "content_bytes",
    "decode_prompt_header",
    "encode_prompt_header",
    "new_call_id",
    "next_call_number",
    "packed_call_id",
]

T = TypeVar("T")

CallKind = Literal["app", "judge", "drift"]

call_numbers = itertools.count(random.getrandbits(79))
"""The low 80 bits of this process's call ids: a random start, counted up (a forked child draws its own).

``next(call_numbers)`` is one C call: atomic, with no lock. 2**79 calls fit before the 80 bits run out.
"""


def next_call_number() -> int:
    """The number of a new call (`call_numbers`), for `call_id_of`."""
    return next(call_numbers)


def packed_call_id(start_ns: int, number: int) -> bytes:
    """The 16 bytes of the id of the call that started at ``start_ns`` and got ``number`` (see `call_id_of`)."""
    return (((start_ns // 1_000_000) << 80) | number).to_bytes(16, "big")


def call_id_of(start_ns: int, number: int) -> str:
    """The id of the call that started at ``start_ns`` (ns since the epoch) and got ``number`` (`next_call_number`).

    48-bit milliseconds, then the 80-bit number, as 32 lowercase hex characters. A pure function of
    what the call stored when it began, so the id is made late (or never), by whoever first needs it,
    and is the same each time. Ids of one process are distinct and in order of start time (then of
    number, within a millisecond); each process (a forked child too) draws its own random base.
    """
    return packed_call_id(start_ns, number).hex()  # fixed width: string order is time order


def new_call_id(start_ns: int | None = None) -> str:
    """A new call id (`call_id_of`) for a call that started at ``start_ns`` (default: now)."""
    return call_id_of(time.time_ns() if start_ns is None else start_ns, next_call_number())


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """Token counts of one call. ``None`` means the provider did not report it.

    ``input_tokens`` includes cached tokens (as the GenAI semantic conventions define it), for
    every provider: Anthropic's ``input_tokens`` (which excludes cache) is summed with its cache
    reads and writes.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        """Input plus output tokens, when both are known."""
        if self.input_tokens is None or self.output_tokens is None:
            return None
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptRef:
    """Which registry prompt a call was built from."""

    name: str
    version: str
    label: str | None = None
    content_hash: str | None = None
    model: str | None = None
    """The model the prompt was designed for."""
    tags: tuple[str, ...] = ()
    """The prompt file's ``tags:``; they join the call context's tags."""


PROMPT_HEADER = "x-llmguard-prompt"
"""Header carrying a registry prompt's identity from a rendered prompt to the core, which reads and
removes it before the request is built (never sent)."""


def encode_prompt_header(prompt: PromptRef) -> str:
    """Encode a prompt reference for `PROMPT_HEADER`."""
    return json.dumps(
        {
            "name": prompt.name,
            "version": prompt.version,
            "label": prompt.label,
            "hash": prompt.content_hash,
            "model": prompt.model,
            **({"tags": list(prompt.tags)} if prompt.tags else {}),
        },
        separators=(",", ":"),
    )


def decode_prompt_header(value: str) -> PromptRef:
    """Decode a `PROMPT_HEADER` value; raises ``ValueError`` when it is malformed."""
    try:
        data = json.loads(value)
        return PromptRef(
            name=str(data["name"]),
            version=str(data["version"]),
            label=data.get("label"),
            content_hash=data.get("hash"),
            model=data.get("model"),
            tags=tuple(str(tag) for tag in data.get("tags") or ()),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed {PROMPT_HEADER} header") from exc


@dataclass(frozen=True, kw_only=True, slots=True)
class Cost:
    """Cost of one call in USD, computed once in the core's finish step. Exact decimals."""

    total: Decimal
    input: Decimal
    output: Decimal
    cache_read: Decimal = Decimal(0)
    cache_write: Decimal = Decimal(0)
    source: str = "genai-prices"
    """Where the price came from: ``override`` or ``genai-prices``."""
    data_version: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRecord:
    """What happened in one logical LLM call (all retries and the whole stream included).

    Records are immutable; the ``call_id`` is the join key of every store (feedback, judgments, ledger).
    """

    call_id: str
    kind: CallKind
    service_name: str
    environment: str
    provider: str
    """``openai``, ``azure.ai.openai``, ``anthropic``, ``aws.bedrock``, ``gcp.vertex_ai`` or a compatible host's name."""
    operation: str
    """GenAI operation name: ``chat``, ``text_completion`` or ``embeddings``."""
    api: str
    """The SDK endpoint: ``chat.completions``, ``responses``, ``completions``, ``embeddings`` or ``messages``."""
    requested_model: str | None
    """The model the caller asked for."""
    request_model: str | None
    """The model sent (the locked snapshot when the pin policy rewrote an alias)."""
    locked_model: str | None
    """The snapshot a lock rewrote the alias to, else ``None``."""
    response_model: str | None
    """The model the provider says it served."""
    pin_action: str
    """The pin policy's decision: ``allow``, ``rewrite``, ``warn`` or ``off``."""
    drift: bool
    """The served model differs from the pinned one."""
    stream: bool
    stream_completed: bool | None
    """For streams: consumed to the end (``False`` when closed early or abandoned)."""
    response_id: str | None
    finish_reasons: tuple[str, ...]
    usage: Usage
    start_time_ns: int
    """Wall-clock start, ns since the epoch."""
    duration_s: float
    time_to_first_chunk_s: float | None
    retries: int
    error_type: str | None
    chunk_gaps_s: tuple[float, ...] = field(default=(), repr=False, compare=False)
    """For streams: seconds between consecutive chunks, after the first (``time_per_output_chunk``)."""
    error: BaseException | None = field(default=None, repr=False, compare=False)
    prompt: PromptRef | None = None
    context: ContextValues | None = None
    """The call context (`llmguard.context`): user, session, tags and metadata."""
    cost: Cost | None = None
    trace_id: str | None = None
    span_id: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    service_tier: str | None = None
    """The service tier the provider says it served the call on (OpenAI ``service_tier``)."""
    system_fingerprint: str | None = None
    """OpenAI's ``system_fingerprint`` of the serving configuration."""
    embedding_dimensions: int | None = None
    """For embeddings: the length of the first vector returned (when returned as numbers)."""
    request: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The request body as sent. Held in memory only; never exported unless content capture is on."""
    output_text: str | None = field(default=None, repr=False, compare=False)
    """The generated text, kept only when an observer asked for it (e.g. a sampled judge)."""

    def _repr_html_(self) -> str:
        from ._display import html_table

        return html_table(
            f"llmguard.CallRecord {self.call_id}",
            {
                "kind": self.kind,
                "provider / operation": f"{self.provider} / {self.operation} ({self.api})",
                "model requested / sent / served": f"{self.requested_model} / {self.request_model} / "
                f"{self.response_model}",
                "pin": f"{self.pin_action}" + (" (drift!)" if self.drift else ""),
                "tokens in / out / cached": f"{self.usage.input_tokens} / {self.usage.output_tokens} / "
                f"{self.usage.cache_read_tokens}",
                "cost (USD)": None if self.cost is None else str(self.cost.total),
                "duration": f"{self.duration_s * 1000:.1f} ms",
                "stream": self.stream,
                "error": self.error_type,
                "prompt": None if self.prompt is None else f"{self.prompt.name}@{self.prompt.version}",
                "trace / span": f"{self.trace_id} / {self.span_id}",
            },
        )

    @property
    def prompt_model_mismatch(self) -> bool:
        """The call used another model than the one its registry prompt was designed for."""
        return bool(self.prompt and self.prompt.model and self.prompt.model != self.requested_model)


def content_bytes(record: CallRecord, limit: int) -> int:
    """About how many bytes of content ``record`` keeps alive: its request body's strings and its output.

    Strings count their size in memory (``sys.getsizeof``: 1, 2 or 4 bytes a character, plus the
    object's header), containers a pointer per item; numbers and keys are not counted. The walk is
    iterative and stops once past ``limit``, so a deep or cyclic body costs at most about
    ``limit / 8`` steps. What a queue of sampled calls (judging) bounds its memory by.
    """
    getsize = sys.getsizeof
    total = getsize(record.output_text) if record.output_text else 0
    stack: list[object] = [record.request]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += getsize(item)
        elif isinstance(item, Mapping):
            total += 8 * len(item)
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            total += 8 * len(item)
            stack.extend(item)
    return total


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """A constructor of the frozen, slotted dataclass ``cls`` taking every field positionally, in order.

    The dataclass's own ``__init__`` sets each field through ``object.__setattr__`` (looked up for
    every field of every instance). This one fills an instance of a mutable twin of ``cls`` (a
    plain class with the very same ``__slots__``, so the same memory layout), where each field is
    one slot store, then makes the object a ``cls`` by assigning its ``__class__``, which CPython
    allows between classes of identical layout. The result is an ordinary frozen ``cls``: a
    record costs about a third of the setter-per-field way. Where the interpreter refuses the
    ``__class__`` assignment, it sets each slot through its descriptor instead. It checks nothing
    and applies no defaults: the core passes every field. ``tests/test_hot_path.py`` holds it
    equal to the dataclass constructor.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if tuple(getattr(cls, "__slots__", ())) != tuple(
        names
    ):  # pragma: no cover - a dataclass(slots=True) always matches
        raise TypeError(f"{cls.__name__}: a positional constructor needs a slotted dataclass")
    twin = type(f"_Mutable{cls.__name__}", (), {"__slots__": tuple(names)})
    params = ", ".join(names)
    twin_source = (
        f"def make({params}, *, _new=_new, _twin=_twin, _cls=_cls):\n"
        "    obj = _new(_twin)\n"
        + "".join(f"    obj.{name} = {name}\n" for name in names)
        + "    obj.__class__ = _cls\n    return obj\n"
    )
    setters = {f"_set_{name}": cls.__dict__[name].__set__ for name in names}
    setter_source = (
        f"def make({params}, *, _new=_new, _cls=_cls, {', '.join(f'_set_{n}=_set_{n}' for n in names)}):\n"
        "    obj = _new(_cls)\n"
        + "".join(f"    _set_{name}(obj, {name})\n" for name in names)
        + "    return obj\n"
    )
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_twin": twin, **setters}
    exec(compile(twin_source, f"<llmguard {cls.__name__} constructor>", "exec"), namespace)
    make: Callable[..., T] = namespace["make"]
    try:
        probe = make(*names)
        if type(probe) is not cls or [getattr(probe, n) for n in names] != names:  # pragma: no cover
            raise TypeError("the twin's layout differs")
    except TypeError:  # pragma: no cover - an interpreter without layout-compatible __class__ assignment
        exec(compile(setter_source, f"<llmguard {cls.__name__} constructor>", "exec"), namespace)
        make = namespace["make"]
    make.__doc__ = f"Build a `{cls.__name__}` from every field, positionally: {params}."
    return make


build_usage = positional_constructor(Usage)
build_cost = positional_constructor(Cost)
build_record = positional_constructor(CallRecord)


def _reinit_after_fork() -> None:  # pragma: no cover - runs in forked children (tests/faults)
    global call_numbers
    call_numbers = itertools.count(random.getrandbits(79))  # the child's ids must not repeat the parent's


os.register_at_fork(after_in_child=_reinit_after_fork)
