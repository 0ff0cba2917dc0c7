"""Idempotency keys across real processes, against the sandbox served by uvicorn.

Two processes call ``create`` with one key at the same moment: one create request
reaches the sandbox. A process killed (SIGKILL) while its create is in flight leaves
the key in doubt: the next call with it raises OutcomeUnknownError and sends nothing.
A client opened before a fork works in the forked children. Each on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gatepay_async.sandbox import SandboxServer, parse_fault
from gatepay_sync import GatePay, Ledger, OutcomeUnknownError
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY

TEMPLATE_ID = "255267012439183360"
KEY = "order-8812"

#: One process: open the client (and its ledger), say "ready", wait for the go on stdin,
#: create with the key, print what came of it as one JSON line.
CHILD = """
import json, os, sys
from gatepay_sync import GatePay, OutcomeUnknownError
env = os.environ
with GatePay(
    client_id=env["TEST_CLIENT_ID"], secret_key=env["TEST_SECRET_KEY"],
    base_url=env["TEST_BASE_URL"], ledger=env["TEST_LEDGER"], timeout=60.0,
) as gp:
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        card = gp.gift_cards.create(
            title="Order 8812", template_id=env["TEST_TEMPLATE_ID"], currency="USDT",
            amount="5", idempotency_key=env["TEST_KEY"],
        )
    except OutcomeUnknownError as exc:
        print(json.dumps({"unknown": str(exc)}), flush=True)
    else:
        print(json.dumps({"card": card.card_number, "has_key": bool(card.key)}), flush=True)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


