"""The click group: shared options, how errors end a command, and the command list.

The commands live in their own modules, which import nothing from this one (their
options come from ``_options``, their exit codes from ``gatepay_async._cli_names``), so
there is no import cycle (tests/test_import_cycles.py keeps it so): this module imports
them at the top and adds them to the group.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import click

from gatepay_async._cli_names import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
)
from gatepay_async._errors import RAW_ANSWER_NOTE, APIError, GatePayError, OutcomeUnknownError
from gatepay_async._http.config import ENV_BASE_URL, ENV_CLIENT_ID, ENV_SECRET_KEY
from gatepay_async.cli import _bulk_command, _commands, _sandbox_admin, _sandbox_commands
from gatepay_async.cli._answer_file import save_answer
from gatepay_async.cli._create_guard import CreateAbandoned
from gatepay_async.cli._exit import exit_code_for
from gatepay_async.cli._options import ClientOptions, shared_options
from gatepay_async.cli._sandbox_commands import SANDBOX_EXTRA
from gatepay_async.cli._signals import sigterm_as_interrupt

__all__ = ["cli", "error_payload"]

#: Commands whose module needs an optional extra, imported only when used or listed.
LAZY_COMMANDS = {"sandbox": "gatepay_async.sandbox._command:sandbox_command"}


def error_payload(
    exc: BaseException, code: int, answer_file: AnswerFile | None = None
) -> dict[str, Any]:
    """What ``--json`` prints on stderr for an error (secret-free: exception texts are)."""
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    if isinstance(exc, OutcomeUnknownError):
        message = message.replace(RAW_ANSWER_NOTE, "")
    if isinstance(exc, click.Abort | KeyboardInterrupt):
        message = "interrupted"
    error: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": message,
        "exit_code": code,
    }
    if isinstance(exc, APIError):
        error.update(code=exc.code, label=exc.label, status_code=exc.status_code)
    if isinstance(exc, OutcomeUnknownError | CreateAbandoned):
        error["card_may_exist"] = True
    if answer_file is not None:
        error.update(answer_status_code=answer_file.status_code, answer_file=answer_file.path)
        if answer_file.problem is not None:
            error["answer_file_error"] = answer_file.problem
    return {"error": error}


@attrs.frozen
class AnswerFile:
    """Where an unknown create's raw answer was saved (``path`` None: it could not be)."""

    status_code: int
    path: str | None
    problem: str | None = None

    def text(self) -> str:
        if self.path is not None:
            return (
                f"GatePay answered HTTP {self.status_code}; its raw answer, which may hold a"
                f" card's number and key, is in {self.path} (mode 0600)."
            )
        return (
            f"GatePay answered HTTP {self.status_code}, but its raw answer (which may hold a"
            f" card's number and key) could not be saved: {self.problem}."
        )


def _keep_answer(exc: BaseException) -> AnswerFile | None:
    """Save an unknown create's raw answer to a 0600 file: here, else in the home folder."""
    if not isinstance(exc, OutcomeUnknownError) or exc.answer is None:
        return None
    problems = []
    for directory in (Path("."), Path.home()):
        try:
            path = save_answer(exc.answer, directory)
        except (OSError, RuntimeError) as error:  # RuntimeError: no home folder
            problems.append(f"{directory}: {getattr(error, 'strerror', None) or error}")
            continue
        return AnswerFile(exc.answer.status_code, str(path))
    return AnswerFile(exc.answer.status_code, None, "; ".join(problems))


def _report(exc: BaseException, code: int, as_json: bool) -> None:
    answer_file = _keep_answer(exc)
    if as_json:
        payload = error_payload(exc, code, answer_file)
        sys.stderr.write(json.dumps(payload, ensure_ascii=False) + "\n")
    elif isinstance(exc, click.ClickException):
        exc.show()
    elif isinstance(exc, click.Abort | KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
    else:
        text = str(exc).replace(RAW_ANSWER_NOTE, "")
        click.echo(f"Error: {type(exc).__name__}: {text}", err=True)
        if answer_file is not None:
            click.echo(answer_file.text(), err=True)


def _json_requested(args: Sequence[str], options: ClientOptions) -> bool:
    if options.as_json:
        return True
    words = list(args)
    return "--json" in (words[: words.index("--")] if "--" in words else words)


class _Group(click.Group):
    """Exit codes from ``_exit`` (click's own: 2 for usage), JSON errors, lazy commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = LAZY_COMMANDS[cmd_name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return _missing_extra(cmd_name, f"{SANDBOX_EXTRA} ({exc.name} is missing)")
        command: click.Command = getattr(module, attribute)
        return command

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        words = list(sys.argv[1:] if args is None else args)
        options = ClientOptions()
        try:
            # SIGTERM like Ctrl-C in every command (exit 130); create and bulk-create
            # install their own handlers while a create may be in flight.
            with sigterm_as_interrupt():
                result = super().main(words, prog_name, complete_var, False, obj=options, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(EXIT_OK)
        except (click.ClickException, click.Abort, KeyboardInterrupt, GatePayError) as exc:
            code = exit_code_for(exc)
            _report(exc, code, _json_requested(words, options))
            sys.exit(code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        sys.exit(result if isinstance(result, int) else EXIT_OK)


def _missing_extra(name: str, message: str) -> click.Command:
    @click.command(name, context_settings={"ignore_unknown_options": True})
    @click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
    def command(arguments: tuple[str, ...]) -> None:
        raise click.UsageError(message)

    command.help = f"(not installed) {message}"
    return command


HELP = f"""GatePay gift cards from the command line.

Credentials come from --client-id / --secret-key / --base-url or from the
{ENV_CLIENT_ID}, {ENV_SECRET_KEY} and {ENV_BASE_URL} variables (prefer the
variables for the secret key: flags show up in process lists). These options, and
--timeout, --verbose and --json, go before or after the command name. Try
`gatepay demo`: it needs no credentials.

Exit codes: {EXIT_OK} done; {EXIT_USAGE} usage or configuration error, or GatePay
unreachable; {EXIT_INCOMPLETE} not finished (bulk rows failed or unknown, wait timed out);
{EXIT_UNKNOWN} a create's outcome is unknown (a card may exist); {EXIT_REFUSED} GatePay
refused (or, for a read, failed) the request; {EXIT_INTERRUPTED} interrupted.
"""


@click.group(cls=_Group, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gatepay", prog_name="gatepay")
@shared_options()
def cli() -> None:
    """The ``gatepay`` group; its help is ``HELP``."""


for _module in (_commands, _bulk_command, _sandbox_commands, _sandbox_admin):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
