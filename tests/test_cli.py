"""The ``gatepay`` command: arguments, tables and JSON against a sandbox, bulk-create, and
a SIGKILL in the middle of a bulk run against a sandbox process with a SQLite store."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from gatepay_async.cli import main
from gatepay_async.cli._app import cli
from gatepay_async.cli._csv_io import plain_cell
from gatepay_async.sandbox import SandboxServer
from tests.conftest import (
    create_args,
    gatepay_command,
    gatepay_environ,
    serve_sandbox,
    use_gatepay_variables,
)

CLIENT_ID = "cli-test-client"
SECRET_KEY = "cli-test-secret"
TEMPLATE_ID = "255267012439183360"
INPUT_HEADER = "ref,title,template_id,currency,amount"
OUTPUT_HEADER = ["ref", "state", "card_number", "key", "status", "amount", "currency", "error"]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    yield from serve_sandbox(CLIENT_ID, SECRET_KEY, pending_seconds=0.2)


@pytest.fixture
def env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return use_gatepay_variables(monkeypatch, server.url, CLIENT_ID, SECRET_KEY)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="gatepay")


def write_input(path: Path, rows: Sequence[tuple[str, ...]]) -> Path:
    lines = [INPUT_HEADER, *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_output(path: Path) -> list[dict[str, str]]:
    """The output's rows as a program reads them: the spreadsheet quote marks taken off."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == OUTPUT_HEADER
        return [{name: plain_cell(cell) for name, cell in row.items()} for row in reader]


# ------------------------------------------------------------------------ single calls


def test_templates_table_and_json(env: dict[str, str]) -> None:
    table = invoke("templates")
    assert table.exit_code == 0, table.output
    assert TEMPLATE_ID in table.output
    assert "templates" in table.output.lower()
    as_json = invoke("templates", "--json")
    assert as_json.exit_code == 0
    templates = json.loads(as_json.output)
    assert TEMPLATE_ID in [t["template_id"] for t in templates]


def test_create_then_query_and_balance(env: dict[str, str], server: SandboxServer) -> None:
    created = invoke(
        *create_args("CLI card", TEMPLATE_ID, amount="2.50"),
        "--json",
    )
    assert created.exit_code == 0, created.output
    card = json.loads(created.output)
    assert card["amount"] == "2.5"
    assert card["status"] == "PENDING_PAYMENT"
    assert card["key"]

    by_number = invoke("query", "--card-number", card["card_number"], "--json")
    assert json.loads(by_number.output)["card_number"] == card["card_number"]
    table = invoke("query", "--key", card["key"])
    assert table.exit_code == 0
    assert card["card_number"] in table.output
    assert card["key"] not in table.output  # the table masks the key

    balance = invoke("balance", "--card-number", card["card_number"], "--json")
    assert balance.exit_code == 0
    assert json.loads(balance.output)["amount"] == "2.5"
    assert "USDT" in invoke("balance", "--key", card["key"]).output


def test_create_table_shows_the_new_key(env: dict[str, str]) -> None:
    result = invoke(*create_args("t", TEMPLATE_ID))
    assert result.exit_code == 0, result.output
    assert "key" in result.output
    assert "issued" in result.output.lower()


