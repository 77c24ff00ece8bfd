"""Offline fakes of the OpenAI and Anthropic HTTP APIs, for tests.

A fake answers through a mock transport, so the stock SDK clients run unchanged and nothing
touches the network:

```python
from llmguard.testing import FakeOpenAI

fake = FakeOpenAI(reply="pong")
fake.fail_next(429, retry_after=0.001)
with fake.client(openai.OpenAI) as client:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
assert completion.choices[0].message.content == "pong"
assert fake.call_count == 2
```

Installing llmguard also registers a pytest plugin with `fake_openai` and `fake_anthropic`
fixtures and an `llmguard_fake(...)` marker that configures them.
"""

from ._fake import DEFAULT_REPLY, FakeProvider
from ._fake_anthropic import FakeAnthropic
from ._fake_openai import FakeOpenAI, word_embedding
from ._models import FailureKind, FakeFailure, FakeRequest, FakeUsage, TokenCounts, estimate_tokens
from ._records import make_record
from ._sse import SSEEvent, split_words
from ._tools import FakeToolUse, ToolUseReply

__all__ = [
    "DEFAULT_REPLY",
    "FailureKind",
    "FakeAnthropic",
    "FakeFailure",
    "FakeOpenAI",
    "FakeProvider",
    "FakeRequest",
    "FakeToolUse",
    "FakeUsage",
    "SSEEvent",
    "TokenCounts",
    "ToolUseReply",
    "estimate_tokens",
    "make_record",
    "split_words",
    "word_embedding",
]
