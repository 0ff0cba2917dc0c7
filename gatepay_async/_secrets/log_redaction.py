"""A logging filter that masks query values in httpx's and httpcore's own log records.

``balance(key=...)`` sends the card key as a query parameter (GatePay's API has no other
way), and httpx logs every request at INFO as ``HTTP Request: GET https://...?key=...``.
The client installs this filter on the ``httpx`` logger, once per process.
"""

from __future__ import annotations

import logging
import re

from gatepay_async._secrets.redact import mask_secret

__all__ = ["install_log_redaction"]

# A query value: after "?" or "&" and "name=", up to the next "&", space or quote.
_QUERY_VALUE = re.compile(r"(?P<head>[?&][^=&\s\"'?#]+=)(?P<value>[^&\s\"'#]+)")
# A filter only sees records of the logger it is on (not of its children), so each
# logger that can print a URL is named: httpx's request line, and httpcore's DEBUG
# records of response headers (a redirect's Location may echo the query).
_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "aiohttp.client",
)


class QueryRedactingFilter(logging.Filter):
    """Rewrites a record whose text holds a URL query, with every value masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message and "=" in message:
            redacted = _QUERY_VALUE.sub(
                lambda m: m.group("head") + mask_secret(m.group("value")), message
            )
            if redacted != message:
                record.msg = redacted
                record.args = None
        return True


def install_log_redaction() -> None:
    """Add the filter to httpx's loggers unless it is already there (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryRedactingFilter) for f in logger.filters):
            logger.addFilter(QueryRedactingFilter())
