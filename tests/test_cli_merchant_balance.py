"""``gatepay balance`` without a lookup shows the merchant's funds per currency."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from gatepay_async.cli._app import cli
from gatepay_async.sandbox import SandboxConfig, SandboxServer

BALANCES = (("USDT", "12.50"), ("BTC", "0.001"), ("GT", "7"))


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    config = SandboxConfig(client_id="cli-balance", secret_key="cli-secret", balances=BALANCES)
    with SandboxServer(config) as running:
        yield running


@pytest.fixture(autouse=True)
def env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPAY_CLIENT_ID", "cli-balance")
    monkeypatch.setenv("GATEPAY_SECRET_KEY", "cli-secret")
    monkeypatch.setenv("GATEPAY_BASE_URL", server.url)


def test_balance_without_a_lookup_is_the_merchant_balance_as_json() -> None:
    result = CliRunner().invoke(cli, ["balance", "--json"], prog_name="gatepay")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"balances": dict(BALANCES), "extra": {}}


def test_balance_without_a_lookup_prints_every_currency() -> None:
    result = CliRunner().invoke(cli, ["balance"], prog_name="gatepay")
    assert result.exit_code == 0, result.output
    for currency, amount in BALANCES:
        line = next(line for line in result.output.splitlines() if currency in line)
        assert amount in line
