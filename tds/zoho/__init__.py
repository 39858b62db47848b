"""The Zoho client: reads Books, Inventory and CRM within one budget shared through Redis."""

from .client import ZohoClient
from .errors import (
    ZohoAuthError,
    ZohoCircuitOpen,
    ZohoError,
    ZohoFatalError,
    ZohoNotFound,
    ZohoQuotaExceeded,
    ZohoRateLimited,
    ZohoTokenThrottled,
    ZohoTransientError,
)

__all__ = [
    "ZohoClient",
    "ZohoError",
    "ZohoTransientError",
    "ZohoRateLimited",
    "ZohoCircuitOpen",
    "ZohoTokenThrottled",
    "ZohoQuotaExceeded",
    "ZohoFatalError",
    "ZohoNotFound",
    "ZohoAuthError",
]
