"""What one part of gatepay tells the user about another holds: the variables and defaults
that the command line and the sandbox name are the ones the client and each other use."""

from __future__ import annotations

import inspect
import re

import click
import pytest

from gatepay_async import AsyncGatePay
from gatepay_async._http.config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, ClientConfig
from gatepay_async.cli._app import cli
from gatepay_async.cli._sandbox_admin import sandbox_admin
from gatepay_async.sandbox import SandboxConfig
from gatepay_async.sandbox._command import sandbox_command
from gatepay_async.sandbox._config import client_env
from gatepay_async.sandbox._lifecycle import DEFAULT_REDEEMER_UID
from gatepay_sync import GatePay


def _option(command: click.Command, name: str) -> click.Option:
    (option,) = [p for p in command.params if isinstance(p, click.Option) and p.name == name]
    return option


def _resolve(environ: dict[str, str]) -> ClientConfig:
    return ClientConfig.resolve(
        client_id=None,
        secret_key=None,
        base_url=None,
        on_behalf_of=None,
        api_key=None,
        timeout=DEFAULT_TIMEOUT,
        max_retries=DEFAULT_MAX_RETRIES,
        environ=environ,
    )


@pytest.mark.parametrize("argument", ["client_id", "secret_key", "base_url"])
def test_the_variable_a_cli_option_names_is_the_one_the_client_reads(argument: str) -> None:
    # Each option's help says "[env NAME ...]"; the group's help names them all too.
    help_text = _option(cli, argument).help or ""
    (name,) = re.findall(r"\benv (GATEPAY_\w+)", help_text)
    assert name in (cli.help or "")
    environ = {"GATEPAY_CLIENT_ID": "id", "GATEPAY_SECRET_KEY": "key"}
    environ[name] = "http://127.0.0.1:1" if argument == "base_url" else "from-the-variable"
    assert getattr(_resolve(environ), argument) == environ[name]


@pytest.mark.parametrize("client", [AsyncGatePay, GatePay])
def test_the_cli_timeout_default_is_the_client_default(client: type) -> None:
    parameters = inspect.signature(client).parameters
    assert parameters["timeout"].default == DEFAULT_TIMEOUT
    assert parameters["max_retries"].default == DEFAULT_MAX_RETRIES
    assert f"[default {DEFAULT_TIMEOUT:g}]" in (_option(cli, "timeout").help or "")


def test_the_sandbox_export_line_points_a_client_at_the_sandbox() -> None:
    config = SandboxConfig(client_id="c-1", secret_key="s-1")
    resolved = _resolve(client_env("http://127.0.0.1:9", config))
    assert (resolved.base_url, resolved.client_id, resolved.secret_key) == (
        "http://127.0.0.1:9",
        "c-1",
        "s-1",
    )


def test_sandbox_admin_finds_the_sandbox_where_it_listens_by_default() -> None:
    host = _option(sandbox_command, "host").default
    port = _option(sandbox_command, "port").default
    assert _option(sandbox_admin, "url").default == f"http://{host}:{port}"
    assert _option(sandbox_admin, "token").envvar == _option(sandbox_command, "admin_token").envvar


def test_sandbox_admin_redeem_help_names_the_sandbox_default_uid() -> None:
    redeem = sandbox_admin.commands["redeem"]
    assert f"(default {DEFAULT_REDEEMER_UID})" in (_option(redeem, "uid").help or "")
