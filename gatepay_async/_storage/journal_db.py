"""A bulk journal in a database (SQLite or PostgreSQL), shared by a campaign's workers.

The records are those of the file journal (``_storage.journal``), each kept as the JSON text the
file journal would write, in ``gatepay_journal_records`` (one row per record, in order).
``gatepay_journal_refs`` has one row per ref of a campaign: what its records say
(``recorded``: intent, issued, failed or unknown, NULL before any record), and who
holds it (``state``: ``claimed`` by ``owner`` until ``lease_until``, else the recorded
state), on the database's clock.

Workers split a campaign's rows by claims: a worker takes a few rows ahead in one
transaction (:meth:`DatabaseJournal.claim`); a row nobody has, a claim whose lease ran
out (its worker stopped before sending it) and a row that failed before this worker
started become its own; every other row is decided (issued, unknown: reported from the
journal) or held by another worker (claimed, in flight, failed in its run): never sent
here. An intent is written only while its claim is still this worker's; one whose claim
was lost is not sent (:meth:`DatabaseJournal.may_send`). An intent is never released by a
lease: a worker that dies mid-request leaves its rows ``intent``, read as unknown, never
sent again on their own.

Records are queued in memory and written by :meth:`DatabaseJournal.flush` in one
transaction (the bulk run flushes before each send, one flush shared by the workers
waiting then), exactly as the file journal's pending lines: the event loop never waits
on the database per record. A failed flush stops the journal as a failed write stops
the file journal.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from gatepay_async._bulk_models import BulkState
from gatepay_async._errors import ValidationError
from gatepay_async._storage.database import (
    NOW_MS,
    Database,
    DatabaseError,
    DatabaseURL,
    Transaction,
    parse_database_url,
)
from gatepay_async._storage.journal_records import (
    BULK_STATES,
    INTENT,
    INTERRUPTED,
    ISSUED,
    UNKNOWN,
    JournalEntry,
    JournalError,
    RecordMethods,
    encode_record,
    ended_record,
    entry_of,
    issued_cards,
    new_campaign_id,
    parse_record,
)
from gatepay_async._storage.journal_store import DEFAULT_LEASE

__all__ = ["DEFAULT_LEASE", "DatabaseJournal"]

#: Refs read in one statement (prefetch).
READ_CHUNK = 500
#: Decided refs kept in memory beyond this are forgotten (read again if asked).
CACHE_REFS = 8192
#: How long a transaction waits for a PostgreSQL connection (the server's first answer
#: counts as much when the journal is opened). A journal needs a few connections at once
#: (one flush, one claim), never the pool's all: a wait this long means the server is
#: gone, and the run stops then rather than after the pool's default wait.
POOL_WAIT = 10.0

RECORDS, REFS = "gatepay_journal_records", "gatepay_journal_refs"
WORKERS = "gatepay_journal_workers"
CAMPAIGNS = "gatepay_journal_campaigns"

_SCHEMA = {
    "sqlite": [
        f"""CREATE TABLE IF NOT EXISTS {RECORDS} (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            campaign TEXT NOT NULL, ref TEXT NOT NULL, op TEXT NOT NULL,
            record TEXT NOT NULL, at INTEGER NOT NULL)""",
    ],
    "postgresql": [
        "SELECT pg_advisory_xact_lock(7261386)",  # two first workers: one creates the tables
        f"""CREATE TABLE IF NOT EXISTS {RECORDS} (
            id BIGSERIAL PRIMARY KEY,
            campaign TEXT NOT NULL, ref TEXT NOT NULL, op TEXT NOT NULL,
            record TEXT NOT NULL, at BIGINT NOT NULL)""",
    ],
}
_REFS_SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {REFS} (
        campaign TEXT NOT NULL, ref TEXT NOT NULL,
        state TEXT NOT NULL, recorded TEXT, owner TEXT NOT NULL,
        lease_until BIGINT NOT NULL DEFAULT 0, decided_at BIGINT NOT NULL DEFAULT 0,
        first_record BIGINT, last_record BIGINT,
        PRIMARY KEY (campaign, ref))""",
    f"CREATE INDEX IF NOT EXISTS {REFS}_order ON {REFS} (campaign, first_record)",
    # The workers of a campaign that are running: when each started, and when it last
    # wrote or claimed (a worker not seen for a lease has stopped).
    f"""CREATE TABLE IF NOT EXISTS {WORKERS} (
        campaign TEXT NOT NULL, owner TEXT NOT NULL,
        started_ms BIGINT NOT NULL, seen_ms BIGINT NOT NULL,
        PRIMARY KEY (campaign, owner))""",
    # Each campaign's id: made by the first open of the campaign (a campaign an older
    # version wrote gets one then). The outputs of its runs carry it, and only an output
    # that carries it is ever read back into the campaign's journal.
    f"""CREATE TABLE IF NOT EXISTS {CAMPAIGNS} (
        campaign TEXT PRIMARY KEY, campaign_id TEXT NOT NULL, created_ms BIGINT NOT NULL)""",
]

