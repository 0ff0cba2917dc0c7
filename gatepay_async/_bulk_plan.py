"""The decisions of bulk issuance that need no waiting, shared by both facades.

For each row: send it, or answer it at once (bad row, duplicate ref, already issued or
unknown in the journal); for each create's outcome: which state it means, and the
journal record that says so. ``gatepay_async/resources/bulk.py`` (and its generated sync
twin) does the sending and the waiting around these.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from gatepay_async._bulk_models import BulkResult, BulkState, CardSpec
from gatepay_async._decoding import decode_card
from gatepay_async._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    GatePayError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseValidationError,
    ServerError,
    ValidationError,
)
from gatepay_async._journal import Journal
from gatepay_async._retry import INITIAL_BACKOFF, MAX_BACKOFF, RETRY_AFTER_CAP
from gatepay_async._validation import CreateRequest, build_create_request

__all__ = [
    "BulkPlan",
    "CreateJob",
    "JournalArgument",
    "check_options",
    "check_unique_refs",
    "error_text",
    "open_journal",
    "rate_limit_pause",
]

JournalArgument = Journal | str | os.PathLike[str] | None

#: How many times one create refused with HTTP 429 is sent again (after the client's own
#: retries), each after a pause shared by the whole run.
RATE_LIMITED_ATTEMPTS = 6


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


def open_journal(journal: JournalArgument) -> tuple[Journal | None, bool]:
    """The journal to use and whether this run owns (and so closes) it."""
    if journal is None or isinstance(journal, Journal):
        return journal, False
    if isinstance(journal, (str, os.PathLike)):
        # Closed at the end of the run: no need to remember this run's refs in memory.
        return Journal.open(journal, remember_new=False), True
    raise ValidationError(
        "journal", f"must be a path, a Journal or None, not {type(journal).__name__}"
    )


def rate_limit_pause(exc: RateLimitError, attempt: int) -> float:
    """The shared pause after a 429: the server's Retry-After, else exponential."""
    if exc.retry_after is not None:
        return min(float(exc.retry_after), RETRY_AFTER_CAP)
    return float(min(MAX_BACKOFF, INITIAL_BACKOFF * 2.0 ** (attempt - 1)))


class BulkPlan:
    """Per-run bookkeeping: the journal, the refs seen so far, a halt after bad credentials."""

    def __init__(
        self, journal: Journal | None, *, retry_unknown: bool, check_duplicates: bool
    ) -> None:
        self.journal = journal
        self.retry_unknown = retry_unknown
        # Hashes of the refs seen so far (flat memory: no ref text is kept). Two distinct
        # refs with one 64-bit hash (odds ~1e-10 for 100,000 refs) would fail the second
        # as a duplicate: never a double issue, and a rerun sends it.
        self._seen: set[int] | None = set() if check_duplicates else None
        self._halt: str | None = None

    # ------------------------------------------------------------------ before sending

    def decide(self, spec: CardSpec) -> BulkResult | CreateJob:
        """The job to send for ``spec``, or its result when nothing is to be sent."""
        if not isinstance(spec, CardSpec):
            raise TypeError(f"specs must hold CardSpec objects, not {type(spec).__name__}")
        ref = spec.ref
        if not isinstance(ref, str) or not ref.strip():
            return BulkResult(str(ref), BulkState.FAILED, error="ref: must be a non-empty string")
        seen = self._seen
        if seen is not None:
            digest = hash(ref)
            if digest in seen:
                return BulkResult(
                    ref,
                    BulkState.FAILED,
                    error=f"ref: duplicate ref {ref!r} in this input; only its first row is sent",
                )
            seen.add(digest)
        journal = self.journal
        if journal is not None:
            state = journal.state(ref)
            if state is BulkState.ISSUED or (state is BulkState.UNKNOWN and not self.retry_unknown):
                entry = journal.entry(ref)
                assert entry is not None
                return BulkResult(
                    ref, entry.state, card=entry.card, error=entry.error, from_journal=True
                )
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

    def halted(self, job: CreateJob) -> BulkResult | None:
        """After bad credentials, a job that was waiting for a slot is failed unsent."""
        return None if self._halt is None else self._fail(job.ref, self._halt)

    def _fail(self, ref: str, error: str, exc: BaseException | None = None) -> BulkResult:
        if self.journal is not None:
            self.journal.record_failed(ref, error)
        return BulkResult(ref, BulkState.FAILED, error=error, exception=exc)

    # ------------------------------------------------------------------ after sending

    def issued(self, job: CreateJob, data: Any) -> BulkResult:
        """A create answered: decode the card and record it."""
        try:
            card = decode_card(data)
        except ResponseValidationError as exc:
            return self.failed_send(job, exc)
        if self.journal is not None:
            self.journal.record_issued(job.ref, data if isinstance(data, Mapping) else {})
        return BulkResult(job.ref, BulkState.ISSUED, card=card)

    def failed_send(self, job: CreateJob, exc: Exception) -> BulkResult:
        """Classify a create's exception and record the outcome.

        ``failed`` (not issued): an answer refusing the request (InvalidRequestError,
        AuthenticationError, any other API error below 500, 429 after every retry) or
        a request that was never sent. ``unknown`` (a card may exist): the request was
        sent and its answer was lost or unreadable, or GatePay answered 5xx.
        """
        state = BulkState.FAILED
        reported: Exception = exc
        if isinstance(exc, RequestNotSentError):
            pass
        elif isinstance(exc, (APIConnectionError, ResponseValidationError, ServerError)):
            state = BulkState.UNKNOWN
            if not isinstance(exc, ServerError):
                reported = OutcomeUnknownError(
                    title=job.request.title,
                    template_id=job.request.template_id,
                    currency=job.request.currency,
                    amount=job.request.amount,
                    cause=exc,
                )
        elif isinstance(exc, AuthenticationError):
            self._halt = (
                f"not sent: an earlier create was refused ({error_text(exc)}); fix the"
                " credentials and run again"
            )
        elif isinstance(exc, APIError):
            pass
        elif not isinstance(exc, GatePayError):
            state = BulkState.UNKNOWN  # something unexpected after the request may have left
        text = error_text(reported)
        if self.journal is not None:
            if state is BulkState.FAILED:
                self.journal.record_failed(job.ref, text)
            else:
                self.journal.record_unknown(job.ref, text)
        return BulkResult(job.ref, state, error=text, exception=reported)

    def not_sent(self, job: CreateJob, text: str) -> BulkResult:
        """A create that was never sent (failed: safe to send again)."""
        return self._fail(job.ref, text)

    def interrupted(self, job: CreateJob, text: str) -> BulkResult:
        """A create abandoned while in flight: a card may exist."""
        if self.journal is not None and self.journal.failure is None:
            self.journal.record_unknown(job.ref, text)
        return BulkResult(job.ref, BulkState.UNKNOWN, error=text)

    def rate_limited(self, job: CreateJob, exc: RateLimitError, attempts: int) -> BulkResult:
        """A create refused with 429 every time: not issued."""
        text = f"{error_text(exc)} (refused {attempts} times; not issued)"
        if self.journal is not None:
            self.journal.record_failed(job.ref, text)
        return BulkResult(job.ref, BulkState.FAILED, error=text, exception=exc)
