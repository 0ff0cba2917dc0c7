"""The click group, its exit codes, and the options every API command shares."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import httpx

from gatepay_async import AsyncGatePay, ValidationError

__all__ = [
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "ClientOptions",
    "cli",
    "client_options",
]

EXIT_OK = 0
#: A usage or configuration error (bad flag, missing credentials, unreadable input).
EXIT_USAGE = 1
#: bulk-create: some row is failed or unknown.
EXIT_INCOMPLETE = 2
#: create: the answer was lost after the request may have reached GatePay; a card may exist.
EXIT_UNKNOWN = 3
#: GatePay answered and refused the request (FAIL, 4xx), or the card was not found.
EXIT_REFUSED = 4
#: Stopped by SIGINT or SIGTERM.
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])

_FLAGS = {"client_id": "--client-id", "secret_key": "--secret-key", "base_url": "--base-url"}
_ENV = {
    "client_id": "GATEPAY_CLIENT_ID",
    "secret_key": "GATEPAY_SECRET_KEY",
    "base_url": "GATEPAY_BASE_URL",
}


class _Group(click.Group):
    """A group whose usage errors exit 1 (click's default is 2, which means "incomplete")."""

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
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(EXIT_OK)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_USAGE)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(result if isinstance(result, int) else EXIT_OK)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gatepay", prog_name="gatepay")
def cli() -> None:
    """GatePay gift cards from the command line.

    Credentials come from --client-id / --secret-key / --base-url or from the
    GATEPAY_CLIENT_ID, GATEPAY_SECRET_KEY and GATEPAY_BASE_URL variables (prefer the
    variables for the secret key: flags show up in process lists). Try `gatepay demo`:
    it needs no credentials.
    """


class ClientOptions:
    """The connection options of one command, turned into a client on demand."""

    def __init__(
        self,
        client_id: str | None,
        secret_key: str | None,
        base_url: str | None,
        on_behalf_of: str | None,
        timeout: float,
    ) -> None:
        self.client_id = client_id
        self.secret_key = secret_key
        self.base_url = base_url
        self.on_behalf_of = on_behalf_of
        self.timeout = timeout

    def client(self, http_client: httpx.AsyncClient | None = None) -> AsyncGatePay:
        """An AsyncGatePay; a configuration problem becomes a usage error (exit 1)."""
        try:
            return AsyncGatePay(
                client_id=self.client_id,
                secret_key=self.secret_key,
                base_url=self.base_url,
                on_behalf_of=self.on_behalf_of,
                timeout=self.timeout,
                http_client=http_client,
            )
        except ValidationError as exc:
            flag = _FLAGS.get(exc.argument)
            if flag is None:
                raise click.UsageError(str(exc)) from None
            raise click.UsageError(
                f"{exc.argument}: {exc.reason}"
                if "missing" not in exc.reason
                else f"missing {exc.argument}: pass {flag} or set {_ENV[exc.argument]}"
            ) from None


def client_options(command: F) -> F:
    """Add the connection options; the command receives ``options: ClientOptions``."""

    @click.option("--client-id", metavar="ID", help="GatePay client id [env GATEPAY_CLIENT_ID]")
    @click.option(
        "--secret-key",
        metavar="KEY",
        help="payment API secret key [env GATEPAY_SECRET_KEY; prefer the variable]",
    )
    @click.option(
        "--base-url",
        metavar="URL",
        help="API base URL [env GATEPAY_BASE_URL; default https://openplatform.gateapi.io]",
    )
    @click.option("--on-behalf-of", metavar="ID", help="institution sub-account id")
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        help="seconds per request",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        client_id: str | None,
        secret_key: str | None,
        base_url: str | None,
        on_behalf_of: str | None,
        timeout: float,
        **kwargs: Any,
    ) -> Any:
        options = ClientOptions(client_id, secret_key, base_url, on_behalf_of, timeout)
        return command(*args, options=options, **kwargs)

    return wrapper  # type: ignore[return-value]


def _register() -> None:
    from gatepay_async.cli import _bulk_command, _commands, _sandbox_commands

    for module in (_commands, _bulk_command, _sandbox_commands):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
