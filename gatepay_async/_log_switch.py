"""``GATEPAY_LOG=debug|info``: the ``gatepay`` logger to stderr at that level, as
``OPENAI_LOG`` does for openai-python. Read once, when the package is imported.

The handler carries the query-redacting filter too: the SDK's own lines never hold a key
(they name paths and error texts, both masked), and a record passed on to it with a URL
query is masked all the same.
"""

from __future__ import annotations

import logging
import os
import sys

from gatepay_async._secrets.log_redaction import QueryRedactingFilter

__all__ = ["ENV_LOG", "setup_logging"]

ENV_LOG = "GATEPAY_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "[%(asctime)s - %(name)s:%(lineno)d - %(levelname)s] %(message)s"


class _SwitchHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``GATEPAY_LOG`` adds (marked, so that it is added once)."""


def setup_logging() -> None:
    """Apply ``GATEPAY_LOG``, if set to ``debug`` or ``info`` (idempotent)."""
    level = _LEVELS.get(os.environ.get(ENV_LOG, "").strip().lower())
    if level is None:
        return
    logger = logging.getLogger("gatepay")
    if not any(isinstance(h, _SwitchHandler) for h in logger.handlers):
        handler = _SwitchHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(QueryRedactingFilter())
        logger.addHandler(handler)
    logger.setLevel(level)
