"""The llmguard pytest plugin: `fake_openai` and `fake_anthropic` fixtures, `llmguard_fake` marker.

Registered through the `pytest11` entry point, so it loads in every pytest run of a project
that installs llmguard. It therefore defines fixtures and a marker only (no autouse fixtures,
no collection hooks).

```python
@pytest.mark.llmguard_fake(reply="pong", latency=0.01)
def test_ping(fake_openai: FakeOpenAI) -> None:
    with fake_openai.client(openai.OpenAI) as client:
        ...
```

The marker's keyword arguments are those of `FakeProvider`; `provider="openai"` or
`provider="anthropic"` limits a marker to one fixture. The closest marker wins per keyword.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._fake_anthropic import FakeAnthropic
from ._fake_openai import FakeOpenAI

__all__ = ["fake_anthropic", "fake_openai", "pytest_configure"]

_MARKER = "llmguard_fake"


def pytest_configure(config: pytest.Config) -> None:
    """Register the `llmguard_fake` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(reply=..., model=..., usage=..., latency=..., chunker=..., id_factory=..., provider=None): "
        "configure the llmguard fake_openai / fake_anthropic fixtures",
    )


def _marker_options(request: pytest.FixtureRequest, provider: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(_MARKER))):
        kwargs = dict(marker.kwargs)
        if kwargs.pop("provider", provider) == provider:
            options.update(kwargs)
    return options


@pytest.fixture
def fake_openai(request: pytest.FixtureRequest) -> FakeOpenAI:
    """A fresh `FakeOpenAI` for this test, configured by any `llmguard_fake` marker."""
    return FakeOpenAI(**_marker_options(request, "openai"))


@pytest.fixture
def fake_anthropic(request: pytest.FixtureRequest) -> FakeAnthropic:
    """A fresh `FakeAnthropic` for this test, configured by any `llmguard_fake` marker."""
    return FakeAnthropic(**_marker_options(request, "anthropic"))
