"""The URL paths of the gift card operations, per API flavour.

What is documented and what is assumed:

- merchant paths (the default): seed 001 and GatePay's official clients, all four;
- institution paths (with ``on_behalf_of``): GatePay documents only create and query
  (seeds 003/004). Templates and balance there are an ASSUMPTION: the merchant path under
  the institution prefix. An account whose paths differ passes its own set::

      from gatepay_async import AsyncGatePay, PathSet
      paths = PathSet.institution().replace(balance="/payment/open/institution/v1/pay/funds")
      AsyncGatePay(..., on_behalf_of="10002", paths=paths)
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["INSTITUTION_PATHS", "MERCHANT_PATHS", "PathSet", "paths_for"]


def _absolute(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.startswith("/") or "?" in value:
        raise ValueError(f"PathSet.{attribute.name}: expected a path starting with '/'")


@attrs.frozen
class PathSet:
    """Where each operation lives, relative to ``base_url``. Pass one as ``paths=``."""

    create: str = attrs.field(validator=_absolute)
    query: str = attrs.field(validator=_absolute)
    templates: str = attrs.field(validator=_absolute)
    balance: str = attrs.field(validator=_absolute)

    @staticmethod
    def merchant() -> PathSet:
        """The merchant API (seed 001, GatePay's official clients): the default."""
        return MERCHANT_PATHS

    @staticmethod
    def institution() -> PathSet:
        """The institution API; its ``templates`` and ``balance`` are assumed (see above)."""
        return INSTITUTION_PATHS

    def replace(self, **changes: Any) -> PathSet:
        """A copy with some paths changed: ``PathSet.institution().replace(balance=...)``."""
        return attrs.evolve(self, **changes)


#: The merchant API (seed 001 and the official SDKs): the default.
MERCHANT_PATHS = PathSet(
    create="/v1/pay/gift/create",
    query="/v1/pay/gift/query",
    templates="/v1/pay/gift/temp/list",
    balance="/v1/pay/balance",
)

_INSTITUTION = "/payment/open/institution"

#: The institution API, used with ``on_behalf_of``. create and query are documented (seeds
#: 003/004); templates and balance are ASSUMED to follow the same prefix.
INSTITUTION_PATHS = PathSet(
    create=_INSTITUTION + MERCHANT_PATHS.create,
    query=_INSTITUTION + MERCHANT_PATHS.query,
    templates=_INSTITUTION + MERCHANT_PATHS.templates,
    balance=_INSTITUTION + MERCHANT_PATHS.balance,
)


def paths_for(on_behalf_of: str | None, custom: PathSet | None = None) -> PathSet:
    """The caller's path set if given, else the institution paths with ``on_behalf_of``
    and the merchant paths without."""
    if custom is not None:
        return custom
    return INSTITUTION_PATHS if on_behalf_of else MERCHANT_PATHS
