"""The one interface of a bulk journal, whatever holds it.

A bulk run (``create_many``, ``gatepay bulk-create``) talks to its journal through
:class:`JournalStore` only. Two classes implement it:
:class:`~gatepay_async._storage.journal.Journal` (a JSON-lines file, held by one run) and
:class:`~gatepay_async._storage.journal_db.DatabaseJournal` (an SQLite or PostgreSQL database,
shared by the workers of one campaign). Both write the same records and decode them
with one function (``_storage.journal.entry_of``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from gatepay_async._bulk_models import BulkState
from gatepay_async._storage.journal import JournalEntry, JournalError
from gatepay_async._wire.validation import CreateRequest

__all__ = ["DEFAULT_LEASE", "JournalStore"]

#: Seconds a shared journal's claim on a row not sent yet lasts (then another worker may
#: take the row).
DEFAULT_LEASE = 60.0


@runtime_checkable
class JournalStore(Protocol):
    """What a bulk run asks of its journal.

    Writing: ``record_*`` queue a record (in memory: the event loop never waits on a
    disk or a database per record); :meth:`flush` makes everything queued durable at
    once, and the run flushes before each send. A failed flush sets :attr:`failure`;
    from then on intents are refused (nothing more is sent) and the issued records that
    never became durable are :meth:`unwritten_cards`.

    Sharing: a store that several workers share (:attr:`shared`) hands rows out by
    :meth:`claim`; a row another worker holds is :meth:`held_elsewhere` and is never sent
    here, and an intent whose claim was lost meanwhile is not :meth:`may_send`.
    """

    @property
    def shared(self) -> bool:
        """True if other workers may write this journal while this run does."""
        ...

    @property
    def description(self) -> str:
        """Where the journal is, for messages (a path, or a URL without its password)."""
        ...

    @property
    def campaign_id(self) -> str:
        """The journal's campaign id: random, made when the journal (or the database
        campaign) was created, or on its first open by a version that keeps one. An
        output carries the id of the journal it was written from, and only an output
        with this id is ever read back into this journal."""
        ...

    @property
    def failure(self) -> JournalError | None: ...

    def record_intent(self, ref: str, request: CreateRequest) -> None: ...

    def record_answer(
        self, ref: str, request: CreateRequest, status_code: int, body: bytes
    ) -> None: ...

    def record_issued(
        self, ref: str, card_data: Mapping[str, Any], request: CreateRequest | None = None
    ) -> None: ...

    def record_failed(self, ref: str, error: str) -> None: ...

    def record_unknown(
        self,
        ref: str,
        error: str,
        request: CreateRequest | None = None,
        answer: tuple[int, bytes] | None = None,
    ) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def state(self, ref: str) -> BulkState | None: ...

    def entry(self, ref: str) -> JournalEntry | None: ...

    def interrupted(self, ref: str) -> bool: ...

    def counts(self) -> dict[BulkState, int]: ...

    def unwritten_cards(self) -> list[tuple[str, dict[str, Any]]]: ...

    def claim(self, refs: Sequence[str], *, retry_unknown: bool = False) -> None:
        """Take these refs for this worker (blocking: call it in a thread); with
        ``retry_unknown``, rows that ended unknown before this worker started too."""
        ...

    def held_elsewhere(self, ref: str) -> bool:
        """True if another worker holds ``ref`` (claimed, in flight, or failed in its run):
        this run neither sends it nor reports it."""
        ...

    def may_send(self, ref: str) -> bool:
        """After its intent's flush: False if the claim on ``ref`` was lost meanwhile."""
        ...

    def prefetch(self, refs: Sequence[str]) -> None:
        """Read what the journal holds for these refs at once (blocking)."""
        ...

    def __iter__(self) -> Iterator[str]: ...

    def __contains__(self, ref: object) -> bool: ...

    def __len__(self) -> int: ...

    def __enter__(self) -> JournalStore: ...

    def __exit__(self, *exc_info: object) -> None: ...
