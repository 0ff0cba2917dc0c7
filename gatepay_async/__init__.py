"""gatepay_async: the async GatePay gift card SDK.

This module is the source of ``gatepay_sync/__init__.py``: shared names are imported
absolutely from gatepay_async, the client relatively, so the sync package re-exports the
very same model and exception classes.
"""

from gatepay_async._aiohttp import DefaultAioHttpClient
from gatepay_async._bulk_models import BulkResult, BulkState, CardSpec
from gatepay_async._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    GatePayError,
    InvalidRequestError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseValidationError,
    ServerError,
    ValidationError,
    WaitTimeoutError,
)
from gatepay_async._journal import Journal, JournalError
from gatepay_async._models import (
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    MerchantBalance,
)
from gatepay_async._paths import PathSet
from gatepay_async._version import __version__

from ._client import AsyncGatePay

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncGatePay",
    "AuthenticationError",
    "BulkResult",
    "BulkState",
    "CardSpec",
    "DefaultAioHttpClient",
    "GatePayError",
    "GiftCard",
    "GiftCardBalance",
    "GiftCardStatus",
    "GiftCardTemplate",
    "InvalidRequestError",
    "Journal",
    "JournalError",
    "MerchantBalance",
    "OutcomeUnknownError",
    "PathSet",
    "RateLimitError",
    "RequestNotSentError",
    "ResponseValidationError",
    "ServerError",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
]
