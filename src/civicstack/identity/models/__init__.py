"""The identity app's tables, one module per concern, all importable from here."""

from civicstack.identity.constants import AuthMethod, SigningAlg
from civicstack.identity.models.oidc import Client, ClientAssertion, Consent, Grant, SigningKey
from civicstack.identity.models.representation import Business, BusinessRepresentation, Mandate
from civicstack.identity.models.verification import IdentityVerification

__all__ = [
    "AuthMethod",
    "Business",
    "BusinessRepresentation",
    "Client",
    "ClientAssertion",
    "Consent",
    "Grant",
    "IdentityVerification",
    "Mandate",
    "SigningAlg",
    "SigningKey",
]
