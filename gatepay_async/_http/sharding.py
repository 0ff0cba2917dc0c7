"""The bookkeeping of a sharded transport, which does no I/O: how many pools, which pool
takes the next request, and pools made on first use that share one SSL context.

Used by the async and the sync transport alike (``_http.transport``); it is thread-safe.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx

__all__ = ["CONNECTIONS_PER_SHARD", "LazyPools", "Shards", "shard_limits", "ssl_context_maker"]

P = TypeVar("P")

#: Connections one pool holds at most; more connections means more pools.
CONNECTIONS_PER_SHARD = 8


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


class Shards:
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


#: Pools a forked child inherited: their connections are its parent's (one socket written
#: by two processes mixes their requests and answers), so the child neither uses nor
#: closes them (closing a TLS connection writes to the socket). Kept referenced, so that
#: no garbage collection closes them.
_INHERITED: list[object] = []


class LazyPools(Generic[P]):
    """``count`` pools made on first use, all sharing one SSL context made on first use.

    Fork-safe: a forked child (a web server's worker forked after the app's client sent
    a request) makes pools of its own instead of sending on its parent's connections.
    """

    def __init__(
        self,
        count: int,
        make: Callable[[ssl.SSLContext], P],
        *,
        make_context: Callable[[], ssl.SSLContext] = httpx.create_ssl_context,
    ) -> None:
        self._pools: list[P | None] = [None] * count
        self._make = make
        self._make_context = make_context
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.ssl_context: ssl.SSLContext | None = None

    def _forget_inherited(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                _INHERITED.extend(pool for pool in self._pools if pool is not None)
                self._pools = [None] * len(self._pools)
                self._pid = os.getpid()

    def get(self, index: int) -> P:
        if self._pid != os.getpid():
            self._forget_inherited()
        pool = self._pools[index]
        if pool is None:
            with self._lock:
                pool = self._pools[index]
                if pool is None:
                    if self.ssl_context is None:
                        self.ssl_context = self._make_context()
                    pool = self._pools[index] = self._make(self.ssl_context)
        return pool

    def made(self) -> list[P]:
        """The pools made so far (by this process)."""
        if self._pid != os.getpid():
            self._forget_inherited()
        return [pool for pool in self._pools if pool is not None]


def ssl_context_maker(
    verify: ssl.SSLContext | str | bool, cert: Any
) -> Callable[[], ssl.SSLContext]:
    """What makes the one SSL context of a transport's pools: the caller's own context,
    or one made (on first use) from ``verify`` (a CA bundle path, or False) and ``cert``."""
    if isinstance(verify, ssl.SSLContext):
        context = verify
        return lambda: context
    if verify is True and cert is None:
        return httpx.create_ssl_context
    return lambda: httpx.create_ssl_context(verify=verify, cert=cert)
