"""The sandbox over real HTTP (uvicorn on 127.0.0.1), its stores, and its command line."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gatepay_async.sandbox import (
    Fault,
    MemoryStore,
    Sandbox,
    SandboxConfig,
    SandboxDroppedConnection,
    SandboxServer,
    SqliteStore,
    _command,
    config_from_params,
    main,
    parse_fault,
    sandbox_command,
)
from gatepay_async.sandbox._cards import Card
from gatepay_async.sandbox._server import bind_socket
from gatepay_async.sandbox._verify import ReplayCache
from tests.test_sandbox_support import (
    CLIENT_ID,
    INSTITUTION,
    SECRET,
    TEMPLATE_ID,
    asgi_client,
    auth_headers,
    create_payload,
    dumps,
    post,
    response_signature_ok,
    success_data,
)

# The four gift-card paths of each path set, and the extra headers it needs.
PATH_SETS: dict[str, dict[str, Any]] = {
    "merchant": {
        "create": "/v1/pay/gift/create",
        "query": "/v1/pay/gift/query",
        "templates": "/v1/pay/gift/temp/list",
        "balance": "/v1/pay/balance",
        "headers": {},
    },
    "institution": {
        "create": INSTITUTION + "/v1/pay/gift/create",
        "query": INSTITUTION + "/v1/pay/gift/query",
        "templates": INSTITUTION + "/v1/pay/gift/temp/list",
        "balance": INSTITUTION + "/v1/pay/balance",
        "headers": {"on_behalf_of": "20001"},
    },
    "legacy": {
        "create": "/v1/pay/giftcard/create",
        "query": "/v1/pay/giftcard/query",
        "templates": "/v1/pay/giftcard/template/list",
        "balance": "/v1/pay/balance/query",
        "headers": {},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(pending_seconds=0)) as running:
        yield running


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[Sandbox]:
    server.sandbox.clear_faults()
    server.sandbox.reset_counters()
    yield server.sandbox
    server.sandbox.clear_faults()
    server.sandbox.reset_counters()


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    admin = {"Authorization": f"Bearer {server.sandbox.admin_token}"}
    with httpx.Client(base_url=server.url, timeout=10, headers=admin) as http:
        yield http


def _post(client: httpx.Client, path: str, payload: Any, **options: Any) -> httpx.Response:
    body = dumps(payload)
    return client.post(path, content=body, headers=auth_headers(body, **options))


def _get(
    client: httpx.Client, path: str, params: dict[str, str] | None = None, **options: Any
) -> httpx.Response:
    return client.get(path, params=params, headers=auth_headers(b"", content_type=None, **options))


# -- real HTTP ------------------------------------------------------------------------


def test_server_listens_on_loopback(server: SandboxServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port is not None
    assert server.port > 0


def test_the_bound_socket_accepts_connections_before_any_server_runs() -> None:
    # The sandbox command prints its URL between binding and starting uvicorn: a client
    # that reads the URL and connects at once must be queued, not refused.
    sock = bind_socket()
    try:
        with socket.create_connection(sock.getsockname()[:2], timeout=5):
            pass
    finally:
        sock.close()


def test_the_sandbox_command_accepts_connections_once_it_prints_its_url(tmp_path: Path) -> None:
    # A script that starts `gatepay sandbox` and connects as soon as the URL appears.
    # Stopping the process right after the first line keeps uvicorn from getting any
    # further: only a socket already listening can take the connection.
    process = subprocess.Popen(
        [sys.executable, "-m", "gatepay_async.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        os.kill(process.pid, signal.SIGSTOP)
        host, port = first.split("http://", 1)[1].strip().rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("path_set", sorted(PATH_SETS))
def test_round_trip_over_http(client: httpx.Client, sandbox: Sandbox, path_set: str) -> None:
    paths = PATH_SETS[path_set]
    options: dict[str, Any] = paths["headers"]
    before = sandbox.store.count()

    templates = success_data(_get(client, paths["templates"], **options))
    ids = {t.get("card_temp_id", t.get("templateId")) for t in templates}
    assert TEMPLATE_ID in ids

    created = _post(client, paths["create"], create_payload(title=path_set), **options)
    assert response_signature_ok(created)
    assert "date" in created.headers
    assert "server" not in created.headers
    card = success_data(created)
    number = card.get("card_num", card.get("cardNumber"))
    key = card.get("card_key", card.get("key"))
    assert number
    assert key

    if path_set == "legacy":
        queried = success_data(_get(client, paths["query"], {"key": key}, **options))
        assert queried["cardNumber"] == number
    else:
        queried = success_data(_post(client, paths["query"], {"card_number": number}, **options))
        assert queried["key"] == key
    balance = success_data(_get(client, paths["balance"], {"cardNumber": number}, **options))
    assert balance == {"cardNumber": number, "currency": "USDT", "amount": "0.99", "status": 2}
    assert sandbox.store.count() == before + 1
    assert sandbox.attempts("create") == 1


def test_rejections_over_http(client: httpx.Client, sandbox: Sandbox) -> None:
    bad_signature = _post(client, "/v1/pay/gift/create", create_payload(), secret="nope")
    assert bad_signature.status_code == 401
    assert bad_signature.json()["code"] == "400002"
    bad_type = _post(client, "/v1/pay/gift/create", create_payload(), content_type="text/plain")
    assert bad_type.status_code == 400
    assert bad_type.json()["code"] == "400007"
    assert sandbox.attempts("create") == 2


@pytest.mark.parametrize(("kind", "issued"), [("drop_before", 0), ("drop_after", 1)])
def test_drop_faults_close_the_connection_mid_response(
    client: httpx.Client, sandbox: Sandbox, kind: str, issued: int
) -> None:
    before = sandbox.store.count()
    sandbox.inject(Fault(kind=kind, operation="create", times=1))
    # Usually the peer's close arrives as a truncated body; under load it can be a reset.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)) as info:
        _post(client, "/v1/pay/gift/create", create_payload())
    assert not isinstance(info.value, SandboxDroppedConnection)  # a real transport error
    assert sandbox.store.count() == before + issued
    success_data(_post(client, "/v1/pay/gift/create", create_payload()))  # server still fine


def test_dropped_connections_are_not_logged_as_errors(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        sandbox.inject(Fault(kind="drop_after", operation="create", times=1))
        with pytest.raises(httpx.RemoteProtocolError):
            _post(client, "/v1/pay/gift/create", create_payload())
        success_data(_post(client, "/v1/pay/gift/create", create_payload()))
    finally:
        logger.removeHandler(handler)
    assert [r for r in records if r.levelno >= logging.ERROR] == []


def test_status_fault_over_http_carries_retry_after(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.inject(parse_fault("templates:status=429,retry_after=3,times=1"))
    limited = _get(client, "/v1/pay/gift/temp/list")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert limited.json()["code"] == "429000"


def test_admin_endpoints_over_http(client: httpx.Client, sandbox: Sandbox) -> None:
    added = client.post("/_sandbox/faults", json={"spec": "query:html_error,times=1"})
    assert added.json() == {"faults": ["query:html_error,times=1"]}
    html = _post(client, "/v1/pay/gift/query", {"key": "x"})
    assert html.status_code == 502
    stats = client.get("/_sandbox/stats").json()
    assert stats["attempts"]["query"] == 1
    assert stats["faults"] == []
    assert client.delete("/_sandbox/faults").json() == {"faults": []}


def test_concurrent_requests_over_http(server: SandboxServer, sandbox: Sandbox) -> None:
    before = sandbox.store.count()
    total, concurrency = 400, 40
    statuses: list[int] = []

    async def run() -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
            gate = anyio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with gate:
                    body = dumps(create_payload(title=f"bulk {i}"))
                    response = await http.post(
                        "/v1/pay/gift/create", content=body, headers=auth_headers(body)
                    )
                    statuses.append(response.status_code)

            async with anyio.create_task_group() as group:
                for i in range(total):
                    group.start_soon(one, i)

    anyio.run(run)
    assert statuses == [200] * total
    assert sandbox.store.count() == before + total
    assert len(set(sandbox.nonces_seen)) == len(sandbox.nonces_seen) == total
    assert sandbox.attempts("create") == total


def _answers_as(port: int, *, client_id: str, secret: str) -> bool:
    """Whether a sandbox with these credentials answers on ``port``. Tests in other
    processes may take a port as soon as it is free, so "nothing listens" is not
    required: only that this sandbox no longer answers there."""
    body = dumps(create_payload())
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/pay/gift/create",
            content=body,
            headers=auth_headers(body, client_id=client_id, secret=secret),
        )
    except httpx.ConnectError:
        return False
    return response.status_code == 200 and response_signature_ok(response, secret=secret)


def test_start_stop_and_a_given_sandbox_and_port() -> None:
    own = Sandbox(SandboxConfig(client_id="c2", secret_key="s2"))
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = SandboxServer(own, port=port)
    with pytest.raises(RuntimeError):
        _ = server.url
    server.start()
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        assert server.sandbox is own
        body = dumps(create_payload())
        response = httpx.post(
            server.url + "/v1/pay/gift/create",
            content=body,
            headers=auth_headers(body, client_id="c2", secret="s2"),
        )
        success_data(response)
        assert response_signature_ok(response, secret="s2")
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url
    assert not _answers_as(port, client_id="c2", secret="s2")  # stopped: the port is let go
    assert own.store.count() == 1  # a sandbox it was given is left open


# -- stores ---------------------------------------------------------------------------


def _card(number: str, key: str, title: str = "t", scope: str = "") -> Card:
    return Card(number, key, title, TEMPLATE_ID, "USDT", "1", 1, "n", 1, scope, 1)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_interface(kind: str, tmp_path: Path) -> None:
    store = MemoryStore() if kind == "memory" else SqliteStore(str(tmp_path / "cards.db"))
    try:
        assert store.count() == 0
        assert store.add(_card("1000000000000001", "k1", "first", scope="sub"))
        assert store.add(_card("1000000000000002", "k2", "second"))
        assert not store.add(_card("1000000000000001", "k3"))  # number taken
        assert not store.add(_card("1000000000000003", "k1"))  # key taken
        assert store.count() == 2
        assert store.all_titles() == ["first", "second"]
        assert store.get_by_number("1000000000000001") == _card(
            "1000000000000001", "k1", "first", scope="sub"
        )
        found = store.get_by_key("k2")
        assert found is not None
        assert found.card_num == "1000000000000002"
        assert store.get_by_number("nope") is None
        assert store.get_by_key("nope") is None
    finally:
        store.close()


@pytest.mark.anyio
async def test_sqlite_cards_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    config = SandboxConfig(db_path=db, pending_seconds=0)
    with Sandbox(config) as first:
        async with asgi_client(first) as client:
            cards = [
                success_data(await post(client, "/v1/pay/gift/create", create_payload(title=t)))
                for t in ("one", "two", "three")
            ]
            institution_card = success_data(
                await post(
                    client,
                    INSTITUTION + "/v1/pay/gift/create",
                    create_payload(title="four"),
                    on_behalf_of="sub-9",
                )
            )
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    with Sandbox(config) as second:
        assert second.store.count() == 4
        assert second.store.all_titles() == ["one", "two", "three", "four"]
        async with asgi_client(second) as client:
            for card in cards:
                found = success_data(
                    await post(client, "/v1/pay/gift/query", {"key": card["card_key"]})
                )
                assert found["card_num"] == card["card_num"]
                assert found["amount"] == "0.99"
                assert found["create_time"] == card["create_time"]
            scoped = success_data(
                await post(
                    client,
                    INSTITUTION + "/v1/pay/gift/query",
                    {"card_number": institution_card["card_num"]},
                    on_behalf_of="sub-9",
                )
            )
            assert scoped["title"] == "four"
            hidden = await post(
                client, "/v1/pay/gift/query", {"card_number": institution_card["card_num"]}
            )
            assert hidden.json()["errorMessage"] == "gift card not found"


def test_memory_store_is_not_shared_between_sandboxes() -> None:
    first, second = Sandbox(), Sandbox()
    assert first.store.add(_card("1000000000000001", "k1"))
    assert second.store.count() == 0


# -- replay cache ---------------------------------------------------------------------


def test_replay_cache_forgets_nonces_after_the_window() -> None:
    clock = [1000.0]
    cache = ReplayCache(window_seconds=10, clock=lambda: clock[0])
    cache.add("a")
    clock[0] += 20
    assert "a" in cache
    clock[0] += 2  # past 2 * window + 1
    assert "a" not in cache
    cache.add("b")
    assert len(cache) == 1  # "a" was dropped, memory stays bounded


def test_replay_cache_has_a_hard_size_limit() -> None:
    cache = ReplayCache(window_seconds=10, max_entries=3)
    for nonce in ("a", "b", "c", "d", "e"):
        cache.add(nonce)
    assert len(cache) <= 3
    assert "e" in cache
    assert "a" not in cache


# -- command line ---------------------------------------------------------------------


def parse(argv: list[str]) -> dict[str, Any]:
    """The sandbox command's parameters for ``argv`` (nothing is served)."""
    return dict(sandbox_command.make_context("sandbox", argv).params)


