"""The identity app's tables, one module per concern, all importable from here."""

from civicstack.identity.models.representation import Business, BusinessRepresentation, Mandate
from civicstack.identity.models.verification import IdentityVerification

__all__ = ["Business", "BusinessRepresentation", "IdentityVerification", "Mandate"]
