"""Provider faults: 429, 500, timeout, a stream cut mid-way. The SDK's own result or exception."""

from __future__ import annotations

from pathlib import Path

import httpx2
import openai
import pytest

from llmguard import LLMGuardError
from llmguard.testing import FailureKind

from ._app import HostApp, assert_accounted, build_app

pytestmark = pytest.mark.timeout(60)


def _failed_calls_are_recorded(app: HostApp, failed: int) -> None:
    acc = app.accounting()
    assert_accounted(app, acc)
    assert acc.ledger.written == app.calls  # a failed call has its ledger row too (status error)
    assert acc.spans == app.calls
    assert app.feedbacks == app.calls - failed


def test_429_is_the_sdks_rate_limit_error_and_a_retry_succeeds(tmp_path: Path) -> None:
    app = build_app(tmp_path, max_retries=2)
    try:
        app.fake.fail_next(429, retry_after="0")
        assert app.serve().startswith("Open Settings")  # the SDK retried on its own
        assert app.fake.call_count == 2
        app.fake.fail_next(429, retry_after="0", times=3)
        with pytest.raises(openai.RateLimitError) as error:
            app.serve()
        assert error.value.status_code == 429
        assert app.serve().startswith("Open Settings")
        _failed_calls_are_recorded(app, failed=1)
    finally:
        app.close()


@pytest.mark.parametrize(
    ("fault", "sdk_error"),
    [(500, openai.InternalServerError), ("timeout", openai.APITimeoutError)],
    ids=["500", "timeout"],
)
def test_500_and_timeout_are_the_sdks_own_errors(
    tmp_path: Path, fault: FailureKind, sdk_error: type[openai.APIError]
) -> None:
    app = build_app(tmp_path, timeout=1.0)
    try:
        app.fake.fail_next(fault, retry_after=None)
        with pytest.raises(sdk_error):
            app.serve()
        assert app.serve().startswith("Open Settings")
        _failed_calls_are_recorded(app, failed=1)
    finally:
        app.close()


def test_stream_cut_mid_way_raises_the_sdks_error_while_iterating(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    try:
        app.fake.fail_next("stream_cut", after_chunks=2)
        with pytest.raises(openai.APIError) as error:  # the SDK's own (connection) error, not wrapped
            app.serve(stream=True)
        assert not isinstance(error.value, LLMGuardError)
        assert isinstance(error.value.__cause__, httpx2.TransportError)
        assert app.serve(stream=True).startswith("Open Settings")
        acc = app.accounting()
        _failed_calls_are_recorded(app, failed=1)
        assert acc.ledger_rows == 2
    finally:
        app.close()
