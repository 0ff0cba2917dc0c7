"""A transport that spreads requests over several small connection pools.

httpcore's pool does work proportional to the number of connections it holds for every
request it assigns (it checks each idle connection's socket), so one pool of 64 busy
connections costs several times the CPU per request of eight pools of eight. The
default client therefore sends through a sharded transport: each request goes to the
pool with the fewest requests in flight. A caller's own ``http_client`` is used as it
is.

Building a client must stay cheap (every command and short script builds one), so a pool
is made only when a request first needs it, and all the pools of one transport share one
SSL context, itself made on first use: loading the CA certificates once per pool cost
32 loads per client (see ``_http.sharding``).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gatepay_async._http.config import DEFAULT_LIMITS, DEFAULT_TIMEOUT, USER_AGENT
from gatepay_async._http.cookies import NoCookies
from gatepay_async._http.sharding import LazyPools, Shards, shard_limits, ssl_context_maker

__all__ = ["AsyncShardedTransport", "DefaultAsyncHttpxClient", "default_async_http_client"]


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that gives its pool's in-flight slot back once it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, shards: Shards, index: int) -> None:
        self._stream = stream
        self._shards = shards
        self._index: int | None = index

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._index is not None:
                self._shards.release(self._index)
                self._index = None


class AsyncShardedTransport(httpx.AsyncBaseTransport):
    """Several ``httpx.AsyncHTTPTransport`` pools behind one transport."""

    #: Needs nothing of the client layer: the SDK may hand it signed requests directly
    #: (``_http.sending``).
    DIRECT_SEND_SAFE = True

    def __init__(
        self,
        limits: httpx.Limits,
        *,
        http2: bool = False,
        proxy: str | httpx.URL | httpx.Proxy | None = None,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
    ) -> None:
        count, per_shard = shard_limits(limits)
        self._pools: LazyPools[httpx.AsyncHTTPTransport] = LazyPools(
            count,
            lambda context: httpx.AsyncHTTPTransport(
                verify=context, limits=per_shard, http2=http2, proxy=proxy
            ),
            make_context=ssl_context_maker(verify, cert),
        )
        self._shards = Shards(count)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._shards.acquire()
        try:
            response = await self._pools.get(index).handle_async_request(request)
        except BaseException:
            self._shards.release(index)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ReleasingStream(response.stream, self._shards, index)
        return response

    async def aclose(self) -> None:
        for pool in self._pools.made():
            await pool.aclose()


class DefaultAsyncHttpxClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` with the SDK's defaults: sharded pools holding up to 256
    keep-alive connections, the SDK's timeout and User-Agent, no cookie jar, redirects
    never followed. It also takes ``proxy=``, ``http2=``, ``verify=`` and ``cert=`` (passed
    to every pool), and any other ``httpx.AsyncClient`` argument. Pass it as
    ``AsyncGatePay(http_client=...)``; the caller closes it.
    """

    def __init__(
        self,
        *,
        proxy: str | httpx.URL | httpx.Proxy | None = None,
        http2: bool = False,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("headers", {"User-Agent": USER_AGENT})
        kwargs.setdefault("follow_redirects", False)
        kwargs.setdefault(
            "transport",
            AsyncShardedTransport(limits, http2=http2, proxy=proxy, verify=verify, cert=cert),
        )
        super().__init__(timeout=timeout, **kwargs)
        if "cookies" not in kwargs:
            self._cookies = NoCookies()  # GatePay sets none; reading them costs CPU


def default_async_http_client(*, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The client an ``AsyncGatePay`` makes for itself (a plain ``httpx.AsyncClient``:
    the direct send path of ``_sending`` checks for httpx's own class methods)."""
    client = httpx.AsyncClient(
        timeout=timeout,
        transport=AsyncShardedTransport(DEFAULT_LIMITS),
        headers={"User-Agent": USER_AGENT},
    )
    client._cookies = NoCookies()  # GatePay sets none; reading them costs CPU
    return client
