"""A cookie jar that keeps nothing, for the SDK's own clients."""

from __future__ import annotations

import httpx

__all__ = ["NoCookies"]


class NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing.

    GatePay sets no cookies, and httpx reads every response's cookies through ``urllib``
    request objects, at about half the CPU of building the ``httpx.Request`` itself.
    Installed with ``client._cookies = NoCookies()`` (httpx's ``cookies`` setter copies
    into a plain jar).
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return None