# A claim: a ref nobody has; a claim whose lease ran out; a row that failed (or, when
# unknown rows are to be sent again, ended unknown) before this worker started. One
# statement for a whole chunk of refs ({rows}: one "(?, ?, 'claimed', ?, NOW + ?)" each).
_CLAIM = f"""
    INSERT INTO {REFS} (campaign, ref, state, owner, lease_until)
    VALUES {{rows}}
    ON CONFLICT (campaign, ref) DO UPDATE
    SET state = 'claimed', owner = excluded.owner, lease_until = excluded.lease_until
    WHERE ({REFS}.state = 'claimed' AND {REFS}.lease_until < {{now}})
       OR ({REFS}.state = 'failed' AND {REFS}.decided_at < ?)
       OR ({REFS}.state = 'unknown' AND {REFS}.decided_at < ? AND ? = 1)
    RETURNING ref
"""
# Records give their refs a state (one statement for refs that differ: {rows} is one
# "(?, ?, ?, ?, ?, 0, NOW, ?, ?)" each). Issued stays issued (a card exists whatever came
# after); otherwise only the ref's owner writes it, and an intent also takes a row that
# failed before this worker started.
_RECORD = f"""
    INSERT INTO {REFS}
        (campaign, ref, state, recorded, owner, lease_until, decided_at, first_record, last_record)
    VALUES {{rows}}
    ON CONFLICT (campaign, ref) DO UPDATE
    SET state = excluded.state, recorded = excluded.recorded,
        decided_at = excluded.decided_at, last_record = excluded.last_record,
        first_record = COALESCE({REFS}.first_record, excluded.first_record)
    WHERE {REFS}.state <> 'issued' AND (
        excluded.state = 'issued'
        OR {REFS}.owner = excluded.owner
        OR (excluded.state = 'intent' AND {REFS}.state = 'failed' AND {REFS}.decided_at < ?))
    RETURNING ref
"""
#: New record ids, as many as asked for (the records are inserted with them).
_NEW_IDS = {
    "postgresql": f"SELECT nextval(pg_get_serial_sequence('{RECORDS}', 'id'))"
    " FROM generate_series(1, ?)",
    # A write transaction holds SQLite's one write lock: nobody else takes ids meanwhile.
    "sqlite": f"SELECT COALESCE(max(id), 0) FROM {RECORDS}",
}
#: Refs whose records go in one statement at most.
WRITE_CHUNK = 500
_READ = f"""
    SELECT r.ref, r.recorded, rec.record, r.state, r.owner, r.lease_until > {{now}}
    FROM {REFS} r LEFT JOIN {RECORDS} rec ON rec.id = r.last_record
    WHERE r.campaign = ? AND r.ref IN ({{marks}})
"""

