"""Gates for tests that need an SDK API older releases lack (the version matrix runs this suite on them).

Each gate tests for the API itself, not a version number, and says in its reason what is missing.
"""

from __future__ import annotations

import importlib
import inspect

import anthropic
import openai
import pytest
from openai.resources.chat.completions import Completions

__all__ = ["needs"]


def _has_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


# anthropic < 0.43 builds MessageStream(cast_to=..., response=...) and drops the stream it was returned.
_STREAM_ENTER = inspect.getsource(
    importlib.import_module("anthropic.lib.streaming._messages").MessageStreamManager.__enter__
)
_AVAILABLE = {
    "openai chat.completions.parse": hasattr(Completions, "parse"),
    "openai chat.completions.stream": hasattr(Completions, "stream"),
    "openai responses": _has_module("openai.resources.responses"),
    "openai max_completion_tokens": "max_completion_tokens"
    in inspect.signature(Completions.create).parameters,
    "anthropic open_telemetry=": "open_telemetry"
    in inspect.signature(anthropic.Anthropic.__init__).parameters,
    "anthropic credential providers": _has_module("anthropic.lib.credentials"),
    "anthropic messages.stream() keeps the guarded stream": "MessageStream(raw_stream" in _STREAM_ENTER,
    # Older releases retried by recursion: llmguard reads their count from the successful response only.
    "openai _sleep_for_retry": hasattr(openai.OpenAI, "_sleep_for_retry"),
}
_VERSIONS = f"openai {openai.__version__}, anthropic {anthropic.__version__}"


def needs(*features: str) -> pytest.MarkDecorator:
    """Skip unless the installed SDKs have every one of ``features`` (keys of ``_AVAILABLE``)."""
    missing = [f for f in features if not _AVAILABLE[f]]
    return pytest.mark.skipif(bool(missing), reason=f"{_VERSIONS} lack {', '.join(missing)}")
