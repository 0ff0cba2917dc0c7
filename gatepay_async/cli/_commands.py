"""``templates``, ``create``, ``query`` and ``balance``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import click

from gatepay_async import GatePayError, ValidationError
from gatepay_async.cli._app import ClientOptions, client_options
from gatepay_async.cli._output import (
    balance_table,
    card_table,
    print_json,
    stdout_console,
    templates_table,
)

__all__ = ["COMMANDS", "run_api_call"]

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


def run_api_call(call: Callable[[], Awaitable[T]]) -> T:
    """Run one async call; a GatePay error is printed and becomes exit status 1."""
    try:
        return anyio.run(call)
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None
    except GatePayError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


def _lookup(card_number: str | None, key: str | None) -> dict[str, str]:
    if (card_number is None) == (key is None):
        raise click.UsageError("pass exactly one of --card-number or --key")
    return {"card_number": card_number} if card_number is not None else {"key": key or ""}


@click.command("templates")
@json_option
@client_options
def templates_command(as_json: bool, options: ClientOptions) -> None:
    """List the cover templates available for new cards."""

    async def call() -> Any:
        async with options.client() as gp:
            return await gp.gift_cards.list_templates()

    templates = run_api_call(call)
    if as_json:
        print_json(templates)
    else:
        stdout_console().print(templates_table(templates))


@click.command("create")
@click.option("--title", required=True, help="the card's title")
@click.option("--template-id", required=True, help="a template id (see `gatepay templates`)")
@click.option("--currency", required=True, help="e.g. USDT")
@click.option("--amount", required=True, help="e.g. 10 or 0.99 (at most 6 decimals)")
@json_option
@client_options
def create_command(
    title: str, template_id: str, currency: str, amount: str, as_json: bool, options: ClientOptions
) -> None:
    """Issue one gift card. The output holds its key: keep it safe."""
    # The text goes to the SDK as it is, so --amount follows exactly the SDK's rules
    # (the same ones a bulk-create CSV row meets): no spaces, no "1_000", no float.

    async def call() -> Any:
        async with options.client() as gp:
            return await gp.gift_cards.create(
                title=title, template_id=template_id, currency=currency, amount=amount
            )

    card = run_api_call(call)
    if as_json:
        print_json(card)
    else:
        stdout_console().print(card_table(card, show_key=True, title="Gift card issued"))


@click.command("query")
@click.option("--card-number", help="the card's number")
@click.option("--key", help="the card's key")
@json_option
@client_options
def query_command(
    card_number: str | None, key: str | None, as_json: bool, options: ClientOptions
) -> None:
    """Show one card, by --card-number or --key (the table masks the key)."""
    lookup = _lookup(card_number, key)

    async def call() -> Any:
        async with options.client() as gp:
            return await gp.gift_cards.query(**lookup)

    card = run_api_call(call)
    if as_json:
        print_json(card)
    else:
        stdout_console().print(card_table(card, show_key=False, title="Gift card"))


@click.command("balance")
@click.option("--card-number", help="the card's number")
@click.option("--key", help="the card's key")
@json_option
@client_options
def balance_command(
    card_number: str | None, key: str | None, as_json: bool, options: ClientOptions
) -> None:
    """Show a card's balance, by --card-number or --key."""
    lookup = _lookup(card_number, key)

    async def call() -> Any:
        async with options.client() as gp:
            return await gp.gift_cards.balance(**lookup)

    balance = run_api_call(call)
    if as_json:
        print_json(balance)
    else:
        stdout_console().print(balance_table(balance))


COMMANDS = [templates_command, create_command, query_command, balance_command]
