"""The sandbox's command: ``gatepay sandbox`` and ``python -m gatepay_async.sandbox``.

One click command serves both (click comes with uvicorn, so the ``sandbox`` extra is
enough). It prints the URL, ready-to-paste ``export`` lines and how to stop it, then
serves in the foreground until Ctrl-C or SIGTERM; Ctrl-C ends it with status 130 and
no traceback.
"""

from __future__ import annotations

import shlex
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import click

from gatepay_async._cli_names import (
    ENV_SANDBOX_ADMIN_TOKEN,
    ENV_SANDBOX_CLIENT_ID,
    ENV_SANDBOX_SECRET_KEY,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    SANDBOX_HOST,
    SANDBOX_PORT,
)
from gatepay_async.sandbox._config import SandboxConfig, client_env
from gatepay_async.sandbox._faults import KINDS, OPERATIONS, Fault, parse_fault
from gatepay_async.sandbox._sandbox import Sandbox
from gatepay_async.sandbox._scripts import ScriptRule, parse_script
from gatepay_async.sandbox._server import bind_socket, uvicorn_server

__all__ = ["config_from_params", "main", "sandbox_command"]

PROG = "python -m gatepay_async.sandbox"

_DEFAULTS = SandboxConfig()
_KINDS_TEXT = "\n             ".join(textwrap.wrap(", ".join(KINDS), 60))

FAULT_HELP = f"""\b
Faults (--fault SPEC, repeatable), SPEC = OPERATION:KIND[=VALUE][,KEY=VALUE...]
  OPERATION  {", ".join(OPERATIONS)}   (* = every operation)
  KIND       {_KINDS_TEXT}
  KEY        times=N (then the fault is spent), status=HTTP, retry_after=S,
             latency=S, offset=S
\b
Examples:
  --fault 'create:status=503,retry_after=1,times=2'   two 503s, then normal
  --fault 'query:drop_before,times=1'                 drop one connection unanswered
  --fault 'create:drop_after'                         issue the card, lose the answer
  --fault '*:latency=0.05'                            50 ms before every answer
Faults can also be added while it runs: POST /_sandbox/faults {{"spec": "..."}}.
"""


class _Seconds(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 on
    """A finite number of seconds (``minimum`` bounds it when given)."""

    name = "seconds"

    def __init__(self, minimum: float | None = None) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"expected a number of seconds, got {value!r}", param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"expected a finite number of seconds, got {value!r}", param, ctx)
        if self.minimum is not None and number < self.minimum:
            self.fail(f"expected seconds >= {self.minimum:g}, got {value!r}", param, ctx)
        return number


class _Spec(click.ParamType):  # type: ignore[type-arg]
    """A spec string (``--fault``, ``--script``) parsed into its object by ``parse``."""

    name = "spec"

    def __init__(self, parse: Callable[[str], object], parsed: type) -> None:
        self._parse = parse
        self._parsed = parsed

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self._parsed):
            return value
        try:
            return self._parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def config_from_params(params: dict[str, Any]) -> SandboxConfig:
    """The SandboxConfig that the command's parsed parameters describe."""
    return SandboxConfig(
        client_id=params["client_id"],
        secret_key=params["secret_key"],
        pending_seconds=params["pending_seconds"],
        clock_offset=params["clock_offset"],
        latency=params["latency"],
        db_path=params["db"],
        faults=tuple(params["faults"]),
        scripts=tuple(params.get("scripts", ())),
        admin_token=params.get("admin_token") or None,
    )


def export_lines(url: str, config: SandboxConfig) -> str:
    """The shell line that points the SDK and the ``gatepay`` command at this sandbox."""
    variables = client_env(url, config).items()
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in variables)


