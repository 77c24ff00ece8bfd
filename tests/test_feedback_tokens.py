"""Feedback tokens: signed, expiring, rotating keys; every bad token is a typed error and stores nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import llmguard
from llmguard import ConfigurationError, FeedbackError, FeedbackTokenError, Guard
from llmguard._feedback import CallRef, call_ref, close_sinks, feedback
from llmguard._feedback._tokens import MAX_TOKEN, sign, verify
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    g = Guard(db_path=tmp_path / "t.db", pin_policy="off", feedback_secret=["new-key", "old-key"])
    yield g
    close_sinks(g)


@pytest.fixture
def token(guard: Guard) -> str:
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as c:
        resp = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    return guard.feedback_token(resp, ttl=60)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_token_round_trip_links_the_call(guard: Guard, token: str) -> None:
    assert len(token) < 400
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    entry = feedback(token, "thumbs", True, guard=guard)
    assert entry.source == "token"
    assert entry.ref.model == MODEL
    assert entry.ref.response_id is not None


def test_key_rotation_accepts_old_keys(tmp_path: Path) -> None:
    old = Guard(db_path=tmp_path / "r.db", pin_policy="off", feedback_secret="old-key")
    new = Guard(db_path=tmp_path / "r.db", pin_policy="off", feedback_secret=["new-key", "old-key"])
    ref = CallRef(call_id="01ROTATE", model="m")
    issued_before = old.feedback_token(ref)
    assert feedback(issued_before, "thumbs", True, guard=new).ref == ref
    with pytest.raises(FeedbackTokenError):
        feedback(new.feedback_token(ref), "thumbs", True, guard=old)  # signed with the new key only
    close_sinks(new)


def _tampered(token: str) -> str:
    version, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["c"] = "01SOMEONEELSESCALL"
    return f"{version}.{_b64(json.dumps(data).encode())}.{signature}"


def _forged(token: str) -> str:
    body = _b64(json.dumps({"c": "01FORGED", "e": 4102444800}).encode())
    return f"lgf1.{body}.{_b64(b'x' * 32)}"


BAD_TOKENS: dict[str, Callable[[str], str]] = {
    "forged": _forged,
    "tampered": _tampered,
    "flipped signature": lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    "wrong key": lambda t: sign(CallRef(call_id="01X"), [b"attacker"], expires=4102444800),
    "malformed base64": lambda t: t.split(".")[0] + ".!!!." + t.split(".")[2],
    "bad padding": lambda t: t.split(".")[0] + ".A." + t.split(".")[2],
    "not three parts": lambda t: t.replace(".", ""),
    "other version": lambda t: "lgf9" + t[4:],
    "oversized": lambda t: t + "A" * MAX_TOKEN,
    "empty": lambda t: "",
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_tokens_are_rejected_and_nothing_stored(guard: Guard, token: str, kind: str) -> None:
    with pytest.raises(FeedbackTokenError):
        feedback(BAD_TOKENS[kind](token), "thumbs", True, guard=guard)
    assert not guard.db_path.exists()


def test_expired_token_is_rejected(guard: Guard) -> None:
    ref = CallRef(call_id="01EXPIRED")
    expired = sign(ref, [b"new-key"], expires=1_000)
    with pytest.raises(FeedbackTokenError, match="expired"):
        feedback(expired, "thumbs", True, guard=guard)
    with pytest.raises(FeedbackTokenError, match="expired"):
        verify(sign(ref, [b"k"], expires=2_000), [b"k"], now=2_000)
    assert verify(sign(ref, [b"k"], expires=2_000), [b"k"], now=1_999) == ref
    assert not guard.db_path.exists()


def test_signed_but_malformed_payload_is_rejected(guard: Guard) -> None:
    import hashlib
    import hmac

    body = f"lgf1.{_b64(b'[1, 2]')}"
    mac = _b64(hmac.new(b"new-key", body.encode(), hashlib.sha256).digest())
    with pytest.raises(FeedbackTokenError, match="payload"):
        feedback(f"{body}.{mac}", "thumbs", True, guard=guard)


def test_token_needs_a_secret_and_a_positive_ttl(tmp_path: Path) -> None:
    g = Guard(db_path=tmp_path / "n.db", pin_policy="off")
    ref = CallRef(call_id="01NOSECRET")
    with pytest.raises(ConfigurationError, match="feedback_secret"):
        g.feedback_token(ref)
    with pytest.raises(FeedbackTokenError, match="cannot verify"):
        feedback(sign(ref, [b"k"], expires=4102444800), "thumbs", True, guard=g)
    with pytest.raises(FeedbackError, match="ttl"):
        Guard(feedback_secret="k").feedback_token(ref, ttl=0)


def test_token_of_unknown_object_raises(guard: Guard) -> None:
    with pytest.raises(FeedbackError, match="no llmguard call"):
        guard.feedback_token(object())
    assert call_ref(CallRef(call_id="a")) == CallRef(call_id="a")
