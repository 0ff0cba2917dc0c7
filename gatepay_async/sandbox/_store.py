"""Where issued cards live: in memory, or in a SQLite file that survives a restart."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Protocol

from gatepay_async.sandbox._cards import Card

__all__ = ["CardStore", "MemoryStore", "SqliteStore", "open_store"]


class CardStore(Protocol):
    """What the sandbox needs from a store. Safe to call from any thread."""

    def add(self, card: Card) -> bool:
        """Store ``card``; False (and nothing stored) if its number or key is taken."""

    def replace(self, card: Card) -> bool:
        """Store ``card`` over the stored card with its number; False if there is none."""

    def get_by_number(self, card_num: str) -> Card | None: ...

    def get_by_key(self, card_key: str) -> Card | None: ...

    def count(self) -> int:
        """How many cards have been issued."""

    def all_titles(self) -> list[str]:
        """Every card's title, in the order the cards were issued."""

    def close(self) -> None: ...


class MemoryStore:
    """Cards in two dicts; gone when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_number: dict[str, Card] = {}
        self._by_key: dict[str, Card] = {}

    def add(self, card: Card) -> bool:
        with self._lock:
            if card.card_num in self._by_number or card.card_key in self._by_key:
                return False
            self._by_number[card.card_num] = card
            self._by_key[card.card_key] = card
            return True

    def replace(self, card: Card) -> bool:
        with self._lock:
            old = self._by_number.get(card.card_num)
            if old is None or old.card_key != card.card_key:
                return False
            self._by_number[card.card_num] = card
            self._by_key[card.card_key] = card
            return True

    def get_by_number(self, card_num: str) -> Card | None:
        return self._by_number.get(card_num)

    def get_by_key(self, card_key: str) -> Card | None:
        return self._by_key.get(card_key)

    def count(self) -> int:
        return len(self._by_number)

    def all_titles(self) -> list[str]:
        with self._lock:
            return [card.title for card in self._by_number.values()]

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    card_num     TEXT PRIMARY KEY,
    card_key     TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    template_id  TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount       TEXT NOT NULL,
    creator      INTEGER NOT NULL,
    creator_name TEXT NOT NULL,
    owner        INTEGER NOT NULL,
    scope        TEXT NOT NULL,
    create_time  INTEGER NOT NULL
)
"""
#: Lifecycle columns, added to a file written by a version that did not have them.
_LIFECYCLE_COLUMNS = (
    ("status", "TEXT"),
    ("timeline", "TEXT NOT NULL DEFAULT '[]'"),
    ("exchange_uid", "INTEGER NOT NULL DEFAULT 0"),
    ("exchange_time", "INTEGER NOT NULL DEFAULT 0"),
    ("give_count", "INTEGER NOT NULL DEFAULT 0"),
    ("last_give_time", "INTEGER NOT NULL DEFAULT 0"),
    ("balance", "TEXT"),
)
_COLUMNS = (
    "card_num, card_key, title, template_id, currency, amount,"
    " creator, creator_name, owner, scope, create_time,"
    " status, timeline, exchange_uid, exchange_time, give_count, last_give_time, balance"
)
_INSERT = f"INSERT INTO cards ({_COLUMNS}) VALUES ({', '.join('?' * 18)})"  # noqa: S608
_REPLACE = (
    "UPDATE cards SET status = ?, timeline = ?, owner = ?, exchange_uid = ?,"
    " exchange_time = ?, give_count = ?, last_give_time = ?, balance = ?"
    " WHERE card_num = ? AND card_key = ?"
)
_BY_NUMBER = f"SELECT {_COLUMNS} FROM cards WHERE card_num = ?"  # noqa: S608
_BY_KEY = f"SELECT {_COLUMNS} FROM cards WHERE card_key = ?"  # noqa: S608


def _timeline_text(card: Card) -> str:
    return json.dumps([list(step) for step in card.timeline])


def _card(row: tuple[object, ...] | None) -> Card | None:
    if row is None:
        return None
    fields = list(row)
    fields[12] = tuple((int(at), str(name)) for at, name in json.loads(str(fields[12])))
    return Card(*fields)  # type: ignore[arg-type]


class SqliteStore:
    """Cards in a SQLite file (WAL mode): one connection behind a lock, one commit per card."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(cards)")}
            for name, kind in _LIFECYCLE_COLUMNS:
                if name not in present:
                    self._db.execute(f"ALTER TABLE cards ADD COLUMN {name} {kind}")
            self._db.commit()

    def add(self, card: Card) -> bool:
        row = (
            card.card_num,
            card.card_key,
            card.title,
            card.template_id,
            card.currency,
            card.amount,
            card.creator,
            card.creator_name,
            card.owner,
            card.scope,
            card.create_time,
            card.status,
            _timeline_text(card),
            card.exchange_uid,
            card.exchange_time,
            card.give_count,
            card.last_give_time,
            card.balance,
        )
        with self._lock:
            try:
                self._db.execute(_INSERT, row)
            except sqlite3.IntegrityError:
                self._db.rollback()
                return False
            self._db.commit()
            return True

    def replace(self, card: Card) -> bool:
        row = (
            card.status,
            _timeline_text(card),
            card.owner,
            card.exchange_uid,
            card.exchange_time,
            card.give_count,
            card.last_give_time,
            card.balance,
            card.card_num,
            card.card_key,
        )
        with self._lock:
            changed = self._db.execute(_REPLACE, row).rowcount
            self._db.commit()
            return changed == 1

    def get_by_number(self, card_num: str) -> Card | None:
        with self._lock:
            return _card(self._db.execute(_BY_NUMBER, (card_num,)).fetchone())

    def get_by_key(self, card_key: str) -> Card | None:
        with self._lock:
            return _card(self._db.execute(_BY_KEY, (card_key,)).fetchone())

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM cards").fetchone()
            return int(n)

    def all_titles(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT title FROM cards ORDER BY rowid").fetchall()
            return [str(title) for (title,) in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(db_path: str | None) -> CardStore:
    """A SQLite store for ``db_path``, or a memory store for ``None``."""
    return MemoryStore() if db_path is None else SqliteStore(db_path)
