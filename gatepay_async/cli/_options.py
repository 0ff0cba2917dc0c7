"""The options every API command shares, accepted before or after the command name.

``gatepay --base-url URL templates`` and ``gatepay templates --base-url URL`` mean the
same: the group and each command declare the same options, and each option's callback
stores what was given into one :class:`ClientOptions` shared by the group's context and
its command's (a value after the command wins over one before it).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from gatepay_async import AsyncGatePay, ValidationError
from gatepay_async._http.config import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    ENV_BASE_URL,
    ENV_CLIENT_ID,
    ENV_SECRET_KEY,
)

__all__ = [
    "ClientOptions",
    "client_options",
    "enable_debug_logging",
    "secret_value",
    "shared_options",
]

F = TypeVar("F", bound=Callable[..., Any])

_FLAGS = {"client_id": "--client-id", "secret_key": "--secret-key", "base_url": "--base-url"}
_ENV = {"client_id": ENV_CLIENT_ID, "secret_key": ENV_SECRET_KEY, "base_url": ENV_BASE_URL}


class ClientOptions:
    """The connection and output options of one invocation, turned into a client on demand."""

    def __init__(self) -> None:
        self.client_id: str | None = None
        self.secret_key: str | None = None
        self.base_url: str | None = None
        self.on_behalf_of: str | None = None
        self.timeout: float | None = None
        self.verbose = False
        self.as_json = False

    def client(
        self, http_client: httpx.AsyncClient | None = None, *, ledger: str | None = None
    ) -> AsyncGatePay:
        """An AsyncGatePay (on ``http_client`` if given, with ``ledger`` if given); a
        configuration problem becomes a usage error (exit 1)."""
        if self.verbose:
            enable_debug_logging()
        try:
            return AsyncGatePay(
                client_id=self.client_id,
                secret_key=self.secret_key,
                base_url=self.base_url,
                on_behalf_of=self.on_behalf_of,
                timeout=self.timeout if self.timeout is not None else DEFAULT_TIMEOUT,
                http_client=http_client,
                ledger=ledger,
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


class _DebugHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler --verbose adds (a type of its own, so it is added once). It writes to
    whatever ``sys.stderr`` is when a record comes, not the one it was created with."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def enable_debug_logging() -> None:
    """The SDK's debug log (one line per attempt; secrets redacted) on stderr."""
    logger = logging.getLogger("gatepay")
    logger.setLevel(logging.DEBUG)
    if not any(isinstance(h, _DebugHandler) for h in logger.handlers):
        handler = _DebugHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


def _settings(ctx: click.Context) -> ClientOptions:
    # ensure_object finds the root context's object when a command's context looks.
    return ctx.ensure_object(ClientOptions)


def _store(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and value is not False:
            setattr(_settings(ctx), attribute, value)

    return callback


def shared_options(*, request_timeout: bool = True, json_flag: bool = True) -> Callable[[F], F]:
    """Add the shared options to a group or command; values land in ClientOptions."""

    def decorate(command: F) -> F:
        options = [
            click.option(
                "--client-id",
                metavar="ID",
                expose_value=False,
                callback=_store("client_id"),
                help=f"GatePay client id [env {ENV_CLIENT_ID}]",
            ),
            click.option(
                "--secret-key",
                metavar="KEY",
                expose_value=False,
                callback=_store("secret_key"),
                help=f"payment API secret key [env {ENV_SECRET_KEY}; prefer the variable: "
                "flags show in process lists]",
            ),
            click.option(
                "--base-url",
                metavar="URL",
                expose_value=False,
                callback=_store("base_url"),
                help=f"API base URL [env {ENV_BASE_URL}; default {DEFAULT_BASE_URL}]",
            ),
            click.option(
                "--on-behalf-of",
                metavar="ID",
                expose_value=False,
                callback=_store("on_behalf_of"),
                help="institution sub-account id",
            ),
            click.option(
                "--verbose",
                "-v",
                is_flag=True,
                default=False,
                expose_value=False,
                callback=_store("verbose"),
                help="log each request to stderr (the SDK's debug log; secrets redacted)",
            ),
        ]
        if request_timeout:
            options.append(
                click.option(
                    "--timeout",
                    type=click.FloatRange(min=0, min_open=True),
                    expose_value=False,
                    callback=_store("timeout"),
                    help=f"seconds per request [default {DEFAULT_TIMEOUT:g}]",
                )
            )
        if json_flag:
            options.append(
                click.option(
                    "--json",
                    "as_json",
                    is_flag=True,
                    default=False,
                    expose_value=False,
                    callback=_store("as_json"),
                    help="print JSON instead of tables; errors become a JSON object on stderr",
                )
            )
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def client_options(command: F) -> F:
    """The shared options on a command, which receives ``options: ClientOptions``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = _settings(click.get_current_context())
        return command(*args, options=options, **kwargs)

    return shared_options()(wrapper)  # type: ignore[return-value]


def secret_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``-`` reads the value from stdin, ``@FILE`` from a file: keys stay out of ``ps``."""
    if value is None:
        return None
    if value == "-":
        text = sys.stdin.readline()
        source = "stdin"
    elif value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8").splitlines()[0] if path.stat() else ""
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            reason = "it is empty" if isinstance(exc, IndexError) else str(exc)
            raise click.BadParameter(f"cannot read {path}: {reason}") from None
        source = str(path)
    else:
        return value
    text = text.strip()
    if not text:
        raise click.BadParameter(f"no value on the first line of {source}")
    return text
