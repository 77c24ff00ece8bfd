"""Policies decide on what is sent, and fail closed.

Two rules every pre-call policy follows:

* **The body actually sent.** The SDKs send ``json_data`` merged with ``extra_json`` (the
  ``extra_body=`` argument), the latter winning. `sent_body` is that merge; the pin policy and
  every pre-call policy judge it, and a lock rewrite is applied wherever the model is set
  (`rewrite_model`), so ``extra_body={"model": "gpt-4o"}`` can neither slip past ``enforce`` nor
  undo a rewrite.
* **Fail closed.** When a policy the user opted into (the pin policy under ``enforce``, hard
  budgets, ``policies=``) cannot be evaluated because of an internal error, the call is refused
  with `llmguard.PolicyUnavailableError` (`unavailable`). Observers stay fail-open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import PolicyUnavailableError

if TYPE_CHECKING:
    from ._settings import Settings

__all__ = ["guard_policies", "opted_in", "rewrite_model", "routed_model", "sent_body", "unavailable"]


def _omitted(value: object) -> bool:
    """The SDKs' ``Omit`` sentinel (``extra_body={"key": omit}`` removes a key from the body)."""
    return type(value).__name__ == "Omit"


def sent_body(options: Any) -> Mapping[str, Any] | None:
    """The JSON body the SDK will send: ``json_data`` merged with ``extra_json`` (``extra_body``).

    Returns ``None`` when there is no JSON object body (llmguard then leaves the call alone).
    """
    body = options.json_data
    extra = getattr(options, "extra_json", None)
    if not extra or not isinstance(extra, Mapping):  # the common case: no extra_body
        # `type(...) is dict` first: the ABC check costs about ten times more, on every call
        return body if type(body) is dict or isinstance(body, Mapping) else None
    if body is None:
        merged = dict(extra)
    elif isinstance(body, Mapping):
        merged = {**body, **extra}
    else:
        return None
    return {key: value for key, value in merged.items() if not _omitted(value)}


def routed_model(options: Any, pin_provider: str) -> str | None:
    """An Azure deployment the request URL names that ``extra_body`` hides from the sent body.

    ``AzureOpenAI`` builds ``/deployments/{model}`` from ``json_data``'s model (not the merged
    body's), so when ``extra_body`` overrides the model both names are used: this returns the
    routed one, for the pin policy to judge too. ``None`` when there is nothing else to judge.
    """
    extra = getattr(options, "extra_json", None)
    if not extra or pin_provider != "azure" or not isinstance(options.json_data, Mapping):
        return None
    routed = options.json_data.get("model")
    if not isinstance(extra, Mapping) or "model" not in extra or routed == extra["model"]:
        return None
    return routed if isinstance(routed, str) else None


def rewrite_model(options: Any, changes: dict[str, Any], model: str) -> None:
    """Record in ``changes`` the option updates that make the sent body's model ``model``."""
    body = options.json_data if isinstance(options.json_data, Mapping) else {}
    changes["json_data"] = {**body, "model": model}
    extra = getattr(options, "extra_json", None)
    if isinstance(extra, Mapping) and "model" in extra:
        changes["extra_json"] = {**extra, "model": model}


def opted_in(settings: Settings, policies: Sequence[object]) -> str | None:
    """Name the opted-in policies of a runtime (``None``: nothing to fail closed for)."""
    names = []
    if settings.pin_policy == "enforce":
        names.append("the pin policy 'enforce'")
    if policies:
        names.append("the pre-call policies (hard budgets, policies=)")
    return " and ".join(names) or None


def guard_policies(guard: Any) -> str | None:
    """Name the opted-in policies of a guard whose runtime could not be built."""
    settings = getattr(guard, "settings", None)
    names = []
    if getattr(settings, "pin_policy", None) == "enforce":
        names.append("the pin policy 'enforce'")
    file_budgets = "budgets" in (getattr(settings, "file_settings", None) or {})
    if getattr(guard, "budgets", None) is not None or file_budgets:
        names.append("budgets")
    if getattr(guard, "policies", ()):
        names.append("policies=")
    return " and ".join(names) or None


def unavailable(policy: str, error: BaseException) -> PolicyUnavailableError:
    """The refusal raised when ``policy`` could not be evaluated because of ``error``."""
    return PolicyUnavailableError(
        f"llmguard refused the call before any network I/O: {policy} could not be evaluated "
        f"({type(error).__name__}: {error}). Opted-in policies fail closed: fix the cause (a configuration "
        "error, your policy code, or a bug in llmguard to report; it is chained to this error), or turn "
        "that policy off to let calls through unchecked",
        policy=policy,
    )
