"""Resource namespaces of the client (``client.gift_cards``)."""

from .gift_cards import AsyncGiftCards

__all__ = ["AsyncGiftCards"]
