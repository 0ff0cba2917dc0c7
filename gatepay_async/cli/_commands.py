"""``templates``, ``create``, ``query``, ``balance`` and ``wait``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import click

from gatepay_async import GiftCardStatus, ValidationError
from gatepay_async._cli_names import ENV_LEDGER, EXIT_INTERRUPTED, EXIT_OK
from gatepay_async.cli._create_guard import CreateGuard
from gatepay_async.cli._options import ClientOptions, client_options, secret_value, shared_options
from gatepay_async.cli._output import (
    balance_table,
    card_table,
    print_json,
    print_table,
    stdout_console,
    templates_table,
)
from gatepay_async.cli._signals import defer_signals, run_until_interrupted, signals_restored

__all__ = ["COMMANDS", "run_api_call"]

T = TypeVar("T")

KEY_HELP = "the card's key; '-' reads it from stdin, '@FILE' from a file (kept out of `ps`)"


def run_api_call(call: Callable[[], Awaitable[T]]) -> T:
    """Run one async call. Bad input is a usage error (exit 1); other GatePay errors
    propagate to the group, which picks the exit code (see ``_exit``)."""
    try:
        return run_until_interrupted(call)
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None


def _lookup(card_number: str | None, key: str | None) -> dict[str, Any]:
    if (card_number is None) == (key is None):
        raise click.UsageError("pass exactly one of --card-number or --key")
    return {"card_number": card_number} if card_number is not None else {"key": key or ""}


card_number_option = click.option("--card-number", help="the card's number")
key_option = click.option("--key", metavar="KEY|-|@FILE", callback=secret_value, help=KEY_HELP)


@click.command("templates")
@client_options
def templates_command(options: ClientOptions) -> None:
    """List the cover templates available for new cards."""

    async def call() -> Any:
        async with options.client() as gp:
            return await gp.gift_cards.list_templates()

    templates = run_api_call(call)
    if options.as_json:
        print_json(templates)
    else:
        stdout_console().print(templates_table(templates))


@click.command("create")
@click.option("--title", required=True, help="the card's title")
@click.option("--template-id", required=True, help="a template id (see `gatepay templates`)")
@click.option("--currency", required=True, help="e.g. USDT")
@click.option("--amount", required=True, help="e.g. 10 or 0.99 (at most 6 decimals)")
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="issue at most one card for KEY (an order id, say), however often the command"
    " runs: needs --ledger",
)
@click.option(
    "--ledger",
    metavar="URL",
    envvar=ENV_LEDGER,
    help=f"where idempotency keys are kept: sqlite:///FILE or postgresql://... [env"
    f" {ENV_LEDGER}; prefer the variable for a URL with a password]",
)
@client_options
def create_command(
    title: str,
    template_id: str,
    currency: str,
    amount: str,
    idempotency_key: str | None,
    ledger: str | None,
    options: ClientOptions,
) -> int:
    """Issue one gift card. The output holds its key: keep it safe.

    Exit 3 when the answer was lost after the request may have reached GatePay: a card
    may exist, and it was not sent again (an answer that arrived is saved to a file,
    mode 0600). Exit 4 when GatePay refused it. Ctrl-C or SIGTERM while the create is
    in flight waits for its answer, prints the card and exits 130; a second signal
    abandons it (exit 3: a card may exist).

    With --idempotency-key and --ledger, running the command again with the same key
    prints the card the first run issued and sends nothing; exit 3 while that key's
    earlier create is in flight elsewhere or ended unknown (nothing is sent). A keyed
    create in flight is never abandoned: after a second signal it still runs to its end
    and the ledger keeps its card (exit 3, saying so), which running again with the same
    key prints.
    """
    # The text goes to the SDK as it is, so --amount follows exactly the SDK's rules
    # (the same ones a bulk-create CSV row meets): no spaces, no "1_000", no float.
    if idempotency_key is not None and not ledger:
        raise click.UsageError(f"--idempotency-key needs --ledger (or {ENV_LEDGER})")

    guard = CreateGuard()
    with signals_restored():
        defer_signals(guard)  # before the event loop: noted, checked before the send

        async def call() -> Any:
            async with options.client(ledger=ledger) as gp:
                return await guard.create(
                    gp,
                    title=title,
                    template_id=template_id,
                    currency=currency,
                    amount=amount,
                    idempotency_key=idempotency_key,
                )

        card = run_api_call(call)
        defer_signals(guard)  # the event loop put the default handlers back: print whole
        if card is None:  # a signal came before anything was sent
            raise click.Abort
        _show_created(card, title, options)
    return EXIT_INTERRUPTED if guard.signals else EXIT_OK


def _show_created(card: Any, title: str, options: ClientOptions) -> None:
    if options.as_json:
        print_json(card)
    else:
        # GatePay's create answer carries no title (seed 003): show the one that was sent.
        shown = card if card.title else attrs.evolve(card, title=title)
        print_table(card_table(shown, show_key=True, title="Gift card issued"))


@click.command("query")
@card_number_option
@key_option
@client_options
def query_command(card_number: str | None, key: str | None, options: ClientOptions) -> None:
    """Show one card, by --card-number or --key (the table masks the key)."""
    lookup = _lookup(card_number, key)

    async def call() -> Any:
        async with options.client() as gp:
            return await gp.gift_cards.query(**lookup)

    card = run_api_call(call)
    if options.as_json:
        print_json(card)
    else:
        stdout_console().print(card_table(card, show_key=False, title="Gift card"))


@click.command("balance")
@card_number_option
@key_option
@client_options
def balance_command(card_number: str | None, key: str | None, options: ClientOptions) -> None:
    """Show a card's balance, by --card-number or --key; without either, the merchant's
    available funds per currency."""
    lookup = None if card_number is None and key is None else _lookup(card_number, key)

    async def call() -> Any:
        async with options.client() as gp:
            if lookup is None:
                return await gp.gift_cards.merchant_balance()
            return await gp.gift_cards.balance(**lookup)

    balance = run_api_call(call)
    if options.as_json:
        print_json(balance)
    else:
        stdout_console().print(balance_table(balance))


STATUS_NAMES = [status.name for status in GiftCardStatus]


@click.command("wait")
@card_number_option
@key_option
@click.option(
    "--status",
    "statuses",
    multiple=True,
    required=True,
    type=click.Choice(STATUS_NAMES, case_sensitive=False),
    help="a status to wait for (repeatable: any of them ends the wait)",
)
@click.option(
    "--timeout",
    "wait_timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="seconds to wait in all (a request timeout goes before the command)",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="seconds before the second poll (then 1.5x longer each time, at most 30 s)",
)
@shared_options(request_timeout=False)
def wait_command(
    card_number: str | None,
    key: str | None,
    statuses: tuple[str, ...],
    wait_timeout: float,
    interval: float,
) -> None:
    """Poll a card until its status is one of --status; print the card.

    GatePay sends no callbacks. Exit 2 if no such status is seen within --timeout.
    """
    options = click.get_current_context().ensure_object(ClientOptions)
    lookup = _lookup(card_number, key)
    wanted = [GiftCardStatus[name.upper()] for name in statuses]

    async def call() -> Any:
        async with options.client() as gp:
            return await gp.gift_cards.wait_for_status(
                **lookup, statuses=wanted, timeout=wait_timeout, interval=interval
            )

    card = run_api_call(call)
    if options.as_json:
        print_json(card)
    else:
        stdout_console().print(card_table(card, show_key=False, title="Gift card"))


COMMANDS = [templates_command, create_command, query_command, balance_command, wait_command]
