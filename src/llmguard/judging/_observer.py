"""The judging feature's call observer: sample on start, queue on end, never block.

``on_start`` decides (a hash and a compare) and asks the core to keep the output of sampled
calls; ``on_end`` hands sampled records to the bounded queue. A judge's own calls
(``kind == "judge"``) and embeddings calls are never sampled. Input and output stay in memory,
in the queued record, only until judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from llmguard._contract import Links, Parts
from llmguard._lifecycle import LifecycleBase
from llmguard._options import JudgingOptions
from llmguard._storage._url import is_postgres

from ._jobs import JobQueue
from ._queue import JudgingQueue, JudgingStats
from ._registry import resolve_judges
from ._sampler import Sampling
from ._sinks import JudgmentSink, RedactingSink, as_sink
from ._telemetry import JudgingTelemetry
from ._types import Judge

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard
    from llmguard._record import CallRecord

__all__ = [
    "FEATURE",
    "SAMPLED_KEY",
    "JudgingFeature",
    "JudgingObserver",
    "build",
    "build_observer",
    "open_judgment_sink",
]

SAMPLED_KEY = "llmguard.judging.sampled"
"""``call.extras`` key set on sampled calls."""

_JUDGED_OPERATIONS = frozenset({"chat", "text_completion"})


class JudgingObserver(LifecycleBase):
    """Samples calls and queues the sampled ones for background judging.

    Args:
        judges: The judges to run.
        sampling: Which calls, and the queue's capacity.
        sinks: Where judgments go.
        telemetry: Events and metrics.
    """

    def __init__(
        self,
        judges: Sequence[Judge],
        sampling: Sampling,
        sinks: Sequence[JudgmentSink],
        telemetry: JudgingTelemetry | None = None,
        *,
        jobs_url: str | None = None,
    ) -> None:
        self.sampling = sampling
        self.queue: JudgingQueue | JobQueue
        if jobs_url is not None:  # PostgreSQL: sampled calls become jobs for `llmguard worker`
            self.queue = JobQueue(
                jobs_url,
                judges,
                max_queue=sampling.max_queue,
                max_queue_bytes=sampling.max_queue_bytes,
                on_drop=sampling.on_drop,
            )
            return
        self.queue = JudgingQueue(
            judges,
            sinks=sinks,
            telemetry=telemetry,
            max_queue=sampling.max_queue,
            max_queue_bytes=sampling.max_queue_bytes,
            workers=sampling.workers,
            judge_timeout=sampling.judge_timeout,
            max_hung=sampling.max_hung_judges,
            on_drop=sampling.on_drop,
        )
        if telemetry is not None:
            telemetry.set_depth(lambda: self.queue.depth)

    @property
    def judges(self) -> tuple[Judge, ...]:
        """The judges run on sampled calls."""
        return self.queue.judges

    def needs_cost(self) -> bool:
        """Never reads the cost of a call."""
        return False

    def on_start(self, call: CallContext) -> None:
        """Decide whether the call is sampled; keep its output if so."""
        if call.kind == "judge" or call.operation not in _JUDGED_OPERATIONS:
            return
        prompt = call.prompt.name if call.prompt is not None else None
        tags: Iterable[str] = call.scope.tags if call.scope is not None else ()
        extra_tags = call.extras.get("tags")
        if extra_tags:
            tags = (*tags, *extra_tags)
        if self.sampling.decide(call.trace_id or call.call_id, prompt, tags):
            call.want_output = True
            call.extras[SAMPLED_KEY] = True

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Queue a sampled call (or, with ``errors=True``, a failed one) without blocking."""
        if record.kind == "judge":
            return
        failed = record.error_type is not None
        if (failed and self._errors(call)) or (not failed and call.extras.get(SAMPLED_KEY)):
            self.queue.offer(record)

    def submit(self, record: CallRecord) -> bool:
        """Queue ``record`` for judging outside sampling (e.g. after negative feedback); False if dropped."""
        return bool(self.queue.offer(record))

    def _errors(self, call: CallContext) -> bool:
        return self.sampling.errors and call.operation in _JUDGED_OPERATIONS

    def stats(self) -> JudgingStats:
        """The queue's counters (judged + errored + dropped + pending == sampled)."""
        return self.queue.stats()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for pending judgments; True when all are done."""
        return self.queue.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Judge what is pending (bounded by ``timeout``) and stop the workers."""
        self.queue.shutdown(timeout)


class JudgingFeature:
    """The judging `llmguard._features.Feature`: sampled calls judged in the background."""

    name = "judging"

    def options(self, guard: Guard) -> JudgingOptions:
        """Judges and sampling from the argument, else the config file; the sink; content settings."""
        return JudgingOptions.resolve(guard)

    def build(self, options: JudgingOptions, links: Links) -> Parts:
        """The judging observer (none without judges); publishes its handle as ``links.judging``.

        Judging that is configured but fails to build publishes a handle that queues nothing, so
        negative feedback says the judging queue is unavailable rather than not configured.
        """
        try:
            observer = build_observer(options, links.owner)
        except Exception:
            links.judging = _NoQueue()
            raise
        links.judging = observer
        return Parts(observer=observer)


class _NoQueue:
    """The handle of judging that could not be built: nothing is queued."""

    def submit(self, record: CallRecord) -> bool:
        """Drop ``record``."""
        return False


def open_judgment_sink(options: JudgingOptions) -> JudgmentSink:
    """Where judgments are stored: ``judgment_sink=``, else the database ``db`` (the one place)."""
    return as_sink(options.sink, options.db)


def build_observer(options: JudgingOptions, guard: Guard | None = None) -> JudgingObserver | None:
    """The judging observer of ``options``, or ``None`` when there are no judges.

    ``guard`` is handed to judge factories that take one (LLM judges build their client from it).
    """
    judges = resolve_judges(options.judges, guard=guard)
    if not judges:
        return None
    telemetry = JudgingTelemetry(
        logger_provider=options.providers.logger_provider,
        meter_provider=options.providers.meter_provider,
        capture_content=options.capture_content,
        redact=options.redact,
    )
    sink = open_judgment_sink(options)
    if options.redact is not None:
        sink = RedactingSink(sink, options.redact)
    # PostgreSQL with the default store: workers judge (`llmguard worker`); a custom sink stays in-process
    jobs_url = options.db if options.sink is None and is_postgres(options.db) else None
    return JudgingObserver(judges, Sampling.coerce(options.sampling), [sink], telemetry, jobs_url=jobs_url)


def build(guard: Guard) -> JudgingObserver | None:
    """The judging observer of ``guard``, or ``None`` when it has no judges."""
    return build_observer(JudgingOptions.resolve(guard), guard)


FEATURE = JudgingFeature()
"""The judging feature, as `llmguard._features.FEATURES` names it."""
