"""The GatePay account a ledger row belongs to: its encoding, and rows of the old one.

A ledger key is its account's alone (a sandbox and production, two merchants or two
sub-merchants sharing a ledger may well use the same order number), so the ledger keeps
with each key the account that used it: its base URL, client id and on-behalf-of.

They are kept as a JSON array of the three (``ACCOUNT_JSON``): one text per account and
one account per text, whatever characters the parts hold. Rows written before were kept
as a joined text (``ACCOUNT_JOINED``: ``"<base_url> client_id=<id>[ on_behalf_of=<id>]"``,
unescaped), which two accounts can share: ``client_id="m on_behalf_of=s"`` and
``client_id="m", on_behalf_of="s"`` join alike. Such a row is served to an account only
when the joined text is the account's and no other account joins to it; a row that more
than one account joins to is served to none (see :func:`match_account`): it is never sent
again either, so its card stays in the ledger for its owner, who takes it with
``Ledger.adopt`` once its merchant records show the card is its own.
"""

from __future__ import annotations

import enum
import json

__all__ = [
    "ACCOUNT_JOINED",
    "ACCOUNT_JSON",
    "AccountMatch",
    "joined_account",
    "joined_writers",
    "ledger_account",
    "match_account",
]

#: How a row's ``account`` is written (its ``account_encoding`` column): the old joined
#: text (the column's default, so that a row an older gatepay inserts is read as one), or
#: the JSON array of today.
ACCOUNT_JOINED, ACCOUNT_JSON = 1, 2

_CLIENT_ID, _ON_BEHALF_OF = " client_id=", " on_behalf_of="

Parts = tuple[str, str, "str | None"]


class AccountMatch(enum.Enum):
    """Whose a row is, for the account asking."""

    SAME = "same"  # the asking account's
    OTHER = "other"  # another account's
    AMBIGUOUS = "ambiguous"  # an old row the asking account and another both join to


def ledger_account(base_url: str, client_id: str, on_behalf_of: str | None) -> str:
    """The GatePay account a client creates cards in, as the ledger keeps it with each
    key: the JSON array of its base URL (without a trailing slash), client id and
    on-behalf-of (null when none). Injective: two accounts never share a text."""
    parts = [base_url.rstrip("/"), client_id, on_behalf_of or None]
    return json.dumps(parts, ensure_ascii=True, separators=(",", ":"))


def joined_account(base_url: str, client_id: str, on_behalf_of: str | None) -> str:
    """The account as rows written before the JSON encoding keep it (not injective)."""
    account = f"{base_url.rstrip('/')} client_id={client_id}"
    return f"{account} on_behalf_of={on_behalf_of}" if on_behalf_of else account


def joined_writers(joined: str) -> list[Parts]:
    """Every (base_url, client_id, on_behalf_of) whose joined text is ``joined``.

    Counted as widely as the joining allows (any base URL, any client id, any non-empty
    on-behalf-of): counting an account no client could have is only ever on the safe
    side, as it can make a row ambiguous but never hand it to a wrong account.
    """
    writers: list[Parts] = []
    start = joined.find(_CLIENT_ID)
    while start != -1:
        base, rest = joined[:start], joined[start + len(_CLIENT_ID) :]
        writers.append((base, rest, None))
        split = rest.find(_ON_BEHALF_OF)
        while split != -1:
            on_behalf_of = rest[split + len(_ON_BEHALF_OF) :]
            if on_behalf_of:
                writers.append((base, rest[:split], on_behalf_of))
            split = rest.find(_ON_BEHALF_OF, split + 1)
        start = joined.find(_CLIENT_ID, start + 1)
    return writers


def match_account(stored: str, encoding: int, account: str) -> AccountMatch:
    """Whose a row keeping ``stored`` (written in ``encoding``) is, for ``account`` (a
    :func:`ledger_account` text).

    A JSON row is the account's when the texts are equal. An old joined row is the
    account's when the account joins to it and it is the only account that does; when
    another account joins to it too, the row's writer cannot be told: AMBIGUOUS, which
    the ledger serves to no one (handing a card to an account it may not belong to is
    the one mistake that cannot be undone; a card left in the row is not lost).
    """
    if encoding == ACCOUNT_JSON:
        return AccountMatch.SAME if stored == account else AccountMatch.OTHER
    if encoding != ACCOUNT_JOINED:  # written by a later gatepay: not one this one can read
        return AccountMatch.OTHER
    base_url, client_id, on_behalf_of = json.loads(account)
    if joined_account(base_url, client_id, on_behalf_of) != stored:
        return AccountMatch.OTHER
    return AccountMatch.SAME if len(joined_writers(stored)) == 1 else AccountMatch.AMBIGUOUS