def test_command_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEPAY_SANDBOX_CLIENT_ID", raising=False)
    monkeypatch.delenv("GATEPAY_SANDBOX_SECRET_KEY", raising=False)
    params = parse([])
    assert (params["host"], params["port"], params["db"]) == ("127.0.0.1", 8765, None)
    assert config_from_params(params) == SandboxConfig()


def test_command_reads_every_option(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    params = parse(
        [
            "--host", "127.0.0.1", "--port", "0", "--db", db,
            "--client-id", "cid", "--secret-key", "sk",
            "--pending-seconds", "2.5", "--latency", "0.1", "--clock-offset", "-30",
            "--fault", "create:status=503,times=2", "--fault", "*:latency=0.05",
        ]
    )  # fmt: skip
    assert params["port"] == 0
    config = config_from_params(params)
    assert config == SandboxConfig(
        client_id="cid",
        secret_key="sk",
        pending_seconds=2.5,
        latency=0.1,
        clock_offset=-30,
        db_path=db,
        faults=(
            Fault(kind="status", operation="create", status=503, times=2),
            Fault(kind="latency", latency=0.05),
        ),
    )


def test_command_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPAY_SANDBOX_CLIENT_ID", "env-id")
    monkeypatch.setenv("GATEPAY_SANDBOX_SECRET_KEY", "env-secret")
    config = config_from_params(parse([]))
    assert (config.client_id, config.secret_key) == ("env-id", "env-secret")
    explicit = config_from_params(parse(["--client-id", "flag-id"]))
    assert explicit.client_id == "flag-id"


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--fault", "create:explode"], "unknown kind"),
        (["--fault", "create"], "OPERATION:KIND"),
        (["--port", "70000"], "0<=x<=65535"),
        (["--port", "http"], "not a valid integer"),
        (["--latency", "-1"], ">= 0"),
        (["--pending-seconds", "soon"], "number of seconds"),
        (["--clock-offset", "nan"], "finite"),
    ],
)
def test_command_rejects_bad_options(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert complaint in capsys.readouterr().err


def test_help_lists_the_fault_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: python -m gatepay_async.sandbox [OPTIONS]")
    for kind in ("status", "drop_before", "drop_after", "malformed_json", "clock_offset"):
        assert kind in out
    assert "OPERATION:KIND" in out


def test_main_prints_url_and_credentials_then_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[tuple[Sandbox, int]] = []

    class FakeServer:
        def __init__(self, sandbox: Sandbox) -> None:
            self.sandbox = sandbox

        def run(self, sockets: list[socket.socket]) -> None:
            (sock,) = sockets
            served.append((self.sandbox, sock.getsockname()[1]))

    monkeypatch.setattr(_command, "uvicorn_server", lambda sandbox, log_level: FakeServer(sandbox))
    code = main(
        ["--port", "0", "--client-id", "cli-id", "--secret-key", "cli-secret",
         "--fault", "create:drop_after,times=1"]
    )  # fmt: skip
    assert code == 0
    ((sandbox, port),) = served
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{port}" in out
    assert "cli-id" in out
    assert "cli-secret" in out
    assert "create:drop_after,times=1" in out
    assert (
        f"export GATEPAY_BASE_URL=http://127.0.0.1:{port} GATEPAY_CLIENT_ID=cli-id"
        " GATEPAY_SECRET_KEY=cli-secret" in out
    )
    assert "Ctrl-C" in out
    assert sandbox.config.client_id == "cli-id"
    assert [f.kind for f in sandbox.faults] == ["drop_after"]


def test_main_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        code = main(["--port", str(busy.getsockname()[1])])
    finally:
        busy.close()
    assert code == 1
    assert "cannot listen" in capsys.readouterr().err


def test_credentials_constants_match_the_defaults() -> None:
    config = SandboxConfig()
    assert (config.client_id, config.secret_key) == (CLIENT_ID, SECRET)
