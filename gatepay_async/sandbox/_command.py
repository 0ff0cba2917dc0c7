"""``python -m gatepay_async.sandbox``: run the sandbox in the foreground."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gatepay_async.sandbox._config import SandboxConfig
from gatepay_async.sandbox._faults import Fault, parse_fault
from gatepay_async.sandbox._sandbox import Sandbox
from gatepay_async.sandbox._scripts import ScriptRule, parse_script
from gatepay_async.sandbox._server import bind_socket, uvicorn_server

__all__ = ["build_arg_parser", "config_from_args", "main"]

ENV_CLIENT_ID = "GATEPAY_SANDBOX_CLIENT_ID"
ENV_SECRET_KEY = "GATEPAY_SANDBOX_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
ENV_ADMIN_TOKEN = "GATEPAY_SANDBOX_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a secret


def _fault(spec: str) -> Fault:
    try:
        return parse_fault(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _script(spec: str) -> ScriptRule:
    try:
        return parse_script(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, got {text!r}")
    return value


def _non_negative_seconds(text: str) -> float:
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def build_arg_parser(
    prog: str | None = "python -m gatepay_async.sandbox",
) -> argparse.ArgumentParser:
    """The sandbox's options; another command line can reuse (or extend) this parser."""
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local GatePay sandbox: signed gift-card endpoints with fault injection.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=_port, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--db", metavar="FILE", help="SQLite file keeping cards across restarts")
    parser.add_argument(
        "--client-id",
        default=os.environ.get(ENV_CLIENT_ID, defaults.client_id),
        help=f"client id to accept (env {ENV_CLIENT_ID}; default %(default)s)",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get(ENV_SECRET_KEY, defaults.secret_key),
        help=f"secret key for signatures (env {ENV_SECRET_KEY})",
    )
    parser.add_argument(
        "--pending-seconds",
        type=_non_negative_seconds,
        default=defaults.pending_seconds,
        help="seconds a new card stays 'pending payment' (%(default)s)",
    )
    parser.add_argument(
        "--latency",
        type=_non_negative_seconds,
        default=defaults.latency,
        help="seconds slept before every gift-card answer (%(default)s)",
    )
    parser.add_argument(
        "--clock-offset",
        type=_seconds,
        default=defaults.clock_offset,
        help="seconds the sandbox clock runs ahead of this machine's (%(default)s)",
    )
    parser.add_argument(
        "--fault",
        dest="faults",
        metavar="SPEC",
        type=_fault,
        action="append",
        default=[],
        help="inject a fault, e.g. 'create:status=503,retry_after=1,times=2' (repeatable)",
    )
    parser.add_argument(
        "--script",
        dest="scripts",
        metavar="SPEC",
        type=_script,
        action="append",
        default=[],
        help="scripted outcome for new cards, e.g. 'payment_failed:10%%:after=2s' (repeatable)",
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get(ENV_ADMIN_TOKEN),
        help=f"token the /_sandbox/* endpoints require (env {ENV_ADMIN_TOKEN}; default: random)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (%(default)s)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The SandboxConfig that parsed arguments describe."""
    return SandboxConfig(
        client_id=args.client_id,
        secret_key=args.secret_key,
        pending_seconds=args.pending_seconds,
        clock_offset=args.clock_offset,
        latency=args.latency,
        db_path=args.db,
        faults=tuple(args.faults),
        scripts=tuple(getattr(args, "scripts", ())),
        admin_token=getattr(args, "admin_token", None) or None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, print the URL and credentials, and serve until interrupted."""
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    with sock, Sandbox(config) as sandbox:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"GatePay sandbox on http://{shown}:{port}", flush=True)
        print(f"  client id:  {config.client_id}", flush=True)
        print(f"  secret key: {config.secret_key}", flush=True)
        print(f"  cards:      {config.db_path or 'in memory'}", flush=True)
        print(f"  admin token: {sandbox.admin_token}", flush=True)
        for fault in config.faults:
            print(f"  fault:      {fault.spec}", flush=True)
        for rule in config.scripts:
            print(f"  script:     {rule.spec}", flush=True)
        uvicorn_server(sandbox, log_level=args.log_level).run(sockets=[sock])
    return 0
