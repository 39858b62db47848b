"""The Zoho client: reads Books, Inventory and CRM within one budget shared through Redis."""

from .client import ZohoClient, format_modified_since
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
    "format_modified_since",
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
