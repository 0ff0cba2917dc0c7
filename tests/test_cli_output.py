"""The command line prints user text literally and keys whole, whatever the terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from gatepay_async import GiftCard, GiftCardStatus
from gatepay_async.cli._output import card_table, cards_table, print_table
from tests.conftest import create_args
from tests.test_cli import TEMPLATE_ID, env, invoke, server

__all__ = ["env", "server"]  # fixtures used here

MARKUP_TITLE = "[/bold] [red]Holiday[/red] :smile: [link=x]"
KEY = "K+/" * 20  # 60 characters, no space to break at


def _card(title: str = MARKUP_TITLE, key: str = KEY) -> GiftCard:
    return GiftCard(
        card_number="GC123456789012345678",
        key=key,
        amount=None,
        currency="USDT",
        status=GiftCardStatus.NOT_REDEEMED,
        raw_status=2,
        title=title,
    )


def _render(renderable: object, width: int = 40) -> str:
    console = Console(file=io.StringIO(), width=width, highlight=False, soft_wrap=False)
    print_table(renderable, console)  # type: ignore[arg-type]
    value = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(value, str)
    return value


def test_a_title_with_markup_prints_literally() -> None:
    out = _render(card_table(_card(), show_key=True), width=200)
    assert MARKUP_TITLE in out


@pytest.mark.parametrize("width", [20, 40, 80])
def test_the_key_is_shown_whole_in_a_narrow_terminal(width: int) -> None:
    assert KEY in _render(card_table(_card(), show_key=True), width)
    assert KEY in _render(cards_table([_card(), _card(key="k" * 44)], show_key=True), width)


def test_create_prints_a_markup_title_and_the_whole_key_at_40_columns(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    result = invoke(*create_args(MARKUP_TITLE, TEMPLATE_ID))
    assert result.exit_code == 0, result.output
    assert MARKUP_TITLE in result.output
    key_line = next(line for line in result.output.splitlines() if line.startswith("key"))
    key = key_line.split()[-1]
    assert len(key) == 44, key_line  # the sandbox's keys: base64 of 32 bytes, never cut
