# unasync: shared
"""One-line settings that keep card keys out of tracing and error-tracking tools.

``balance(key=...)`` sends the card key in the URL's query string, because GatePay's API
takes it there (``query(key=...)`` sends it in the body, and ``balance(card_number=...)``
needs no key). Tools that record outgoing HTTP requests record that URL. The SDK cannot
hide it from them: they read the request at httpx's (or aiohttp's) transport, where the
URL is the one written on the wire. What the SDK can do is give each tool the redaction
setting it accepts:

- OpenTelemetry httpx: ``HTTPXClientInstrumentor().instrument(request_hook=otel_request_hook,
  async_request_hook=otel_async_request_hook)`` (or ``instrument_client(client,
  request_hook=...)`` with either hook).
- OpenTelemetry aiohttp-client (the ``DefaultAioHttpClient`` transport):
  ``AioHttpClientInstrumentor().instrument(url_filter=otel_url_filter)``.
- Sentry: ``sentry_sdk.init(..., **sentry_options())``.
- ddtrace: ``DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING=false`` (no query strings on client
  spans), or ``DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`` set to
  :data:`DDTRACE_QUERY_STRING_REGEXP` to keep query strings with secret values masked.

Nothing here imports those tools at import time; ``sentry_options`` imports ``sentry_sdk``
when called, to learn which hooks the installed version has.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from gatepay_async._secrets.redact import mask_secret

__all__ = [
    "DDTRACE_QUERY_STRING_REGEXP",
    "otel_async_request_hook",
    "otel_request_hook",
    "otel_url_filter",
    "redact_query",
    "sentry_before_breadcrumb",
    "sentry_before_send_transaction",
    "sentry_options",
]

#: Query parameter names whose values are secrets: GatePay's ``key``, and the usual
#: names of other services' secrets, in any case (``api_key``, ``token``, ``Signature``).
_SECRET_NAME = re.compile(r"key|secret|token|sig|passw|pwd|auth", re.IGNORECASE)

#: For ``DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP``: ddtrace replaces each match in a
#: client span's query string with ``<redacted>``. A pair whose name holds ``key``,
#: ``secret``, ``token``, ``sig``, ``passw``, ``pwd`` or ``auth`` matches, with its value.
#: Setting it replaces ddtrace's default pattern (which does not match a bare ``key``).
DDTRACE_QUERY_STRING_REGEXP = (
    r"(?i)(?:^|(?<=[&;]))[^&;=]*(?:key|secret|token|sig|passw|pwd|auth)[^&;=]*=[^&;]*"
)

#: The span attributes OpenTelemetry's HTTP instrumentations put the full URL in
#: (``http.url`` in the older semantic conventions, ``url.full`` in the stable ones), and
#: the stable conventions' attribute for the query alone.
_OTEL_URL_ATTRIBUTES = ("http.url", "url.full", "url.query")
#: Where Sentry's HTTP integrations put the URL and its query, in breadcrumbs and spans.
_SENTRY_URL_FIELDS = ("url", "http.query", "url.full", "url.query")


def redact_query(url: str) -> str:
    """``url`` with the value of every secret-named query parameter masked
    (``?key=q8Zf…``); other parameters (``cardNumber``) and the rest are kept. A text
    with no ``?`` that is not a URL or a path is taken as a query string (``key=...``)."""
    head, mark, rest = url.partition("?")
    if not mark:
        return url if "://" in url or url.startswith("/") else _redact_pairs(url)
    query, hash_mark, fragment = rest.partition("#")
    return head + "?" + _redact_pairs(query) + hash_mark + fragment


def _redact_pairs(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and _SECRET_NAME.search(name):
            pair = f"{name}={mask_secret(value)}"
        pairs.append(pair)
    return "&".join(pairs)


# -- OpenTelemetry ------------------------------------------------------------------------


def otel_request_hook(span: Any, request: Any) -> None:
    """``request_hook`` for OpenTelemetry's httpx instrumentation: rewrites the span's URL
    attributes with secret query values masked. It runs right after the span is made, so
    nothing is exported with the key."""
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    for name in _OTEL_URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            redacted = redact_query(value)
            if redacted != value:
                span.set_attribute(name, redacted)


async def otel_async_request_hook(span: Any, request: Any) -> None:
    """``async_request_hook`` for OpenTelemetry's httpx instrumentation (``AsyncClient``)."""
    otel_request_hook(span, request)


def otel_url_filter(url: Any) -> str:
    """``url_filter`` for OpenTelemetry's aiohttp-client instrumentation (the SDK's
    ``DefaultAioHttpClient`` transport): the URL it records, secret values masked."""
    return redact_query(str(url))


# -- Sentry -------------------------------------------------------------------------------


def _redact_fields(data: Any) -> None:
    if isinstance(data, dict):
        for name in _SENTRY_URL_FIELDS:
            value = data.get(name)
            if isinstance(value, str):
                data[name] = redact_query(value)


def sentry_before_breadcrumb(crumb: dict[str, Any], hint: Any) -> dict[str, Any] | None:
    """``before_breadcrumb``: an HTTP breadcrumb's ``url`` and ``http.query`` with secret
    query values masked."""
    _redact_fields(crumb.get("data"))
    return crumb


def sentry_before_send_transaction(event: dict[str, Any], hint: Any) -> dict[str, Any] | None:
    """``before_send_transaction`` (sentry-sdk 2.x): each span's URL fields and
    description with secret query values masked."""
    for span in event.get("spans") or []:
        if isinstance(span, dict):
            _redact_fields(span.get("data"))
            description = span.get("description")
            if isinstance(description, str):
                span["description"] = redact_query(description)
    return event


def sentry_options() -> dict[str, Any]:
    """Keyword arguments for ``sentry_sdk.init``: the hooks above that the installed
    sentry-sdk takes (2.x: ``before_breadcrumb`` and ``before_send_transaction``; 3.x
    filters a ``key`` query parameter itself and has no transaction hook)."""
    from sentry_sdk.consts import ClientConstructor

    accepted = inspect.signature(ClientConstructor.__init__).parameters
    options: dict[str, Any] = {"before_breadcrumb": sentry_before_breadcrumb}
    if "before_send_transaction" in accepted:
        options["before_send_transaction"] = sentry_before_send_transaction
    return options
