"""``gatepay create --idempotency-key KEY --ledger URL``: real command processes against the
sandbox under uvicorn; a key issues at most one card however often the command runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gatepay_async.sandbox import SandboxServer
from tests.conftest import (
    SANDBOX_CLIENT_ID,
    SANDBOX_SECRET_KEY,
    create_args,
    gatepay_command,
    gatepay_environ,
)

TEMPLATE_ID = "255267012439183360"


def _create(
    sandbox: SandboxServer, *args: str, ledger: str | None, amount: str = "3"
) -> subprocess.CompletedProcess[str]:
    env = gatepay_environ(sandbox.url, SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY)
    env.pop("GATEPAY_LEDGER", None)
    if ledger is not None:
        env["GATEPAY_LEDGER"] = ledger  # a URL stays out of the process list
    return subprocess.run(  # noqa: S603 - our own module
        gatepay_command(*create_args("Order 7", TEMPLATE_ID, amount=amount), "--json", *args),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_same_key_twice_prints_one_card_and_sends_one_create(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    first = _create(sandbox, "--idempotency-key", "order-7", ledger=ledger)
    again = _create(sandbox, "--idempotency-key", "order-7", ledger=ledger)
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    card, same = json.loads(first.stdout), json.loads(again.stdout)
    assert card["card_number"] == same["card_number"]
    assert card["key"] == same["key"]
    assert sandbox.sandbox.attempts("create") == 1


def test_the_same_key_for_another_amount_is_refused_and_nothing_is_sent(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert _create(sandbox, "--idempotency-key", "order-8", ledger=ledger).returncode == 0
    other = _create(sandbox, "--idempotency-key", "order-8", ledger=ledger, amount="4")
    assert other.returncode == 1
    error = json.loads(other.stderr)["error"]
    assert "idempotency_key" in error["message"]
    assert "amount" in error["message"]
    assert sandbox.sandbox.attempts("create") == 1


def test_a_key_without_a_ledger_is_a_usage_error_and_nothing_is_sent(
    sandbox: SandboxServer,
) -> None:
    run = _create(sandbox, "--idempotency-key", "order-9", ledger=None)
    assert run.returncode == 1
    assert "--ledger" in run.stderr
    assert sandbox.sandbox.attempts("*") == 0
