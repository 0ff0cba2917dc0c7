"""SIGINT and SIGTERM on a real ``gatepay create`` process while its create is in flight,
against a sandbox process (uvicorn on 127.0.0.1) that answers only after a latency: the
first signal waits for the card and prints it (exit 130), a second abandons (exit 3)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import create_args, gatepay_command, gatepay_environ
from tests.test_cli import CLIENT_ID, SECRET_KEY, TEMPLATE_ID, _start_sandbox, _stats, _stop_sandbox
from tests.waiting import ChildOutput

LATENCY = 3.0
WAITING = "waiting for the create in flight to finish"


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[str]:
    process, url = _start_sandbox(tmp_path / "cards.db", latency=LATENCY)
    try:
        yield url
    finally:
        _stop_sandbox(process)


def _create_in_flight(url: str, *extra: str) -> subprocess.Popen[str]:
    """A ``gatepay create`` process, returned once the sandbox has received its create."""
    env = gatepay_environ(url, CLIENT_ID, SECRET_KEY)
    command = gatepay_command(
        *extra,
        *create_args("in flight", TEMPLATE_ID),
    )
    process = subprocess.Popen(  # noqa: S603 - our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_waits_for_the_create_and_prints_the_card(
    slow_sandbox: str, signum: signal.Signals
) -> None:
    process = _create_in_flight(slow_sandbox, "--json")
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert WAITING in err
    card = json.loads(out)
    assert card["key"]
    assert card["card_number"]
    assert _stats(slow_sandbox)["cards"] == 1


def test_first_signal_table_shows_the_key(slow_sandbox: str) -> None:
    process = _create_in_flight(slow_sandbox)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Gift card issued" in out
    assert "key" in out


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_abandons_the_create_exit_3(
    slow_sandbox: str, second: signal.Signals
) -> None:
    process = _create_in_flight(slow_sandbox)
    stdout, stderr = ChildOutput(process.stdout), ChildOutput(process.stderr)
    process.send_signal(signal.SIGINT)
    stderr.wait_for(WAITING, timeout=30)  # the first signal was handled
    started = time.monotonic()
    process.send_signal(second)
    process.wait(timeout=60)
    out, err = stdout.text(), stderr.text()
    assert process.returncode == 3, err
    assert time.monotonic() - started < LATENCY  # it did not wait for the answer
    assert WAITING in err
    assert "a card may exist; it was not resent" in err
    assert out == ""
    assert _stats(slow_sandbox)["attempts"]["create"] == 1  # never resent


def test_second_signal_json_error_says_a_card_may_exist(slow_sandbox: str) -> None:
    process = _create_in_flight(slow_sandbox, "--json")
    stdout, stderr = ChildOutput(process.stdout), ChildOutput(process.stderr)
    process.send_signal(signal.SIGTERM)
    stderr.wait_for(WAITING, timeout=30)  # the first signal was handled
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    _out, err = stdout.text(), stderr.text()
    assert process.returncode == 3
    error = json.loads(err.splitlines()[-1])["error"]
    assert error["card_may_exist"] is True
    assert error["exit_code"] == 3


def test_sigterm_stops_a_read_like_ctrl_c(slow_sandbox: str) -> None:
    env = gatepay_environ(slow_sandbox, CLIENT_ID, SECRET_KEY)
    command = gatepay_command("templates")
    process = subprocess.Popen(  # noqa: S603 - our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 30
    while sum(_stats(slow_sandbox)["attempts"].values()) == 0:
        assert time.monotonic() < deadline
        assert process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Interrupted." in err
