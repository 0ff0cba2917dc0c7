"""Whether a tool has replaced part of httpx's, httpcore's or aiohttp's sending path.

The SDK takes shortcuts for speed: it hands signed requests straight to its own transport
(``_http.sending``), and ``DefaultAioHttpClient`` sends through aiohttp instead of httpcore.
A shortcut must never step around a function a tool replaced: mocking libraries
(respx replaces ``AsyncClient._transport_for_url`` or httpcore's pool; pytest-httpx
replaces ``AsyncHTTPTransport.handle_async_request``; aioresponses replaces
``aiohttp.ClientSession._request``) and tracing ones (Sentry, ddtrace, OpenTelemetry)
work so. Stepping around a mock sends a real request from a test that believes it is
mocked: a real card issued.

A function counts as its library's own when it is a plain function whose code comes
from the library's file. ``type(...) is FunctionType``, not ``isinstance``: wrapt's
proxies (ddtrace and OpenTelemetry wrap so) pass ``isinstance`` and forward
``__code__``. The checks run on every request, since a mock starts and stops at any
time; each costs a few attribute reads.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import httpx
import httpx._client
import httpx._transports.default

__all__ = [
    "CLIENT_SEND_PATH",
    "aiohttp_session_own",
    "httpx_async_transport_own",
    "httpx_client_own",
]

#: Every method of ``httpx.Client``/``AsyncClient`` that a request passes through on its
#: way from ``send`` to the transport. vcrpy replaces ``_send_single_request``, respx
#: (``using="httpx"``) ``_transport_for_url``, tracing tools ``send``.
CLIENT_SEND_PATH = (
    "send",
    "_send_handling_auth",
    "_send_handling_redirects",
    "_send_single_request",
    "_transport_for_url",
)

_HTTPX_CLIENT_SOURCE = httpx._client.__file__


def _own(function: Any, source: str | None) -> bool:
    return type(function) is types.FunctionType and function.__code__.co_filename == source


def httpx_client_own(client: Any, *methods: str) -> bool:
    """Each of the client's ``methods`` is httpx's own: not replaced on this client, in its
    class (a mock, a tracing tool) nor overridden in a subclass."""
    replaced_here = vars(client)
    cls = type(client)
    for method in methods:
        if method in replaced_here or not _own(getattr(cls, method), _HTTPX_CLIENT_SOURCE):
            return False
    return True


_HTTPX_TRANSPORT_SOURCE = httpx._transports.default.__file__
#: The httpcore classes under ``httpx.AsyncHTTPTransport``, by module: respx (with
#: ``using="httpcore"``, its default) replaces their ``handle_async_request``.
_HTTPCORE_ASYNC_PATH = (
    ("httpcore._async.connection_pool", "AsyncConnectionPool"),
    ("httpcore._async.connection", "AsyncHTTPConnection"),
)


def _calls_through(function: Any, source: str | None) -> bool:
    """``function`` is the library's own, or a wrapper around it that says so through
    ``__wrapped__`` (wrapt's proxies, ``functools.wraps``): tracing tools wrap and call
    the original. Mocks replace it with a function of their own (respx, pytest-httpx)."""
    for _ in range(8):  # wrappers of wrappers, but never a cycle
        if _own(function, source):
            return True
        function = getattr(function, "__wrapped__", None)
        if function is None:
            return False
    return False


def httpx_async_transport_own() -> bool:
    """``httpx.AsyncHTTPTransport`` and the httpcore classes under it send as they were
    written, or through a wrapper that calls them (a tracing tool such as OpenTelemetry's
    httpx instrumentation): no mock replaced their ``handle_async_request``.

    Only ``DefaultAioHttpClient`` asks, to decide whether a mock must answer its requests
    through httpx; a tracer of httpx's transport is no reason to leave aiohttp (the
    merchant traces aiohttp with aiohttp's instrumentation). The direct send asks
    :func:`httpx_client_own`, which takes no wrapper: a tracer wrapping ``send`` must run.
    """
    if not _calls_through(httpx.AsyncHTTPTransport.handle_async_request, _HTTPX_TRANSPORT_SOURCE):
        return False
    # httpx imports httpcore only once a transport is made, and importing it costs more
    # than a client: never imported means never replaced (a tool imports it to patch it).
    modules = sys.modules
    if "httpcore" not in modules:
        return True
    for module_name, class_name in _HTTPCORE_ASYNC_PATH:
        module = modules.get(module_name)
        if module is None:  # httpcore is being imported: nothing patched it yet
            return True
        if not _calls_through(getattr(module, class_name).handle_async_request, module.__file__):
            return False
    return True


def aiohttp_session_own(aiohttp: Any) -> bool:
    """``aiohttp.ClientSession._request`` (where every aiohttp request goes) is
    aiohttp's own; aioresponses replaces it."""
    return _own(aiohttp.ClientSession._request, aiohttp.client.__file__)
