"""The drift feature's call observer: sample on start, queue on end, never block.

``on_start`` decides (a salted hash and a compare, `llmguard.judging.Sampling`) for app chat and
completion calls only: a judge's calls and drift's own embedding calls are never sampled.
``on_end`` hands the record of a sampled, successful call to the bounded `DriftWorker`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmguard._contract import Links, Parts
from llmguard._lifecycle import LifecycleBase
from llmguard._options import DriftOptions, drift_on
from llmguard._record import CallRecord
from llmguard.exceptions import ConfigurationError

from ._compare import CompareOptions
from ._config import DriftConfig
from ._deps import require_drift_extra
from ._extract import last_user_text
from ._report import DriftAlerts, evaluate_drift
from ._store import DriftStore
from ._worker import DriftStats, DriftWorker

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard
    from llmguard.cost._rules import Alert

__all__ = ["FEATURE", "SAMPLED_KEY", "DriftFeature", "DriftObserver", "build", "store_for"]

SAMPLED_KEY = "llmguard.drift.sampled"
"""``call.extras`` key set on sampled calls."""

_OPERATIONS = frozenset({"chat", "text_completion"})


class DriftObserver(LifecycleBase):
    """Samples app calls and queues their inputs for background embedding.

    Args:
        config: The drift configuration.
        store: Where vectors go.
        embed: Texts -> vectors (through a guarded client).
        logger_provider: OpenTelemetry logger provider for alert events.
    """

    def __init__(
        self, config: DriftConfig, store: DriftStore, embed: Any, logger_provider: Any = None
    ) -> None:
        self.config = config
        self.store = store
        self.sampling = config.sampling
        self.alerts = DriftAlerts(store, config.callbacks, logger_provider)
        self._last_check = self._last_prune = time.monotonic()
        self._check_lock = threading.Lock()
        extractor = config.extractor
        self.worker = DriftWorker(
            embed,
            store,
            (lambda r: extractor(r.request))
            if extractor is not None
            else (lambda r: last_user_text(r.request)),
            model=config.model,
            max_queue=self.sampling.max_queue,
            max_queue_bytes=self.sampling.max_queue_bytes,
            batch_size=config.batch_size,
            retain_content=config.retain_content,
            max_chars=config.max_content_chars,
            on_idle=self._background,
        )

    def needs_cost(self) -> bool:
        """Never reads the cost of a call."""
        return False

    def on_start(self, call: CallContext) -> None:
        """Decide whether the call is sampled."""
        if call.kind != "app" or call.operation not in _OPERATIONS:
            return
        prompt = call.prompt.name if call.prompt is not None else None
        tags: Iterable[str] = call.scope.tags if call.scope is not None else ()
        if self.sampling.decide(call.trace_id or call.call_id, prompt, tags):
            call.extras[SAMPLED_KEY] = True

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Queue a sampled, successful call without blocking."""
        if record.error_type is None and call.extras.get(SAMPLED_KEY):
            self.worker.offer(record)

    # -- background -------------------------------------------------------------------------------
    def _background(self) -> None:
        now = time.monotonic()
        if self.config.prune_interval_s and now - self._last_prune >= self.config.prune_interval_s:
            self._last_prune = now
            self.store.prune()
        if self.config.check_interval_s and now - self._last_check >= self.config.check_interval_s:
            self._last_check = now
            self.check()

    def check(self, now: datetime | None = None) -> list[Alert]:
        """Evaluate the rules now; deliver and return the alerts not delivered before."""
        cfg = self.config
        with self._check_lock:
            alerts = evaluate_drift(
                self.store,
                cfg.rules,
                now=now or datetime.now(UTC),
                current_days=cfg.current_days,
                baseline_days=cfg.baseline_days,
                baseline=cfg.baseline_dates(),
                options=CompareOptions(
                    permutations=cfg.permutations, max_samples=cfg.max_samples, seed=cfg.seed
                ),
            )
            fresh = self.alerts.deliver(alerts)
            self.worker.alerts += len(fresh)
        return fresh

    def stats(self) -> DriftStats:
        """The queue's counters."""
        return self.worker.stats()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for pending embeddings."""
        return self.worker.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Embed what is pending (bounded by ``timeout``) and stop the worker."""
        self.worker.shutdown(timeout)


def store_for(config: DriftConfig, guard: Guard) -> DriftStore:
    """The store ``config`` names (default: the guard's database)."""
    if isinstance(config.store, DriftStore):
        return config.store
    target = config.store if config.store is not None else guard.settings.db
    return DriftStore(target, retention_days=config.retention_days or None)


def _guarded_client(config: DriftConfig, guard: Guard) -> Any:
    client = config.client
    if client is None:
        return None  # built on the worker thread at the first embedding (it reads OPENAI_API_KEY)
    if callable(client) and not hasattr(client, "embeddings"):
        client = client(guard)
    if not hasattr(type(client), "_llmguard_init"):
        raise ConfigurationError(
            f"drift client: {type(client).__name__} is not a guarded client; pass llmguard.OpenAI(guard=guard) "
            "(or a callable guard -> client) so the embedding calls get the pin policy and are recorded"
        )
    return client


def _embedder(config: DriftConfig, client: Any, guard: Guard) -> Any:
    extra = {} if config.dimensions is None else {"dimensions": config.dimensions}
    built = [client]

    def embed(texts: list[str]) -> Sequence[Sequence[float]]:
        if built[0] is None:
            import llmguard

            built[0] = llmguard.OpenAI(guard=guard)
        response = built[0].embeddings.create(model=config.model, input=texts, **extra)
        return [row.embedding for row in sorted(response.data, key=lambda row: row.index)]

    return embed


def build(guard: Guard) -> DriftObserver | None:
    """The drift observer of ``guard``, or None when drift is off."""
    return build_observer(DriftOptions.resolve(guard).spec, guard)


def build_observer(spec: Any, guard: Guard) -> DriftObserver | None:
    """The drift observer of ``spec`` (``guard`` gives the client, the pins and the database)."""
    if not drift_on(spec):
        return None
    require_drift_extra()
    config = DriftConfig.coerce(spec)
    store = store_for(config, guard)
    return DriftObserver(
        config, store, _embedder(config, _guarded_client(config, guard), guard), guard.logger_provider
    )


class DriftFeature:
    """Sampled inputs embedded and compared in the background (``drift=``).

    Imported through `llmguard._feature_gates.DRIFT` only when drift is on: this package needs the
    ``llmguard[drift]`` extra, which a guard with drift off must not import.
    """

    name = "drift"

    def options(self, guard: Guard) -> DriftOptions:
        """``drift=``, else ``[tool.llmguard] drift``."""
        return DriftOptions.resolve(guard)

    def build(self, options: DriftOptions, links: Links) -> Parts:
        """The drift observer of the options' spec."""
        return Parts(observer=build_observer(options.spec, links.owner))


FEATURE = DriftFeature()
"""The drift feature, as `llmguard._feature_gates.DRIFT` imports it."""
