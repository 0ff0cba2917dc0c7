"""The ledger behind ``create(..., idempotency_key=...)``: one row per key, in a database.

GatePay's create has no idempotency key, so the SDK keeps one: before a keyed create is
sent, :meth:`Ledger.begin` claims the key in one transaction (an ``intent`` row, with a
random owner token for this attempt); GatePay's raw answer is committed by
:meth:`Ledger.record_answer` before anything interprets it, and the outcome by
:meth:`Ledger.record_outcome`. A key's row is in one of four states:

- ``intent``: an attempt claimed it and has not recorded an outcome: in flight elsewhere,
  or its process died mid-create. A card may exist: never sent again on its own.
- ``issued``: the card is stored (GatePay's raw answer, and the card's data).
- ``failed``: refused by GatePay, or never sent: the next call with the key sends again.
- ``unknown``: sent, and its outcome cannot be known: never sent again on its own.

The database is an SQLite file (processes of one host) or PostgreSQL (many hosts), see
``_storage.database``. The claim is one statement (``INSERT ... ON CONFLICT DO NOTHING``, and a
conditional ``UPDATE`` to take a ``failed`` row over), so two processes calling with one
key at the same moment send at most one request. Synchronous and thread-safe: the async
client calls it in a worker thread.
"""

from __future__ import annotations

import json
import secrets
import threading
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from gatepay_async._decision.outcome import (
    CreateOutcome,
    Outcome,
    as_requested,
    issued_data,
    recover_card,
    unknown_error,
)
from gatepay_async._errors import GatePayError, OutcomeUnknownError, RawAnswer, ValidationError
from gatepay_async._models import GiftCard
from gatepay_async._secrets.secret import Sealed
from gatepay_async._storage.database import (
    NOW_MS,
    POSTGRES_POOL_SIZE,
    Database,
    DatabaseError,
    Transaction,
)
from gatepay_async._storage.database import parse_database_url as _parse_url
from gatepay_async._storage.ledger_account import (
    ACCOUNT_JOINED,
    ACCOUNT_JSON,
    AccountMatch,
    joined_account,
    ledger_account,
    match_account,
)
from gatepay_async._wire.answer_frames import reads_answers
from gatepay_async._wire.decoding import decode_card
from gatepay_async._wire.validation import CreateRequest

__all__ = [
    "MAX_KEY_LENGTH",
    "Begun",
    "EarlierAttemptInDoubt",
    "Ledger",
    "LedgerError",
    "check_idempotency_key",
    "ledger_account",
]

#: The longest idempotency key accepted (an order id, a UUID, a hash fit easily).
MAX_KEY_LENGTH = 200
TABLE = "gatepay_ledger"
INTENT, ISSUED, FAILED, UNKNOWN = "intent", "issued", "failed", "unknown"
#: The error of a key released by :meth:`Ledger.release`.
RELEASED = "released: no card found in GatePay's records for this attempt; may be sent again"
#: Serialises concurrent CREATE TABLE IF NOT EXISTS on PostgreSQL (which can otherwise
#: fail on its catalog's unique index when two processes open a new database at once).
_SCHEMA_LOCK_ID = 0x6761746570617931  # "gatepay1"

