"""The decisions of bulk issuance that need no waiting, shared by both facades.

For each row: send it, or answer it at once (bad row, duplicate ref, already issued or
unknown in the journal); for each create's outcome: which state it means, and the
journal record that says so. ``gatepay_async/resources/bulk.py`` (and its generated sync
twin) does the sending and the waiting around these.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs
import httpx

from gatepay_async._bulk_models import BulkResult, BulkState, CardSpec
from gatepay_async._decision.outcome import issued_data
from gatepay_async._errors import (
    APIError,
    AuthenticationError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ValidationError,
)
from gatepay_async._models import GiftCard
from gatepay_async._storage.database import is_database_url
from gatepay_async._storage.journal import Journal, JournalEntry
from gatepay_async._storage.journal_store import JournalStore
from gatepay_async._storage.refs import RefSet
from gatepay_async._wire.validation import CreateRequest, build_create_request, canonical_amount

__all__ = [
    "ELSEWHERE",
    "BulkPlan",
    "CreateJob",
    "JournalArgument",
    "changed_fields",
    "check_options",
    "check_unique_refs",
    "error_text",
    "open_journal",
]

JournalArgument = JournalStore | str | os.PathLike[str] | None

#: What :meth:`BulkPlan.decide` returns for a row another worker holds: no result here.
ELSEWHERE = None


@attrs.frozen
class CreateJob:
    """A checked row, ready to send."""

    ref: str
    request: CreateRequest


def error_text(exc: BaseException) -> str:
    """One line, secret-free (gatepay's exception texts never hold secrets)."""
    return f"{type(exc).__name__}: {exc}"


def check_options(concurrency: object, rate: object) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError("concurrency", f"must be an integer >= 1, got {concurrency!r}")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0
    ):
        raise ValidationError("rate", f"must be a number of requests per second > 0, got {rate!r}")


def check_unique_refs(specs: Iterable[object]) -> None:
    """Raise ValidationError naming the first ref that appears twice (for sequences)."""
    seen: dict[str, int] = {}
    for number, spec in enumerate(specs):
        ref = getattr(spec, "ref", None)
        if not isinstance(ref, str):
            continue
        first = seen.setdefault(ref, number)
        if first != number:
            raise ValidationError(
                "specs",
                f"duplicate ref {ref!r} (items {first} and {number}): refs must be unique;"
                " nothing was sent",
            )


def open_journal(journal: JournalArgument) -> tuple[JournalStore | None, bool]:
    """The journal to use and whether this run owns (and so closes) it.

    A path opens a journal file; a ``sqlite:///`` or ``postgresql://`` URL a database
    journal (``?campaign=NAME`` picks the campaign); an open journal is used as it is.
    """
    if journal is None or isinstance(journal, Journal):
        return journal, False
    if is_database_url(journal):
        from gatepay_async._storage.journal_db import DatabaseJournal  # only runs that use one

        assert isinstance(journal, str)
        return DatabaseJournal.open(journal), True
    if isinstance(journal, (str, os.PathLike)):
        return Journal.open(journal), True
    if isinstance(journal, JournalStore):
        return journal, False
    raise ValidationError(
        "journal",
        "must be a path, a sqlite:/// or postgresql:// URL, a journal or None,"
        f" not {type(journal).__name__}",
    )


