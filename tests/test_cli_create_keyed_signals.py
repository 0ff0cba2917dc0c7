"""SIGINT and SIGTERM on a real ``gatepay create --idempotency-key K --ledger URL`` process
while its create is in flight, against a sandbox process (uvicorn on 127.0.0.1) that
answers only after a latency.

A keyed create is never abandoned: its attempt runs to its end and its outcome reaches the
ledger. Every message says where the card is and how to get it, and running the command
again with the same key and ledger prints the card and sends nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatepay_async import Ledger
from gatepay_async.cli._create_guard import STOPPING_KEYED, WAITING_KEYED
from tests.conftest import create_args, gatepay_command, gatepay_environ
from tests.test_cli import (
    ADMIN_TOKEN,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    _start_sandbox,
    _stats,
    _stop_sandbox,
)
from tests.waiting import ChildOutput

LATENCY = 3.0
KEY = "order-4711"
RERUN = "run the same command with the same --idempotency-key and --ledger"


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[str]:
    process, url = _start_sandbox(tmp_path / "cards.db", latency=LATENCY)
    try:
        yield url
    finally:
        _stop_sandbox(process)


def _command(ledger: str) -> list[str]:
    return gatepay_command(
        "--json",
        *create_args("in flight", TEMPLATE_ID),
        *("--idempotency-key", KEY, "--ledger", ledger),
    )


def _keyed_create_in_flight(url: str, ledger: str) -> subprocess.Popen[str]:
    """A keyed ``gatepay create`` process, once the sandbox has received its create."""
    env = gatepay_environ(url, CLIENT_ID, SECRET_KEY)
    process = subprocess.Popen(  # noqa: S603 - our own module
        _command(ledger), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 30
    while _stats(url)["attempts"].get("create", 0) == 0:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"the create never reached the sandbox: {process.communicate()}")
        time.sleep(0.05)
    # The sandbox counts a create on arrival and answers it LATENCY later: the create is
    # now waiting for its answer.
    return process


def _rerun(url: str, ledger: str) -> tuple[int, str, str]:
    env = gatepay_environ(url, CLIENT_ID, SECRET_KEY)
    done = subprocess.run(  # noqa: S603 - our own module
        _command(ledger), capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return done.returncode, done.stdout, done.stderr


def _error(err: str) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(err.splitlines()[-1])["error"]
    return error


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_says_the_ledger_keeps_the_card_and_prints_it(
    slow_sandbox: str, tmp_path: Path, signum: signal.Signals
) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    process = _keyed_create_in_flight(slow_sandbox, ledger)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert WAITING_KEYED in err
    card = json.loads(out)
    code, again, rerun_err = _rerun(slow_sandbox, ledger)
    assert code == 0, rerun_err
    assert json.loads(again)["card_number"] == card["card_number"]
    assert json.loads(again)["key"] == card["key"]
    assert _stats(slow_sandbox)["attempts"]["create"] == 1  # the rerun sent nothing


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (signal.SIGINT, signal.SIGINT),
        (signal.SIGINT, signal.SIGTERM),
        (signal.SIGTERM, signal.SIGTERM),
    ],
    ids=["int-int", "int-term", "term-term"],
)
def test_second_signal_says_the_ledger_keeps_the_card_and_a_rerun_prints_it(
    slow_sandbox: str, tmp_path: Path, first: signal.Signals, second: signal.Signals
) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    process = _keyed_create_in_flight(slow_sandbox, ledger)
    stdout, stderr = ChildOutput(process.stdout), ChildOutput(process.stderr)
    process.send_signal(first)
    stderr.wait_for(WAITING_KEYED, timeout=30)  # the first signal was handled
    process.send_signal(second)
    process.wait(timeout=60)
    out, err = stdout.text(), stderr.text()
    assert process.returncode == 3, err
    assert out == ""
    assert WAITING_KEYED in err
    assert STOPPING_KEYED in err
    message = _error(err)["message"]
    assert "issued a card, which the ledger keeps" in message
    assert RERUN in message
    assert "merchant records" not in message  # the card is not in doubt
    with Ledger(ledger) as kept:
        assert kept.state(KEY) == "issued"
    code, again, rerun_err = _rerun(slow_sandbox, ledger)
    assert code == 0, rerun_err
    card = json.loads(again)
    assert card["card_number"]
    assert card["key"]
    stats = _stats(slow_sandbox)
    assert stats["attempts"]["create"] == 1  # the rerun sent nothing
    assert stats["cards"] == 1


def test_second_signal_on_a_lost_answer_says_to_check_records_before_release(
    slow_sandbox: str, tmp_path: Path
) -> None:
    # The sandbox issues the card and loses the answer: the outcome is unknown.
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    added = httpx.post(
        slow_sandbox + "/_sandbox/faults", json={"spec": "create:drop_after"}, headers=admin
    )
    added.raise_for_status()
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    process = _keyed_create_in_flight(slow_sandbox, ledger)
    stdout, stderr = ChildOutput(process.stdout), ChildOutput(process.stderr)
    process.send_signal(signal.SIGINT)
    stderr.wait_for(WAITING_KEYED, timeout=30)  # the first signal was handled
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    _out, err = stdout.text(), stderr.text()
    assert process.returncode == 3, err
    message = _error(err)["message"]
    assert "its outcome is unknown, a card may exist; it was not resent" in message
    assert RERUN in message
    assert "merchant records" in message
    assert "Ledger.release" in message
    code, _again, rerun_err = _rerun(slow_sandbox, ledger)
    assert code == 3, rerun_err  # in doubt: the rerun sends nothing
    assert _stats(slow_sandbox)["attempts"]["create"] == 1
