"""Errors raised by llmguard, all under one root.

llmguard raises only for decisions you opted into (a pin policy, a budget, strict prompt
variables, a feedback token) and for bad input (configuration, prompt files, datasets).
Provider errors (``openai.RateLimitError``, ``anthropic.APIStatusError``, ...) always pass
through untouched: llmguard never wraps them.

The tree::

    LLMGuardError
    ├── ConfigurationError          (also a ValueError)
    ├── ContextError                a call context value has the wrong type or size (also a ValueError)
    ├── UnpinnedModelError          a floating model alias (or an invalid name) under an enforcing pin policy
    │   └── RetiredModelError       a model snapshot past its shutdown date, under an enforcing pin policy
    ├── ModelDataError              model lifecycle data (a refresh or a cached table) is invalid (also a ValueError)
    ├── PolicyUnavailableError      an opted-in policy could not be evaluated: the call was refused (fail closed)
    ├── PromptError
    │   ├── PromptNotFoundError     (also a LookupError)
    │   ├── PromptFormatError       (also a ValueError)
    │   ├── PromptRenderError       (also a ValueError)
    │   ├── LabelConflictError      a compare-and-set label move lost the race
    │   └── PromotionRefusedError   a protected label's promotion lacks passing eval evidence
    ├── FeedbackError               (also a ValueError)
    │   └── FeedbackTokenError      forged, tampered, expired or malformed token
    ├── BudgetExceededError         a hard budget refused the call before any I/O
    ├── EvalError                   a suite, dataset or gate could not be evaluated
    ├── RolloutError                a guarded rollout cannot start or move
    │   ├── RolloutPlanError        a rollout plan (file or CLI) is invalid (also a ValueError)
    │   └── RolloutConflictError    a compare-and-set rollout transition lost the race
    └── StorageError                the database could not be opened, read or written
        └── SchemaVersionError      the database schema is older (or newer) than this llmguard
"""

from __future__ import annotations

__all__ = [
    "BudgetExceededError",
    "ConfigurationError",
    "ContextError",
    "EvalError",
    "FeedbackError",
    "FeedbackTokenError",
    "LLMGuardError",
    "LabelConflictError",
    "ModelDataError",
    "PolicyUnavailableError",
    "PromotionRefusedError",
    "PromptError",
    "PromptFormatError",
    "PromptNotFoundError",
    "PromptRenderError",
    "RetiredModelError",
    "RolloutConflictError",
    "RolloutError",
    "RolloutPlanError",
    "SchemaVersionError",
    "StorageError",
    "UnpinnedModelError",
]


class LLMGuardError(Exception):
    """Root of every error llmguard raises on purpose."""


class ConfigurationError(LLMGuardError, ValueError):
    """A setting is invalid: the message names its source, key and the valid choices."""


class ContextError(LLMGuardError, ValueError):
    """A call context (`llmguard.context`) was given a value of the wrong type or over its size cap."""


class UnpinnedModelError(LLMGuardError):
    """A floating model alias was refused by an enforcing pin policy, before any network I/O.

    Attributes:
        model: The model name that was refused.
        suggestion: A pinned name to use instead, when one is known.
    """

    def __init__(self, message: str, *, model: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.suggestion = suggestion


class RetiredModelError(UnpinnedModelError):
    """A model snapshot past its provider's shutdown date was refused by an enforcing pin policy.

    Raised before any network I/O: the provider would reject the call anyway. It subclasses
    `UnpinnedModelError`, so code catching pin-policy refusals catches it too.

    Attributes:
        model: The model name that was refused.
        suggestion: The provider's recommended replacement, when the data names one.
        shutdown_on: The shutdown date, ISO ``YYYY-MM-DD``, when the data has one.
    """

    def __init__(
        self, message: str, *, model: str, suggestion: str | None = None, shutdown_on: str | None = None
    ) -> None:
        super().__init__(message, model=model, suggestion=suggestion)
        self.shutdown_on = shutdown_on


class ModelDataError(LLMGuardError, ValueError):
    """Model lifecycle data is invalid: the message names the source, the entry and the field.

    Raised by ``llmguard pins update`` for a bad download (nothing is overwritten); at run time
    an invalid cached table is reported once and the bundled snapshot is used instead.
    """


class PolicyUnavailableError(LLMGuardError):
    """A policy you opted into could not be evaluated, so the call was refused before any I/O.

    Opted-in policies (the pin policy under ``enforce``, hard budgets, your own ``policies=``)
    fail closed: an internal error while evaluating one never lets the call through unchecked.

    Attributes:
        policy: The policy (or policies) that could not be evaluated.
    """

    def __init__(self, message: str, *, policy: str) -> None:
        super().__init__(message)
        self.policy = policy


class PromptError(LLMGuardError):
    """Base class of the prompt registry's errors."""


class PromptNotFoundError(PromptError, LookupError):
    """No prompt, version or label matches the request."""


class PromptFormatError(PromptError, ValueError):
    """A prompt file or record is malformed: the message names the file and every bad field.

    Attributes:
        problems: Each problem found, ``field <path>: <what is wrong>``, when the file was checked
            as a whole (all of them are in the message too); empty otherwise.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class PromptRenderError(PromptError, ValueError):
    """A prompt could not be rendered: missing, unknown or mistyped variables, or a template error."""


class LabelConflictError(PromptError):
    """A label moved since the caller read it: compare-and-set promotion or rollback lost."""


class PromotionRefusedError(PromptError):
    """A promotion to a protected label was refused: no passing eval evidence, or the gate said no."""


class FeedbackError(LLMGuardError, ValueError):
    """Feedback was given an invalid target, name or value."""


class FeedbackTokenError(FeedbackError):
    """A feedback token is forged, tampered with, expired, signed by an unknown key or malformed."""


class BudgetExceededError(LLMGuardError):
    """A hard budget refused the call before any network I/O."""


class EvalError(LLMGuardError):
    """An eval suite or dataset is invalid, or a run could not complete."""


class RolloutError(LLMGuardError):
    """A guarded rollout cannot start or move (no active rollout, a label that is already split...)."""


class RolloutPlanError(RolloutError, ValueError):
    """A rollout plan is invalid: the message names the file (or CLI option), the field and the value."""


class RolloutConflictError(RolloutError):
    """A compare-and-set rollout transition lost the race: another process moved the rollout first."""


class StorageError(LLMGuardError):
    """The llmguard database (SQLite file or PostgreSQL URL) could not be opened, read or written."""


class SchemaVersionError(StorageError):
    """The database schema is not the one this llmguard needs: run ``llmguard db upgrade``."""
