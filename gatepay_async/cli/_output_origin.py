"""Which journal an output was written from: the ``OUT.campaign`` file beside it.

A run takes back into its journal the cards an earlier output holds for rows the
journal left in doubt (``_csv_io.recover_from_output``). That is safe only if the output
was written from this very journal: an output another campaign wrote to the same path
holds that campaign's cards, and taking them would hand the same cards out twice while
the cards this campaign may have been issued are never looked for.

So every output (``OUT``, and each ``OUT.worker-K``) gets a small JSON file beside it,
``OUT.campaign``, holding the campaign id of the journal it was written from and the
SHA-256 of the output's bytes. The CSV itself stays as it always was (its columns are a
promise to the programs that read it). An output is trusted only when that file names
this journal's campaign id and the output's bytes still hash to what it says: an output
with no such file (an older version's, or one made by hand), another campaign's, or one
changed since (edited, or its write cut short by a crash between the two renames) is
never read back. Its rows stay in doubt: a card kept unknown, to be looked up, wins
over a card taken on a guess.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import IO

__all__ = ["FORMAT", "origin_path", "seal", "sha256_of", "untrusted_reason"]

#: The version of the ``OUT.campaign`` file's content.
FORMAT = 1
#: An ``OUT.campaign`` file larger than this is not ours (it holds two short strings).
MAX_ORIGIN_BYTES = 4096
#: The mode of the file: the output beside it holds keys, this one only ids and a digest,
#: but it is read by the same owner only.
_ORIGIN_MODE = 0o600


def origin_path(out_path: Path) -> Path:
    """Where the identity of the output ``out_path`` is kept."""
    return out_path.with_name(out_path.name + ".campaign")


def sha256_of(handle: IO[bytes]) -> str:
    """The SHA-256 (hex) of what ``handle`` holds from its start."""
    handle.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def seal(out_path: Path, campaign_id: str, digest: str) -> None:
    """Write ``OUT.campaign``: the output at ``out_path`` hashes to ``digest`` and was
    written from the journal of ``campaign_id``.

    Written beside it under a new name and renamed over the old one, so that a reader
    sees the old file or the new one whole. Called once the output is in place: a crash
    in between leaves the old ``OUT.campaign`` beside the new output, whose digest then
    differs -- the output is not trusted, the safe side. Raises OSError.
    """
    text = json.dumps(
        {"gatepay_output": FORMAT, "campaign_id": campaign_id, "sha256": digest},
        separators=(",", ":"),
    )
    target = origin_path(out_path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _ORIGIN_MODE)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def untrusted_reason(out_path: Path, output: IO[bytes], campaign_id: str) -> str | None:
    """Why the output ``output`` (open on ``out_path``) must not be read back into the
    journal of ``campaign_id``; None if it may (see the module's docstring)."""
    origin = origin_path(out_path)
    recorded = _read_origin(origin)
    if recorded is None:
        return (
            f"it carries no campaign identity ({origin.name} is missing or unreadable:"
            " written by an older gatepay, or by hand), so nothing shows it was written"
            " from this journal"
        )
    theirs, digest = recorded
    if theirs != campaign_id:
        return (
            f"it was written from another journal or campaign ({origin.name} names"
            f" campaign id {theirs}, this journal's is {campaign_id}): its cards are"
            " that campaign's"
        )
    if sha256_of(output) != digest:
        return (
            f"it changed after gatepay wrote it (its bytes no longer match {origin.name}:"
            " edited, or its writing was cut short)"
        )
    return None


def _read_origin(origin: Path) -> tuple[str, str] | None:
    """(campaign id, digest) from an ``OUT.campaign`` file, or None if there is none we
    wrote (missing, a link, not a regular file, too large, not our JSON)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(origin, flags)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            raw = handle.read(MAX_ORIGIN_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_ORIGIN_BYTES:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("gatepay_output") != FORMAT:
        return None
    campaign_id, digest = data.get("campaign_id"), data.get("sha256")
    if not (isinstance(campaign_id, str) and campaign_id and isinstance(digest, str)):
        return None
    return campaign_id, digest
