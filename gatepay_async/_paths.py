"""The URL paths of the gift card operations, per API flavour."""

from __future__ import annotations

import attrs

__all__ = ["INSTITUTION_PATHS", "MERCHANT_PATHS", "PathSet"]


@attrs.frozen
class PathSet:
    create: str
    query: str
    templates: str
    balance: str


#: The merchant API (seed 001 and the official SDKs): the default.
MERCHANT_PATHS = PathSet(
    create="/v1/pay/gift/create",
    query="/v1/pay/gift/query",
    templates="/v1/pay/gift/temp/list",
    balance="/v1/pay/balance",
)

_INSTITUTION = "/payment/open/institution"

#: The institution API (seeds 003/004), used with ``on_behalf_of``.
INSTITUTION_PATHS = PathSet(
    create=_INSTITUTION + MERCHANT_PATHS.create,
    query=_INSTITUTION + MERCHANT_PATHS.query,
    templates=_INSTITUTION + MERCHANT_PATHS.templates,
    balance=_INSTITUTION + MERCHANT_PATHS.balance,
)
