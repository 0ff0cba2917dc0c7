"""The bulk issuance journal as a file: one JSON line per record.

A journal is an append-only file of JSON lines, created with mode 0600 because issued
records hold card keys; the records (``intent``, ``answer``, ``issued``, ``failed``,
``unknown``) and what each means are ``_storage.journal_records``'s. The file's first line is
``{"op": "journal", "version": 1, "at": MS, "campaign": ID}``: ``ID`` is the journal's
campaign id, which the outputs of its runs carry (a journal an older version made, with
no id, is given one by a ``campaign`` record on its first open). Unreadable lines (a
line torn by a crash) are skipped: a torn intent was never followed by a send, and a
torn outcome leaves its intent last, which reads as ``unknown`` -- the safe side.

In memory the journal keeps an index: every ref it holds, read from the file or written
since it was opened, with its state and where in the file its records are (see
:class:`_RefIndex`); cards are read back from the file on demand. The journal is
thread-safe.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gatepay_async._bulk_models import BulkState
from gatepay_async._storage.journal_records import (
    BULK_STATES,
    CAMPAIGN,
    INTENT,
    STATE_OF_OP,
    VERSION,
    JournalEntry,
    JournalError,
    RecordMethods,
    encode_record,
    entry_of,
    issued_cards,
    new_campaign_id,
    now_ms,
    parse_record,
)
from gatepay_async._storage.refs import memory_database, ref_key, ref_of

try:  # advisory locking keeps two runs off one journal; not available on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FILE_MODE",
    "Journal",
    "JournalEntry",
    "JournalError",
]

logger = logging.getLogger("gatepay.journal")

#: Journal files (and the CLI's output files) are readable by their owner only.
FILE_MODE = 0o600


def _encode(record: Mapping[str, Any]) -> bytes:
    return (encode_record(record) + "\n").encode("utf-8")


def _flush_fd(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


class _RefIndex:
    """Every ref of a journal: its state, and where in the file its records are.

    One row per ref (in memory, compactly: see ``_storage.refs``):

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
    # exists whatever was recorded after it. Plain ``?`` placeholders (the offset given
    # twice): Python 3.12's first releases warn on numbered ones given as a sequence.
    _RECORD = """
        INSERT INTO refs VALUES (?, ?, ?, ?) ON CONFLICT (ref) DO UPDATE
        SET state = excluded.state, last_record = excluded.last_record
        WHERE refs.state <> 'issued' OR excluded.state = 'issued'
    """

    def __init__(self) -> None:
        self._database = memory_database(self, self._SCHEMA)

    def record(self, ref: str, state: str, offset: int) -> None:
        """The record at ``offset`` gives ``ref`` this state."""
        self._database.execute(self._RECORD, (ref_key(ref), state, offset, offset))

    def record_many(self, rows: list[tuple[str, str, int]]) -> None:
        """:meth:`record` for each (ref, state, offset), in order."""
        self._database.executemany(
            self._RECORD, [(ref_key(ref), state, offset, offset) for ref, state, offset in rows]
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


class Journal(RecordMethods):
    """An open journal. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, path: Path, fd: int, index: _RefIndex, size: int, campaign_id: str) -> None:
        self._path = path
        self._campaign_id = campaign_id
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
            index, size, torn, campaign_id = _read_index(fd)
            journal = cls(file_path, fd, index, size, campaign_id or new_campaign_id())
            if torn:
                journal._append(b"\n")  # isolate a torn last line from what follows
            if size == 0:
                header = {"op": "journal", "version": VERSION, "at": now_ms()}
                journal._append(_encode({**header, "campaign": journal.campaign_id}))
            elif campaign_id is None:  # an older version's journal: its id from now on
                record = {"op": CAMPAIGN, "campaign": journal.campaign_id, "at": now_ms()}
                journal._append(_encode(record))
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

    @property
    def campaign_id(self) -> str:
        """This journal's campaign id (see the module's docstring)."""
        return self._campaign_id

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
                    return parse_record(pending[start : end if end >= 0 else None])
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
        return parse_record(b"".join(chunks))

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
        return issued_cards(parse_record(line) for line in lines)

    # ------------------------------------------------------------------ writing

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

    def _put(self, ref: str, state: str, record: Mapping[str, Any]) -> None:
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
        failure = self._write_all(data)
        if failure is not None:
            # Raised from here, outside any except block and without the records: error
            # tools show every frame's locals, and the records hold GatePay's answers
            # and the cards' keys (they stay in memory, see :meth:`failure`).
            del data
            raise failure
        self._pending.clear()
        self._written += len(data)

    def _write_all(self, data: bytes) -> JournalError | None:
        """Write ``data`` whole (hold the lock); the error to raise if the disk failed."""
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
            return self._fail(exc)
        return None

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


def _read_index(fd: int) -> tuple[_RefIndex, int, bool, str | None]:
    """Scan a journal: the index of its refs, its size, whether its last line is torn,
    its campaign id (the first one recorded: the header's, or a ``campaign`` record's)."""
    index = _RefIndex()
    campaign_id: str | None = None
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
                if campaign_id is None and record.get("op") in ("journal", CAMPAIGN):
                    found = record.get("campaign")
                    campaign_id = found if isinstance(found, str) and found else None
                continue
            batch.append((ref, state, start))
            if len(batch) >= 1024:
                index.record_many(batch)
                batch.clear()
    index.record_many(batch)
    torn = bool(last) and not last.endswith(b"\n")
    if skipped:
        logger.warning("journal: skipped %d unreadable line(s)", skipped)
    return index, offset, torn, campaign_id


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
