from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from gatepay_async.sandbox import SandboxConfig, SandboxServer
from tests.postgres_server import PostgresServer


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on asyncio and on trio."""
    return str(request.param)


SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_SECRET_KEY = "sandbox-secret"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One uvicorn-served sandbox on 127.0.0.1 for the whole session."""
    yield from serve_sandbox(SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY, pending_seconds=0.2)


def serve_sandbox(
    client_id: str, secret_key: str, *, pending_seconds: float
) -> Iterator[SandboxServer]:
    """A uvicorn-served sandbox on 127.0.0.1 with these credentials, for a fixture to
    ``yield from``."""
    config = SandboxConfig(
        client_id=client_id, secret_key=secret_key, pending_seconds=pending_seconds
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server on 127.0.0.1 for the session (see postgres_server.py)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty PostgreSQL database for one test."""
    return postgres_server.new_database()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Millisecond back-off so retry tests take no time; Retry-After is still honoured."""
    monkeypatch.setattr("gatepay_async._http.retry.INITIAL_BACKOFF", 0.001)


@pytest.fixture(autouse=True)
def no_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """GATEPAY_API_KEY is api_key's fallback: a developer's own key must not leak into
    tests that expect no X-GatePay-Certificate-SN header."""
    monkeypatch.delenv("GATEPAY_API_KEY", raising=False)


def gatepay_variables(base_url: str, client_id: str, secret_key: str) -> dict[str, str]:
    """The GATEPAY_* variables that point the ``gatepay`` command at ``base_url``."""
    return {
        "GATEPAY_CLIENT_ID": client_id,
        "GATEPAY_SECRET_KEY": secret_key,
        "GATEPAY_BASE_URL": base_url,
    }


def use_gatepay_variables(
    monkeypatch: pytest.MonkeyPatch, base_url: str, client_id: str, secret_key: str
) -> dict[str, str]:
    """Set the GATEPAY_* variables for one test (the command reads them); return them."""
    values = gatepay_variables(base_url, client_id, secret_key)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def gatepay_environ(base_url: str, client_id: str, secret_key: str) -> dict[str, str]:
    """The environment for a ``gatepay`` child process: this one's, plus those variables."""
    return {**os.environ, **gatepay_variables(base_url, client_id, secret_key)}


def gatepay_command(*args: str) -> list[str]:
    """The ``gatepay`` command line with ``args``, run by this interpreter."""
    return [sys.executable, "-m", "gatepay_async.cli", *args]


def create_args(
    title: str, template_id: str, *, currency: str = "USDT", amount: str = "1"
) -> tuple[str, ...]:
    """``gatepay create``'s command and options for one card."""
    return (
        "create",
        *("--title", title, "--template-id", template_id),
        *("--currency", currency, "--amount", amount),
    )
