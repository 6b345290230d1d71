"""OpenID Foundation Config OP checks, replayed locally: discovery metadata and the JWKS.

Each test is named after the OpenID Foundation conformance test it replays (``oidcc-*``),
with the section of OpenID Connect Discovery 1.0 it holds the provider to. ASVS V10.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from civicstack.identity.constants import ACR_VALUES
from civicstack.identity.tests.conformance_support import (
    EXPECTED_METADATA,
    REQUIRED_METADATA,
    Provider,
    provider_discover,
    restore_migration_rows,
)

pytestmark = pytest.mark.django_db(transaction=True)

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
def op(live_server: Any, settings: Any) -> Provider:
    restore_migration_rows()
    return provider_discover(live_server, settings)


def test_oidcc_config(op: Provider) -> None:
    """Discovery serves every REQUIRED member and the ones a code-flow OP should publish;
    the values describe what Civicstack does (code flow only, PKCE S256 only, RS256 and
    ES256, the three client authentication methods, the eIDAS acr values).
    """
    metadata = op.metadata
    missing = [name for name in (*REQUIRED_METADATA, *EXPECTED_METADATA) if name not in metadata]
    assert not missing, f"discovery lacks {missing}"
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["subject_types_supported"]) <= {"public", "pairwise"}
    assert metadata["subject_types_supported"]
    algs = set(metadata["id_token_signing_alg_values_supported"])
    assert "RS256" in algs, "OpenID Connect requires RS256"
    assert "ES256" in algs
    assert "none" not in algs
    assert not {alg for alg in algs if alg.startswith("HS")}, algs
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }
    grants = set(metadata["grant_types_supported"])
    assert {"authorization_code", "refresh_token"} <= grants
    assert not grants & {"implicit", "password"}, grants
    assert "openid" in metadata["scopes_supported"]
    assert {"profile", "email", "phone", "address"} <= set(metadata["scopes_supported"])
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr"} <= set(
        metadata["claims_supported"]
    )
    assert set(metadata["acr_values_supported"]) == set(ACR_VALUES.values())
    if "response_modes_supported" in metadata:
        assert "query" in metadata["response_modes_supported"]
    if "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]:
        signing = set(metadata.get("token_endpoint_auth_signing_alg_values_supported", []))
        assert signing, "private_key_jwt without token_endpoint_auth_signing_alg_values_supported"
        assert "none" not in signing
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ):
        assert metadata[name].startswith(op.issuer + "/"), (
            f"{name} {metadata[name]} not under /oidc/"
        )


def test_oidcc_discovery_issuer_not_matching_config(op: Provider) -> None:
    """The issuer in the document is exactly the URL discovery was fetched under (Discovery
    4.3: they must be identical), with no trailing slash, and the document is JSON served
    with the right media type and without authentication.
    """
    assert op.metadata["issuer"] == op.issuer
    assert not op.metadata["issuer"].endswith("/")
    response = requests.get(op.issuer + "/.well-known/openid-configuration", timeout=10)
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    assert response.json() == op.metadata


def test_oidcc_config_jwks(op: Provider) -> None:
    """The jwks_uri is reachable and every key has a unique kid, its kty, alg and use "sig",
    carries no private member, and is strong enough (RSA >= 2048 bits, EC on P-256).
    """
    jwks = op.jwks()
    keys = jwks["keys"]
    assert keys, "no keys published"
    kids = [key.get("kid") for key in keys]
    assert all(kids), f"a key without kid: {keys}"
    assert len(set(kids)) == len(kids), f"duplicate kid: {kids}"
    algs = set()
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), f"private key material published: {sorted(key)}"
        assert key.get("use") == "sig", key
        assert key.get("alg") in {"RS256", "ES256"}, key
        algs.add(key["alg"])
        if key["kty"] == "RSA":
            assert key["alg"] == "RS256"
            modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            assert len(modulus) * 8 >= 2048, "RSA key under 2048 bits"
        else:
            assert key["kty"] == "EC", key
            assert key["crv"] == "P-256" and key["alg"] == "ES256", key
    assert "RS256" in algs, "no RS256 key: OpenID Connect requires RS256"


def test_oidcc_config_endpoints_public(op: Provider) -> None:
    """Discovery and the JWKS answer GET without credentials, ignore an unknown query
    parameter, and answer HEAD without an error (200, or 405 where HEAD is not offered).
    """
    for url in (op.issuer + "/.well-known/openid-configuration", op.metadata["jwks_uri"]):
        assert requests.get(url, params={"unknown": "1"}, timeout=10).status_code == 200
        assert requests.head(url, timeout=10).status_code in (200, 405)
