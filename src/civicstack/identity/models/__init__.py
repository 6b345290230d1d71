"""The identity app's tables, one module per concern, all importable from here."""

from civicstack.identity.models.verification import IdentityVerification

__all__ = ["IdentityVerification"]