def start_child(sandbox: SandboxServer, ledger_url: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TEST_CLIENT_ID": SANDBOX_CLIENT_ID,
        "TEST_SECRET_KEY": SANDBOX_SECRET_KEY,
        "TEST_BASE_URL": sandbox.url,
        "TEST_LEDGER": ledger_url,
        "TEST_TEMPLATE_ID": TEMPLATE_ID,
        "TEST_KEY": KEY,
    }
    child = subprocess.Popen(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def release(*children: subprocess.Popen[str]) -> None:
    """The barrier: every child is ready (its client and ledger open); let them all go."""
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
    for child in children:
        assert child.stdin is not None
        child.stdin.flush()


def result_of(child: subprocess.Popen[str]) -> dict[str, object]:
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0, out
    parsed: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return parsed


@pytest.mark.parametrize("latency", [0.0, 0.5], ids=["fast", "slow-answer"])
def test_two_processes_one_key_send_one_request(
    sandbox: SandboxServer, ledger_url: str, latency: float
) -> None:
    if latency:  # the first create is still in flight when the second claims the key
        sandbox.sandbox.inject(parse_fault(f"create:latency={latency}"))
    children = [start_child(sandbox, ledger_url) for _ in range(2)]
    release(*children)
    results = [result_of(child) for child in children]
    assert sandbox.sandbox.attempts("create") == 1
    cards = [r["card"] for r in results if "card" in r]
    unknown = [r["unknown"] for r in results if "unknown" in r]
    assert len(cards) >= 1
    assert len(set(cards)) == 1  # the one card, to whichever got it
    assert len(cards) + len(unknown) == 2
    for text in unknown:
        assert "in flight elsewhere" in str(text)
    with GatePay(
        client_id=SANDBOX_CLIENT_ID,
        secret_key=SANDBOX_SECRET_KEY,
        base_url=sandbox.url,
        ledger=ledger_url,
    ) as gp:
        card = gp.gift_cards.create(
            title="Order 8812",
            template_id=TEMPLATE_ID,
            currency="USDT",
            amount="5",
            idempotency_key=KEY,
        )
    assert card.card_number == cards[0]
    assert sandbox.sandbox.attempts("create") == 1


def test_a_process_killed_mid_create_leaves_the_key_in_doubt(
    sandbox: SandboxServer, ledger_url: str
) -> None:
    sandbox.sandbox.inject(parse_fault("create:latency=3,times=1"))
    child = start_child(sandbox, ledger_url)
    release(child)
    with Ledger(ledger_url) as ledger:
        deadline = time.monotonic() + 30
        while sandbox.sandbox.attempts("create") < 1 or ledger.state(KEY) != "intent":
            assert time.monotonic() < deadline, "the create never reached the sandbox"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        assert ledger.state(KEY) == "intent"
        with (
            GatePay(
                client_id=SANDBOX_CLIENT_ID,
                secret_key=SANDBOX_SECRET_KEY,
                base_url=sandbox.url,
                ledger=ledger,
            ) as gp,
            pytest.raises(OutcomeUnknownError, match="in flight elsewhere"),
        ):
            gp.gift_cards.create(
                title="Order 8812",
                template_id=TEMPLATE_ID,
                currency="USDT",
                amount="5",
                idempotency_key=KEY,
            )
        assert ledger.state(KEY) == "intent"
    assert child.returncode == -signal.SIGKILL
    assert sandbox.sandbox.attempts("create") == 1


def _create_in_child(gp: GatePay, keys: list[str], out: int) -> None:
    """In a forked child: create with each key, write the results to ``out``, exit."""
    results: list[str] = []
    try:
        signal.alarm(20)  # a child that hangs dies (and the test fails), never the run
        for key in keys:
            try:
                card = gp.gift_cards.create(
                    title="Order 8812",
                    template_id=TEMPLATE_ID,
                    currency="USDT",
                    amount="5",
                    idempotency_key=key,
                )
                results.append(card.card_number)
            except OutcomeUnknownError:
                results.append("unknown")
        os.write(out, json.dumps(results).encode())
    finally:
        os._exit(0)


@pytest.mark.parametrize("used", ["ledger", "ledger-and-http"])
def test_a_client_opened_before_a_fork_works_in_the_children(
    sandbox: SandboxServer, ledger_url: str, used: str
) -> None:
    # A web server that imports the app (and opens its client, and so its ledger) before
    # forking its workers (gunicorn --preload): each worker must use the ledger as its
    # own, not the parent's SQLite connection or PostgreSQL sockets and pool threads.
    keys = ["order-1", "order-2", "order-3"]
    with GatePay(
        client_id=SANDBOX_CLIENT_ID,
        secret_key=SANDBOX_SECRET_KEY,
        base_url=sandbox.url,
        ledger=ledger_url,
        timeout=30.0,
    ) as gp:
        ledger = gp._ledger
        assert ledger is not None
        assert ledger.state("order-1") is None  # the parent has used its connection
        before = None
        if used == "ledger-and-http":  # and an HTTP connection, kept alive in its pool
            before = gp.gift_cards.create(
                title="Order 8812",
                template_id=TEMPLATE_ID,
                currency="USDT",
                amount="5",
                idempotency_key="before-the-fork",
            )
        children: list[tuple[int, int]] = []
        for _ in range(5):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _create_in_child(gp, keys, write_end)
            os.close(write_end)
            children.append((pid, read_end))
        results: list[list[str]] = []
        for pid, read_end in children:
            _, status = os.waitpid(pid, 0)
            with os.fdopen(read_end, "rb") as pipe:
                written = pipe.read()
            assert os.waitstatus_to_exitcode(status) == 0
            results.append(json.loads(written or b"null"))
        assert None not in results, results
        # The parent's own connection still works, and the ledger holds each card once.
        stored = [
            gp.gift_cards.create(
                title="Order 8812",
                template_id=TEMPLATE_ID,
                currency="USDT",
                amount="5",
                idempotency_key=key,
            ).card_number
            for key in keys
        ]
        if before is not None:
            again = gp.gift_cards.create(
                title="Order 8812",
                template_id=TEMPLATE_ID,
                currency="USDT",
                amount="5",
                idempotency_key="before-the-fork",
            )
            assert again == before
    assert sandbox.sandbox.attempts("create") == len(keys) + (before is not None)
    for result in results:
        for got, card in zip(result, stored, strict=True):
            assert got in (card, "unknown")