# What the cache holds for a ref: (recorded state or None, the deciding record's text,
# whether another worker owns the ref).
_Known = tuple[str | None, str | None, bool]
_ABSENT: _Known = (None, None, False)

#: The error of an intent another worker wrote and has not followed with an outcome.
IN_FLIGHT_ELSEWHERE = (
    "sent by another worker of this campaign, and its answer is not recorded: it is in"
    " flight there, or that worker stopped before its answer was recorded; a card may have"
    " been issued"
)


class DatabaseJournal(RecordMethods):
    """A campaign's journal in a database. Use :meth:`open`; close it when done."""

    shared = True

    def __init__(
        self,
        database: Database,
        campaign: str,
        *,
        owner: str,
        lease: float,
        started_ms: int,
        owns_database: bool,
        campaign_id: str,
    ) -> None:
        self._database = database
        self._campaign = campaign
        self._campaign_id = campaign_id
        self.owner = owner
        self._lease_ms = int(lease * 1000)
        self._started_ms = started_ms
        self._owns_database = owns_database
        self._now = NOW_MS[database.dialect]
        self._lock = threading.Lock()  # the cache and the queue
        self._flush_lock = threading.Lock()  # one write transaction at a time
        self._known: dict[str, _Known] = {}
        self._pending: list[tuple[str, str, str, str]] = []  # ref, state, op, record text
        self._pending_refs: Counter[str] = Counter()
        self._claims: dict[str, bool] = {}  # the last claim's refs: True if this worker's
        self._lost: set[str] = set()  # intents whose claim another worker had taken
        self._failure: JournalError | None = None
        self._closed = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        url: str | DatabaseURL,
        *,
        lease: float = DEFAULT_LEASE,
        owner: str | None = None,
        started_ms: int | None = None,
    ) -> DatabaseJournal:
        """Open the campaign named by ``url`` (``?campaign=NAME``, default "default"),
        creating the tables if they are missing. ``lease``: seconds a claim lasts.
        ``owner``: this worker's token (a new random one by default). ``started_ms``:
        when this worker's run started, on the database's clock (default: now); a row
        failed or left unknown since then is another worker's of this run, never sent
        here (a run of several workers gives them all its own start). Workers started
        by hand share a start too: the earliest start among the campaign's workers still
        running (seen within a lease) when this one opens, so that a worker started
        later never sends a sibling's fresh unknown again, even with retry_unknown."""
        parsed = parse_database_url(url, argument="journal") if isinstance(url, str) else url
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise ValidationError("lease", f"must be a number of seconds > 0, got {lease!r}")
        try:
            database = Database(parsed, pool_wait=POOL_WAIT)
        except DatabaseError as exc:
            raise JournalError(f"cannot open the journal: {exc}") from None
        owner = owner or secrets.token_hex(12)
        lease_ms = int(lease * 1000)

        def join(tx: Transaction) -> tuple[int, str]:
            _create_tables(tx)
            campaign_id = _campaign_id(tx, parsed.campaign)
            return _join(tx, parsed.campaign, owner, lease_ms), campaign_id

        try:
            started, campaign_id = database.transaction(join)
        except DatabaseError as exc:
            database.close()
            raise JournalError(f"cannot open the journal: {exc}") from None
        except BaseException:
            database.close()
            raise
        return cls(
            database,
            parsed.campaign,
            owner=owner,
            lease=lease,
            started_ms=started if started_ms is None else min(started, started_ms),
            owns_database=True,
            campaign_id=campaign_id,
        )

    @property
    def description(self) -> str:
        return f"{self._database.url.display} (campaign {self._campaign!r})"

    @property
    def campaign(self) -> str:
        return self._campaign

    @property
    def campaign_id(self) -> str:
        """The campaign's id (random, made by its first open): the name may be reused by
        another campaign, in another database, the id is this one's only."""
        return self._campaign_id

    @property
    def started_ms(self) -> int:
        """When this worker's run started, on the database's clock (ms)."""
        return self._started_ms

    def __repr__(self) -> str:
        return f"DatabaseJournal({self.description!r})"

    # ------------------------------------------------------------------ claims

    def claim(self, refs: Sequence[str], *, retry_unknown: bool = False) -> None:
        """Take ``refs`` for this worker where nobody else holds them (one transaction),
        and read what the journal holds for each (see the module's docstring)."""
        refs = list(dict.fromkeys(refs))
        if not refs:
            return
        self._check_open()
        now = self._now
        claim = _CLAIM.format(
            now=now, rows=", ".join(f"(?, ?, 'claimed', ?, {now} + ?)" for _ in refs)
        )
        params: list[Any] = []
        for ref in refs:
            params += (self._campaign, ref, self.owner, self._lease_ms)
        params += (self._started_ms, self._started_ms, 1 if retry_unknown else 0)

        def work(tx: Transaction) -> tuple[set[str], list[tuple[Any, ...]]]:
            self._seen(tx)
            mine = {ref for (ref,) in tx.execute(claim, params)}
            return mine, self._read(tx, refs)

        mine, rows = self._run(work)
        claims: dict[str, bool] = {}
        with self._lock:
            self._remember(rows, refs)
            for ref, recorded, _, _, _, _ in rows:
                # Not ours: decided (issued; unknown unless unknown rows are sent again)
                # rows are reported from the journal, the rest belong to another worker.
                decided = recorded == ISSUED or (recorded == UNKNOWN and not retry_unknown)
                claims[ref] = ref in mine or decided
            for ref in refs:
                claims.setdefault(ref, ref in mine)  # no row read back: only if claimed
            self._claims = claims

    def held_elsewhere(self, ref: str) -> bool:
        with self._lock:
            return self._claims.get(ref) is False

    def may_send(self, ref: str) -> bool:
        with self._lock:
            return ref not in self._lost

    def issued_since_open(self) -> int:
        """How many refs of the campaign were issued since this journal was opened (by any
        worker)."""
        sql = (
            f"SELECT count(*) FROM {REFS} WHERE campaign = ? AND recorded = 'issued'"
            " AND decided_at >= ?"
        )
        rows = self._run(lambda tx: tx.execute(sql, (self._campaign, self._started_ms)))
        return int(rows[0][0])

    def release(self, owners: Sequence[str] | None = None) -> int:
        """End the claims of ``owners`` (default: this worker) on rows not sent: another
        worker may take them at once. Never touches an intent. Returns how many.

        Other owners are workers known to have ended (``--workers``: its children):
        they no longer count among the campaign's running workers either, so their
        start no longer holds back a later run's ``retry_unknown``."""
        owners = list(owners) if owners is not None else [self.owner]
        if not owners:
            return 0
        marks = ", ".join("?" for _ in owners)
        sql = (
            f"UPDATE {REFS} SET lease_until = 0 WHERE campaign = ? AND state = 'claimed'"
            f" AND owner IN ({marks}) RETURNING ref"
        )
        ended = [owner for owner in owners if owner != self.owner]
        gone = (
            f"DELETE FROM {WORKERS} WHERE campaign = ?"
            f" AND owner IN ({', '.join('?' for _ in ended)})"
        )

        def work(tx: Transaction) -> int:
            released = len(tx.execute(sql, (self._campaign, *owners)))
            if ended:
                tx.execute(gone, (self._campaign, *ended))
            return released

        return int(self._run(work))

    def settle_ended(self, owners: Sequence[str]) -> int:
        """Record as unknown the rows ``owners`` had sent without recording an outcome.

        Only for workers known to have ended (``--workers``: its children, once their
        processes are gone): what they sent can no longer be in flight, so their
        intents become unknown records, which ``retry_unknown`` may send again once
        the user has checked them (a row left ``intent`` is never sent again, since
        its worker may still be running). Never sends anything. Returns how many."""
        owners = list(owners)
        if not owners:
            return 0
        marks = ", ".join("?" for _ in owners)
        select = (
            f"SELECT r.ref, rec.record FROM {REFS} r"
            f" LEFT JOIN {RECORDS} rec ON rec.id = r.last_record"
            f" WHERE r.campaign = ? AND r.state = 'intent' AND r.owner IN ({marks})"
        )
        update = (
            f"UPDATE {REFS} SET state = 'unknown', recorded = 'unknown',"
            " decided_at = ?, last_record = ?"
            " WHERE campaign = ? AND ref = ? AND state = 'intent'"
        )

        def work(tx: Transaction) -> int:
            rows = tx.execute(select, (self._campaign, *owners))
            decided_at = _decision_time(tx, self._campaign)
            ids = _new_ids(tx, len(rows))
            records = []
            for number, (ref, text) in enumerate(rows):
                record = ended_record(ref, parse_record(text) if text is not None else None)
                records.append((ids[number], self._campaign, ref, UNKNOWN, encode_record(record)))
            tx.executemany(
                f"INSERT INTO {RECORDS} (id, campaign, ref, op, record, at)"
                f" VALUES (?, ?, ?, ?, ?, {self._now})",
                records,
            )
            for number, (ref, _) in enumerate(rows):
                tx.execute(update, (decided_at, ids[number], self._campaign, ref))
            return len(rows)

        settled = int(self._run(work))
        with self._lock:
            # Read these rows again: they changed under the cache.
            self._known = {
                ref: known for ref, known in self._known.items() if ref in self._pending_refs
            }
        return settled

    # ------------------------------------------------------------------ reading

    def prefetch(self, refs: Sequence[str]) -> None:
        if self._failure is not None:
            return  # the database failed: what is read is what this worker knows
        refs = list(dict.fromkeys(refs))
        for start in range(0, len(refs), READ_CHUNK):
            chunk = refs[start : start + READ_CHUNK]
            rows = self._run(lambda tx, chunk=chunk: self._read(tx, chunk))
            with self._lock:
                self._remember(rows, chunk)

    def state(self, ref: str) -> BulkState | None:
        recorded = self._lookup(ref)[0]
        return None if recorded is None else BULK_STATES[recorded]

    def entry(self, ref: str) -> JournalEntry | None:
        recorded, text, foreign = self._lookup(ref)
        if recorded is None:
            return None
        entry = entry_of(ref, recorded, parse_record(text) if text is not None else None)
        if foreign and entry.error == INTERRUPTED:
            return attrs.evolve(entry, error=IN_FLIGHT_ELSEWHERE)
        return entry

    def interrupted(self, ref: str) -> bool:
        return self._lookup(ref)[0] == INTENT

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self._lookup(ref)[0] is not None

    def __iter__(self) -> Iterator[str]:
        sql = (
            f"SELECT ref FROM {REFS} WHERE campaign = ? AND recorded IS NOT NULL"
            " ORDER BY first_record"
        )
        refs = []
        if self._failure is None:
            refs = [ref for (ref,) in self._run(lambda tx: tx.execute(sql, (self._campaign,)))]
        with self._lock:
            queued = list(dict.fromkeys(ref for ref, _, _, _ in self._pending))
        known = set(refs)
        return iter(refs + [ref for ref in queued if ref not in known])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def counts(self) -> dict[BulkState, int]:
        sql = (
            f"SELECT recorded, count(*) FROM {REFS} WHERE campaign = ?"
            " AND recorded IS NOT NULL GROUP BY recorded"
        )
        rows = self._run(lambda tx: tx.execute(sql, (self._campaign,)))
        result = dict.fromkeys(BulkState, 0)
        for recorded, number in rows:
            result[BULK_STATES[recorded]] += int(number)
        with self._lock:
            queued = {ref: self._known.get(ref, _ABSENT)[0] for ref, _, _, _ in self._pending}
        if queued:  # what is queued and not yet in the database counts as it will be
            marks = ", ".join("?" for _ in queued)
            sql = f"SELECT ref, recorded FROM {REFS} WHERE campaign = ? AND ref IN ({marks})"
            stored = dict(self._run(lambda tx: tx.execute(sql, (self._campaign, *queued))))
            for ref, recorded in queued.items():
                if stored.get(ref) is not None:
                    result[BULK_STATES[stored[ref]]] -= 1
                if recorded is not None:
                    result[BULK_STATES[recorded]] += 1
        return result

    # ------------------------------------------------------------------ failure

    @property
    def failure(self) -> JournalError | None:
        return self._failure

    def unwritten_cards(self) -> list[tuple[str, dict[str, Any]]]:
        """(ref, card data) of the issued records that never reached the database."""
        with self._lock:
            texts = [text for _, _, op, text in self._pending if op == ISSUED]
        return issued_cards(parse_record(text) for text in texts)

    # ------------------------------------------------------------------ writing

    def flush(self) -> None:
        """Write every queued record in one transaction.

        An intent whose claim another worker took meanwhile is not written, and
        :meth:`may_send` says so. A failed transaction stops the journal: the records
        stay queued (:meth:`unwritten_cards`), intents are refused from then on.
        """
        with self._flush_lock:
            with self._lock:
                if self._failure is not None:
                    raise self._failure
                if self._closed:
                    return
                batch, self._pending = self._pending, []
            if not batch:
                return
            outcome = self._write_batch(batch)
            if isinstance(outcome, JournalError):
                # Raised from here, outside any except block and without the batch: error
                # tools show every frame's locals, and the records hold GatePay's answers
                # and the cards' keys (they stay queued, see :meth:`unwritten_cards`).
                del batch
                raise outcome
            lost, stray = outcome
            with self._lock:
                for ref, _, _, _ in batch:
                    self._pending_refs[ref] -= 1
                    if self._pending_refs[ref] <= 0:
                        del self._pending_refs[ref]
                self._lost.update(lost)
                for ref in stray:  # another worker's row: read it again if asked
                    self._known.pop(ref, None)

    def _write_batch(
        self, batch: list[tuple[str, str, str, str]]
    ) -> tuple[list[str], list[str]] | JournalError:
        """``batch`` written in one transaction: (lost intents, records not applied); or,
        if the database failed, the error to raise, the batch queued again."""
        try:
            return self._run(lambda tx: self._write(tx, batch), fail=False)  # type: ignore[no-any-return]
        except BaseException as exc:
            with self._lock:
                self._pending[:0] = batch
                if isinstance(exc, DatabaseError):
                    return self._fail(exc)
            raise

    def close(self) -> None:
        """Flush, end this worker's claims on rows not sent, and close. Twice is harmless."""
        with self._lock:
            if self._closed:
                return
        try:
            if self._failure is None:
                self.flush()
        finally:
            if self._failure is None:  # else the database is failing: claims run out
                with contextlib.suppress(DatabaseError, JournalError):
                    self._database.transaction(self._leave)
            with self._lock:
                self._closed = True
            if self._owns_database:
                self._database.close()

    def __enter__(self) -> DatabaseJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ inside

    def _seen(self, tx: Transaction) -> None:
        """Note that this worker is running (in a transaction it makes anyway)."""
        tx.execute(
            f"UPDATE {WORKERS} SET seen_ms = {self._now} WHERE campaign = ? AND owner = ?",
            (self._campaign, self.owner),
        )

    def _leave(self, tx: Transaction) -> None:
        """End this worker's claims on rows it did not send; it is no longer running."""
        tx.execute(
            f"UPDATE {REFS} SET lease_until = 0 WHERE campaign = ?"
            " AND owner = ? AND state = 'claimed'",
            (self._campaign, self.owner),
        )
        tx.execute(
            f"DELETE FROM {WORKERS} WHERE campaign = ? AND owner = ?",
            (self._campaign, self.owner),
        )

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(f"the journal {self.description} is closed")

    def _put(self, ref: str, state: str, record: Mapping[str, Any]) -> None:
        text = encode_record(record)
        with self._lock:
            self._check_open()
            self._pending.append((ref, state, str(record["op"]), text))
            self._pending_refs[ref] += 1
            recorded = self._known.get(ref, _ABSENT)[0]
            if recorded != ISSUED or state == ISSUED:  # issued stays issued
                self._known[ref] = (state, text, False)

    def _write(
        self, tx: Transaction, batch: list[tuple[str, str, str, str]]
    ) -> tuple[list[str], list[str]]:
        """The batch's records and their refs' states, in a few statements whatever its
        size; (lost intents, records not applied). An intent whose claim was lost is not
        written: it is not sent."""
        self._seen(tx)
        ids = _new_ids(tx, len(batch))
        decided_at = _decision_time(tx, self._campaign)
        applied: list[bool] = []
        for group in _distinct_refs(batch):
            rows = ", ".join("(?, ?, ?, ?, ?, 0, ?, ?, ?)" for _ in group)
            params: list[Any] = []
            for number in group:
                ref, state, _, _ = batch[number]
                params += (self._campaign, ref, state, state, self.owner)
                params += (decided_at, ids[number], ids[number])
            params.append(self._started_ms)
            sql = _RECORD.format(rows=rows)
            done = {ref for (ref,) in tx.execute(sql, params)}
            applied += [batch[number][0] in done for number in group]
        lost: list[str] = []
        stray: list[str] = []
        records = []
        for number, (ref, _, op, text) in enumerate(batch):
            if not applied[number]:
                stray.append(ref)
                if op == INTENT:  # the claim was lost: not written, and never sent
                    lost.append(ref)
                    continue
            records.append((ids[number], self._campaign, ref, op, text))
        tx.executemany(
            f"INSERT INTO {RECORDS} (id, campaign, ref, op, record, at)"
            f" VALUES (?, ?, ?, ?, ?, {self._now})",
            records,
        )
        return lost, stray

    def _read(self, tx: Transaction, refs: Sequence[str]) -> list[tuple[Any, ...]]:
        marks = ", ".join("?" for _ in refs)
        return tx.execute(_READ.format(now=self._now, marks=marks), (self._campaign, *refs))

    def _remember(self, rows: list[tuple[Any, ...]], refs: Sequence[str]) -> None:
        """Cache what was read for ``refs`` (hold the lock); forget old decided refs."""
        if len(self._known) > CACHE_REFS:
            self._known = {
                ref: known for ref, known in self._known.items() if ref in self._pending_refs
            }
        found = {row[0]: (row[1], row[2], row[4] != self.owner) for row in rows}
        for ref in refs:
            if ref not in self._pending_refs:  # what this worker queued is newer
                self._known[ref] = found.get(ref, _ABSENT)

    def _lookup(self, ref: str) -> _Known:
        """What the journal holds for ``ref``. Once the database failed, what this worker
        knows (what it read, and what it recorded, written or not), without waiting on a
        database that may be gone: the output is then written from memory, the cards the
        database never got included, and the next run writes it whole."""
        with self._lock:
            known = self._known.get(ref)
        if known is not None or self._failure is not None:
            return known or _ABSENT
        self.prefetch([ref])
        with self._lock:
            return self._known.get(ref, _ABSENT)

    def _run(self, work: Any, *, fail: bool = True) -> Any:
        """``work`` in one transaction; a DatabaseError as a JournalError. Once the
        journal failed, its failure at once: the database is not waited on again."""
        if self._failure is not None:
            raise self._failure
        if not fail:
            return self._database.transaction(work)
        try:
            return self._database.transaction(work)
        except DatabaseError as exc:
            raise JournalError(f"the journal {self.description}: {exc}") from None

    def _fail(self, exc: DatabaseError) -> JournalError:
        """Enter the failed state (hold the lock) and return the error to raise."""
        if self._failure is None:
            self._failure = JournalError(
                f"cannot write to the journal {self.description} ({exc}); the run stopped"
                " before sending anything more. Fix the database and run again with the"
                " same journal: nothing it recorded is sent twice."
            )
        return self._failure


