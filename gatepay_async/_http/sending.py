"""Building and sending one signed request: through the httpx client, or straight to the
SDK's own transport when the client layer has nothing to add.

``httpx.AsyncClient.send`` and ``build_request`` cost more CPU per call than everything
else the SDK does (merging the base URL, parsing the URL string, the auth-flow generator,
cookie and hook bookkeeping): about a tenth of a bulk run's CPU per card. When the client
is the SDK's own, or (async only) a ``DefaultAioHttpClient`` left as made, none of
that work changes the request: its transport (marked ``DIRECT_SEND_SAFE``) receives the
same ``httpx.Request`` (same URL, headers in the same order, body and timeouts) built and
signed here, and its ``httpx.Response`` comes back unchanged. A client with event hooks,
default query parameters, a cookie jar (even an empty one: ``send`` fills it) or mounted
transports is always used through ``send``, so whatever the caller configured still happens.
So is a client any of whose methods on the way from ``send`` to the transport a tool
replaced (``_http.patches``): respx's ``using="httpx"`` mode, for one, answers from its
replacement of ``_transport_for_url``, and a direct send would reach the network instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from gatepay_async._http.auth import GatePayAuth
from gatepay_async._http.cookies import NoCookies
from gatepay_async._http.patches import CLIENT_SEND_PATH, httpx_client_own
from gatepay_async._http.prebuilt import RequestHead
from gatepay_async._secrets.redact import redact_url
from gatepay_async._secrets.secret import Secret, reveal
from gatepay_async._wire.request_options import NO_OPTIONS, RequestOptions

__all__ = ["AsyncSender", "MaskedRequest", "masked"]

#: httpx logs every request it sends at INFO under this name; a direct send says the same.
_httpx_logger = logging.getLogger("httpx")
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class AsyncSender:
    """Builds requests for one client and sends them signed, on the cheapest safe path."""

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        auth: GatePayAuth,
        base_url: str,
        timeout: httpx.Timeout,
    ) -> None:
        self._client = http_client
        self._auth = auth
        self._base_url = base_url
        self._timeout = timeout
        self._timeouts = timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}  # per path: parsing costs more than a lookup
        #: Per path, the headers every request without call options shares (made again
        #: when the client's headers change).
        self._heads: dict[str, RequestHead] = {}

    def build(
        self,
        method: str,
        path: str,
        *,
        content: bytes | Secret,
        params: Mapping[str, str | Secret] | None,
        options: RequestOptions = NO_OPTIONS,
    ) -> httpx.Request:
        """The request ``build_request`` would make, made without the client layer if it adds
        nothing (the same URL, headers in the same order, body and timeout extension).

        A key (in ``content`` or ``params``) is revealed here, inline, into the request
        only; the request's repr masks its query values (:class:`MaskedRequest`).
        ``options`` (checked already) adds the call's headers after the client's and
        replaces the timeout.
        """
        client = self._client
        headers = _JSON_HEADERS
        timeout = self._timeout
        timeouts = self._timeouts
        if options is not NO_OPTIONS:
            if options.extra_headers:
                headers = {**_JSON_HEADERS, **dict(options.extra_headers)}
            if options.timeout is not None:
                timeout, timeouts = options.timeout, options.timeout.as_dict()
        if not _plain_client(client):
            return masked(
                client.build_request(
                    method,
                    self._base_url + path,
                    content=_wire_bytes(content),
                    params=None if params is None else _wire_params(params),
                    headers=headers,
                    timeout=timeout,
                )
            )
        if params is None and headers is _JSON_HEADERS and isinstance(content, bytes):
            head = self._heads.get(path)
            if head is None or not head.matches(client._headers):
                url = self._urls.get(path)
                if url is None:
                    url = self._urls[path] = httpx.URL(self._base_url + path)
                head = self._heads[path] = RequestHead(url, client._headers, headers)
            return head.build(MaskedRequest, method, content, {"timeout": dict(timeouts)})
        if params is None:
            url = self._urls.get(path)
            if url is None:
                url = self._urls[path] = httpx.URL(self._base_url + path)
            return MaskedRequest(
                method,
                url,
                content=_wire_bytes(content),
                headers=client._merge_headers(headers),
                extensions={"timeout": dict(timeouts)},
            )
        return MaskedRequest(
            method,
            httpx.URL(self._base_url + path, params=_wire_params(params)),
            content=_wire_bytes(content),
            headers=client._merge_headers(headers),
            extensions={"timeout": dict(timeouts)},
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Sign and send ``request``; the answer's body is left to stream (``stream=True``).

        Redirects are never followed, whatever the caller's client says: a signed request
        is never re-sent to the host a 3xx names; the 3xx is the answer.
        """
        client = self._client
        transport = client._transport
        if not _direct_send_safe(client, transport):
            return await client.send(request, auth=self._auth, stream=True, follow_redirects=False)
        auth = self._auth
        auth.sign_request(request)
        response = await transport.handle_async_request(request)
        response.request = request
        if _httpx_logger.isEnabledFor(logging.INFO):
            _httpx_logger.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        auth.clock.observe(response.headers.get("date"))
        return response


class MaskedRequest(httpx.Request):
    """An ``httpx.Request`` whose repr masks every query value: ``balance(key=...)`` puts
    the key in the URL, and the SDK's frames (and a ``functools.partial`` over a request)
    hold the request while code that can raise runs. Error tools show such locals by
    their repr."""

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {redact_url(self.url)!r})>"


def masked(request: httpx.Request) -> httpx.Request:
    """``request`` as a :class:`MaskedRequest`: an ``httpx.Request`` built by httpx's own
    ``build_request`` changes class (same object, same fields); a subclass that a caller's
    client made is left as it is."""
    if type(request) is httpx.Request:
        request.__class__ = MaskedRequest
    return request


def _wire_bytes(content: bytes | Secret) -> bytes:
    return content.reveal().encode("utf-8") if isinstance(content, Secret) else content


def _wire_params(params: Mapping[str, str | Secret]) -> dict[str, str]:
    return {name: str(reveal(value)) for name, value in params.items()}


def _plain_client(client: Any) -> bool:
    """No default query parameters or cookies, and httpx's own ``build_request`` (not one a
    subclass or a tool replaced): building adds nothing but the client's headers to a
    request (its base URL does not apply: the SDK's URLs are absolute)."""
    cookies = client._cookies
    return (
        not client._params
        and (isinstance(cookies, NoCookies) or not cookies.jar)
        and httpx_client_own(client, "build_request")
    )


def _direct_send_safe(client: Any, transport: Any) -> bool:
    """The SDK's own transport, reached by every URL, with no hooks to run, no cookies
    to keep, and httpx's own ``send`` path to skip: a ``send`` wrapped by a tracing tool
    (Sentry's httpx integration adds trace headers so), or a method under it replaced by
    a mock, must still run. (The client's own ``auth`` never runs: the SDK's, passed to
    ``send``, takes its place.)"""
    hooks = client._event_hooks
    return (
        getattr(transport, "DIRECT_SEND_SAFE", False)
        # A cookie jar the caller gave, even empty, is filled by ``send`` from each answer.
        and isinstance(client._cookies, NoCookies)
        and httpx_client_own(client, *CLIENT_SEND_PATH)
        and not client._mounts
        and not hooks["request"]
        and not hooks["response"]
        and not client.is_closed
    )
