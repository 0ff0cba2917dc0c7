"""The HTTP clients the transport-sensitive tests run on, by name.

``None`` is the SDK's default client. The async tests also run on the fast asyncio
transport (``DefaultAioHttpClient``, asyncio only); the sync facade has the default only.
Generated sync tests use ``HTTP_CLIENTS`` where the async ones use ``ASYNC_HTTP_CLIENTS``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from gatepay_async import DefaultAioHttpClient


def _default() -> None:
    return None


ASYNC_HTTP_CLIENTS: dict[str, Callable[[], httpx.AsyncClient | None]] = {
    "default": _default,
    "aiohttp": DefaultAioHttpClient,
}
HTTP_CLIENTS: dict[str, Callable[[], httpx.Client | None]] = {"default": _default}
#: Names that need an asyncio event loop.
ASYNCIO_ONLY = frozenset({"aiohttp"})
