"""Signed, expiring feedback tokens: browser feedback without API keys.

A token is ``lgf1.<payload>.<signature>``: the payload is the call's `CallRef` and an
expiry as compact JSON, the signature an HMAC-SHA256 over the version and payload, both
urlsafe base64 without padding. Tokens are signed with the first configured secret and
accepted under any of them, so secrets rotate by prepending the new one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmguard.exceptions import ConfigurationError, FeedbackTokenError

from ._ref import CallRef, call_ref

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = [
    "MAX_TOKEN",
    "TokenClaims",
    "make_token",
    "read_claims",
    "read_token",
    "secrets_of",
    "sign",
    "verify",
    "verify_claims",
]

PREFIX = "lgf1"
MAX_TOKEN = 2048
"""Tokens longer than this (characters) are rejected before any decoding."""
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")
_FIELDS = {"c": "call_id", "t": "trace_id", "s": "span_id", "r": "response_id", "pn": "prompt_name",
           "pv": "prompt_version", "m": "model"}  # fmt: skip


def secrets_of(guard: Guard) -> list[bytes]:
    """The guard's feedback secrets (signing one first); raise when none is configured."""
    secret: str | Sequence[str] | None = guard.feedback_secret
    values = [secret] if isinstance(secret, str) else list(secret or ())
    keys = [value.encode() for value in values if isinstance(value, str) and value]
    if not keys or len(keys) != len(values):
        raise ConfigurationError(
            "feedback tokens need a secret: Guard(feedback_secret='...') (a non-empty string, or a list of "
            "strings to rotate keys: sign with the first, accept any)"
        )
    return keys


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Decode unpadded urlsafe base64, accepting only the canonical encoding.

    A last character whose spare low bits are set decodes to the same bytes; accepting it would
    let several strings carry one signature.
    """
    if not _B64.match(text):
        raise FeedbackTokenError("feedback token is malformed (invalid base64)")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FeedbackTokenError("feedback token is malformed (invalid base64)") from exc
    if _b64encode(data) != text:
        raise FeedbackTokenError("feedback token is malformed (non-canonical base64)")
    return data


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token grants.

    Attributes:
        ref: The call the feedback is about.
        user_id: The only user the token may record feedback for (``None``: the client chooses).
        names: The only feedback names the token allows (``None``: any valid name).
    """

    ref: CallRef
    user_id: str | None = None
    names: tuple[str, ...] | None = None

    def check(self, name: object, user_id: object) -> object:
        """The user id to record; raise `FeedbackTokenError` when the token does not allow this feedback."""
        if self.names is not None and name not in self.names:
            raise FeedbackTokenError(
                f"this feedback token does not allow the name {name!r}; allowed: {', '.join(self.names)}"
            )
        if self.user_id is None:
            return user_id
        if user_id is not None and user_id != self.user_id:
            raise FeedbackTokenError("this feedback token is bound to another user")
        return self.user_id


def sign(
    ref: CallRef,
    keys: Sequence[bytes],
    *,
    expires: float,
    user_id: str | None = None,
    names: Sequence[str] | None = None,
) -> str:
    """Encode ``ref``, the expiry (epoch seconds) and the optional user and name bindings; sign with the first key."""
    data: dict[str, Any] = {short: getattr(ref, name) for short, name in _FIELDS.items()}
    data = {key: value for key, value in data.items() if value is not None}
    data["e"] = math.ceil(expires)
    if user_id is not None:
        data["u"] = user_id
    if names is not None:
        data["n"] = list(names)
    body = f"{PREFIX}.{_b64encode(json.dumps(data, separators=(',', ':')).encode())}"
    token = f"{body}.{_b64encode(_mac(keys[0], body))}"
    if len(token) > MAX_TOKEN:
        raise ConfigurationError(
            f"feedback token would exceed {MAX_TOKEN} characters (call ids are too long)"
        )
    return token


def verify(token: object, keys: Sequence[bytes], *, now: float | None = None) -> CallRef:
    """Check a token's size, shape, signature (under any key) and expiry; return its call reference."""
    return verify_claims(token, keys, now=now).ref


