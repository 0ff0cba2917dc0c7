"""AsyncGatePay: configuration, the HTTP client, the retry loop and envelope decoding.

This module is the source of ``gatepay_sync/_client.py``: keep it unasync-friendly.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from gatepay_async._auth import GatePayAuth
from gatepay_async._clock import ServerClock
from gatepay_async._config import ClientConfig
from gatepay_async._envelope import decode_envelope
from gatepay_async._errors import GatePayError
from gatepay_async._retry import (
    RetryPolicy,
    connection_error,
    retry_wait,
    should_retry,
    wait_after_attempt,
)
from gatepay_async._synchronization import async_sleep
from gatepay_async._transport import AsyncShardedTransport, NoCookies
from gatepay_async._version import __version__

from .resources.gift_cards import AsyncGiftCards

__all__ = ["AsyncGatePay"]

logger = logging.getLogger("gatepay")

USER_AGENT = f"gatepay-python/{__version__}"
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
# Every connection stays reusable: httpx's default of 20 keep-alive connections makes a
# client shared by 100 tasks reconnect on most requests.
DEFAULT_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)


class AsyncGatePay:
    """The GatePay client. Share one instance across tasks; close it when done.

    Arguments not given fall back to the environment (``GATEPAY_CLIENT_ID``,
    ``GATEPAY_SECRET_KEY``, ``GATEPAY_BASE_URL``). With ``on_behalf_of`` the client uses
    the institution paths and sends ``X-GatePay-On-Behalf-Of``. ``http_client`` is used as
    it is (its transport, proxies and headers kept) and is not closed by this client.
    """

    def __init__(
        self,
        client_id: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        on_behalf_of: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._config = ClientConfig.resolve(
            client_id=client_id,
            secret_key=secret_key,
            base_url=base_url,
            on_behalf_of=on_behalf_of,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._clock = ServerClock()
        self._auth = GatePayAuth(
            self._config.client_id,
            self._config.secret_key,
            api_key=self._config.api_key,
            on_behalf_of=self._config.on_behalf_of,
            clock=self._clock,
        )
        self._owns_http_client = http_client is None
        if http_client is None:
            http_client = httpx.AsyncClient(
                timeout=self._config.timeout,
                transport=AsyncShardedTransport(DEFAULT_LIMITS),
                headers={"User-Agent": USER_AGENT},
            )
            http_client._cookies = NoCookies()  # GatePay sets none; reading them costs CPU
        self._http_client = http_client
        self.gift_cards = AsyncGiftCards(self)

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    @property
    def on_behalf_of(self) -> str | None:
        return self._config.on_behalf_of

    @property
    def clock(self) -> ServerClock:
        """The server-aligned clock this client signs with."""
        return self._clock

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(client_id={self._config.client_id!r}, "
            f"base_url={self._config.base_url!r}, on_behalf_of={self._config.on_behalf_of!r})"
        )

    async def __aenter__(self) -> AsyncGatePay:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was the caller's."""
        if self._owns_http_client:
            await self._http_client.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        policy: RetryPolicy,
        content: bytes = b"",
        params: dict[str, str] | None = None,
    ) -> Any:
        """Send one signed request (retried per ``policy``) and return the envelope's data."""
        request = self._http_client.build_request(
            method,
            self._config.base_url + path,
            content=content,
            params=params,
            headers=_JSON_HEADERS,
            timeout=self._config.timeout,
        )
        # The first attempt goes out directly: most calls succeed, and building the
        # retry machinery costs more than the rest of the SDK's work on a call.
        try:
            return await self._send_once(request, path, attempt=1)
        except GatePayError as exc:
            if self._config.max_retries == 0 or not should_retry(policy, exc):
                raise
            first_wait = retry_wait(exc, attempt=1)
        await async_sleep(first_wait)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._config.max_retries),
            wait=wait_after_attempt(first_attempt=2),
            retry=retry_if_exception(lambda exc: should_retry(policy, exc)),
            sleep=async_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(
                    request, path, attempt=attempt.retry_state.attempt_number + 1
                )
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _send_once(self, request: httpx.Request, path: str, *, attempt: int) -> Any:
        method = request.method
        started = time.perf_counter()
        try:
            response = await self._http_client.send(request, auth=self._auth)
        except httpx.TransportError as exc:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s failed: %s (attempt %d, %.1f ms)",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    (time.perf_counter() - started) * 1000,
                )
            raise connection_error(exc, method=method, path=path) from exc
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (attempt %d, %.1f ms)",
                method,
                path,
                response.status_code,
                attempt,
                (time.perf_counter() - started) * 1000,
            )
        return decode_envelope(response, method=method, path=path)