#: Batches of PostgreSQL writes at once (half the pool: room for other callers).
POSTGRES_BATCHES = max(1, POSTGRES_POOL_SIZE // 2)

_COLUMNS = (
    "title, template_id, currency, amount, state, attempts, answer_status, answer_body, card,"
    " account, account_encoding"
)
#: The column that says how a row's account is written (``_storage.ledger_account``). Its default
#: is the old joined text: a ledger made before it gets the column with every row marked
#: so, and a row an older gatepay still inserts is marked so too.
_ENCODING_COLUMN = f"account_encoding INTEGER NOT NULL DEFAULT {ACCOUNT_JOINED}"


class LedgerError(GatePayError):
    """The ledger's database cannot be reached or written. Its text names the database
    (never with its password) and never an idempotency key or a card key."""


class EarlierAttemptInDoubt(GatePayError):
    """The cause of the OutcomeUnknownError raised for a key whose earlier attempt is in
    flight elsewhere or ended unknown."""


@attrs.frozen
class Begun:
    """What :meth:`Ledger.begin` decided: ``card`` (stored: nothing to send) or
    ``owner`` (this attempt holds the key: send, then record under this token)."""

    owner: str | None = None
    card: GiftCard | None = None


def check_idempotency_key(value: object) -> str:
    """``value`` if it can be an idempotency key, else a ValidationError naming it."""
    if not isinstance(value, str):
        raise ValidationError("idempotency_key", f"must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValidationError("idempotency_key", "must not be empty")
    if len(value) > MAX_KEY_LENGTH:
        raise ValidationError(
            "idempotency_key", f"must be at most {MAX_KEY_LENGTH} characters, got {len(value)}"
        )
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ValidationError("idempotency_key", "must not contain control characters")
    return value


class Ledger:
    """Idempotency keys for ``create``, in an SQLite file or a PostgreSQL database.

    ``Ledger("sqlite:///ledger.db")`` or ``Ledger("postgresql://user@host/db")`` (also
    :meth:`open`) opens the database and creates its one table if missing. Pass it (or
    the URL) to the client as ``ledger=``. Thread-safe; close it when done (a client
    closes only a ledger it opened from a URL).
    """

    def __init__(self, url: str) -> None:
        if not isinstance(url, str):
            raise ValidationError(
                "ledger",
                f"must be a sqlite:/// or postgresql:// URL or a Ledger, got {type(url).__name__}",
            )
        self.url = _parse_url(url, argument="ledger")
        #: What each thread keeps beside this ledger (the idempotent creates' batches).
        self.per_thread = threading.local()
        #: How many batches of writes may run at once: SQLite writes one transaction at
        #: a time anyway; PostgreSQL's pooled connections write in parallel.
        self.batch_width = 1 if self.url.dialect == "sqlite" else POSTGRES_BATCHES
        try:
            self._database = Database(self.url)
        except DatabaseError as exc:
            raise LedgerError(f"cannot open the ledger: {exc}") from None
        try:
            self._run(self._create_table)
        except BaseException:
            self._database.close()
            raise

    @classmethod
    def open(cls, url: str) -> Ledger:
        """The ledger at ``url`` (the same as ``Ledger(url)``)."""
        return cls(url)

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.url.display!r})"

    # ------------------------------------------------------------------ the protocol

    def begin(self, key: str, request: CreateRequest, *, account: str) -> Begun:
        """Claim ``key`` for ``request`` in ``account`` (:func:`ledger_account`), in one
        transaction.

        A new key, or one whose earlier attempt failed (refused, or never sent): claimed
        for this attempt (``owner``; send it). Issued: the stored ``card`` (send
        nothing). Raises ValidationError when the key was used for another request,
        OutcomeUnknownError when its earlier attempt is in flight or ended unknown, and
        LedgerError when the database fails (then nothing was claimed).
        """
        owner = secrets.token_hex(16)

        # The row (its raw answer, its card) is handed on sealed: _stored may raise, and
        # error tools show this frame's locals.
        def claim(tx: Transaction) -> Sealed[tuple[Any, ...]] | None:
            now = NOW_MS[tx.dialect]
            inserted = tx.execute(
                f"INSERT INTO {TABLE} (idempotency_key, title, template_id, currency, amount,"
                " account, account_encoding, state, owner, attempts, created_ms, updated_ms)"
                f" VALUES (?, ?, ?, ?, ?, ?, {ACCOUNT_JSON}, '{INTENT}', ?, 1, {now}, {now})"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key",
                (key, *_request_row(request), account, owner),
            )
            if inserted:
                return None
            row = _select(tx, key)
            if row[4] == FAILED and not _differences(row, request, account):
                # An old row's account is rewritten as today's encoding on the way.
                taken = tx.execute(
                    f"UPDATE {TABLE} SET state = '{INTENT}', owner = ?,"
                    f" account = ?, account_encoding = {ACCOUNT_JSON},"
                    " attempts = attempts + 1, answer_status = NULL, answer_body = NULL,"
                    f" card = NULL, error = NULL, updated_ms = {now}"
                    f" WHERE idempotency_key = ? AND state = '{FAILED}'"
                    " RETURNING idempotency_key",
                    (owner, account, key),
                )
                if taken:
                    return None
                row = _select(tx, key)  # another process took it over first
            return Sealed(row)

        claimed = self._run(claim)
        if claimed is None:
            return Begun(owner=owner)
        return Begun(card=_stored(claimed, request, account))

    def record_answer(self, key: str, owner: str, status_code: int, body: bytes) -> bool:
        """Commit GatePay's raw answer to ``owner``'s attempt; False if the row is no
        longer that attempt's intent."""
        return self._update(
            key,
            owner,
            "answer_status = ?, answer_body = ?",
            (status_code, body),
        )

    def record_outcome(self, key: str, owner: str, outcome: CreateOutcome) -> bool:
        """Commit the outcome ``_decision.outcome`` decided for ``owner``'s attempt; False if the
        row is no longer that attempt's intent."""
        if outcome.outcome is Outcome.ISSUED:
            answer = outcome.answer
            data: object = issued_data(answer.content) if answer is not None else None
            if data is None and outcome.card is not None:  # pragma: no cover - defensive
                data = {"card_num": outcome.card.card_number, "card_key": outcome.card.key}
            # ASCII: a descriptive field may hold what UTF-8 cannot (a lone surrogate).
            card = json.dumps(data, default=_json_default)
            status = answer.status_code if answer is not None else None
            body = answer.content if answer is not None else None
            return self._update(
                key,
                owner,
                f"state = '{ISSUED}', card = ?, answer_status = ?, answer_body = ?",
                (card, status, body),
            )
        error = outcome.error
        text = _storable(
            f"{type(error).__name__}: {error}" if error is not None else outcome.outcome.value
        )
        if outcome.outcome is Outcome.UNKNOWN:
            raw = error.answer if isinstance(error, OutcomeUnknownError) else None
            if raw is not None:  # a partial answer, or one that could not be read
                return self._update(
                    key,
                    owner,
                    f"state = '{UNKNOWN}', error = ?, answer_status = ?, answer_body = ?",
                    (text, raw.status_code, raw.body),
                )
            return self._update(key, owner, f"state = '{UNKNOWN}', error = ?", (text,))
        return self._update(key, owner, f"state = '{FAILED}', error = ?", (text,))

    def state(self, key: str) -> str | None:
        """The state of ``key``'s row (``intent``, ``issued``, ``failed``, ``unknown``),
        or None when the ledger has none."""
        rows = self._run(
            lambda tx: tx.execute(f"SELECT state FROM {TABLE} WHERE idempotency_key = ?", (key,))
        )
        return str(rows[0][0]) if rows else None

    def release(self, key: str) -> bool:
        """Let the next ``create`` with ``key`` send again, for a key left in doubt.

        A key whose attempt died mid-create (``intent``) or ended ``unknown`` is never
        sent again on its own: a card may exist. Once you have checked GatePay's records
        (the merchant console, or ``query`` by what you know) and found no card for it,
        ``release`` records it ``failed``, so that the next ``create`` with the key sends
        it. Never release a key whose attempt may still be in flight. Returns False (and
        changes nothing) when the key is not in doubt: absent, issued or failed.
        """
        check_idempotency_key(key)

        def release(tx: Transaction) -> bool:
            rows = tx.execute(
                f"UPDATE {TABLE} SET state = '{FAILED}', owner = ?, error = ?,"
                f" updated_ms = {NOW_MS[tx.dialect]}"
                f" WHERE idempotency_key = ? AND state IN ('{INTENT}', '{UNKNOWN}')"
                " RETURNING idempotency_key",
                (secrets.token_hex(16), RELEASED, key),
            )
            return bool(rows)

        return bool(self._run(release))

    def adopt(
        self,
        *,
        base_url: str,
        client_id: str,
        on_behalf_of: str | None = None,
        key: str | None = None,
    ) -> int:
        """Make rows an older gatepay wrote for this account (the client's ``base_url``,
        ``client_id`` and ``on_behalf_of``) its own: ``key``'s row, or with no ``key``
        every such row. Returns how many rows it changed.

        Older versions kept a row's account as a joined text that two accounts can share
        (``client_id="m on_behalf_of=s"`` and ``client_id="m", on_behalf_of="s"`` join
        alike; every row with an on-behalf-of is such a text). A row that more than one
        account joins to is served to none of them (ValidationError, nothing sent, the
        row kept): its writer cannot be told. Once you know the rows are this account's
        (no other account that joins alike uses the ledger, or your merchant records show
        the key's card), ``adopt`` marks them so: the next ``create`` with a key gets its
        stored card. Rows of today's format are never changed.
        """
        if key is not None:
            check_idempotency_key(key)
        base_url = base_url.strip().rstrip("/")  # as the client keeps it
        account = ledger_account(base_url, client_id, on_behalf_of)
        joined = joined_account(base_url, client_id, on_behalf_of)
        which = "" if key is None else " AND idempotency_key = ?"

        def adopt(tx: Transaction) -> int:
            rows = tx.execute(
                f"UPDATE {TABLE} SET account = ?, account_encoding = {ACCOUNT_JSON},"
                f" updated_ms = {NOW_MS[tx.dialect]}"
                f" WHERE account = ? AND account_encoding = {ACCOUNT_JOINED}{which}"
                " RETURNING idempotency_key",
                (account, joined) if key is None else (account, joined, key),
            )
            return len(rows)

        return int(self._run(adopt))

    def together(self, calls: Sequence[Callable[[], Any]]) -> list[tuple[Any, Exception | None]]:
        """Calls of this ledger's methods (:meth:`begin`, :meth:`record_answer`,
        :meth:`record_outcome`) with their transactions run as one: one commit, durable
        when this returns. How each ended: ``(result, None)`` or ``(None, what it
        raised)``, exactly as if each had run alone (see ``Database.together``)."""
        return self._database.together(calls)

    # ------------------------------------------------------------------ internals

    def _update(self, key: str, owner: str, assignments: str, params: tuple[Any, ...]) -> bool:
        def update(tx: Transaction) -> bool:
            rows = tx.execute(
                f"UPDATE {TABLE} SET {assignments}, updated_ms = {NOW_MS[tx.dialect]}"
                f" WHERE idempotency_key = ? AND owner = ? AND state = '{INTENT}'"
                " RETURNING idempotency_key",
                (*params, key, owner),
            )
            return bool(rows)

        return bool(self._run(update))

    def _run(self, work: Callable[[Transaction], Any]) -> Any:
        try:
            return self._database.transaction(work)
        except DatabaseError as exc:
            # The driver's text never holds a parameter (every value is one), so neither
            # the idempotency key nor a card key is in it.
            raise LedgerError(f"the ledger cannot be used: {exc}") from None

    def _create_table(self, tx: Transaction) -> None:
        blob = "BYTEA" if tx.dialect == "postgresql" else "BLOB"
        if tx.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK_ID,))
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " idempotency_key TEXT PRIMARY KEY,"
            " title TEXT NOT NULL,"
            " template_id TEXT NOT NULL,"
            " currency TEXT NOT NULL,"
            " amount TEXT NOT NULL,"
            " account TEXT NOT NULL,"
            f" {_ENCODING_COLUMN},"
            " state TEXT NOT NULL,"
            " owner TEXT NOT NULL,"
            " attempts INTEGER NOT NULL,"
            " answer_status INTEGER,"
            f" answer_body {blob},"
            " card TEXT,"
            " error TEXT,"
            " created_ms BIGINT NOT NULL,"
            " updated_ms BIGINT NOT NULL)"
        )
        if not _has_column(tx, "account_encoding"):  # a ledger made before the column
            tx.execute(f"ALTER TABLE {TABLE} ADD COLUMN {_ENCODING_COLUMN}")


