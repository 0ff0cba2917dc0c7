"""The GatePay gift card SDK: the AsyncGatePay client, its models and its errors.

Models and errors are one set of classes for both packages: ``gatepay_async.GiftCard``
and ``gatepay_sync.GiftCard`` are the same class, and so are the exceptions.
"""

from gatepay_async._aiohttp import DefaultAioHttpClient  # unasync: async-only
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
    RequestNotSentTimeoutError,
    ResponseValidationError,
    ServerError,
    ValidationError,
    WaitTimeoutError,
)
from gatepay_async._journal import Journal, JournalError
from gatepay_async._ledger import Ledger, LedgerError
from gatepay_async._log_switch import setup_logging
from gatepay_async._models import (
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    MerchantBalance,
)
from gatepay_async._paths import PathSet
from gatepay_async._raw_response import RawResponse
from gatepay_async._version import __version__

from ._client import AsyncGatePay
from ._transport import DefaultAsyncHttpxClient

setup_logging()  # GATEPAY_LOG=debug|info

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncGatePay",
    "AuthenticationError",
    "BulkResult",
    "BulkState",
    "CardSpec",
    "DefaultAioHttpClient",  # unasync: async-only
    "DefaultAsyncHttpxClient",
    "GatePayError",
    "GiftCard",
    "GiftCardBalance",
    "GiftCardStatus",
    "GiftCardTemplate",
    "InvalidRequestError",
    "Journal",
    "JournalError",
    "Ledger",
    "LedgerError",
    "MerchantBalance",
    "OutcomeUnknownError",
    "PathSet",
    "RateLimitError",
    "RawResponse",
    "RequestNotSentError",
    "RequestNotSentTimeoutError",
    "ResponseValidationError",
    "ServerError",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
]
