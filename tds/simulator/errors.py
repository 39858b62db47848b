"""What the simulator's data operations refuse, mapped to HTTP answers by the control API."""

from __future__ import annotations


class UnknownOrganization(KeyError):
    pass


class UnknownResource(KeyError):
    pass


class NotFound(LookupError):
    """A record (or one it names) does not exist; the message is Zoho's ``"<Thing> does not exist."``."""


class UnknownReference(LookupError):
    """A record names an item or warehouse the organization does not have."""


class InvalidReference(ValueError):
    """A record names something that cannot be used there (an item that does not track stock)."""
