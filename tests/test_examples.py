"""Every script in examples/ runs as its docstring says: ``python examples/NAME.py`` in a
process of its own, with the three GATEPAY_* variables the sandbox prints, against the
sandbox served by uvicorn on 127.0.0.1, in an empty directory (they write their journal
and ledger there). Each test checks what the example printed and what the sandbox saw."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gatepay_async.sandbox import SandboxServer
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY, gatepay_variables

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = sorted(path.name for path in EXAMPLES.glob("*.py"))


def run_example(
    name: str, sandbox: SandboxServer, cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own example, this interpreter
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=example_environment(sandbox),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def example_environment(sandbox: SandboxServer) -> dict[str, str]:
    env = {
        **os.environ,
        **gatepay_variables(sandbox.url, SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY),
    }
    for name in ("GATEPAY_API_KEY", "GATEPAY_LEDGER", "GATEPAY_JOURNAL", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    return env


def test_every_example_has_a_test() -> None:
    tested = {
        "bulk_campaign.py",
        "idempotent_create.py",
        "sync_script.py",
        "test_gift_card_rules.py",
        "web_service.py",
    }
    assert set(NAMES) == tested


def test_the_sync_script_issues_a_card_and_waits_for_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    ran = run_example("sync_script.py", sandbox, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].endswith("templates; using 255267012439183360")
    number = lines[1].split()[1]
    assert lines[1] == f"issued {number} PENDING_PAYMENT"
    assert lines[2] == f"ready {number} NOT_REDEEMED"
    assert lines[3] == "balance 5 USDT"
    assert sandbox.sandbox.attempts("create") == 1


def test_the_idempotent_create_sends_one_create_for_two_calls(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    first = run_example("idempotent_create.py", sandbox, tmp_path, "7001")
    assert first.returncode == 0, first.stdout + first.stderr
    number = first.stdout.splitlines()[0].removeprefix("order 7001: card ")
    assert number.isdigit()
    assert f"order 7001 again: card {number} (the same card: True)" in first.stdout
    assert (tmp_path / "gift-card-ledger.db").exists()
    # Another process, the same ledger and key: the stored card, nothing sent.
    again = run_example("idempotent_create.py", sandbox, tmp_path, "7001")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"order 7001: card {number}" in again.stdout
    assert sandbox.sandbox.attempts("create") == 1


def test_the_bulk_campaign_resumes_from_its_journal(sandbox: SandboxServer, tmp_path: Path) -> None:
    first = run_example("bulk_campaign.py", sandbox, tmp_path, "12")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.strip() == "12 rows: issued 12; 0 from the journal, 12 sent"
    assert (tmp_path / "winter.jsonl").exists()
    again = run_example("bulk_campaign.py", sandbox, tmp_path, "15")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip() == "15 rows: issued 15; 12 from the journal, 3 sent"
    assert sandbox.sandbox.attempts("create") == 15


def test_the_pytest_example_passes(sandbox: SandboxServer, tmp_path: Path) -> None:
    ran = run_example("test_gift_card_rules.py", sandbox, tmp_path, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "7 passed" in ran.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_web_service_issues_one_card_per_order(sandbox: SandboxServer, tmp_path: Path) -> None:
    port = _free_port()
    service = subprocess.Popen(  # noqa: S603 - our own example, this interpreter
        [sys.executable, str(EXAMPLES / "web_service.py")],
        cwd=tmp_path,
        env={**example_environment(sandbox), "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                templates = httpx.get(f"{url}/templates", timeout=5)
                break
            except httpx.TransportError:
                assert service.poll() is None, service.communicate()[0]
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
        assert templates.status_code == 200
        assert "255267012439183360" in templates.json()
        order = {"amount": "25"}
        first = httpx.post(f"{url}/orders/1001/gift-card", json=order, timeout=30)
        again = httpx.post(f"{url}/orders/1001/gift-card", json=order, timeout=30)
        other = httpx.post(f"{url}/orders/1001/gift-card", json={"amount": "30"}, timeout=30)
        bad = httpx.post(f"{url}/orders/1002/gift-card", json={"amount": "-1"}, timeout=30)
    finally:
        service.send_signal(signal.SIGINT)
        output = service.communicate(timeout=60)[0]
    assert first.status_code == 200, first.text
    assert first.json()["card_number"].isdigit()
    assert again.json() == first.json()  # the same card: the ledger answered
    assert other.status_code == 422  # the key reused for another amount
    assert "amount" in other.json()["detail"]
    assert bad.status_code == 422
    assert sandbox.sandbox.attempts("create") == 1
    assert service.returncode == 0, output
    assert "gatepay client closed" in output  # the lifespan closed the client


@pytest.mark.parametrize("name", NAMES)
def test_each_example_says_how_to_run_it(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert f"examples/{name}" in text.split('"""', 2)[1]
