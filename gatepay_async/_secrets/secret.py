"""Secrets as a type: the signing secret, the api key and card keys inside the SDK.

Error tools render a frame's locals without asking: rich tracebacks and structlog's
``dict_tracebacks`` walk every attrs field and call ``__rich_repr__``, Sentry's frame
locals and Django's technical 500 page ``repr()`` whatever they find. A plain ``str``
holding a key shows as itself in all of them. A :class:`Secret` shows only its masked
form (first 4 characters and an ellipsis) through ``repr``, ``str``, ``format`` and
rich; the SDK calls :meth:`Secret.reveal` only where the value is signed or written
onto the wire.

Not a ``str`` subclass on purpose: serialisers (Sentry's, ``json``) take any ``str``
as the text it holds. Equality (with a Secret or the plain text) compares in constant
time; the hash is the value's, so a Secret works as a dict key. A Secret cannot be
pickled: a pickle is plain bytes (a task queue, a cache, a crash dump), and nothing in
the SDK needs to send one across a process (worker processes read their credentials
from the environment; exceptions carry no Secret).
Copies return the object itself: it is immutable.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any, Generic, NoReturn, TypeVar

from gatepay_async._secrets.redact import mask_secret

__all__ = ["Sealed", "Secret", "hide", "reveal"]

_T = TypeVar("_T")


class Secret:
    """A text value that never shows itself: ``reveal()`` hands it out."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    @classmethod
    def of(cls, value: str | Secret) -> Secret:
        """``value`` as a Secret (itself when it is one already)."""
        return value if isinstance(value, Secret) else cls(value)

    def reveal(self) -> str:
        """The secret itself: only for signing it or writing it onto the wire."""
        return self._value

    #: pydantic's spelling, for readers who know ``SecretStr``.
    get_secret_value = reveal

    @property
    def masked(self) -> str:
        """What every display form shows: the first 4 characters and an ellipsis."""
        return mask_secret(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __rich_repr__(self) -> Iterator[str]:
        # rich.pretty calls this before looking at attributes or slots.
        yield self.masked

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        # Against a Secret or the plain text (a check such as ``config.secret_key == "s"``).
        if isinstance(other, Secret):
            other = other._value
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other.encode("utf-8"))

    def __hash__(self) -> int:
        return hash(self._value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("a Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("a Secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Secret is not pickled: its value would be written out in clear")


class Sealed(Generic[_T]):
    """Any value that holds secrets and that no display form may show (a raw answer, a
    database row holding one), carried through frames that can raise. Its repr names
    only the type; ``value`` hands it out."""

    __slots__ = ("value",)

    def __init__(self, value: _T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<sealed {type(self.value).__name__}>"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Sealed value is not pickled: it holds secrets")


def hide(value: _T) -> Secret | _T:
    """``value`` masked when it is text (a ``str``, or a Secret already); anything else
    (None, a wrong type a check rejects later) as it is. For an argument rebound on entry
    to a function, so that its frame never holds the raw text."""
    if isinstance(value, str):
        return Secret(value)
    return value


def reveal(value: str | Secret | None) -> str | None:
    """The text of ``value``, whether it is a Secret, a plain ``str`` or None."""
    return value.reveal() if isinstance(value, Secret) else value
