"""API keys: made once with a secret shown once, found by it, revoked at once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from civicstack.accounts.models import ApiKey
from civicstack.accounts.selectors import api_key_authenticate
from civicstack.accounts.tests.factories import AgencyFactory

pytestmark = pytest.mark.django_db


def test_the_command_creates_lists_and_revokes_keys() -> None:
    """Only a hash is stored; the printed secret works until the key is revoked (ASVS V8.3)."""
    agency = AgencyFactory(slug="kingsbridge")
    out = StringIO()
    call_command(
        "api_keys",
        "create",
        "--agency",
        "kingsbridge",
        "--name",
        "Counter",
        "--scope",
        "applications:submit",
        stdout=out,
    )
    prefix, secret = out.getvalue().strip().split("\t")
    key = ApiKey.objects.get(agency=agency)
    assert key.prefix == prefix and secret not in key.secret_hash
    assert api_key_authenticate(secret=secret) == key
    assert api_key_authenticate(secret=secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    listing = StringIO()
    call_command("api_keys", "list", "--agency", "kingsbridge", stdout=listing)
    assert f"{prefix}\tlive\tCounter" in listing.getvalue()
    call_command("api_keys", "revoke", "--agency", "kingsbridge", "--prefix", prefix)
    assert api_key_authenticate(secret=secret) is None
    with pytest.raises(CommandError):
        call_command("api_keys", "list", "--agency", "nowhere")


@pytest.mark.parametrize(
    "secret", ["", "cs", "cs__x", "xx_abc_def", "cs_abc", "cs_" + "a" * 300, "cs_\x00_\x00"]
)
def test_malformed_secrets_find_nothing(secret: str) -> None:
    """Any string that is not a live key's secret authenticates nobody."""
    assert api_key_authenticate(secret=secret) is None