def _has_column(tx: Transaction, name: str) -> bool:
    if tx.dialect == "postgresql":
        found = tx.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?",
            (TABLE, name),
        )
        return bool(found)
    return any(column[1] == name for column in tx.execute(f"PRAGMA table_info({TABLE})"))


def _request_row(request: CreateRequest) -> tuple[str, str, str, str]:
    return (request.title, request.template_id, request.currency, str(request.amount))


def _select(tx: Transaction, key: str) -> tuple[Any, ...]:
    return tx.execute(f"SELECT {_COLUMNS} FROM {TABLE} WHERE idempotency_key = ?", (key,))[0]


_FIELDS = ("title", "template_id", "currency", "amount")


def _differences(row: tuple[Any, ...], request: CreateRequest, account: str) -> list[str]:
    """The request fields that differ from what the key was first used for (and
    ``account`` when it was another account's)."""
    texts = zip(_FIELDS[:3], row[:3], strict=True)
    differ = [name for name, stored in texts if stored != getattr(request, name)]
    try:
        same_amount = Decimal(row[3]) == request.amount
    except ArithmeticError:
        same_amount = False
    if not same_amount:
        differ.append("amount")
    if match_account(row[9], row[10], account) is not AccountMatch.SAME:
        differ.append("account")
    return differ


