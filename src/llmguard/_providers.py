"""Which provider a client talks to, decided once per client from its class and ``base_url``.

The rule (documented in the telemetry guide):

1. The client class decides first: Azure clients are ``azure.ai.openai``, Bedrock clients
   ``aws.bedrock``, Vertex clients ``gcp.vertex_ai``, Anthropic clients ``anthropic``.
2. An OpenAI client's ``base_url`` host is matched against `COMPATIBLE_HOSTS` (suffix
   match), giving e.g. ``groq`` or ``deepseek``; those use OpenAI-compatible pin rules, where a
   name is pinned only when declared (or ``repo@<40-hex revision>``).
3. Any other host is ``openai`` (the OpenAI API itself, or a proxy in front of it such as a
   gateway), and OpenAI's naming rules apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["COMPATIBLE_HOSTS", "ClientInfo", "client_info"]

COMPATIBLE_HOSTS: dict[str, str] = {
    "groq.com": "groq",
    "deepseek.com": "deepseek",
    "mistral.ai": "mistral_ai",
    "x.ai": "x_ai",
    "perplexity.ai": "perplexity",
    "together.xyz": "together_ai",
    "together.ai": "together_ai",
    "fireworks.ai": "fireworks_ai",
    "openrouter.ai": "openrouter",
    "cohere.com": "cohere",
    "cohere.ai": "cohere",
    "moonshot.ai": "moonshot_ai",
    "moonshot.cn": "moonshot_ai",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "inference.ai.azure.com": "azure.ai.inference",
    "services.ai.azure.com": "azure.ai.inference",
}
"""Host suffix -> ``gen_ai.provider.name`` for OpenAI-compatible APIs."""


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Facts about a client, computed once per client instance."""

    provider: str
    """``gen_ai.provider.name``."""
    pin_provider: str
    """Naming rules the pin policy applies: openai, azure, anthropic, bedrock, vertex, openai_compatible."""
    server_address: str | None
    server_port: int | None
    openai_family: bool
    """True for OpenAI-protocol clients (stream usage injection applies)."""
    sdk_traces: bool = False
    """True when the Anthropic SDK's own OpenTelemetry spans are enabled on this client."""


def _host_provider(host: str) -> str | None:
    for suffix, name in COMPATIBLE_HOSTS.items():
        if host == suffix or host.endswith("." + suffix):
            return name
    return None


def client_info(client: Any) -> ClientInfo:
    """Classify ``client`` (an SDK client instance)."""
    url = client.base_url
    host = url.host or None
    port = url.port or (443 if url.scheme == "https" else 80)
    names = {cls.__name__ for cls in type(client).__mro__}
    module = type(client).__mro__[1].__module__ if len(type(client).__mro__) > 1 else ""
    if "AzureOpenAI" in names or "AsyncAzureOpenAI" in names:
        return ClientInfo("azure.ai.openai", "azure", host, port, True)
    if "AnthropicBedrock" in names or "AsyncAnthropicBedrock" in names:
        return ClientInfo("aws.bedrock", "bedrock", host, port, False, _sdk_traces(client))
    if "AnthropicVertex" in names or "AsyncAnthropicVertex" in names:
        return ClientInfo("gcp.vertex_ai", "vertex", host, port, False, _sdk_traces(client))
    if "Anthropic" in names or "AsyncAnthropic" in names or module.startswith("anthropic"):
        return ClientInfo("anthropic", "anthropic", host, port, False, _sdk_traces(client))
    compatible = _host_provider(host or "")
    if compatible is not None:
        return ClientInfo(compatible, "openai_compatible", host, port, True)
    return ClientInfo("openai", "openai", host, port, True)


def _sdk_traces(client: Any) -> bool:
    options = getattr(client, "_open_telemetry", None)
    if not isinstance(options, dict):
        return False
    traces = options.get("traces")
    return bool(isinstance(traces, dict) and traces.get("enabled", True))
