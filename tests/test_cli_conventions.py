"""The ``gatepay`` command's conventions: exit codes, --json (errors included), options
before or after the command, --verbose, `wait`, keys from stdin or a file, spreadsheet-safe
CSV cells, the demo's order, and Ctrl-C on real processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from gatepay_async._cli_names import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
)
from gatepay_async.cli._app import cli
from gatepay_async.cli._csv_io import spreadsheet_cell
from gatepay_async.sandbox import SandboxServer, parse_fault
from tests.conftest import serve_sandbox, use_gatepay_variables
from tests.secret_leaks import leaked_pieces

CLIENT_ID = "conv-client"
SECRET_KEY = "conv-secret"
TEMPLATE_ID = "255267012439183360"
COMMAND_NAMES = ["templates", "create", "query", "balance", "wait", "bulk-create", "demo"]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    yield from serve_sandbox(CLIENT_ID, SECRET_KEY, pending_seconds=0.3)


@pytest.fixture
def env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    server.sandbox.clear_faults()
    return use_gatepay_variables(monkeypatch, server.url, CLIENT_ID, SECRET_KEY)


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="gatepay", input=stdin)


def create_card(title: str = "conv") -> dict[str, str]:
    result = invoke(
        "create", "--title", title, "--template-id", TEMPLATE_ID,
        "--currency", "USDT", "--amount", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    card: dict[str, str] = json.loads(result.stdout)
    return card


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# ------------------------------------------------------------------------ exit codes


def test_exit_codes_are_distinct() -> None:
    codes = [EXIT_OK, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_UNKNOWN, EXIT_REFUSED, EXIT_INTERRUPTED]
    assert codes == [0, 1, 2, 3, 4, 130]


def test_refusals_exit_4(env: dict[str, str]) -> None:
    wrong_secret = invoke("templates", "--secret-key", "wrong")
    assert wrong_secret.exit_code == EXIT_REFUSED, wrong_secret.output
    not_found = invoke("query", "--card-number", "999999999")
    assert not_found.exit_code == EXIT_REFUSED, not_found.output
    assert "not found" in not_found.stderr
    refused_create = invoke(
        "create", "--title", "t", "--template-id", "000", "--currency", "USDT", "--amount", "1"
    )
    assert refused_create.exit_code == EXIT_REFUSED, refused_create.output


def test_create_with_a_lost_answer_exits_3(
    env: dict[str, str], server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cut answer (with the card's key) is saved in the working directory: a temporary
    # one, never the source tree, where it could be committed.
    monkeypatch.chdir(tmp_path)
    server.sandbox.inject(parse_fault("create:drop_after,times=1"))
    result = invoke(
        "create", "--title", "lost", "--template-id", TEMPLATE_ID,
        "--currency", "USDT", "--amount", "1",
    )  # fmt: skip
    assert result.exit_code == EXIT_UNKNOWN, result.output
    assert "OutcomeUnknownError" in result.stderr
    assert len(list(tmp_path.glob("gatepay-answer-*.txt"))) == 1


def test_unreachable_gatepay_exits_1(env: dict[str, str]) -> None:
    result = invoke("templates", "--base-url", closed_port_url(), "--timeout", "2")
    assert result.exit_code == EXIT_USAGE, result.output
    assert "APIConnectionError" in result.stderr or "RequestNotSent" in result.stderr


def test_bulk_create_with_a_wrong_secret_exits_4_and_sends_no_create(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"ref,title,template_id,currency,amount\na,x,{TEMPLATE_ID},USDT,1\n")
    before = server.sandbox.attempts("create")
    result = invoke(
        "bulk-create", str(source), "--out", str(tmp_path / "o.csv"),
        "--secret-key", "wrong", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "AuthenticationError" in result.stderr
    assert server.sandbox.attempts("create") == before


def test_bulk_create_runs_when_the_credential_check_fails_otherwise(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"ref,title,template_id,currency,amount\na,x,{TEMPLATE_ID},USDT,1\n")
    server.sandbox.inject(parse_fault("templates:status=503"))
    try:
        result = invoke("bulk-create", str(source), "--out", str(tmp_path / "o.csv"))
    finally:
        server.sandbox.clear_faults()
    assert result.exit_code == EXIT_OK, result.output


def test_wait_that_times_out_exits_2(env: dict[str, str]) -> None:
    card = create_card()
    result = invoke(
        "wait", "--card-number", card["card_number"], "--status", "REDEEMED",
        "--timeout", "0.5", "--interval", "0.1",
    )  # fmt: skip
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert "WaitTimeoutError" in result.stderr


# ------------------------------------------------------------------------ --json


def test_json_errors_are_a_json_object_on_stderr(env: dict[str, str]) -> None:
    refused = invoke("templates", "--json", "--secret-key", "wrong")
    assert refused.exit_code == EXIT_REFUSED
    assert refused.stdout == ""
    error = json.loads(refused.stderr)["error"]
    assert error["type"] == "AuthenticationError"
    assert error["exit_code"] == EXIT_REFUSED
    assert error["status_code"] == 401
    assert "wrong" not in refused.stderr

    usage = invoke("--json", "query")  # neither --card-number nor --key
    assert usage.exit_code == EXIT_USAGE
    assert json.loads(usage.stderr)["error"]["exit_code"] == EXIT_USAGE

    bad_flag = invoke("query", "--json", "--no-such-flag")
    assert bad_flag.exit_code == EXIT_USAGE
    assert json.loads(bad_flag.stderr)["error"]["type"] == "NoSuchOption"


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_every_command_takes_json(name: str) -> None:
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert "--json" in result.output


def test_bulk_create_json_prints_a_summary_object(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "ref,title,template_id,currency,amount\n"
        f"a,x,{TEMPLATE_ID},USDT,1\nb,y,{TEMPLATE_ID},USDT,-1\n"
    )
    out = tmp_path / "o.csv"
    result = invoke("bulk-create", str(source), "--out", str(out), "--json", "--no-progress")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    summary = json.loads(result.stdout)
    assert summary["issued"] == 1
    assert summary["failed"] == 1
    assert summary["unknown"] == 0
    assert summary["total"] == 2
    assert summary["interrupted"] is False
    assert summary["exit_code"] == EXIT_INCOMPLETE
    assert summary["output"] == str(out)


def test_demo_json_orders_cards_numerically() -> None:
    result = invoke("demo", "--cards", "11", "--json")
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    # A create answer carries no title (seed 003): the issued cards are told apart by
    # amount (5 x the card's number); the queried ones carry their titles.
    amounts = [card["amount"] for card in report["issued"]]
    assert amounts == [str(5 * n) for n in range(1, 12)]
    titles = [card["title"] for card in report["queried"]]
    assert titles == [f"Demo card {n}" for n in range(1, 12)]
    assert [card["status"] for card in report["queried"]] == ["NOT_REDEEMED"] * 11
    assert report["balance"]["currency"] == "USDT"


def test_demo_table_orders_cards_numerically() -> None:
    result = invoke("demo", "--cards", "11")
    assert result.exit_code == EXIT_OK, result.output
    queried = result.stdout.split("Queried", 1)[1]
    positions = [queried.index(f"Demo card {n} ") for n in (1, 2, 10)]
    assert positions == sorted(positions)
    assert "pending payment" in result.stdout


# ------------------------------------------------------------------------ global options


def test_connection_options_go_before_or_after_the_command(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GATEPAY_CLIENT_ID", "GATEPAY_SECRET_KEY", "GATEPAY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    flags = ["--base-url", server.url, "--client-id", CLIENT_ID, "--secret-key", SECRET_KEY]
    before = invoke(*flags, "--timeout", "5", "--json", "templates")
    after = invoke("templates", *flags, "--timeout", "5", "--json")
    mixed = invoke("--base-url", server.url, "templates", "--client-id", CLIENT_ID,
                   "--secret-key", SECRET_KEY, "--json")  # fmt: skip
    for result in (before, after, mixed):
        assert result.exit_code == EXIT_OK, result.output
        assert TEMPLATE_ID in [t["template_id"] for t in json.loads(result.stdout)]
    # A value after the command wins over one before it.
    overridden = invoke("--secret-key", "wrong", "templates", *flags)
    assert overridden.exit_code == EXIT_OK, overridden.output


def test_verbose_logs_requests_without_secrets(env: dict[str, str]) -> None:
    card = create_card()
    logger = logging.getLogger("gatepay")
    level, handlers = logger.level, list(logger.handlers)
    try:
        for args in (["--verbose", "query"], ["query", "--verbose"]):
            result = invoke(*args, "--key", card["key"])
            assert result.exit_code == EXIT_OK, result.output
            assert "/v1/pay/gift/query" in result.stderr
            assert "DEBUG" in result.stderr
            assert not leaked_pieces(card["key"], result.stderr)
            assert not leaked_pieces(SECRET_KEY, result.stderr)
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers
    quiet = invoke("query", "--key", card["key"])
    assert "DEBUG" not in quiet.stderr


# ------------------------------------------------------------------------ wait and keys


def test_wait_returns_the_card_once_it_reaches_the_status(env: dict[str, str]) -> None:
    card = create_card()
    assert card["status"] == "PENDING_PAYMENT"
    result = invoke(
        "wait", "--card-number", card["card_number"], "--status", "not_redeemed",
        "--status", "REDEEMED", "--timeout", "10", "--interval", "0.1", "--json",
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["status"] == "NOT_REDEEMED"


def test_keys_from_stdin_or_a_file(env: dict[str, str], tmp_path: Path) -> None:
    card = create_card()
    from_stdin = invoke("query", "--key", "-", "--json", stdin=card["key"] + "\n")
    assert from_stdin.exit_code == EXIT_OK, from_stdin.output
    assert json.loads(from_stdin.stdout)["card_number"] == card["card_number"]

    key_file = tmp_path / "key.txt"
    key_file.write_text(card["key"] + "\n")
    balance = invoke("balance", "--key", f"@{key_file}", "--json")
    assert balance.exit_code == EXIT_OK, balance.output
    assert json.loads(balance.stdout)["card_number"] == card["card_number"]
    waited = invoke(
        "wait", "--key", f"@{key_file}", "--status", "NOT_REDEEMED", "--timeout", "10",
        "--interval", "0.1",
    )  # fmt: skip
    assert waited.exit_code == EXIT_OK, waited.output

    missing = invoke("query", "--key", f"@{tmp_path / 'absent'}")
    assert missing.exit_code == EXIT_USAGE
    empty = invoke("query", "--key", "-", stdin="\n")
    assert empty.exit_code == EXIT_USAGE


# ------------------------------------------------------------------------ spreadsheets


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+2", "'=1+2"),
        ("+AbC", "'+AbC"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("AbC+=", "AbC+="),
        ("", ""),
        ("12.5", "12.5"),
    ],
)
def test_spreadsheet_cell(cell: str, shown: str) -> None:
    assert spreadsheet_cell(cell) == shown


def test_bulk_output_is_spreadsheet_safe_unless_raw_cells(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(f"ref,title,template_id,currency,amount\n=cmd,x,{TEMPLATE_ID},USDT,-1\n")
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    assert invoke("bulk-create", str(source), "--out", str(safe), "--no-progress").exit_code == 2
    assert (
        invoke("bulk-create", str(source), "--out", str(raw), "--raw-cells", "--no-progress")
    ).exit_code == 2
    assert safe.read_text().splitlines()[1].startswith("'=cmd,failed,,,,'-1,USDT,")
    assert raw.read_text().splitlines()[1].startswith("=cmd,failed,,,,-1,USDT,")


# ------------------------------------------------------------------------ real processes


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env.pop("NO_COLOR", None)
    return env


def test_sandbox_module_stops_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gatepay_async.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline()]
        while "Ctrl-C" not in lines[-1] and lines[-1]:
            lines.append(process.stdout.readline())
        assert lines[0].startswith("GatePay sandbox on http://127.0.0.1:")
        assert any(line.strip().startswith("export GATEPAY_BASE_URL=") for line in lines)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, EXIT_INTERRUPTED), err
    assert "Traceback" not in err
    assert "Ctrl-C" in lines[-1]


def test_ctrl_c_during_wait_exits_130(env: dict[str, str]) -> None:
    card = create_card()
    process = subprocess.Popen(  # noqa: S603 - our own module
        [
            sys.executable, "-m", "gatepay_async.cli", "wait", "--card-number",
            card["card_number"], "--status", "REDEEMED", "--timeout", "60", "--json",
            "--verbose",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(env),
    )  # fmt: skip
    assert process.stderr is not None
    try:
        first = process.stderr.readline()  # the first poll's debug line: it is polling
        assert "/v1/pay/gift/query" in first, first
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        err = first + process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert json.loads(err.splitlines()[-1])["error"]["exit_code"] == EXIT_INTERRUPTED


def test_every_cli_module_imports_first_without_a_cycle() -> None:
    modules = ["_app", "_commands", "_bulk_command", "_sandbox_commands", "_options", "_exit"]
    for module in modules:
        subprocess.run(  # noqa: S603 - our own modules
            [sys.executable, "-c", f"import gatepay_async.cli.{module}"],
            check=True,
            env=_child_env(),
            timeout=60,
        )


@pytest.mark.parametrize("name", [*COMMAND_NAMES, "sandbox"])
def test_every_command_has_help(name: str) -> None:
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert result.output.startswith(f"Usage: gatepay {name}")


def test_gatepay_sandbox_and_the_module_are_one_command() -> None:
    from gatepay_async.sandbox._command import sandbox_command

    assert cli.get_command(click.Context(cli), "sandbox") is sandbox_command
    module_help = subprocess.run(
        [sys.executable, "-m", "gatepay_async.sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_child_env(),
    ).stdout
    gatepay_help = invoke("sandbox", "--help").output
    module_help = module_help.replace("python -m gatepay_async.sandbox", "gatepay sandbox")
    assert module_help.split() == gatepay_help.split()  # the same words, wrapped alike or not
