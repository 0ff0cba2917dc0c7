"""The GatePay gift card SDK: the AsyncGatePay client, its models and its errors.

Models and errors are one set of classes for both packages: ``gatepay_async.GiftCard``
and ``gatepay_sync.GiftCard`` are the same class, and so are the exceptions.
"""

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
from gatepay_async._http.aiohttp_transport import DefaultAioHttpClient  # unasync: async-only
from gatepay_async._log_switch import setup_logging
from gatepay_async._models import (
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    MerchantBalance,
)
from gatepay_async._primitives.version import __version__
from gatepay_async._storage.journal import Journal, JournalError
from gatepay_async._storage.ledger import Ledger, LedgerError
from gatepay_async._wire.paths import PathSet
from gatepay_async.resources._raw_response import RawResponse

from ._client import AsyncGatePay
from ._http.transport import DefaultAsyncHttpxClient

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
