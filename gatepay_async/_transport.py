"""Transports that spread requests over several small connection pools.

httpcore's pool does work proportional to the number of connections it holds for every
request it assigns (it checks each idle connection's socket), so one pool of 64 busy
connections costs several times the CPU per request of eight pools of eight. The
default client therefore sends through a sharded transport: each request goes to the
pool with the fewest requests in flight. A caller's own ``http_client`` is used as it
is. Both halves are written by hand; the generated sync client uses ``ShardedTransport``.

Building a client must stay cheap (every command and short script builds one), so a pool
is made only when a request first needs it, and all the pools of one transport share one
SSL context, itself made on first use: loading the CA certificates once per pool cost
32 loads per client.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

import httpx

__all__ = ["AsyncShardedTransport", "NoCookies", "ShardedTransport", "shard_limits"]

P = TypeVar("P")

#: Connections one pool holds at most; more connections means more pools.
CONNECTIONS_PER_SHARD = 8


class NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing, for the SDK's own clients.

    GatePay sets no cookies, and httpx reads every response's cookies through ``urllib``
    request objects, at about half the CPU of building the ``httpx.Request`` itself.
    Installed with ``client._cookies = NoCookies()`` (httpx's ``cookies`` setter copies
    into a plain jar).
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def shard_limits(limits: httpx.Limits) -> tuple[int, httpx.Limits]:
    """How many pools, and the limits of each, to hold ``limits`` connections in all."""
    total = limits.max_connections or 256
    shards = max(1, -(-total // CONNECTIONS_PER_SHARD))
    per_shard = -(-total // shards)
    keepalive = limits.max_keepalive_connections
    return shards, httpx.Limits(
        max_connections=per_shard,
        max_keepalive_connections=per_shard if keepalive is None else -(-keepalive // shards),
        keepalive_expiry=limits.keepalive_expiry,
    )


class _Shards:
    """In-flight counts per pool; the least busy pool takes the next request."""

    def __init__(self, count: int) -> None:
        self.in_flight = [0] * count
        self.lock = threading.Lock()

    def acquire(self) -> int:
        with self.lock:
            in_flight = self.in_flight
            index = in_flight.index(min(in_flight))
            in_flight[index] += 1
            return index

    def release(self, index: int) -> None:
        with self.lock:
            self.in_flight[index] -= 1


class _LazyPools(Generic[P]):
    """``count`` pools made on first use, all sharing one SSL context made on first use."""

    def __init__(self, count: int, make: Callable[[ssl.SSLContext], P]) -> None:
        self._pools: list[P | None] = [None] * count
        self._make = make
        self._lock = threading.Lock()
        self.ssl_context: ssl.SSLContext | None = None

    def get(self, index: int) -> P:
        pool = self._pools[index]
        if pool is None:
            with self._lock:
                pool = self._pools[index]
                if pool is None:
                    if self.ssl_context is None:
                        self.ssl_context = httpx.create_ssl_context()
                    pool = self._pools[index] = self._make(self.ssl_context)
        return pool

    def made(self) -> list[P]:
        """The pools made so far."""
        return [pool for pool in self._pools if pool is not None]


class _AsyncReleasingStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, shards: _Shards, index: int) -> None:
        self._stream = stream
        self._shards = shards
        self._index: int | None = index

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._index is not None:
                self._shards.release(self._index)
                self._index = None


class _ReleasingStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, shards: _Shards, index: int) -> None:
        self._stream = stream
        self._shards = shards
        self._index: int | None = index

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            if self._index is not None:
                self._shards.release(self._index)
                self._index = None


class AsyncShardedTransport(httpx.AsyncBaseTransport):
    """Several ``httpx.AsyncHTTPTransport`` pools behind one transport."""

    #: Needs nothing of the client layer: the SDK may hand it signed requests directly
    #: (``_sending``).
    DIRECT_SEND_SAFE = True

    def __init__(self, limits: httpx.Limits, *, http2: bool = False) -> None:
        count, per_shard = shard_limits(limits)
        self._pools: _LazyPools[httpx.AsyncHTTPTransport] = _LazyPools(
            count,
            lambda context: httpx.AsyncHTTPTransport(verify=context, limits=per_shard, http2=http2),
        )
        self._shards = _Shards(count)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._shards.acquire()
        try:
            response = await self._pools.get(index).handle_async_request(request)
        except BaseException:
            self._shards.release(index)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _AsyncReleasingStream(response.stream, self._shards, index)
        return response

    async def aclose(self) -> None:
        for pool in self._pools.made():
            await pool.aclose()


class ShardedTransport(httpx.BaseTransport):
    """Several ``httpx.HTTPTransport`` pools behind one transport (thread-safe)."""

    DIRECT_SEND_SAFE = True  # as AsyncShardedTransport

    def __init__(self, limits: httpx.Limits, *, http2: bool = False) -> None:
        count, per_shard = shard_limits(limits)
        self._pools: _LazyPools[httpx.HTTPTransport] = _LazyPools(
            count,
            lambda context: httpx.HTTPTransport(verify=context, limits=per_shard, http2=http2),
        )
        self._shards = _Shards(count)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        index = self._shards.acquire()
        try:
            response = self._pools.get(index).handle_request(request)
        except BaseException:
            self._shards.release(index)
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _ReleasingStream(response.stream, self._shards, index)
        return response

    def close(self) -> None:
        for pool in self._pools.made():
            pool.close()
