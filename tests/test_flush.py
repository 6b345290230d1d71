"""Rows the platform cannot run without come back after a database is emptied."""

import pytest
from django.core.management import call_command

from civicstack.catalogue.models import CatalogueState
from civicstack.core.models import AuditLogHead


@pytest.mark.django_db(transaction=True)
def test_a_flushed_database_gets_its_singleton_rows_back() -> None:
    """`flush` (as transactional tests do between tests) keeps the audit head and counter."""
    call_command("flush", interactive=False, verbosity=0)
    head = AuditLogHead.objects.get(pk=1)
    assert head.size == 0
    assert CatalogueState.objects.filter(pk=1).exists()