@pytest.mark.parametrize(
    "args",
    [
        ("query",),
        ("query", "--card-number", "1", "--key", "k"),
        ("balance", "--card-number", "1", "--key", "k"),
        ("create", "--title", "t"),
        create_args("t", TEMPLATE_ID, currency="usdt"),
        create_args("t", TEMPLATE_ID, amount="x"),
        ("no-such-command",),
        ("bulk-create", "in.csv"),
    ],
)
def test_usage_errors_exit_1(env: dict[str, str], args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert result.exit_code == 1, result.output


# Text the SDK refuses as an amount; Decimal() alone accepts several of them.
ODD_AMOUNTS = ["1_000", " 1", "1 ", "1e-999999999", "1E+999999999", "1E+1000000000000000000",
               "0.0000001", "NaN", "-1", "0"]  # fmt: skip


@pytest.mark.parametrize("amount", ODD_AMOUNTS)
def test_create_amount_follows_the_sdk_rules(
    env: dict[str, str], server: SandboxServer, amount: str
) -> None:
    before = server.sandbox.attempts("create")
    args = ("create", "--title", "t", "--template-id", TEMPLATE_ID, "--currency", "USDT")
    result = invoke(*args, "--amount", amount)
    assert result.exit_code == 1, result.output
    assert "amount" in result.output
    assert "Traceback" not in result.output
    assert server.sandbox.attempts("create") == before  # nothing sent


def test_bulk_create_amount_extremes_fail_alone(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    # A CSV cell is stripped of surrounding spaces (for every column), so " 1" is "1" there.
    odd = [amount for amount in ODD_AMOUNTS if amount == amount.strip()]
    rows = [(f"x{i}", "t", TEMPLATE_ID, "USDT", amount) for i, amount in enumerate(odd)]
    source = write_input(tmp_path / "in.csv", [*rows, ("ok", "t", TEMPLATE_ID, "USDT", "2")])
    before = server.sandbox.attempts("create")
    out = tmp_path / "o.csv"
    result = invoke("bulk-create", str(source), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert server.sandbox.attempts("create") - before == 1  # only the good row
    states = {row["ref"]: (row["state"], row["error"]) for row in read_output(out)}
    assert states.pop("ok")[0] == "issued"
    for state, error in states.values():
        assert state == "failed"
        assert error.startswith("amount:")


def test_missing_credentials_exit_1_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEPAY_CLIENT_ID", "GATEPAY_SECRET_KEY", "GATEPAY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = invoke("templates")
    assert result.exit_code == 1
    assert "--client-id" in result.output
    assert "GATEPAY_CLIENT_ID" in result.output


def test_credentials_from_flags(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEPAY_CLIENT_ID", "GATEPAY_SECRET_KEY", "GATEPAY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = invoke(
        "templates",
        "--client-id",
        CLIENT_ID,
        "--secret-key",
        SECRET_KEY,
        "--base-url",
        server.url,
        "--json",
    )
    assert result.exit_code == 0, result.output
    wrong = invoke(
        "templates", "--client-id", CLIENT_ID, "--secret-key", "nope", "--base-url", server.url
    )
    assert wrong.exit_code == 4  # GatePay refused the credentials
    assert "AuthenticationError" in wrong.output
    assert "nope" not in wrong.output


def test_no_arguments_shows_help() -> None:
    result = invoke()
    assert result.exit_code == 0
    assert "bulk-create" in result.output


def test_main_exits_with_the_command_status(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["templates", "--json"])
    assert caught.value.code == 0


def test_sandbox_command_has_real_help() -> None:
    result = invoke("sandbox", "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: gatepay sandbox [OPTIONS]")
    assert "--latency" in result.output
    assert "--db" in result.output
    assert "drop_after" in result.output  # the fault kinds and their syntax
    assert "OPERATION:KIND" in result.output
    assert invoke("sandbox", "--port", "not-a-port").exit_code == 1


def test_demo_needs_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEPAY_CLIENT_ID", "GATEPAY_SECRET_KEY", "GATEPAY_BASE_URL"):
        monkeypatch.setenv(name, "must-not-be-used")
    result = invoke("demo", "--cards", "2")
    assert result.exit_code == 0, result.output
    assert "NOT_REDEEMED" in result.output
    assert "Demo card 2" in result.output


# ------------------------------------------------------------------------ bulk-create


def test_bulk_create_writes_every_row_and_a_rerun_sends_nothing(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    rows = [(f"r{i}", f"bulk-{i}", TEMPLATE_ID, "USDT", "1.5") for i in range(12)]
    rows[4] = ("r4", "bulk-4", TEMPLATE_ID, "USDT", "abc")  # a bad value: fails alone
    rows[6] = ("r6", "bulk-6", TEMPLATE_ID, "???", "1")
    source = write_input(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    journal = tmp_path / "run.journal"
    before = server.sandbox.attempts("create")
    args = ["bulk-create", str(source), "--out", str(out), "--journal", str(journal)]

    first = invoke(*args, "--concurrency", "4")
    assert first.exit_code == 2, first.output
    assert server.sandbox.attempts("create") - before == 10  # nothing sent for bad rows
    output = read_output(out)
    assert [row["ref"] for row in output] == [f"r{i}" for i in range(12)]  # input order
    states = {row["ref"]: row["state"] for row in output}
    assert states.pop("r4") == states.pop("r6") == "failed"
    assert set(states.values()) == {"issued"}
    errors = {row["ref"]: row["error"] for row in output}
    assert errors["r4"].startswith("amount:")
    assert errors["r6"].startswith("currency:")
    issued = output[0]
    assert issued["card_number"]
    assert issued["key"]
    assert issued["amount"] == "1.5"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert "issued" in first.output
    assert "failed" in first.output

    sent = server.sandbox.attempts("create")
    again = invoke(*args)
    assert again.exit_code == 2
    assert server.sandbox.attempts("create") == sent  # nothing sent again
    assert read_output(out) == output


def test_bulk_create_flags_a_changed_row_and_exits_2(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    rows = [(f"c{i}", f"changed-{i}", TEMPLATE_ID, "USDT", "1.5") for i in range(3)]
    out = tmp_path / "out.csv"
    args = ["--out", str(out), "--journal", str(tmp_path / "run.journal")]
    first = invoke("bulk-create", str(write_input(tmp_path / "in.csv", rows)), *args)
    assert first.exit_code == 0, first.output
    keys = {row["ref"]: row["key"] for row in read_output(out)}

    rows[1] = ("c1", "changed-1", TEMPLATE_ID, "USDT", "2.5")  # the amount changed
    before = server.sandbox.attempts("create")
    again = invoke("bulk-create", str(write_input(tmp_path / "in2.csv", rows)), *args)
    assert again.exit_code == 2, again.output
    assert server.sandbox.attempts("create") == before  # never resent
    output = {row["ref"]: row for row in read_output(out)}
    assert output["c1"]["error"].startswith("changed: amount")
    assert output["c1"]["state"] == "issued"
    assert output["c1"]["key"] == keys["c1"]  # the card issued for the old row is kept
    assert output["c0"]["error"] == ""
    assert "changed since their ref was sent" in again.output


def test_bulk_create_keeps_a_journal_ref_removed_from_the_input_and_exits_2(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    rows = [(f"k{i}", f"kept-{i}", TEMPLATE_ID, "USDT", "1.5") for i in range(4)]
    rows[2] = ("=k2", "kept-2", TEMPLATE_ID, "USDT", "abc")  # failed, formula-like ref
    out = tmp_path / "out.csv"
    args = ["--out", str(out), "--journal", str(tmp_path / "run.journal")]
    first = invoke("bulk-create", str(write_input(tmp_path / "in.csv", rows)), *args)
    assert first.exit_code == 2, first.output
    keys = {row["ref"]: row["key"] for row in read_output(out)}

    # The user deletes an issued row and the failed one, then runs again.
    edited = [rows[1], rows[3]]
    before = server.sandbox.attempts("create")
    again = invoke("bulk-create", str(write_input(tmp_path / "in2.csv", edited)), *args)
    assert again.exit_code == 2, again.output
    assert server.sandbox.attempts("create") == before
    assert "2 ref(s) in the journal are not in the input any more ('k0', '=k2')" in again.output
    output = read_output(out)
    assert [row["ref"] for row in output] == ["k1", "k3", "k0", "=k2"]  # then journal order
    kept = {row["ref"]: row for row in output[2:]}
    assert kept["k0"]["state"] == "issued"
    assert kept["k0"]["key"] == keys["k0"]  # the card's key is not dropped
    assert kept["k0"]["amount"] == "1.5"
    assert kept["k0"]["error"] == "not in the input any more: kept from the journal"
    assert kept["=k2"]["state"] == "failed"
    assert kept["=k2"]["error"].startswith("not in the input any more: kept from the journal; ")
    assert {row["error"] for row in output[:2]} == {""}

    as_json = invoke("bulk-create", str(tmp_path / "in2.csv"), *args, "--json")
    assert as_json.exit_code == 2
    assert '"kept_not_in_input": 2' in as_json.output


def test_bulk_create_against_an_unreachable_server_stops_early_with_the_reason(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GATEPAY_BASE_URL", f"http://127.0.0.1:{port}")
    rows = [(f"u{i}", f"unreachable-{i}", TEMPLATE_ID, "USDT", "1") for i in range(100)]
    out = tmp_path / "out.csv"
    started = time.monotonic()
    result = invoke("bulk-create", str(write_input(tmp_path / "in.csv", rows)), "--out", str(out))
    elapsed = time.monotonic() - started
    # Nothing reached GatePay: exit 1, as the exit-code table says for "could not be
    # reached at all: nothing was done".
    assert result.exit_code == 1, result.output
    assert elapsed < 15  # not a minute of retrying every row
    output = read_output(out)
    assert {row["state"] for row in output} == {"failed"}
    assert "could not be reached" in output[-1]["error"]


def test_bulk_create_that_loses_gatepay_after_sending_exits_2(tmp_path: Path) -> None:
    """Creates were sent, then GatePay went away: something was done, so 2, not 1."""
    sandbox, url = _start_sandbox(tmp_path / "cards.db", latency=0.2)
    rows = [(f"g{i}", f"gone-{i}", TEMPLATE_ID, "USDT", "1") for i in range(200)]
    source = write_input(tmp_path / "in.csv", rows)
    out, journal = tmp_path / "out.csv", tmp_path / "run.journal"
    command, env = _bulk_create(url, source, out, journal, 2)
    run = subprocess.Popen(  # noqa: S603 - our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while _issued_lines(journal) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.kill(sandbox.pid, signal.SIGKILL)
        sandbox.wait(timeout=10)
        if sandbox.stdout is not None:
            sandbox.stdout.close()
    _, err = run.communicate(timeout=120)
    assert run.returncode == 2, err
    states = {row["state"] for row in read_output(out)}
    assert "issued" in states
    assert "could not be reached" in read_output(out)[-1]["error"]


def test_bulk_create_rerun_against_an_unreachable_server_exits_1(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Earlier runs issued cards; this one reached nothing: nothing was done, exit 1."""
    rows = [(f"v{i}", f"again-{i}", TEMPLATE_ID, "USDT", "1") for i in range(2)]
    out = tmp_path / "out.csv"
    args = ["--out", str(out), "--journal", str(tmp_path / "run.journal")]
    assert invoke("bulk-create", str(write_input(tmp_path / "in.csv", rows)), *args).exit_code == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GATEPAY_BASE_URL", f"http://127.0.0.1:{port}")
    rows.append(("v2", "again-2", TEMPLATE_ID, "USDT", "1"))
    again = invoke("bulk-create", str(write_input(tmp_path / "in.csv", rows)), *args)
    assert again.exit_code == 1, again.output
    states = [row["state"] for row in read_output(out)]
    assert states == ["issued", "issued", "failed"]


def test_bulk_create_all_issued_exits_0(env: dict[str, str], tmp_path: Path) -> None:
    source = write_input(
        tmp_path / "in.csv", [(f"ok{i}", f"ok-{i}", TEMPLATE_ID, "USDT", "3") for i in range(3)]
    )
    result = invoke("bulk-create", str(source), "--out", str(tmp_path / "o.csv"), "--rate", "50")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.csv.journal").exists()  # the default journal sits beside OUT


def test_bulk_create_uses_the_aiohttp_transport_and_says_so(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    source = write_input(
        tmp_path / "in.csv", [(f"fast{i}", f"fast-{i}", TEMPLATE_ID, "USDT", "2") for i in range(3)]
    )
    before = server.sandbox.attempts("create")
    result = invoke(
        "bulk-create", str(source), "--out", str(tmp_path / "o.csv"), "--transport", "aiohttp"
    )
    assert result.exit_code == 0, result.output
    assert server.sandbox.attempts("create") - before == 3
    assert "transport: aiohttp" in result.output


@pytest.mark.parametrize("asked", [None, "httpx"])
def test_bulk_create_sends_through_httpx_unless_aiohttp_is_asked_for(
    env: dict[str, str],
    server: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    asked: str | None,
) -> None:
    """aiohttp being installed (it is, here) does not choose the transport of a money run."""
    monkeypatch.delenv("GATEPAY_TRANSPORT", raising=False)
    if asked is not None:
        monkeypatch.setenv("GATEPAY_TRANSPORT", asked)
    source = write_input(tmp_path / "in.csv", [("h0", "h-0", TEMPLATE_ID, "USDT", "2")])
    result = invoke("bulk-create", str(source), "--out", str(tmp_path / "o.csv"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["transport"] == "httpx"


def test_bulk_create_takes_aiohttp_from_the_environment(
    env: dict[str, str], server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEPAY_TRANSPORT", "aiohttp")
    source = write_input(tmp_path / "in.csv", [("e0", "e-0", TEMPLATE_ID, "USDT", "2")])
    result = invoke("bulk-create", str(source), "--out", str(tmp_path / "o.csv"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["transport"] == "aiohttp"


def test_bulk_create_refuses_duplicate_refs_before_sending(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    rows = [("a", "x", TEMPLATE_ID, "USDT", "1"), ("b", "y", TEMPLATE_ID, "USDT", "1")]
    source = write_input(tmp_path / "in.csv", [*rows, ("a", "z", TEMPLATE_ID, "USDT", "1")])
    before = server.sandbox.attempts("create")
    result = invoke("bulk-create", str(source), "--out", str(tmp_path / "o.csv"))
    assert result.exit_code == 1
    assert "'a'" in result.output
    assert server.sandbox.attempts("create") == before
    assert not (tmp_path / "o.csv").exists()


def test_bulk_create_refuses_an_input_without_its_columns(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("ref,title,amount\na,b,1\n", encoding="utf-8")
    result = invoke("bulk-create", str(source), "--out", str(tmp_path / "o.csv"))
    assert result.exit_code == 1
    assert "template_id" in result.output


def test_a_journal_in_use_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    from gatepay_async import Journal

    source = write_input(tmp_path / "in.csv", [("a", "x", TEMPLATE_ID, "USDT", "1")])
    with Journal.open(tmp_path / "j"):
        result = invoke(
            "bulk-create",
            str(source),
            "--out",
            str(tmp_path / "o"),
            "--journal",
            str(tmp_path / "j"),
        )
    assert result.exit_code == 1
    assert "in use" in result.output


# ------------------------------------------------------------------------ SIGKILL mid-run


ADMIN_TOKEN = "cli-test-admin-token-0001"


def _start_sandbox(db: Path, latency: float) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        "-m",
        "gatepay_async.sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--db",
        str(db),
        "--latency",
        str(latency),
        "--client-id",
        CLIENT_ID,
        "--secret-key",
        SECRET_KEY,
        "--admin-token",
        ADMIN_TOKEN,
    ]
    process = subprocess.Popen(  # noqa: S603 - our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if "http://" not in first:
        process.kill()
        pytest.fail(f"the sandbox did not start: {first!r}")
    url = first.split("on ", 1)[1].strip()
    return process, url


def _stop_sandbox(process: subprocess.Popen[str]) -> None:
    """Stop a sandbox ``_start_sandbox`` started: SIGTERM, then SIGKILL if it lingers."""
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def _bulk_create(
    url: str, source: Path, out: Path, journal: Path, concurrency: int, *more: str
) -> tuple[list[str], dict[str, str]]:
    """A ``gatepay bulk-create`` child process's command line and environment."""
    command = gatepay_command(
        *("bulk-create", str(source), "--out", str(out), "--journal", str(journal)),
        *("--concurrency", str(concurrency), *more),
    )
    return command, gatepay_environ(url, CLIENT_ID, SECRET_KEY)


def _stats(url: str) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = httpx.get(url + "/_sandbox/stats", timeout=5, headers=admin)
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()
    return data


def _issued_lines(journal: Path) -> int:
    try:
        return journal.read_bytes().count(b'"op":"issued"')
    except FileNotFoundError:
        return 0


def _titles(db: Path) -> list[str]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [str(title) for (title,) in connection.execute("SELECT title FROM cards")]
    finally:
        connection.close()


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    concurrency = 8
    rows = [(f"r{i}", f"title-{i}", TEMPLATE_ID, "USDT", "1.25") for i in range(300)]
    rows[150] = ("r150", "title-150", TEMPLATE_ID, "USDT", "-1")  # a bad row
    source = write_input(tmp_path / "in.csv", rows)
    out, journal, db = tmp_path / "out.csv", tmp_path / "run.journal", tmp_path / "cards.db"
    sandbox, url = _start_sandbox(db, latency=0.05)
    try:
        command, env = _bulk_create(url, source, out, journal, concurrency, "--no-progress")
        victim = subprocess.Popen(  # noqa: S603 - our own module
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while _issued_lines(journal) < 40 and victim.poll() is None:
                assert time.monotonic() < deadline, "the run made no progress"
                time.sleep(0.01)
            assert victim.poll() is None, "the run finished before it could be killed"
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        issued_before_resume = len(_titles(db))
        assert 40 <= issued_before_resume < 299

        resumed = subprocess.run(  # noqa: S603 - our own module
            command, env=env, capture_output=True, text=True, timeout=180, check=False
        )
        assert resumed.returncode == 2, resumed.stdout + resumed.stderr

        output = read_output(out)
        assert [row["ref"] for row in output] == [f"r{i}" for i in range(300)]
        state_by_title = {row["ref"].replace("r", "title-", 1): row["state"] for row in output}
        titles = _titles(db)
        assert len(titles) == len(set(titles)), "a title was issued twice"
        for title in titles:
            assert state_by_title[title] in ("issued", "unknown"), title
        states = [row["state"] for row in output]
        assert states.count("unknown") <= concurrency
        assert output[150]["state"] == "failed"
        assert output[150]["error"].startswith("amount:")
        assert states.count("issued") + states.count("unknown") == 299
        issued_rows = {row["ref"] for row in output if row["state"] == "issued"}
        assert len(issued_rows) == states.count("issued") <= len(titles)

        attempts = _stats(url)["attempts"]["create"]
        finished = subprocess.run(  # noqa: S603 - our own module
            command, env=env, capture_output=True, text=True, timeout=180, check=False
        )
        assert finished.returncode == 2
        assert _stats(url)["attempts"]["create"] == attempts  # a finished journal sends nothing
        assert read_output(out) == output
    finally:
        _stop_sandbox(sandbox)


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_bulk_create_workers_are_given_the_run_s_transport(transport: str) -> None:
    from gatepay_async.cli._bulk_command import _worker_arguments

    arguments = _worker_arguments(16, 30.0, False, None, True, 4, transport)
    index = arguments.index("--transport")
    assert arguments[index + 1] == transport
