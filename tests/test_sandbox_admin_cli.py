"""``gatepay sandbox-admin`` against a sandbox over real HTTP, and the token it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest
from click.testing import CliRunner, Result

from gatepay_async.cli._app import cli
from gatepay_async.sandbox import GatePaySandbox
from gatepay_async.sandbox._fixture import fixture_config
from gatepay_sync import GiftCardStatus

TEMPLATE_ID = "255267012439183360"


@pytest.fixture(scope="module")
def handle() -> Iterator[GatePaySandbox]:
    with GatePaySandbox(fixture_config()) as running:
        yield running


def admin(handle: GatePaySandbox, *args: str, token: str | None = None) -> Result:
    env = {
        "GATEPAY_SANDBOX_URL": handle.base_url,
        "GATEPAY_SANDBOX_ADMIN_TOKEN": handle.admin_token if token is None else token,
    }
    return CliRunner().invoke(cli, ["sandbox-admin", *args], env=env, prog_name="gatepay")


def issue(handle: GatePaySandbox) -> str:
    card = handle.client().gift_cards.create(
        title="cli", template_id=TEMPLATE_ID, currency="USDT", amount="3"
    )
    return card.card_number


def test_redeem_gift_and_show(handle: GatePaySandbox) -> None:
    number = issue(handle)
    gifted = admin(handle, "gift", number, "--to", "515")
    assert gifted.exit_code == 0, gifted.output
    assert "owner 515, gifted 1x" in gifted.output
    redeemed = admin(handle, "--json", "redeem", number, "--uid", "515")
    assert redeemed.exit_code == 0, redeemed.output
    state = json.loads(redeemed.output)
    assert (state["status"], state["exchange_uid"], state["balance"]) == ("REDEEMED", 515, "0")
    gp = handle.client()
    card = gp.gift_cards.query(card_number=number)
    assert (card.status, card.owner, card.exchange_uid) == (GiftCardStatus.REDEEMED, 515, 515)
    assert gp.gift_cards.balance(card_number=number).amount == Decimal("0")
    shown = admin(handle, "show", number)
    assert "REDEEMED (code 3)" in shown.output
    assert "key" not in shown.output.lower()


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("freeze",), GiftCardStatus.FROZEN),
        (("expire",), GiftCardStatus.EXPIRED),
        (("cancel",), GiftCardStatus.CANCELLED),
        (("set-status", "{number}", "review_rejected"), GiftCardStatus.REVIEW_REJECTED),
        (("set-status", "{number}", "8"), GiftCardStatus.REVIEW_PAYMENT_FAILED),
    ],
)
def test_status_commands(
    handle: GatePaySandbox, args: tuple[str, ...], status: GiftCardStatus
) -> None:
    number = issue(handle)
    argv = [a.format(number=number) for a in args]
    if len(argv) == 1:
        argv.append(number)
    result = admin(handle, *argv)
    assert result.exit_code == 0, result.output
    assert handle.client().gift_cards.query(card_number=number).status is status


def test_refusals_exit_4_and_a_bad_token_exits_1(handle: GatePaySandbox) -> None:
    number = issue(handle)
    assert admin(handle, "redeem", number).exit_code == 0
    again = admin(handle, "redeem", number)
    assert again.exit_code == 4
    assert "REDEEMED" in again.output
    assert admin(handle, "show", "1234").exit_code == 4
    wrong = admin(handle, "redeem", number, token="not-the-token")
    assert wrong.exit_code == 1
    assert "refused the admin token" in wrong.output
    missing = admin(handle, "stats", token="")
    assert missing.exit_code == 1
    assert "missing admin token" in missing.output


def test_script_and_fault_commands(handle: GatePaySandbox) -> None:
    added = admin(handle, "script", "payment_failed:times=1")
    assert added.exit_code == 0, added.output
    try:
        number = issue(handle)
        assert handle.card_state(number)["status"] == "PAYMENT_FAILED"
    finally:
        assert admin(handle, "clear-scripts").exit_code == 0
    assert handle.sandbox.scripts == []
    assert admin(handle, "fault", "templates:status=503,times=1").exit_code == 0
    assert [f.spec for f in handle.sandbox.faults] == ["templates:status=503,times=1"]
    handle.clear_faults()
    assert "attempts" in admin(handle, "stats").output


def test_a_sandbox_process_prints_its_token_and_takes_scripts() -> None:
    """The real command: the printed token works, and --script shapes new cards."""
    command = [
        sys.executable, "-m", "gatepay_async.sandbox", "--port", "0",
        "--pending-seconds", "0", "--script", "frozen:times=1",
    ]  # fmt: skip
    env = {**os.environ, "GATEPAY_SANDBOX_ADMIN_TOKEN": ""}
    process = subprocess.Popen(  # noqa: S603 - our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
        url = lines[0].split(" on ", 1)[1].strip()
        token = next(line for line in lines if "admin token:" in line).split(":", 1)[1].strip()
        assert len(token) >= 32
        assert any("script:     frozen:times=1" in line for line in lines)
        result = subprocess.run(
            [sys.executable, "-m", "gatepay_async.cli", "sandbox-admin", "--json", "stats"],
            env={**os.environ, "GATEPAY_SANDBOX_URL": url, "GATEPAY_SANDBOX_ADMIN_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["cards"] == 0
        refused = subprocess.run(
            [sys.executable, "-m", "gatepay_async.cli", "sandbox-admin", "stats"],
            env={**os.environ, "GATEPAY_SANDBOX_URL": url, "GATEPAY_SANDBOX_ADMIN_TOKEN": "x"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_demo_shows_a_lifecycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    result = CliRunner().invoke(cli, ["demo", "--cards", "1"], prog_name="gatepay")
    assert result.exit_code == 0, result.output
    lifecycle = result.output.split("Lifecycle:", 1)[1]
    rows = {line.split()[0]: line.split() for line in lifecycle.splitlines()[3:7]}
    assert rows["redeemed"][2:] == ["REDEEMED", "-", "0", "20001", "0", "USDT"]
    assert rows["gifted"][3:] == ["NOT_REDEEMED", "424242", "1", "-", "10", "USDT"]
    assert rows["frozen"][2] == "FROZEN"
    assert rows["none"][2] == "NOT_REDEEMED"