def _new_ids(tx: Transaction, count: int) -> list[int]:
    """``count`` new record ids, increasing."""
    if tx.dialect == "sqlite":
        ((last,),) = tx.execute(_NEW_IDS["sqlite"])
        return list(range(int(last) + 1, int(last) + 1 + count))
    return sorted(int(value) for (value,) in tx.execute(_NEW_IDS["postgresql"], (count,)))


def _decision_time(tx: Transaction, campaign: str) -> int:
    """When a decision written now is taken to be made (ms): the database's clock, but
    never before the start of a worker of the campaign. "Decided before this worker
    started" compares this with a start: a database clock stepped back (NTP, a VM
    restored, a failover to a host whose clock lags) must not date a running sibling's
    fresh unknown before a worker's start, which would let retry_unknown send it again."""
    ((latest_start, now),) = tx.execute(
        f"SELECT COALESCE(max(started_ms), 0), {NOW_MS[tx.dialect]} FROM {WORKERS}"
        " WHERE campaign = ?",
        (campaign,),
    )
    return max(int(latest_start), int(now))


def _distinct_refs(batch: list[tuple[str, str, str, str]]) -> Iterator[list[int]]:
    """The batch's positions in order, cut where a ref comes again (one statement may
    write a row once) or a group is full."""
    group: list[int] = []
    refs: set[str] = set()
    for number, (ref, _, _, _) in enumerate(batch):
        if ref in refs or len(group) >= WRITE_CHUNK:
            yield group
            group, refs = [], set()
        group.append(number)
        refs.add(ref)
    if group:
        yield group


