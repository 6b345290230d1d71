"""Test support for signed decision letters: a test PKI and signing settings that use it.

Loaded as a pytest plugin (``pytest_plugins = ["civicstack.cases.testing"]``), it gives
tests two fixtures:

``letter_pki`` (session)
    A root CA -> intermediate CA -> letter signing certificate made by certomancer from
    ``tests/pki/certomancer.yml``, with fresh keys generated for the session. Returns a
    :class:`LetterPKI`: PEM files for the signing key, certificate and chain, and the root
    certificate to pass as ``trust_roots`` to ``pdf_signature_check``.
``letter_signing`` (function)
    Points ``LETTER_SIGNING_KEY_FILE``, ``LETTER_SIGNING_CERT_FILE`` and
    ``LETTER_SIGNING_CHAIN_FILE`` at the ``letter_pki`` files for one test, so
    ``pdf_sign`` signs with the test PKI, and forgets any loaded signer before and after.

Nothing is downloaded and no key is kept in the repository. It is never imported by the
running site.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_django.fixtures import Settings

from civicstack.cases.signing import signer_reset

__all__ = ["LetterPKI", "letter_pki", "letter_signing"]

PKI_CONFIG = Path(__file__).parent / "tests" / "pki" / "certomancer.yml"
PKI_ARCH = ArchLabel("civicstack-letters")
# The key files certomancer.yml names; generated here because certomancer cannot.
PKI_KEY_LABELS = ("root", "intermediate", "letters")


@dataclass(frozen=True)
class LetterPKI:
    """The files and root certificate of the test letter signing PKI."""

    key_path: Path
    cert_path: Path
    chain_path: Path
    root: asn1_x509.Certificate
    signer_common_name: str


def _key_write(*, path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _pem(certificate: asn1_x509.Certificate) -> bytes:
    armored: bytes = pem.armor("CERTIFICATE", certificate.dump())
    return armored


@pytest.fixture(scope="session")
def letter_pki(tmp_path_factory: pytest.TempPathFactory) -> LetterPKI:
    """Build the test PKI once per session; return its key, certificate and chain files."""
    directory = tmp_path_factory.mktemp("letter-pki")
    for label in PKI_KEY_LABELS:
        _key_write(path=directory / f"{label}.key.pem")
    config = CertomancerConfig.from_file(
        str(PKI_CONFIG), key_search_dir=str(directory), allow_external_config=False
    )
    arch = config.get_pki_arch(PKI_ARCH)
    root = arch.get_cert(CertLabel("root"))
    intermediate = arch.get_cert(CertLabel("intermediate"))
    letters = arch.get_cert(CertLabel("letters"))
    cert_path = directory / "letters.cert.pem"
    cert_path.write_bytes(_pem(letters))
    chain_path = directory / "letters.chain.pem"
    chain_path.write_bytes(_pem(intermediate) + _pem(root))
    return LetterPKI(
        key_path=directory / "letters.key.pem",
        cert_path=cert_path,
        chain_path=chain_path,
        root=root,
        signer_common_name=str(letters.subject.native["common_name"]),
    )


@pytest.fixture
def letter_signing(letter_pki: LetterPKI, settings: Settings) -> Iterator[LetterPKI]:
    """Sign letters with the test PKI for one test; yield the PKI."""
    settings.LETTER_SIGNING_KEY_FILE = letter_pki.key_path
    settings.LETTER_SIGNING_CERT_FILE = letter_pki.cert_path
    settings.LETTER_SIGNING_CHAIN_FILE = str(letter_pki.chain_path)
    signer_reset()
    yield letter_pki
    signer_reset()