@reads_answers
def _stored(sealed: Sealed[tuple[Any, ...]], request: CreateRequest, account: str) -> GiftCard:
    """The stored card of a row this attempt did not claim, or the error to raise (from
    the wrapper: this frame holds the row's raw answer and card)."""
    row = sealed.value
    differ = _differences(row, request, account)
    if match_account(row[9], row[10], account) is AccountMatch.AMBIGUOUS:
        raise ValidationError(
            "idempotency_key",
            "was first used, by an older gatepay, by an account it cannot tell from another"
            " one (their base_url, client_id and on_behalf_of join alike); it is served to"
            " neither: once your merchant records show its card is this account's,"
            " Ledger.adopt makes it this account's; nothing was sent",
        )
    if "account" in differ:  # its fields and card are another account's business
        raise ValidationError(
            "idempotency_key",
            "was first used by another GatePay account (another base_url, client_id or"
            " on_behalf_of) sharing this ledger; nothing was sent",
        )
    if differ:
        stored = dict(zip(_FIELDS, row[:4], strict=True))
        details = "; ".join(f"{name} was {stored[name]!r}" for name in differ)
        raise ValidationError(
            "idempotency_key",
            f"was first used for another request ({', '.join(differ)} differ: {details});"
            " nothing was sent",
        )
    state, status, body, card_text = row[4], row[6], row[7], row[8]
    answer = RawAnswer(int(status), bytes(body)) if status is not None else None
    if answer is not None:
        # Today's rules on the recorded answer (a card in an answer recorded by an
        # attempt that died before recording its outcome counts as issued).
        card = recover_card(answer.status_code, answer.body)
        if card is not None:
            return as_requested(card, request)  # the same request: see the check above
    if state == ISSUED and card_text is not None:
        try:
            return as_requested(decode_card(json.loads(card_text)), request)
        except (ValueError, GatePayError):
            pass
    if state == INTENT:
        why = (
            "an earlier attempt with this idempotency key is still in flight elsewhere,"
            " or its process stopped mid-create"
        )
    elif state == ISSUED:
        why = "an earlier attempt with this idempotency key issued a card the ledger cannot read"
    else:
        why = "an earlier attempt with this idempotency key ended unknown"
    raise unknown_error(request, EarlierAttemptInDoubt(f"{why}; it is not resent"), answer)


def _storable(text: str) -> str:
    """``text`` as both databases store it: an answer's message may hold a NUL (which
    PostgreSQL text refuses) or a lone surrogate (which UTF-8 cannot encode)."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to the ledger")
