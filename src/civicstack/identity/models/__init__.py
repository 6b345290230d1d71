"""Identity's tables; each part of the app keeps its models in its own module."""

from civicstack.identity.models.representation import Business, BusinessRepresentation, Mandate

__all__ = ["Business", "BusinessRepresentation", "Mandate"]