def _join(tx: Transaction, campaign: str, owner: str, lease_ms: int) -> int:
    """Note ``owner`` as running in ``campaign``; the earliest start among its running
    workers (this one's, now, if it is the only one), on the database's clock."""
    now = NOW_MS[tx.dialect]
    tx.execute(
        f"INSERT INTO {WORKERS} (campaign, owner, started_ms, seen_ms)"
        f" VALUES (?, ?, {now}, {now})"
        " ON CONFLICT (campaign, owner) DO UPDATE SET seen_ms = excluded.seen_ms",
        (campaign, owner),
    )
    ((earliest,),) = tx.execute(
        f"SELECT min(started_ms) FROM {WORKERS}"
        f" WHERE campaign = ? AND (owner = ? OR seen_ms > {now} - ?)",
        (campaign, owner, lease_ms),
    )
    return int(earliest)


def _campaign_id(tx: Transaction, campaign: str) -> str:
    """The id of ``campaign``, made now if it has none yet (the first open of the
    campaign, or of one an older version wrote). Two first opens at once: the primary
    key lets one insert, and both read its id."""
    tx.execute(
        f"INSERT INTO {CAMPAIGNS} (campaign, campaign_id, created_ms)"
        f" VALUES (?, ?, {NOW_MS[tx.dialect]}) ON CONFLICT (campaign) DO NOTHING",
        (campaign, new_campaign_id()),
    )
    ((campaign_id,),) = tx.execute(
        f"SELECT campaign_id FROM {CAMPAIGNS} WHERE campaign = ?", (campaign,)
    )
    return str(campaign_id)


def _create_tables(tx: Transaction) -> int:
    """Create what is missing; the database's clock now (ms)."""
    for statement in (*_SCHEMA[tx.dialect], *_REFS_SCHEMA):
        tx.execute(statement)
    ((now,),) = tx.execute(f"SELECT {NOW_MS[tx.dialect]}")
    return int(now)
