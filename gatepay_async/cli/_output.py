"""Turning models into JSON-ready dicts and rich tables.

Every value that comes from a user or from GatePay (titles, names, errors) goes into a
table as a rich ``Text``, never as a markup string: a card title like ``[/bold]`` must
print as itself, not crash the command after the card exists. Key columns never wrap,
and :func:`print_table` widens the rendering rather than cut a key at the terminal's edge.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from gatepay_async import GiftCard, GiftCardBalance, GiftCardTemplate, MerchantBalance
from gatepay_async._secrets.redact import mask_secret

__all__ = [
    "balance_table",
    "card_table",
    "cards_table",
    "print_json",
    "print_table",
    "stderr_console",
    "stdout_console",
    "templates_table",
    "to_json",
]


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_json(model: Any) -> Any:
    """A model (or a list of them) as JSON-ready data: Decimal as text, times in ISO 8601."""
    if isinstance(model, list):
        return [to_json(item) for item in model]
    if attrs.has(type(model)):
        return _plain(attrs.asdict(model, recurse=False))
    return _plain(model)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_json(data), indent=2, ensure_ascii=False) + "\n")


def _text(value: Any) -> Text:
    """A cell holding ``value`` literally (no markup, no emoji codes)."""
    if value is None:
        return Text("")
    plain = _plain(value)
    return Text(plain if isinstance(plain, str) else str(plain))


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table`` whole: wider than the terminal if a key column needs it.

    A key cut at the terminal's edge (or folded over two lines) cannot be copied; a
    line longer than the terminal is only wrapped by the terminal itself, and stays one
    piece for copy and paste.
    """
    console = console or stdout_console()
    needed = Measurement.get(console, console.options.update_width(1 << 16), table).minimum
    width = console.width
    if needed > width:
        console.width = needed
    try:
        console.print(table)
    finally:
        console.width = width


def card_table(card: GiftCard, *, show_key: bool, title: str | None = None) -> Table:
    """One card, a field per line. ``show_key=False`` masks the key."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    # Both columns at their full width at least: the key is one unbreakable word.
    table.add_column("field", style="bold", no_wrap=True, min_width=len("card number"))
    table.add_column("value", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("card number", card.card_number),
        ("key", card.key if show_key else mask_secret(card.key)),
        ("amount", card.amount),
        ("currency", card.currency),
        ("status", f"{card.status.name} ({card.raw_status})"),
        ("title", card.title),
        ("template", card.template_id),
        ("created", card.created_at),
        ("redeemed", card.exchanged_at),
    ]
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, _text(value))
    return table


def cards_table(cards: Iterable[GiftCard], *, show_key: bool, title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("card number", "key", "amount", "currency", "status", "title"):
        table.add_column(
            column,
            justify="right" if column == "amount" else "left",
            no_wrap=column in ("card number", "key"),
        )
    for card in cards:
        table.add_row(
            _text(card.card_number),
            _text(card.key if show_key else mask_secret(card.key)),
            _text(card.amount),
            _text(card.currency),
            _text(card.status.name),
            _text(card.title),
        )
    return table


def templates_table(templates: Iterable[GiftCardTemplate]) -> Table:
    table = Table(title="Gift card templates")
    for column in ("template id", "name", "title (en)", "cover type", "status"):
        table.add_column(column)
    for template in templates:
        table.add_row(
            _text(template.template_id),
            _text(template.name),
            _text(template.title_en),
            _text(template.cover_type),
            _text(template.status),
        )
    return table


def balance_table(balance: GiftCardBalance | MerchantBalance) -> Table:
    table = Table(title="Balance")
    if isinstance(balance, MerchantBalance) or balance.balances:
        table.add_column("currency")
        table.add_column("available", justify="right")
        for currency, amount in sorted(balance.balances.items()):
            table.add_row(_text(currency), _text(amount))
        return table
    for column in ("card number", "amount", "currency", "status"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    table.add_row(
        _text(balance.card_number),
        _text(balance.amount),
        _text(balance.currency),
        _text(balance.status.name),
    )
    return table
