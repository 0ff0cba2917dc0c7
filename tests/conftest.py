from __future__ import annotations

from collections.abc import Iterator

import pytest

from gatepay_async.sandbox import SandboxConfig, SandboxServer


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on asyncio and on trio."""
    return str(request.param)


SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_SECRET_KEY = "sandbox-secret"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One uvicorn-served sandbox on 127.0.0.1 for the whole session."""
    config = SandboxConfig(
        client_id=SANDBOX_CLIENT_ID, secret_key=SANDBOX_SECRET_KEY, pending_seconds=0.2
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox with no faults and zeroed counters, for one test."""
    sandbox_server.sandbox.clear_faults()
    sandbox_server.sandbox.reset_counters()
    yield sandbox_server
    sandbox_server.sandbox.clear_faults()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Millisecond back-off so retry tests take no time; Retry-After is still honoured."""
    monkeypatch.setattr("gatepay_async._retry.INITIAL_BACKOFF", 0.001)


@pytest.fixture(autouse=True)
def no_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """GATEPAY_API_KEY is api_key's fallback: a developer's own key must not leak into
    tests that expect no X-GatePay-Certificate-SN header."""
    monkeypatch.delenv("GATEPAY_API_KEY", raising=False)
