"""Reviewer tokens: ``lgr1.<payload>.<signature>``, an HMAC-SHA256 over the reviewer id and an expiry.

Signed with the guard's ``feedback_secret`` (the first one; any of them verifies, so secrets
rotate), under a key derived for review only: a feedback token is never a reviewer token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from llmguard._feedback._tokens import secrets_of
from llmguard.exceptions import FeedbackTokenError

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["MAX_REVIEWER_TOKEN", "read_reviewer_token", "reviewer_token"]

MAX_REVIEWER_TOKEN = 1024
_PREFIX = "lgr1"


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"llmguard review token", hashlib.sha256).digest()


def _mac(secret: bytes, body: str) -> str:
    digest = hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def reviewer_token(guard: Guard, reviewer: str, *, ttl: float = 8 * 3600) -> str:
    """A token that lets ``reviewer`` use the review page for ``ttl`` seconds.

    Raises:
        ConfigurationError: The guard has no ``feedback_secret``.
        FeedbackTokenError: ``reviewer`` is empty or longer than 256 characters.
    """
    if not isinstance(reviewer, str) or not reviewer.strip() or len(reviewer) > 256:
        raise FeedbackTokenError(f"reviewer {reviewer!r} is invalid: use 1-256 non-blank characters")
    payload = json.dumps({"r": reviewer, "exp": int(time.time() + ttl)}, separators=(",", ":"))
    body = f"{_PREFIX}.{base64.urlsafe_b64encode(payload.encode()).rstrip(b'=').decode()}"
    return f"{body}.{_mac(secrets_of(guard)[0], body)}"


def read_reviewer_token(guard: Guard, token: object) -> str:
    """The reviewer a valid token names.

    Raises:
        FeedbackTokenError: The token is malformed, forged, tampered with or expired.
    """
    if not isinstance(token, str) or len(token) > MAX_REVIEWER_TOKEN or token.count(".") != 2:
        raise FeedbackTokenError("reviewer token is malformed: get one from `llmguard review token REVIEWER`")
    body, signature = token.rsplit(".", 1)
    if not body.startswith(f"{_PREFIX}.") or not any(
        hmac.compare_digest(_mac(secret, body), signature) for secret in secrets_of(guard)
    ):
        raise FeedbackTokenError(
            "reviewer token is invalid (forged, tampered with or signed by another secret)"
        )
    try:
        raw = body.split(".", 1)[1]
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        reviewer, expires = data["r"], data["exp"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise FeedbackTokenError("reviewer token is malformed") from None
    if not isinstance(reviewer, str) or not isinstance(expires, int) or expires < time.time():
        raise FeedbackTokenError(
            "reviewer token has expired: get a new one from `llmguard review token REVIEWER`"
        )
    return reviewer
