"""``--json`` errors hold no key a server echoed back in a refusal's label or message.

The error object printed on stderr carries the error's ``label`` attribute as well as
its text; the label was kept raw (only the message was masked), so a refusal labelled
with a card key printed the key. A create sends no key, so the command cannot know it:
masking has to find it by its shape.
"""

from __future__ import annotations

import json
import socket

import pytest
from click.testing import CliRunner

from gatepay_async._cli_names import EXIT_REFUSED
from gatepay_async.cli._app import cli
from tests.conftest import use_gatepay_variables
from tests.frame_locals import KEY, SECRET, leaked
from tests.raw_server import RawServer, Request, answer


def _refuse_echoing_the_key(conn: socket.socket, request: Request, server: RawServer) -> None:
    body = {
        "status": "FAIL",
        "code": "400001",
        "label": f"bad key {KEY}",
        "errorMessage": f"card with key {KEY} not found",
        "data": None,
    }
    answer(conn, "400 Bad Request", json.dumps(body).encode())


@pytest.mark.parametrize(
    "command",
    [
        ["create", "--title", "t", "--template-id", "255267012439183360", "--currency", "USDT",
         "--amount", "1"],
        ["query", "--key", KEY],
        ["balance", "--key", KEY],
    ],
    ids=["create", "query", "balance"],
)  # fmt: skip
def test_a_refusal_echoing_a_key_prints_none_with_json(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with RawServer(_refuse_echoing_the_key) as server:
        use_gatepay_variables(monkeypatch, server.url, "cli-client", SECRET)
        result = CliRunner().invoke(cli, [*command, "--json"], prog_name="gatepay")
    assert result.exit_code == EXIT_REFUSED, result.output
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "InvalidRequestError"
    assert error["label"].startswith("bad key ")
    assert not leaked(result.stderr), result.stderr
    assert not leaked(result.stdout), result.stdout