def verify_claims(token: object, keys: Sequence[bytes], *, now: float | None = None) -> TokenClaims:
    """Like `verify`, returning the call reference with the token's user and name bindings."""
    if not isinstance(token, str) or not token:
        raise FeedbackTokenError("feedback token must be a non-empty string")
    if len(token) > MAX_TOKEN:
        raise FeedbackTokenError(f"feedback token is too large ({len(token)} > {MAX_TOKEN} characters)")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise FeedbackTokenError("feedback token is malformed (expected lgf1.<payload>.<signature>)")
    payload, signature = _b64decode(parts[1]), _b64decode(parts[2])
    body = f"{parts[0]}.{parts[1]}"
    if not any(hmac.compare_digest(_mac(key, body), signature) for key in keys):
        raise FeedbackTokenError(
            "feedback token signature is invalid (forged, tampered or signed by an unknown key)"
        )
    data = _payload(payload)
    if (time.time() if now is None else now) >= data["e"]:
        raise FeedbackTokenError("feedback token has expired: issue a new one with guard.feedback_token(...)")
    fields: dict[str, Any] = {name: data.get(short) for short, name in _FIELDS.items()}
    names = data.get("n")
    return TokenClaims(CallRef(**fields), data.get("u"), None if names is None else tuple(names))


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise FeedbackTokenError("feedback token payload is malformed") from exc
    valid = (
        isinstance(data, dict)
        and isinstance(data.get("c"), str)
        and isinstance(data.get("e"), int)
        and all(isinstance(data.get(short), str | None) for short in _FIELDS)
        and isinstance(data.get("u"), str | None)
        and (
            data.get("n") is None
            or (isinstance(data["n"], list) and all(isinstance(n, str) for n in data["n"]))
        )
    )
    if not valid:
        raise FeedbackTokenError("feedback token payload is malformed")
    checked: dict[str, Any] = data
    return checked


def make_token(
    guard: Guard,
    target: Any,
    *,
    ttl: float = 86_400.0,
    user_id: str | None = None,
    names: Sequence[str] | None = None,
) -> str:
    """A signed token naming the call behind ``target``, valid for ``ttl`` seconds.

    Args:
        guard: The guard whose ``feedback_secret`` signs the token.
        target: A guarded client's response (or stream, raw response...) or a `CallRef`.
        ttl: Lifetime in seconds (positive).
        user_id: Bind the token to this user: feedback sent with it is recorded for this user only
            (a different ``user_id`` is refused), so one token cannot vote as many users.
        names: The only feedback names the token allows (e.g. ``["thumbs"]``).

    Returns:
        An opaque urlsafe string (at most `MAX_TOKEN` characters).

    Raises:
        ConfigurationError: No feedback secret is configured.
        FeedbackError: ``target`` is not linked to a call, or ``ttl`` is not positive.
    """
    from llmguard.exceptions import FeedbackError

    from ._model import check_name

    if not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise FeedbackError(f"token ttl must be a positive number of seconds, got {ttl!r}")
    if user_id is not None and (not isinstance(user_id, str) or not user_id):
        raise FeedbackError(f"token user_id must be a non-empty string, got {user_id!r}")
    if names is not None:
        if isinstance(names, str):
            names = [names]
        names = [check_name(name) for name in names]
    ref = call_ref(target)
    return sign(ref, secrets_of(guard), expires=time.time() + ttl, user_id=user_id, names=names)


def read_token(guard: Guard, token: object) -> CallRef:
    """Verify ``token`` with the guard's secrets and return the call it names.

    Raises:
        FeedbackTokenError: The token is forged, tampered, expired, signed by an unknown key,
            malformed or oversized.
    """
    return read_claims(guard, token).ref


def read_claims(guard: Guard, token: object) -> TokenClaims:
    """Verify ``token`` and return the call it names with its user and name bindings."""
    try:
        keys = secrets_of(guard)
    except ConfigurationError as exc:
        raise FeedbackTokenError(f"cannot verify feedback tokens: {exc}") from exc
    return verify_claims(token, keys)
