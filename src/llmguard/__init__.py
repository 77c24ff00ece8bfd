"""llmguard: drop-in OpenAI and Anthropic clients with LLMOps built in.

Swap one import (``from llmguard import OpenAI``) and every call gets a model-pin check before
any I/O, a call record, and the observers you configure. Heavy modules (the SDKs themselves)
are imported only when first used, so ``import llmguard`` stays cheap and writes no files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names as _lazy_names
from ._version import __version__
from .exceptions import (
    BudgetExceededError,
    ConfigurationError,
    ContextError,
    EvalError,
    FeedbackError,
    FeedbackTokenError,
    LabelConflictError,
    LLMGuardError,
    ModelDataError,
    PolicyUnavailableError,
    PromotionRefusedError,
    PromptError,
    PromptFormatError,
    PromptNotFoundError,
    PromptRenderError,
    RetiredModelError,
    RolloutConflictError,
    RolloutError,
    RolloutPlanError,
    SchemaVersionError,
    StorageError,
    UnpinnedModelError,
)

if TYPE_CHECKING:
    from ._anthropic import (
        Anthropic,
        AnthropicBedrock,
        AnthropicVertex,
        AsyncAnthropic,
        AsyncAnthropicBedrock,
        AsyncAnthropicVertex,
    )
    from ._context import judge_calls, use_prompt
    from ._core import CallContext, CallObserver
    from ._feedback import (
        CallbackFeedbackSink,
        CallRef,
        FanOutFeedbackSink,
        FeedbackEntry,
        FeedbackSink,
        FeedbackValue,
        OTelFeedbackSink,
        SQLFeedbackSink,
        SQLiteFeedbackSink,
        afeedback,
        call_ref,
        current_call_ref,
        feedback,
        feedback_app,
    )
    from ._guard import Guard, configure, get_default_guard, reset_default_guard
    from ._internal import LLMGuardAdvisory
    from ._observers import CallRecorder
    from ._openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
    from ._pricing import Price
    from ._record import CallRecord, Cost, PromptRef, Usage
    from ._scope import ContextValues, context, context_headers
    from ._stats import FeedbackStats, GuardStats

__all__ = [
    "Anthropic",
    "AnthropicBedrock",
    "AnthropicVertex",
    "AsyncAnthropic",
    "AsyncAnthropicBedrock",
    "AsyncAnthropicVertex",
    "AsyncAzureOpenAI",
    "AsyncOpenAI",
    "AzureOpenAI",
    "BudgetExceededError",
    "CallContext",
    "CallObserver",
    "CallRecord",
    "CallRecorder",
    "CallRef",
    "CallbackFeedbackSink",
    "ConfigurationError",
    "ContextError",
    "ContextValues",
    "Cost",
    "EvalError",
    "FanOutFeedbackSink",
    "FeedbackEntry",
    "FeedbackError",
    "FeedbackSink",
    "FeedbackStats",
    "FeedbackTokenError",
    "FeedbackValue",
    "Guard",
    "GuardStats",
    "LLMGuardAdvisory",
    "LLMGuardError",
    "LabelConflictError",
    "ModelDataError",
    "OTelFeedbackSink",
    "OpenAI",
    "PolicyUnavailableError",
    "Price",
    "PromotionRefusedError",
    "PromptError",
    "PromptFormatError",
    "PromptNotFoundError",
    "PromptRef",
    "PromptRenderError",
    "RetiredModelError",
    "RolloutConflictError",
    "RolloutError",
    "RolloutPlanError",
    "SQLFeedbackSink",
    "SQLiteFeedbackSink",
    "SchemaVersionError",
    "StorageError",
    "UnpinnedModelError",
    "Usage",
    "__version__",
    "afeedback",
    "call_ref",
    "configure",
    "context",
    "context_headers",
    "current_call_ref",
    "feedback",
    "feedback_app",
    "get_default_guard",
    "judge_calls",
    "reset_default_guard",
    "use_prompt",
]

_LAZY: dict[str, str] = {
    "OpenAI": "._openai",
    "AsyncOpenAI": "._openai",
    "AzureOpenAI": "._openai",
    "AsyncAzureOpenAI": "._openai",
    "Anthropic": "._anthropic",
    "AsyncAnthropic": "._anthropic",
    "AnthropicBedrock": "._anthropic",
    "AsyncAnthropicBedrock": "._anthropic",
    "AnthropicVertex": "._anthropic",
    "AsyncAnthropicVertex": "._anthropic",
    "Guard": "._guard",
    "configure": "._guard",
    "get_default_guard": "._guard",
    "CallContext": "._core",
    "CallObserver": "._core",
    "CallRecorder": "._observers",
    "CallRecord": "._record",
    "Cost": "._record",
    "PromptRef": "._record",
    "Usage": "._record",
    "judge_calls": "._context",
    "context": "._scope",
    "context_headers": "._scope",
    "ContextValues": "._scope",
    "use_prompt": "._context",
    "call_ref": "._feedback",
    "current_call_ref": "._feedback",
    "CallRef": "._feedback",
    "feedback": "._feedback",
    "afeedback": "._feedback",
    "feedback_app": "._feedback",
    "FeedbackSink": "._feedback",
    "FeedbackEntry": "._feedback",
    "FeedbackValue": "._feedback",
    "SQLFeedbackSink": "._feedback",
    "SQLiteFeedbackSink": "._feedback",
    "OTelFeedbackSink": "._feedback",
    "CallbackFeedbackSink": "._feedback",
    "FanOutFeedbackSink": "._feedback",
    "Price": "._pricing",
    "LLMGuardAdvisory": "._internal",
    "reset_default_guard": "._guard",
    "GuardStats": "._stats",
    "FeedbackStats": "._stats",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
