"""Keep secrets out of logs, reprs and exception text."""

from __future__ import annotations

import re

__all__ = ["mask_secret", "redact_text"]

_SECRET_FIELDS = re.compile(
    r'("(?:key|card_key|cardKey|secret|secret_key|api_key)"\s*:\s*")([^"]*)(")',
    re.IGNORECASE,
)


def mask_secret(value: str | None) -> str:
    """Show at most the first 4 characters of a secret, then an ellipsis."""
    if not value:
        return ""
    return value[:4] + "…"


def redact_text(text: str) -> str:
    """Mask the values of secret-bearing JSON fields in a body snippet."""
    return _SECRET_FIELDS.sub(lambda m: m.group(1) + mask_secret(m.group(2)) + m.group(3), text)
