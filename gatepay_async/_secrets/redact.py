"""Keep secrets out of logs, reprs and exception text.

A response body quoted in an error may be anything: JSON cut mid-key, a ``data`` string
holding (broken) JSON with escaped quotes, a form or an HTML page. So masking does not
parse: after any name ending in ``key`` or ``secret`` (``key``, ``card_key``, ``cardKey``,
``secret_key``...) and a separator (``":"``, ``\\":\\"``, ``=``, ``: ``, ``>``), the value
is masked up to the next quote, backslash, delimiter or the end of the text -- so an
unterminated value, as in an answer cut anywhere, is masked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["mask_secret", "redact_text", "redact_url", "redact_value", "scrub_known"]

# A name starts where a word starts (the lookbehind): otherwise every position inside a
# long run of letters would start a match attempt, and a 50 KB body took a minute.
_NAME = r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]*(?:key|secret)"
# The value after a secret-bearing name: quoted or not, escaped or not, possibly unterminated.
_SECRET_VALUE = re.compile(
    r"(?P<head>"
    rf"{_NAME}\\*[\"']?\s*(?:[:=]|=>)\s*\\*[\"']?"  # JSON, escaped JSON, form, YAML, repr
    rf"|<{_NAME}>\s*"  # XML/HTML element
    r")"
    r"(?P<value>(?:[^\"'\\&,;}\]\s<>]|\\/)+)",  # "\/" is an escaped "/" (base64 keys)
    re.IGNORECASE,
)
# A JSON member's name that says its value is a secret (``key``, ``card_key``, ``cardKey``).
_SECRET_NAME = re.compile(rf"^{_NAME}$", re.IGNORECASE)
# Prose such as "card key ABCD1234EFGH not found": a long token right after the name.
_SECRET_WORD = re.compile(
    rf"(?P<head>\b{_NAME}\s+)(?P<value>[A-Za-z0-9_\-+/=]{{8,}})", re.IGNORECASE
)
_LITERALS = frozenset({"null", "true", "false", "none"})
#: A known secret shorter than this is not scrubbed from text (it would mangle words).
_MIN_KNOWN = 6


def mask_secret(value: str | None) -> str:
    """Show at most the first 4 characters of a secret, then an ellipsis."""
    if not value:
        return ""
    return value[:4] + "…"


def _masked(value: str) -> bool:
    """Whether ``value`` is already what :func:`mask_secret` makes of a secret: masking a
    text twice must change nothing (an error rebuilt from its text masks it again)."""
    return value.endswith("…") and len(value) <= 5


def _mask(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.lower() in _LITERALS or _masked(value):
        return match.group(0)
    return match.group("head") + mask_secret(value)


def redact_text(text: str) -> str:
    """Mask the values of secret-bearing fields in any text (body snippets, messages)."""
    return _SECRET_WORD.sub(_mask, _SECRET_VALUE.sub(_mask, text))


def redact_url(url: object) -> str:
    """A URL as text with every query value masked (``?key=ABCD…``)."""
    text = str(url)
    head, mark, query = text.partition("?")
    if not mark:
        return text
    parts = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        parts.append(f"{name}={mask_secret(value)}" if equals and value else pair)
    return head + "?" + "&".join(parts)


def scrub_known(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of secrets the caller knows (a key it sent) in ``text``."""
    for secret in secrets:
        if len(secret) >= _MIN_KNOWN and secret in text:
            text = text.replace(secret, mask_secret(secret))
    return text


def redact_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (an answer's decoded JSON, or text) with every secret masked: a member
    whose name says it is a secret, secret-bearing fields in text, and the ``secrets``
    the caller knows wherever they appear. Containers are copied, never changed."""
    if isinstance(value, str):
        return scrub_known(redact_text(value), secrets)
    if isinstance(value, bytes):
        return redact_value(value.decode("utf-8", "replace"), secrets).encode()
    if isinstance(value, Mapping):
        return {
            name: mask_secret(item)
            if isinstance(name, str) and isinstance(item, str) and _SECRET_NAME.match(name)
            else redact_value(item, secrets)
            for name, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item, secrets) for item in value)
    return value