@click.command(
    "sandbox",
    epilog=FAULT_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--host", default=SANDBOX_HOST, show_default=True, help="address to listen on")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=SANDBOX_PORT,
    show_default=True,
    help="port; 0 picks a free one",
)
@click.option("--db", metavar="FILE", help="SQLite file keeping cards across restarts")
@click.option(
    "--client-id",
    envvar=ENV_SANDBOX_CLIENT_ID,
    default=_DEFAULTS.client_id,
    show_default=True,
    show_envvar=True,
    help="client id to accept",
)
@click.option(
    "--secret-key",
    envvar=ENV_SANDBOX_SECRET_KEY,
    default=_DEFAULTS.secret_key,
    show_default=True,
    show_envvar=True,
    help="secret key requests must be signed with",
)
@click.option(
    "--pending-seconds",
    type=_Seconds(minimum=0),
    default=_DEFAULTS.pending_seconds,
    show_default=True,
    help="seconds a new card stays 'pending payment' (its payment settling) before 'not redeemed'",
)
@click.option(
    "--latency",
    type=_Seconds(minimum=0),
    default=_DEFAULTS.latency,
    show_default=True,
    help="seconds slept before every gift-card answer",
)
@click.option(
    "--clock-offset",
    type=_Seconds(),
    default=_DEFAULTS.clock_offset,
    show_default=True,
    help="seconds the sandbox clock runs ahead of this machine's (negative: behind)",
)
@click.option(
    "--fault",
    "faults",
    metavar="SPEC",
    type=_Spec(parse_fault, Fault),
    multiple=True,
    help="inject a fault, e.g. 'create:status=503,times=2' (repeatable; kinds below)",
)
@click.option(
    "--script",
    "scripts",
    metavar="SPEC",
    type=_Spec(parse_script, ScriptRule),
    multiple=True,
    help="scripted outcome for new cards, e.g. 'payment_failed:10%:after=2s' (repeatable)",
)
@click.option(
    "--admin-token",
    envvar=ENV_SANDBOX_ADMIN_TOKEN,
    show_envvar=True,
    help="token the /_sandbox/* admin endpoints require (default: a random one, printed)",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="uvicorn log level",
)
def sandbox_command(host: str, port: int, log_level: str, **params: Any) -> int:
    """Run a local GatePay sandbox in the foreground (Ctrl-C stops it).

    It checks signatures, timestamps and nonces like GatePay, keeps cards in memory (or
    in --db), and injects faults. It prints the lines to paste into another shell so that
    the SDK and the gatepay command talk to it.
    """
    try:
        config = config_from_params(params)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc}", err=True)
        return EXIT_USAGE
    with sock, Sandbox(config) as sandbox:
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = f"http://{shown}:{bound_port}"
        lines = [
            f"GatePay sandbox on {url}",
            f"  client id:  {config.client_id}",
            f"  secret key: {config.secret_key}",
            f"  cards:      {config.db_path or 'in memory'}",
            f"  admin token: {sandbox.admin_token}",
            *(f"  fault:      {fault.spec}" for fault in config.faults),
            *(f"  script:     {rule.spec}" for rule in config.scripts),
            "",
            "In another shell:",
            f"  {export_lines(url, config)}",
            "  gatepay templates",
            "",
            "Stop it with Ctrl-C (or SIGTERM).",
        ]
        for line in lines:
            click.echo(line)
        sys.stdout.flush()
        try:
            uvicorn_server(sandbox, log_level=log_level).run(sockets=[sock])
        except KeyboardInterrupt:
            # uvicorn shuts down on the first Ctrl-C, then raises it again for us.
            click.echo("Sandbox stopped.", err=True)
            return EXIT_INTERRUPTED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command as ``python -m gatepay_async.sandbox``; return its exit status."""
    try:
        result = sandbox_command.main(
            args=list(argv) if argv is not None else None,
            prog_name=PROG,
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:  # --help
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt):
        click.echo("Sandbox stopped.", err=True)
        return EXIT_INTERRUPTED
    return int(result) if isinstance(result, int) else EXIT_OK
