"""Human references (``SVC-000123``, ``APP-2026-000123``) handed out without gaps or repeats."""

from __future__ import annotations

from django.db import transaction

from civicstack.core.models import ReferenceCounter


def reference_next(*, prefix: str, year: int | None = None, width: int = 6) -> str:
    """Return the next reference for ``prefix`` (and ``year``), unique across processes."""
    key = f"{prefix}-{year}" if year is not None else prefix
    with transaction.atomic():
        counter, _ = ReferenceCounter.objects.select_for_update().get_or_create(prefix=key)
        counter.last_value += 1
        counter.save(update_fields=["last_value"])
        return f"{key}-{counter.last_value:0{width}d}"
