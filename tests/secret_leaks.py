"""Whether a secret shows in what a user reads: its pieces, anywhere in an error's chain.

Looking for the whole secret misses a key that was cut (an answer quoted up to a limit)
or partly masked (more than the four characters a mask shows), and following only
``__cause__`` misses an exception raised while another was handled (``__context__``),
which a traceback prints all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["all_exceptions", "leaked_pieces", "raised_texts"]

#: A piece this long of a secret counts as leaked (a mask shows four characters).
PIECE = 8


def leaked_pieces(secret: str, text: str, *, public: Iterable[str] = ()) -> list[str]:
    """The ``PIECE``-character pieces of ``secret`` that ``text`` holds (empty: none).

    A piece that is also part of a ``public`` value (a card number the text may show)
    proves nothing: the tests' card key ends in digits its card number holds too.
    """
    assert len(secret) >= PIECE, "a secret this short cannot be told from ordinary text"
    shown = list(public)
    pieces = (secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1))
    return [p for p in pieces if p in text and not any(p in value for value in shown)]


def all_exceptions(exc: BaseException) -> Iterator[BaseException]:
    """The error and every exception reachable from it: ``__cause__``, ``__context__``,
    the SDK's ``cause`` and an exception group's members."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "cause", None)]
        todo += list(getattr(current, "exceptions", ()) or ())


def raised_texts(exc: BaseException) -> str:
    """``str`` and ``repr`` of the error and of every exception chained to it."""
    return "\n".join(text for item in all_exceptions(exc) for text in (str(item), repr(item)))
