"""``gatepay sandbox-admin``: play the card holder's and GatePay's side on a running sandbox.

Calls the sandbox's admin endpoints (``/_sandbox/...``) with its admin token, which the
sandbox prints when it starts. Prefer the environment variable for the token: flags show
up in process lists.
"""

from __future__ import annotations

import json
from typing import Any

import click
import httpx

from gatepay_async._cli_names import (
    ENV_SANDBOX_ADMIN_TOKEN,
    ENV_SANDBOX_URL,
    EXIT_REFUSED,
    SANDBOX_URL,
)

__all__ = ["COMMANDS"]


class _Admin:
    def __init__(self, url: str, token: str | None, as_json: bool) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.as_json = as_json

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The endpoint's JSON answer; exits 1 (no sandbox, no or wrong token) or 4
        (no such card, a status that does not allow the action)."""
        if not self.token:
            raise click.UsageError(
                f"missing admin token: pass --token or set {ENV_SANDBOX_ADMIN_TOKEN}"
            )
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            answer = httpx.request(
                method, self.url + path, json=body, headers=headers, timeout=10.0
            )
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the sandbox at {self.url}: {exc}") from None
        try:
            data = answer.json()
        except ValueError:
            data = {"error": answer.text[:200]}
        if answer.status_code in (401, 403):
            raise click.ClickException(f"the sandbox refused the admin token ({data.get('error')})")
        if answer.status_code in (404, 409):
            click.echo(f"error: {data.get('error', answer.reason_phrase)}", err=True)
            raise SystemExit(EXIT_REFUSED)
        if answer.status_code != 200:
            raise click.ClickException(str(data.get("error", answer.reason_phrase)))
        return data

    def show(self, data: Any) -> None:
        if self.as_json:
            click.echo(json.dumps(data, indent=2, sort_keys=True))
        elif isinstance(data, dict) and "card_number" in data:
            click.echo(
                f"card {data['card_number']}: {data['status']} (code {data['status_code']}), "
                f"owner {data['owner']}, gifted {data['give_count']}x, "
                f"redeemed by {data['exchange_uid'] or '-'}, "
                f"balance {data['balance']} {data['currency']}"
            )
        else:
            for name, value in data.items():
                click.echo(f"{name}: {value}")


_pass_admin = click.make_pass_decorator(_Admin)


@click.group("sandbox-admin")
@click.option(
    "--url",
    envvar=ENV_SANDBOX_URL,
    default=SANDBOX_URL,
    show_default=True,
    help=f"the sandbox [env {ENV_SANDBOX_URL}]",
)
@click.option(
    "--token",
    envvar=ENV_SANDBOX_ADMIN_TOKEN,
    help=f"admin token [env {ENV_SANDBOX_ADMIN_TOKEN}; prefer it]",
)
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")
@click.pass_context
def sandbox_admin(ctx: click.Context, url: str, token: str | None, as_json: bool) -> None:
    """Change cards in a running sandbox as a holder or GatePay would (redeem, gift...)."""
    ctx.obj = _Admin(url, token, as_json)


@sandbox_admin.command("redeem")
@click.argument("card_number")
@click.option("--uid", type=click.IntRange(min=1), help="the redeemer's uid (default 20001)")
@_pass_admin
def redeem(admin: _Admin, card_number: str, uid: int | None) -> None:
    """REDEEMED: exchange_uid and exchange_time set, balance zero."""
    body = {} if uid is None else {"uid": uid}
    admin.show(admin.call("POST", f"/_sandbox/cards/{card_number}/redeem", body))


@sandbox_admin.command("gift")
@click.argument("card_number")
@click.option("--to", "to_uid", type=click.IntRange(min=1), required=True, help="new owner uid")
@_pass_admin
def gift(admin: _Admin, card_number: str, to_uid: int) -> None:
    """Gift on: owner changes, give_count + 1, last_give_time set."""
    admin.show(admin.call("POST", f"/_sandbox/cards/{card_number}/gift", {"to_uid": to_uid}))


def _status_command(action: str, summary: str) -> click.Command:
    @click.command(action, help=summary)
    @click.argument("card_number")
    @_pass_admin
    def command(admin: _Admin, card_number: str) -> None:
        admin.show(admin.call("POST", f"/_sandbox/cards/{card_number}/{action}"))

    return command


for _action, _summary in (
    ("freeze", "FROZEN (GatePay's risk control)."),
    ("expire", "EXPIRED."),
    ("cancel", "CANCELLED."),
):
    sandbox_admin.add_command(_status_command(_action, _summary))


@sandbox_admin.command("set-status")
@click.argument("card_number")
@click.argument("status")
@_pass_admin
def set_status(admin: _Admin, card_number: str, status: str) -> None:
    """Any status: a code 0-8 or a name (payment_failed, manual_review, review_rejected...)."""
    value: int | str = int(status) if status.isdigit() else status
    admin.show(admin.call("POST", f"/_sandbox/cards/{card_number}/status", {"status": value}))


@sandbox_admin.command("show")
@click.argument("card_number")
@_pass_admin
def show(admin: _Admin, card_number: str) -> None:
    """The card's status and lifecycle fields (never its key)."""
    admin.show(admin.call("GET", f"/_sandbox/cards/{card_number}"))


@sandbox_admin.command("script")
@click.argument("specs", nargs=-1, required=True)
@_pass_admin
def script(admin: _Admin, specs: tuple[str, ...]) -> None:
    """Scripted outcomes for new cards, e.g. 'payment_failed:10%:after=2s'."""
    admin.show(admin.call("POST", "/_sandbox/scripts", {"specs": list(specs)}))


@sandbox_admin.command("clear-scripts")
@_pass_admin
def clear_scripts(admin: _Admin) -> None:
    """New cards follow the default path again."""
    admin.show(admin.call("DELETE", "/_sandbox/scripts"))


@sandbox_admin.command("fault")
@click.argument("specs", nargs=-1, required=True)
@_pass_admin
def fault(admin: _Admin, specs: tuple[str, ...]) -> None:
    """Inject faults, e.g. 'query:status=503,times=2'."""
    admin.show(admin.call("POST", "/_sandbox/faults", {"specs": list(specs)}))


@sandbox_admin.command("stats")
@_pass_admin
def stats(admin: _Admin) -> None:
    """Requests per operation, cards issued, active faults."""
    admin.show(admin.call("GET", "/_sandbox/stats"))


COMMANDS = [sandbox_admin]
