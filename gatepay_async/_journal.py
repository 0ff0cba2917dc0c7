"""The bulk issuance journal: what was sent, and what came of it, one JSON line each.

A journal is an append-only file of JSON lines, created with mode 0600 because issued
records hold card keys. Every line is one record with an ``op``:

``{"op": "journal", "version": 1, "at": MS}``
    the first line of a journal this module created.
``{"op": "intent", "ref": R, "title": T, "template_id": I, "currency": C, "amount": "0.99", ...}``
    written and fsynced *before* the create for ``R`` is sent.
``{"op": "answer", "ref": R, "status": 200, "body": TEXT, "request": {...}, "at": MS}``
    GatePay's raw answer to a create, written and fsynced *before* anything interprets
    it (``body_base64`` instead of ``body`` when the bytes are not UTF-8); ``request``
    repeats the intent's title, template_id, currency and amount.
``{"op": "issued", "ref": R, "card": {...the create answer's data...}, "request": {...}, "at": MS}``
    the create succeeded; ``card`` is GatePay's answer as received (it holds the key).
``{"op": "failed", "ref": R, "error": TEXT, "at": MS}``
    definitely not issued (bad row, refused by GatePay, never sent); may be sent again.
``{"op": "unknown", "ref": R, "error": TEXT, "request": {...}, "answer": {...}, "at": MS}``
    sent, outcome unknown: a card may exist. ``answer`` (status and body, as in an
    ``answer`` record) is there when GatePay answered something the SDK could not rely on.

The last record of a ref decides its state; an ``intent`` or ``answer`` with no record
after it (the process stopped mid-request) counts as ``unknown``. Reading an ``answer``
(last, or inside an ``unknown``) decides it again with today's rules: a card whose
answer an earlier run could not interpret is recovered, number and key, when it can
be now. Unreadable lines (a line torn by a
crash) are skipped: a torn intent was never followed by a send, and a torn outcome
leaves its intent last, which reads as ``unknown`` -- the safe side.

In memory the journal keeps an index: every ref it holds, read from the file or written
since it was opened, with its state and where in the file its records are (see
:class:`_RefIndex`); cards are read back from the file on demand. The journal is
thread-safe.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from gatepay_async._bulk_models import BulkState
from gatepay_async._decoding import decode_card
from gatepay_async._errors import GatePayError
from gatepay_async._models import GiftCard
from gatepay_async._outcome import recover_card
from gatepay_async._refs import memory_database, ref_key, ref_of
from gatepay_async._validation import CreateRequest

try:  # advisory locking keeps two runs off one journal; not available on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "BULK_STATES",
    "FILE_MODE",
    "STATE_OF_OP",
    "Journal",
    "JournalEntry",
    "JournalError",
    "answer_record",
    "encode_record",
    "ended_record",
    "entry_of",
    "failed_record",
    "intent_record",
    "issued_cards",
    "issued_record",
    "parse_record",
    "unknown_record",
]

logger = logging.getLogger("gatepay.journal")

#: Journal files (and the CLI's output files) are readable by their owner only.
FILE_MODE = 0o600
VERSION = 1

# The state a ref's last record gives it. An answer with no outcome after it is an
# interrupted create, like an intent: it reads as "intent", and reading it back looks at
# what the answer says.
INTENT, ISSUED, FAILED, UNKNOWN = "intent", "issued", "failed", "unknown"
STATE_OF_OP = {
    "intent": INTENT,
    "answer": INTENT,
    "issued": ISSUED,
    "failed": FAILED,
    "unknown": UNKNOWN,
}
BULK_STATES = {
    INTENT: BulkState.UNKNOWN,
    ISSUED: BulkState.ISSUED,
    FAILED: BulkState.FAILED,
    UNKNOWN: BulkState.UNKNOWN,
}
INTERRUPTED = (
    "an earlier run sent this create and stopped before its answer was recorded: a card "
    "may have been issued"
)
INTERRUPTED_AFTER_ANSWER = (
    "an earlier run recorded GatePay's answer to this create and stopped before deciding"
    " it; the answer holds no usable card number and key: a card may have been issued"
)


class JournalError(GatePayError):
    """A journal cannot be opened or written (in use by another run, unreadable, I/O)."""


@attrs.frozen
class JournalEntry:
    """What the journal knows of one ref. ``interrupted``: an intent with no outcome.

    ``intent`` is what was sent (title, template_id, currency, amount as text) when the
    journal recorded it; ``recovered`` is True for a card read again from a raw answer
    that the run which received it did not record as issued.
    """

    ref: str
    state: BulkState
    card: GiftCard | None = None
    error: str | None = None
    interrupted: bool = False
    intent: Mapping[str, str] | None = None
    recovered: bool = False


def entry_of(ref: str, last_state: str, record: Mapping[str, Any] | None) -> JournalEntry:
    """What a ref's deciding record says: its state (``intent``, ``issued``, ``failed``
    or ``unknown``, as the record's op gave it) and the record itself (None if it cannot
    be read). Every journal store decodes its records here.
    """
    state = BULK_STATES[last_state]
    intent = _intent_of(record)
    if last_state == INTENT:
        raw = _answer_of(record) if record and record.get("op") == "answer" else None
        if raw is not None:
            card = recover_card(*raw)
            if card is not None:
                return JournalEntry(ref, BulkState.ISSUED, card=card, intent=intent, recovered=True)
            return JournalEntry(
                ref, state, error=INTERRUPTED_AFTER_ANSWER, interrupted=True, intent=intent
            )
        return JournalEntry(ref, state, error=INTERRUPTED, interrupted=True, intent=intent)
    if last_state == ISSUED:
        try:
            card = decode_card(record.get("card") if record else None)
        except GatePayError as exc:
            return JournalEntry(
                ref,
                BulkState.UNKNOWN,
                error=f"the journal's issued record is unreadable: {exc}",
                intent=intent,
            )
        return JournalEntry(ref, state, card=card, intent=intent)
    error = record.get("error") if record else None
    if last_state == UNKNOWN and record and isinstance(record.get("answer"), Mapping):
        raw = _answer_of(record["answer"])
        card = recover_card(*raw) if raw is not None else None
        if card is not None:
            return JournalEntry(ref, BulkState.ISSUED, card=card, intent=intent, recovered=True)
    return JournalEntry(ref, state, error=str(error) if error is not None else None, intent=intent)


def _request_fields(request: CreateRequest) -> dict[str, str]:
    return {
        "title": request.title,
        "template_id": request.template_id,
        "currency": request.currency,
        "amount": format(request.amount, "f"),
    }


def _answer_fields(status_code: int, body: bytes) -> dict[str, Any]:
    """A raw answer as JSON fields: text when the bytes are UTF-8, else base64."""
    try:
        return {"status": status_code, "body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"status": status_code, "body_base64": base64.b64encode(body).decode("ascii")}


def _answer_of(record: Mapping[str, Any]) -> tuple[int, bytes] | None:
    status = record.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    body = record.get("body")
    if isinstance(body, str):
        return status, body.encode("utf-8")
    encoded = record.get("body_base64")
    if isinstance(encoded, str):
        try:
            return status, base64.b64decode(encoded, validate=True)
        except ValueError:
            return None
    return None


def _intent_of(record: Mapping[str, Any] | None) -> Mapping[str, str] | None:
    if not record:
        return None
    fields = record.get("request") if record.get("op") != "intent" else record
    if not isinstance(fields, Mapping):
        return None
    names = ("title", "template_id", "currency", "amount")
    if not all(isinstance(fields.get(name), str) for name in names):
        return None
    return {name: fields[name] for name in names}


def intent_record(ref: str, request: CreateRequest) -> dict[str, Any]:
    return {
        "op": "intent",
        "ref": ref,
        "title": request.title,
        "template_id": request.template_id,
        "currency": request.currency,
        "amount": format(request.amount, "f"),
        "at": _now_ms(),
    }


def answer_record(
    ref: str, request: CreateRequest, status_code: int, body: bytes
) -> dict[str, Any]:
    return {
        "op": "answer",
        "ref": ref,
        **_answer_fields(status_code, body),
        "request": _request_fields(request),
        "at": _now_ms(),
    }


def issued_record(
    ref: str, card_data: Mapping[str, Any], request: CreateRequest | None
) -> dict[str, Any]:
    record: dict[str, Any] = {"op": "issued", "ref": ref, "card": card_data}
    if request is not None:
        record["request"] = _request_fields(request)
    record["at"] = _now_ms()
    return record


def failed_record(ref: str, error: str) -> dict[str, Any]:
    return {"op": "failed", "ref": ref, "error": error, "at": _now_ms()}


def unknown_record(
    ref: str,
    error: str,
    request: CreateRequest | None = None,
    answer: tuple[int, bytes] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {"op": "unknown", "ref": ref, "error": error}
    if request is not None:
        record["request"] = _request_fields(request)
    if answer is not None:
        record["answer"] = _answer_fields(*answer)
    record["at"] = _now_ms()
    return record


def ended_record(ref: str, last: Mapping[str, Any] | None) -> dict[str, Any]:
    """The unknown record that closes an intent whose writer is known to have ended
    (``last``: the ref's last record, an intent or a recorded answer). It keeps the
    request (a changed row is still seen) and the raw answer (a card in it is still
    recovered): the ref reads as before, but as decided, so that ``retry_unknown`` may
    send it again once the user has checked it."""
    answer = last if last and last.get("op") == "answer" else None
    record: dict[str, Any] = {
        "op": "unknown",
        "ref": ref,
        "error": INTERRUPTED if answer is None else INTERRUPTED_AFTER_ANSWER,
    }
    request = _intent_of(last)
    if request is not None:
        record["request"] = dict(request)
    if answer is not None:
        record["answer"] = {
            name: answer[name] for name in ("status", "body", "body_base64") if name in answer
        }
    record["at"] = _now_ms()
    return record


def issued_cards(
    records: Iterable[Mapping[str, Any] | None],
) -> list[tuple[str, dict[str, Any]]]:
    """(ref, card data) of the issued records among ``records``."""
    cards = []
    for record in records:
        if record and record.get("op") == "issued" and isinstance(record.get("card"), dict):
            cards.append((str(record.get("ref")), record["card"]))
    return cards


def _now_ms() -> int:
    return int(time.time() * 1000)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to the journal")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)


def encode_record(record: Mapping[str, Any]) -> str:
    """A record as the journal writes it: one line of compact JSON (no newline)."""
    return _ENCODER.encode(record)


def _encode(record: Mapping[str, Any]) -> bytes:
    return (_ENCODER.encode(record) + "\n").encode("utf-8")


def _flush_fd(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


class _RefIndex:
    """Every ref of a journal: its state, and where in the file its records are.

    One row per ref (in memory, compactly: see ``_refs``):

    ``state``
        what the ref's deciding record says: ``intent`` (an intent, or its raw answer,
        with no outcome after it), ``issued``, ``failed`` or ``unknown``.
    ``first_record``
        the file offset of the ref's first record: refs are listed in journal order.
    ``last_record``
        the file offset of the record that decides the state, read back for the card,
        the error and what was sent.

    Not thread-safe: the journal calls it under its lock.
    """

    _SCHEMA = """
        CREATE TABLE refs (
            ref BLOB PRIMARY KEY,
            state TEXT NOT NULL,
            first_record INTEGER NOT NULL,
            last_record INTEGER NOT NULL
        ) WITHOUT ROWID
    """
    # A later record decides the state, except that an issued card stays issued: a card
    # exists whatever was recorded after it.
    _RECORD = """
        INSERT INTO refs VALUES (?1, ?2, ?3, ?3) ON CONFLICT (ref) DO UPDATE
        SET state = excluded.state, last_record = excluded.last_record
        WHERE refs.state <> 'issued' OR excluded.state = 'issued'
    """

    def __init__(self) -> None:
        self._database = memory_database(self, self._SCHEMA)

    def record(self, ref: str, state: str, offset: int) -> None:
        """The record at ``offset`` gives ``ref`` this state."""
        self._database.execute(self._RECORD, (ref_key(ref), state, offset))

    def record_many(self, rows: list[tuple[str, str, int]]) -> None:
        """:meth:`record` for each (ref, state, offset), in order."""
        self._database.executemany(
            self._RECORD, [(ref_key(ref), state, offset) for ref, state, offset in rows]
        )

    def get(self, ref: str) -> tuple[str, int] | None:
        """(state, offset of its deciding record), or None for a ref never recorded."""
        found = self._database.execute(
            "SELECT state, last_record FROM refs WHERE ref = ?", (ref_key(ref),)
        ).fetchone()
        return None if found is None else (found[0], found[1])

    def refs(self) -> list[str]:
        """Every ref, in journal order."""
        rows = self._database.execute("SELECT ref FROM refs ORDER BY first_record")
        return [ref_of(key) for (key,) in rows]

    def count(self) -> int:
        (number,) = self._database.execute("SELECT count(*) FROM refs").fetchone()
        return int(number)

    def counts(self) -> dict[str, int]:
        """How many refs are in each state (the states no ref is in are left out)."""
        rows = self._database.execute("SELECT state, count(*) FROM refs GROUP BY state")
        return {state: number for state, number in rows}


class Journal:
    """An open journal. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, path: Path, fd: int, index: _RefIndex, size: int) -> None:
        self._path = path
        self._fd = fd
        self._index = index
        self._size = size  # bytes in the file plus bytes pending
        self._written = size  # bytes in the file
        self._pending: list[bytes] = []
        self._closed = False
        #: Set once a write or fsync failed: nothing is written any more (no torn record
        #: followed by a rewritten one), intents are refused (so nothing more is sent),
        #: and outcomes are kept in memory so the caller can still report their keys.
        self._failure: JournalError | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, remember_new: bool = True) -> Journal:
        """Open (or create, mode 0600) the journal at ``path`` and read what it holds.

        Raises :class:`JournalError` if another run holds it open. ``remember_new`` is
        accepted for compatibility and changes nothing: every ref is remembered.
        """
        file_path = Path(path)
        # Never through a symbolic link: a link planted at the journal's path must not
        # redirect card keys into another file (or append them to the input).
        flags = (
            os.O_RDWR
            | os.O_APPEND
            | os.O_CREAT
            | getattr(os, "O_CLOEXEC", 0)
            | getattr(os, "O_NOFOLLOW", 0)
        )
        existed = file_path.exists()
        try:
            fd = os.open(file_path, flags, FILE_MODE)
        except OSError as exc:
            if file_path.is_symlink():
                raise JournalError(
                    f"the journal {file_path} is a symbolic link; pass the file it points to"
                ) from None
            raise JournalError(
                f"cannot open the journal {file_path}: {exc.strerror or exc}"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise JournalError(f"the journal {file_path} is not a regular file")
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise JournalError(
                        f"the journal {file_path} is in use by another run"
                    ) from None
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, FILE_MODE)  # it holds card keys: owner only
            index, size, torn = _read_index(fd)
            journal = cls(file_path, fd, index, size)
            if torn:
                journal._append(b"\n")  # isolate a torn last line from what follows
            if size == 0:
                journal._append(_encode({"op": "journal", "version": VERSION, "at": _now_ms()}))
            journal.flush()
            if not existed:
                _sync_directory(file_path.parent)
            return journal
        except BaseException:
            os.close(fd)
            raise

    # ------------------------------------------------------------------ reading

    @property
    def path(self) -> Path:
        return self._path

    def __len__(self) -> int:
        with self._lock:
            return self._index.count()

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self._last(ref) is not None

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(self._index.refs())

    def __repr__(self) -> str:
        return f"Journal({str(self._path)!r}, refs={len(self)})"

    def state(self, ref: str) -> BulkState | None:
        """The ref's state, or None if the journal has never heard of it."""
        last = self._last(ref)
        return None if last is None else BULK_STATES[last[0]]

    def interrupted(self, ref: str) -> bool:
        """True if the ref's last record is an intent (an earlier run stopped mid-request)."""
        last = self._last(ref)
        return last is not None and last[0] == INTENT

    def counts(self) -> dict[BulkState, int]:
        """How many refs are in each state."""
        with self._lock:
            counts = self._index.counts()
        result = dict.fromkeys(BulkState, 0)
        for state, number in counts.items():
            result[BULK_STATES[state]] += number
        return result

    def entry(self, ref: str) -> JournalEntry | None:
        """What the journal knows of ``ref`` (reads its last record back from disk)."""
        last = self._last(ref)
        if last is None:
            return None
        last_state, offset = last
        return entry_of(ref, last_state, self._read_record(offset))

    # ------------------------------------------------------------------ sharing

    #: A file journal belongs to one run: there are no claims and no other workers.
    shared = False

    def claim(self, refs: Sequence[str], *, retry_unknown: bool = False) -> None:
        """Nothing to claim: a file journal is held by one run (see ``open``'s lock)."""

    def held_elsewhere(self, ref: str) -> bool:
        return False

    def may_send(self, ref: str) -> bool:
        """Always: the intent is durable and no other run can hold this ref."""
        return True

    def prefetch(self, refs: Sequence[str]) -> None:
        """Nothing to fetch: the index is in memory."""

    @property
    def description(self) -> str:
        return str(self._path)

    def _last(self, ref: str) -> tuple[str, int] | None:
        """(state, offset of the record deciding it) of ``ref``, or None."""
        with self._lock:
            return self._index.get(ref)

    def _read_record(self, offset: int) -> dict[str, Any] | None:
        if offset >= self._written:  # still in memory (not flushed, or the disk failed)
            with self._lock:
                if offset >= self._written:
                    pending = b"".join(self._pending)
                    start = offset - self._written
                    end = pending.find(b"\n", start)
                    return _parse(pending[start : end if end >= 0 else None])
        chunks: list[bytes] = []
        position = offset
        while True:
            chunk = os.pread(self._fd, 8192, position)
            if not chunk:
                break
            end = chunk.find(b"\n")
            if end >= 0:
                chunks.append(chunk[:end])
                break
            chunks.append(chunk)
            position += len(chunk)
        return _parse(b"".join(chunks))

    # ------------------------------------------------------------------ failure

    @property
    def failure(self) -> JournalError | None:
        """The error that stopped this journal's writes, or None."""
        return self._failure

    def unwritten_cards(self) -> list[tuple[str, dict[str, Any]]]:
        """(ref, card data) of the issued records that never reached the file.

        Empty unless a write failed: those cards exist and their keys are only here,
        in memory; the caller must put them where the user finds them.
        """
        with self._lock:
            lines = b"".join(self._pending).splitlines()
        return issued_cards(_parse(line) for line in lines)

    # ------------------------------------------------------------------ writing

    def record_intent(self, ref: str, request: CreateRequest) -> None:
        """Note that the create for ``ref`` is about to be sent (then :meth:`flush`).

        Raises :class:`JournalError` once a write has failed: nothing more may be sent.
        """
        if self._failure is not None:
            raise self._failure
        self._write(ref, INTENT, intent_record(ref, request))

    def record_answer(
        self, ref: str, request: CreateRequest, status_code: int, body: bytes
    ) -> None:
        """Record GatePay's raw answer to the create for ``ref`` (then :meth:`flush`),
        before anything interprets it."""
        self._write(ref, INTENT, answer_record(ref, request, status_code, body))

    def record_issued(
        self, ref: str, card_data: Mapping[str, Any], request: CreateRequest | None = None
    ) -> None:
        """Record the create's answer (its ``data`` object, card key included)."""
        self._write(ref, ISSUED, issued_record(ref, card_data, request))

    def record_failed(self, ref: str, error: str) -> None:
        self._write(ref, FAILED, failed_record(ref, error))

    def record_unknown(
        self,
        ref: str,
        error: str,
        request: CreateRequest | None = None,
        answer: tuple[int, bytes] | None = None,
    ) -> None:
        """Record an unknown outcome, with GatePay's raw answer when there was one."""
        self._write(ref, UNKNOWN, unknown_record(ref, error, request, answer))

    def flush(self) -> None:
        """Write the records so far to the file and make them durable (fdatasync).

        Records are kept in memory until the next flush, which writes them all with one
        system call; the bulk run flushes before each create is sent (sharing one flush
        among the workers that wait at that moment), so an outcome reaches the file at
        the latest with the next intent of its worker.
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._closed:
                return
            self._write_pending()
            fd = self._fd
        try:
            _flush_fd(fd)
        except OSError as exc:
            with self._lock:
                raise self._fail(exc) from None

    def close(self) -> None:
        """Flush and close. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._failure is None:
                    self._write_pending()
                    try:
                        _flush_fd(self._fd)
                    except OSError as exc:
                        raise self._fail(exc) from None
            finally:
                self._closed = True
                os.close(self._fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write(self, ref: str, state: str, record: Mapping[str, Any]) -> None:
        line = _encode(record)
        with self._lock:
            self._index.record(ref, state, self._append(line))

    def _append(self, data: bytes) -> int:
        """Queue ``data``; return its offset in the file (hold the lock)."""
        if self._closed:
            raise JournalError(f"the journal {self._path} is closed")
        offset = self._size
        self._pending.append(data)
        self._size += len(data)
        return offset

    def _write_pending(self) -> None:
        """Write the queued records to the file in one go (hold the lock).

        A failed write is never retried: the file is cut back to its last complete
        record (a torn fragment followed by a rewritten record would corrupt both), the
        journal stops writing, and the records stay in memory (see :meth:`failure`).
        """
        if self._failure is not None:
            raise self._failure
        if not self._pending:
            return
        data = b"".join(self._pending)
        # A write that ended while its caller was interrupted (a Ctrl-C raised just after
        # os.write returned) left its bytes in the file but not in the count: writing
        # them again would shift every later record from its indexed offset, and a ref
        # would read another ref's card. The file's size says how much is there already.
        on_disk = os.fstat(self._fd).st_size - self._written
        if 0 < on_disk <= len(data):
            self._written += on_disk
            data = data[on_disk:]
            self._pending[:] = [data] if data else []
            if not data:
                return
        view = memoryview(data)
        try:
            while view:
                written = _write_fd(self._fd, view)
                view = view[written:]
        except OSError as exc:
            # Cut the torn fragment off; if even that fails, a torn last line is
            # skipped when the journal is read back.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._written)
            raise self._fail(exc) from None
        self._pending.clear()
        self._written += len(data)

    def _fail(self, exc: OSError) -> JournalError:
        """Enter the failed state (hold the lock) and return the error to raise."""
        if self._failure is None:
            reason = exc.strerror or str(exc)
            self._failure = JournalError(
                f"cannot write to the journal {self._path} ({reason}); the run stopped"
                " before sending anything more. Free some space (or fix the disk) and run"
                " again with the same journal: nothing it recorded is sent twice."
            )
        return self._failure


def _write_fd(fd: int, data: memoryview) -> int:
    """``os.write``, one place for tests to make fail."""
    return os.write(fd, data)


def parse_record(line: bytes | str) -> dict[str, Any] | None:
    """A record read back (None for a line that is not a JSON object)."""
    return _parse(line)


def _parse(line: bytes | str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _read_index(fd: int) -> tuple[_RefIndex, int, bool]:
    """Scan a journal: the index of its refs, its size, whether its last line is torn."""
    index = _RefIndex()
    batch: list[tuple[str, str, int]] = []  # recorded in batches: one call per batch
    offset = 0
    skipped = 0
    last = b""
    with os.fdopen(os.dup(fd), "rb") as handle:
        handle.seek(0)
        for line in handle:
            last = line
            start = offset
            offset += len(line)
            try:
                record = json.loads(line)
                state = STATE_OF_OP.get(record.get("op"))
                ref = record.get("ref")
            except (ValueError, AttributeError):
                skipped += 1
                continue
            if state is None or not isinstance(ref, str):
                continue
            batch.append((ref, state, start))
            if len(batch) >= 1024:
                index.record_many(batch)
                batch.clear()
    index.record_many(batch)
    torn = bool(last) and not last.endswith(b"\n")
    if skipped:
        logger.warning("journal: skipped %d unreadable line(s)", skipped)
    return index, offset, torn


def _sync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable (best effort)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