class BulkPlan:
    """Per-run bookkeeping: the journal, the refs seen so far, a halt (bad credentials,
    GatePay unreachable)."""

    def __init__(
        self, journal: JournalStore | None, *, retry_unknown: bool, check_duplicates: bool
    ) -> None:
        self.journal = journal
        self.retry_unknown = retry_unknown
        # The refs seen so far in this run: a ref given again is refused, never sent twice.
        self._seen = RefSet() if check_duplicates else None
        self._halt: str | None = None

    # ------------------------------------------------------------------ before sending

    def decide(self, spec: CardSpec) -> BulkResult | CreateJob | None:
        """The job to send for ``spec``, or its result when nothing is to be sent; None
        (:data:`ELSEWHERE`) for a row another worker of a shared journal holds."""
        if not isinstance(spec, CardSpec):
            raise TypeError(f"specs must hold CardSpec objects, not {type(spec).__name__}")
        ref = spec.ref
        if not isinstance(ref, str) or not ref.strip():
            return BulkResult(str(ref), BulkState.FAILED, error="ref: must be a non-empty string")
        if self._seen is not None and not self._seen.add(ref):
            return BulkResult(
                ref,
                BulkState.FAILED,
                error=f"ref: duplicate ref {ref!r} in this input; only its first row is sent",
            )
        journal = self.journal
        if journal is not None:
            if journal.held_elsewhere(ref):
                return ELSEWHERE  # another worker sends it and reports it
            state = journal.state(ref)
            if state is BulkState.ISSUED or state is BulkState.UNKNOWN:
                entry = journal.entry(ref)
                assert entry is not None
                # A recorded answer may prove a card that the earlier run could not read:
                # then the ref is issued, and never sent again, retry_unknown or not. A
                # row that changed since it was sent is never sent again either.
                result = self._from_journal(spec, entry)
                if entry.state is BulkState.ISSUED or result.changed or not self.retry_unknown:
                    return result
        if self._halt is not None:
            return self._fail(ref, self._halt)
        try:
            request = build_create_request(
                title=spec.title,
                template_id=spec.template_id,
                currency=spec.currency,
                amount=spec.amount,
            )
        except ValidationError as exc:
            return self._fail(ref, str(exc), exc)
        return CreateJob(ref, request)

    def _from_journal(self, spec: CardSpec, entry: JournalEntry) -> BulkResult:
        """An issued or unknown ref from the journal, flagged if the row has changed."""
        changed = changed_fields(entry.intent, spec)
        error = entry.error
        if changed:
            error = changed_text(changed, entry.state) + (f"; {error}" if error else "")
        return BulkResult(
            spec.ref,
            entry.state,
            card=entry.card,
            error=error,
            from_journal=True,
            changed=changed,
        )

    def halted(self, job: CreateJob) -> BulkResult | None:
        """After bad credentials or an unreachable server, a job that was waiting for a
        slot is failed unsent."""
        return None if self._halt is None else self._fail(job.ref, self._halt)

    def _fail(self, ref: str, error: str, exc: BaseException | None = None) -> BulkResult:
        if self.journal is not None:
            self.journal.record_failed(ref, error)
        return BulkResult(ref, BulkState.FAILED, error=error, exception=exc)

    # ------------------------------------------------------------------ after sending

    def issued(self, job: CreateJob, card: GiftCard, response: httpx.Response | None) -> BulkResult:
        """A create issued ``card``: record it (its raw answer is already journaled)."""
        if self.journal is not None:
            data = issued_data(response.content) if response is not None else None
            if data is None:  # pragma: no cover - the decision found a card in this answer
                data = {"card_num": card.card_number, "card_key": card.key}
            self.journal.record_issued(job.ref, data, job.request)
        return BulkResult(job.ref, BulkState.ISSUED, card=card)

    def failed_send(self, job: CreateJob, exc: Exception, *, sends: int = 0) -> BulkResult:
        """Record a create that did not issue a card: ``failed`` or ``unknown``.

        The outcome was decided by ``_decision.outcome`` (the one decision): OutcomeUnknownError
        is ``unknown`` (a card may exist); a refusal (APIError) or a request never sent
        is ``failed``. Bad credentials, or a server that cannot be reached, stop the run:
        the rows after it are failed without being sent.
        """
        state = BulkState.FAILED
        answer: tuple[int, bytes] | None = None
        text = error_text(exc)
        if isinstance(exc, OutcomeUnknownError):
            state = BulkState.UNKNOWN
            if exc.answer is not None:
                answer = (exc.answer.status_code, exc.answer.body)
        elif isinstance(exc, RequestNotSentError):
            # After the client's retries the connection still cannot be made (or the
            # base URL cannot work): every other row would fail the same way, slowly.
            self._halt = (
                f"not sent: GatePay could not be reached ({text}); nothing else was"
                " sent. Check the base URL and the network, then run again"
            )
        elif isinstance(exc, RateLimitError):
            text = f"{text} (refused {sends} times; not issued)"
        elif isinstance(exc, AuthenticationError):
            self._halt = (
                f"not sent: an earlier create was refused ({text}); fix the"
                " credentials and run again"
            )
        elif isinstance(exc, (APIError, ValidationError)):
            pass
        else:
            state = BulkState.UNKNOWN  # something unexpected after the request may have left
        if self.journal is not None:
            if state is BulkState.FAILED:
                self.journal.record_failed(job.ref, text)
            else:
                self.journal.record_unknown(job.ref, text, job.request, answer)
        return BulkResult(job.ref, state, error=text, exception=exc)

    def not_sent(self, job: CreateJob, text: str) -> BulkResult:
        """A create that was never sent (failed: safe to send again)."""
        return self._fail(job.ref, text)

    def interrupted(self, job: CreateJob, text: str) -> BulkResult:
        """A create abandoned while in flight: a card may exist."""
        if self.journal is not None and self.journal.failure is None:
            self.journal.record_unknown(job.ref, text)
        return BulkResult(job.ref, BulkState.UNKNOWN, error=text)


#: The fields of a row that must match what the journal recorded as sent.
COMPARED_FIELDS = ("title", "template_id", "currency", "amount")


def changed_fields(intent: Mapping[str, str] | None, spec: CardSpec) -> tuple[str, ...]:
    """The fields in which ``spec`` differs from the journal's recorded intent.

    Empty when they agree, or when the journal recorded no intent to compare with (a
    journal written by an older version). A row that no longer passes the checks
    differs in every field it cannot be compared on.
    """
    if intent is None:
        return ()
    changed: list[str] = []
    for name in COMPARED_FIELDS:
        value: object = getattr(spec, name, None)
        recorded = intent.get(name)
        if name == "amount":
            try:
                same = Decimal(canonical_amount(value)) == Decimal(str(recorded))
            except (ValidationError, ArithmeticError, ValueError):
                same = False
        else:
            same = isinstance(value, str) and value.strip() == recorded
        if not same:
            changed.append(name)
    return tuple(changed)


def changed_text(changed: tuple[str, ...], state: BulkState) -> str:
    return (
        f"changed: {', '.join(changed)} differ from what was sent for this ref (now"
        f" {state.value}); the row was NOT sent again. Give the new row a new ref, or"
        " restore it"
    )
