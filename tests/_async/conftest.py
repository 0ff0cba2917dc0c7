"""The clients the client tests build: on a scripted handler, or over HTTP to the sandbox.

Plain functions rather than fixtures: tests call them several times, with options, and
from their own helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from gatepay_async import AsyncGatePay
from gatepay_async.sandbox import SandboxServer
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY
from tests.helpers import BASE_URL, CLIENT_ID, SECRET_KEY

#: What ``httpx.MockTransport`` calls with each request (``Recorder`` is one).
Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(
    handler: Handler,
    *,
    client_id: str = CLIENT_ID,
    secret_key: str = SECRET_KEY,
    base_url: str = BASE_URL,
    **options: Any,
) -> AsyncGatePay:
    """A client whose requests ``handler`` answers; ``options`` are further client arguments."""
    return AsyncGatePay(
        client_id=client_id,
        secret_key=secret_key,
        base_url=base_url,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **options,
    )


def sandbox_client(
    server: SandboxServer,
    *,
    client_id: str = SANDBOX_CLIENT_ID,
    secret_key: str = SANDBOX_SECRET_KEY,
    **options: Any,
) -> AsyncGatePay:
    """A client of the sandbox ``server`` over real HTTP, with the session's credentials."""
    return AsyncGatePay(client_id=client_id, secret_key=secret_key, base_url=server.url, **options)
