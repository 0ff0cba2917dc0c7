"""What a resource needs from the client: the small internal API it sends through.

Resources own their paths and their decoding; the client owns signing, the transport,
retries and the one outcome decision. Typing resources against this protocol, not
against the client class, keeps the two from importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from gatepay_async._decision.outcome import CreateCall, CreateOutcome
from gatepay_async._secrets.secret import Secret
from gatepay_async._storage.ledger import Ledger
from gatepay_async._wire.request_options import RequestOptions

__all__ = ["AsyncClientAPI"]


class AsyncClientAPI(Protocol):
    """The client as its resources see it."""

    @property
    def on_behalf_of(self) -> str | None:
        """The institution's sub-merchant this client acts for (institution paths), or None."""

    @property
    def _idempotency_ledger(self) -> Ledger | None:
        """The ledger of ``create(..., idempotency_key=...)``, or None."""

    @property
    def _ledger_account(self) -> str:
        """The GatePay account this client creates cards in, as the ledger keeps it."""

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Secret = b"",
        params: Mapping[str, str | Secret] | None = None,
        options: RequestOptions = ...,
    ) -> Any:
        """Send a signed read; the envelope's data, or the mapped error raised."""

    async def _send_create(self, path: str, call: CreateCall) -> CreateOutcome:
        """Send a create; GatePay's last raw answer and the outcome decided on it."""
