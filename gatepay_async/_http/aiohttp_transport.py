# unasync: async-only
"""The fast asyncio transport (extra ``aiohttp``): ``DefaultAioHttpClient``.

An ``httpx.AsyncClient`` whose transport sends through an ``aiohttp`` session, which costs
about a third less CPU per request than httpcore. Everything above the transport stays
httpx: the SDK's signing (an ``httpx.Auth``), the body bytes, its timeouts and its error
handling see the same objects whichever transport runs.

The part that matters for money is the failure mapping. The SDK resends a create only
when the request provably never left (``httpx.ConnectError``/``ConnectTimeout``/
``PoolTimeout``), so only aiohttp's failures *before the request is written* map there:
the connector's errors (refused, DNS, TLS handshake) and its connect timeout (which also
covers waiting for a free connection). A disconnect, reset, timeout or malformed answer
once the request may have been written maps to ``ReadError``/``RemoteProtocolError``/
``ReadTimeout``, which the SDK reads as "outcome unknown". (A wrapper that mapped every
``ClientConnectionError`` to ``ConnectTimeout`` let one create reach the server 3 times.)

aiohttp's own retry of a stale keep-alive connection is turned off as well: every
attempt is the SDK's, so the server never sees a request the SDK did not count.

Mocks apply to it as they do to the default client: while a tool has replaced
httpx's transport or httpcore's pool (pytest-httpx; respx, whose default mode patches
httpcore) and left aiohttp alone, each request goes through an ``httpx.AsyncHTTPTransport``
instead, so the replacement answers it (``_http.patches``): no mocked test reaches the network
just because its client sends through aiohttp. (A tracing tool that wraps httpx's
transport and calls it is no mock: requests stay on aiohttp.) While aiohttp's own sending
is replaced (as aioresponses does), requests stay on aiohttp, for that replacement to
answer.

Every answer the default transport (h11) reads, this one reads the same: aiohttp's header
limits are raised to httpcore's (a long security-policy header is common), and an answer
aiohttp's stricter parser refuses is re-read by h11 from its first byte
(``_http.aiohttp_rereading``), so that its card is not lost on one transport only.

aiohttp texts can hold the request URL (a balance query carries the card key in it), so
the httpx errors raised here say what failed in words of their own, and drop the cause.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import sys
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpx

from gatepay_async._errors import ValidationError
from gatepay_async._http.aiohttp_rereading import (
    MAX_HEAD_BYTES,
    Rereading,
    RereadingParser,
    rereading_parser,
)
from gatepay_async._http.config import DEFAULT_LIMITS, DEFAULT_TIMEOUT, USER_AGENT
from gatepay_async._http.cookies import NoCookies
from gatepay_async._http.patches import aiohttp_session_own, httpx_async_transport_own

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AioHttpTransport", "DefaultAioHttpClient", "aiohttp_available"]

_ONLY_ASYNCIO = (
    "DefaultAioHttpClient runs on asyncio only (aiohttp); on trio leave http_client=None"
    " to use the default client"
)


def _on_trio() -> bool:
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def _require_asyncio() -> None:
    """Raise ValidationError unless an asyncio loop runs this task (aiohttp needs one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ValidationError("http_client", _ONLY_ASYNCIO) from None


def _import_aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - the extra is installed where tests run
        raise ImportError(
            "DefaultAioHttpClient needs aiohttp: pip install 'gatepay[aiohttp]'"
        ) from None
    return aiohttp


def _describe(exc: BaseException) -> str:
    """The exception's kind (and OS reason), never its text: that may hold the URL."""
    reason = getattr(exc, "strerror", None)
    name = type(exc).__name__
    return f"aiohttp {name}: {reason}" if isinstance(reason, str) and reason else f"aiohttp {name}"


def map_error(exc: BaseException, request: httpx.Request, *, sending: bool) -> Exception | None:
    """The httpx error for an aiohttp failure, or None to let ``exc`` propagate as it is.

    ``sending``: raised while sending the request and reading the answer's head (True),
    or while reading the answer's body (False: the request was certainly written).
    """
    import aiohttp

    text = _describe(exc)
    if sending:
        # Only these happen before a byte of the request is written.
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return httpx.ConnectTimeout(text, request=request)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return httpx.ConnectError(text, request=request)
        if isinstance(exc, aiohttp.InvalidURL):
            return httpx.UnsupportedProtocol(text, request=request)
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's SocketTimeoutError among them
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed answer
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return httpx.ReadError(text, request=request)
    return None


def _unread(exc: BaseException, request: httpx.Request) -> Exception | None:
    """The httpx error for an answer cut or refused after its head arrived."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientResponseError):  # h11 re-read it and found it cut
        return httpx.RemoteProtocolError(_describe(exc), request=request)
    return map_error(exc, request, sending=False)


class _RereadStream(httpx.AsyncByteStream):
    """The body of an answer aiohttp refused, as h11 reads it."""

    def __init__(
        self,
        rereading: Rereading,
        exc: BaseException,
        request: httpx.Request,
        read_timeout: float | None,
    ) -> None:
        self._rereading = rereading
        self._exc = exc
        self._request = request
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in _follow(
            self._rereading, 0, self._exc, self._request, self._read_timeout
        ):
            yield chunk

    async def aclose(self) -> None:
        self._rereading.abort()  # closes the connection if h11 was not done with it


class _Exchange:
    """One request's answer, as the connection's parser hands it over: set for the
    request's task while aiohttp sends it, so the handler can find its method."""

    def __init__(self, method: str, read_timeout: float | None) -> None:
        self.method = method
        self.read_timeout = read_timeout
        self.parser: RereadingParser | None = None

    def rereading(self) -> Rereading | None:
        """h11's reading of the answer, if aiohttp's parser refused it."""
        parser = self.parser
        return None if parser is None else parser.rereading


_EXCHANGE: ContextVar[_Exchange | None] = ContextVar("gatepay_aiohttp_exchange", default=None)


@functools.cache
def _handler_class() -> type:
    """aiohttp's connection protocol, whose parser hands a refused answer to h11."""
    from aiohttp.client_proto import ResponseHandler

    class RereadingHandler(ResponseHandler):
        def set_response_params(self, **params: Any) -> None:
            super().set_response_params(**params)
            exchange = _EXCHANGE.get()
            if exchange is not None and self._parser is not None:
                exchange.parser = rereading_parser(self, exchange.method)

        def close(self) -> None:
            # aiohttp closes a connection whose answer its parser refused; h11 may still
            # be reading that answer on it (it closes it once done).
            parser = self._parser
            if isinstance(parser, RereadingParser) and parser.holding:
                return
            super().close()

    return RereadingHandler


async def _follow(
    rereading: Rereading,
    offset: int,
    exc: BaseException,
    request: httpx.Request,
    read_timeout: float | None,
) -> AsyncIterator[bytes]:
    """The body h11 reads past ``offset``, as it arrives; a cut one ends in the error
    a cut answer gets."""
    while True:
        chunk = rereading.body_from(offset)
        if chunk:
            offset += len(chunk)
            yield chunk
        if rereading.done:
            break
        try:
            await rereading.more(read_timeout)
        except TimeoutError:
            raise httpx.ReadTimeout(
                "aiohttp: no more of the answer within the read timeout", request=request
            ) from None
    if not rereading.complete:
        failure = _unread(exc, request) or httpx.RemoteProtocolError(
            _describe(exc), request=request
        )
        raise failure


class _AioHttpStream(httpx.AsyncByteStream):
    """The answer's body as aiohttp reads it, raw (no decompression: httpx decodes)."""

    def __init__(
        self, response: aiohttp.ClientResponse, request: httpx.Request, exchange: _Exchange
    ) -> None:
        self._response = response
        self._request = request
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        given: list[bytes] = []
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                given.append(chunk)
                yield chunk
        except Exception as exc:
            exchange = self._exchange
            rereading = exchange.rereading()
            if rereading is not None:
                # aiohttp refused the body: h11's reading of it, past what was given.
                so_far = b"".join(given)
                while rereading.size < len(so_far) and not rereading.done:
                    await rereading.more(exchange.read_timeout)
                if rereading.body_from(0)[: len(so_far)] == so_far:
                    async for chunk in _follow(
                        rereading, len(so_far), exc, self._request, exchange.read_timeout
                    ):
                        yield chunk
                    return
            mapped = _unread(exc, self._request)
            if mapped is None:
                raise
            raise mapped from None

    async def aclose(self) -> None:
        # Back to the pool once fully read; a connection with unread bytes is closed.
        rereading = self._exchange.rereading()
        if rereading is not None:
            rereading.abort()
        self._response.release()


class AioHttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over one ``aiohttp.ClientSession`` (asyncio only).

    The session is made on the first request (aiohttp binds it to the running loop).
    """

    #: Needs nothing of the client layer: the SDK may hand it signed requests directly
    #: (``_http.sending``) when the ``DefaultAioHttpClient`` around it is not customised.
    DIRECT_SEND_SAFE = True

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        self._aiohttp = _import_aiohttp()
        from yarl import URL  # aiohttp's own dependency

        # ``encoded=True``: httpx already encoded the URL; it goes out as it is.
        self._url = URL
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        # Parsed URLs without a query, by text: GatePay's paths are few, and parsing one
        # costs more than the rest of the adapter. (A query may hold a card key: never kept.)
        self._urls: dict[str, Any] = {}
        #: Sends while httpx's transport is mocked (``_patched_httpx``); made on first use.
        self._httpx_transport: httpx.AsyncHTTPTransport | None = None

    def _make_session(self) -> aiohttp.ClientSession:
        lib = self._aiohttp
        limits = self._limits
        connector = lib.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry or 5.0,
            ssl=httpx.create_ssl_context(),  # httpx's CA bundle, like the default client
        )
        # Each connection's protocol lets h11 re-read an answer aiohttp's parser refuses.
        connector._factory = functools.partial(_handler_class(), loop=asyncio.get_running_loop())
        session: aiohttp.ClientSession = lib.ClientSession(
            connector=connector,
            auto_decompress=False,  # the bytes go to httpx as they came
            cookie_jar=lib.DummyCookieJar(),
            trust_env=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            # httpcore's bound on a head, not aiohttp's 8190 bytes a line and 128 headers:
            # an answer the default transport reads is not refused here for its size.
            max_line_size=MAX_HEAD_BYTES,
            max_field_size=MAX_HEAD_BYTES,
            max_headers=MAX_HEAD_BYTES,
        )
        # No hidden second attempt on a stale keep-alive connection: the SDK decides.
        session._retry_connection = False
        return session

    def _timeout(self, extensions: Mapping[str, Any]) -> aiohttp.ClientTimeout:
        given = extensions.get("timeout") or {}
        connect, read, pool = given.get("connect"), given.get("read"), given.get("pool")
        key = (connect, read, pool)
        timeout = self._timeouts.get(key)
        if timeout is None:
            # ``connect`` bounds waiting for a pooled connection and making one: both
            # before the request is written, so its expiry is "not sent".
            acquire = None if connect is None or pool is None else connect + pool
            timeout = self._timeouts[key] = self._aiohttp.ClientTimeout(
                total=None, connect=acquire, sock_connect=connect, sock_read=read
            )
        return timeout

    def _aiohttp_url(self, url: httpx.URL) -> Any:
        text = str(url)
        parsed = self._urls.get(text)
        if parsed is None:
            parsed = self._url(text, encoded=True)
            if not url.query and len(self._urls) < 64:
                self._urls[text] = parsed
        return parsed

    def _patched_httpx(self) -> bool:
        """A tool replaced httpx's transport (or httpcore under it) but not aiohttp's
        sending: a mock of httpx is on, and must answer this client's requests too."""
        return not httpx_async_transport_own() and aiohttp_session_own(self._aiohttp)

    async def _send_through_httpx(self, request: httpx.Request) -> httpx.Response:
        transport = self._httpx_transport
        if transport is None:
            transport = self._httpx_transport = httpx.AsyncHTTPTransport(limits=self._limits)
        return await transport.handle_async_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _require_asyncio()
        if self._patched_httpx():
            return await self._send_through_httpx(request)
        session = self._session
        if session is None:
            session = self._session = self._make_session()
        body = await request.aread()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        timeout = self._timeout(request.extensions)
        exchange = _Exchange(request.method, timeout.sock_read)
        token = _EXCHANGE.set(exchange)
        try:
            response = await session.request(
                request.method,
                self._aiohttp_url(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
            )
        except Exception as exc:
            rereading = exchange.rereading()
            if rereading is not None:
                if rereading.has_head:
                    return _reread_response(rereading, exc, request, exchange.read_timeout)
                rereading.abort()  # nobody will read the rest: the connection is closed
            mapped = map_error(exc, request, sending=True)
            if mapped is None:
                raise
            raise mapped from None
        except BaseException:  # cancelled: the connection must not stay held open
            rereading = exchange.rereading()
            if rereading is not None:
                rereading.abort()
            raise
        finally:
            _EXCHANGE.reset(token)
        version = response.version
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_AioHttpStream(response, request, exchange),
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode("ascii")
                if version is not None
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        transport, self._httpx_transport = self._httpx_transport, None
        try:
            if session is not None:
                await session.close()
        finally:
            if transport is not None:
                await transport.aclose()


def _reread_response(
    rereading: Rereading, exc: Exception, request: httpx.Request, read_timeout: float | None
) -> httpx.Response:
    """The answer as h11 reads it (aiohttp's parser refused it), its body streamed."""
    head = rereading.head()
    return httpx.Response(
        status_code=head.status,
        headers=list(head.headers),
        stream=_RereadStream(rereading, exc, request, read_timeout),
        extensions={"http_version": head.http_version, "reason_phrase": head.reason},
    )


class DefaultAioHttpClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` on :class:`AioHttpTransport`, with the SDK's defaults.

    ``AsyncGatePay(http_client=DefaultAioHttpClient())``: the fast transport for asyncio
    (extra ``aiohttp``). Keyword arguments go to ``httpx.AsyncClient`` (``headers``,
    ``timeout``...); ``limits`` sizes aiohttp's connection pool. Cookies are neither sent
    nor kept unless ``cookies=`` is given. The caller closes it.
    On trio it raises ValidationError: use the default client there.
    """

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS, **kwargs: Any) -> None:
        if _on_trio():
            raise ValidationError("http_client", _ONLY_ASYNCIO)
        kwargs.setdefault("timeout", httpx.Timeout(DEFAULT_TIMEOUT))
        kwargs.setdefault("headers", {"User-Agent": USER_AGENT})
        kwargs.setdefault("follow_redirects", False)
        keep_cookies = "cookies" in kwargs
        super().__init__(transport=AioHttpTransport(limits=limits), **kwargs)
        if not keep_cookies:
            self._cookies = NoCookies()


def aiohttp_available() -> bool:
    """Whether ``DefaultAioHttpClient`` can run here: aiohttp installed, not on trio."""
    return not _on_trio() and importlib.util.find_spec("aiohttp") is not None
