"""PAdES signatures on decision letters: sign a PDF, and check a signed one.

Letters are signed as PAdES baseline B-B (``ETSI.CAdES.detached``) with the key and
certificate named by ``LETTER_SIGNING_KEY_FILE`` and ``LETTER_SIGNING_CERT_FILE``; the
certificates in ``LETTER_SIGNING_CHAIN_FILE`` are embedded so a reader can build the path
to a root it trusts. There is no timestamp authority, so the signing time is the one the
server reports. The signature certifies the letter (no later changes allowed) and covers
the whole file.

In development a self-signed certificate is made on first use, as the audit log makes its
key; in production a missing key or certificate is an error.

Both functions are synchronous and run pyHanko's event loop themselves, so call them from
a worker or a sync view, not from inside a running event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.utils.translation import gettext
from pyhanko.keys import load_cert_from_pemder, load_certs_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = ["SignatureReport", "pdf_sign", "pdf_signature_check", "signer_reset"]

DEVELOPMENT_COMMON_NAME = "Civicstack development letter signing"
DEVELOPMENT_VALIDITY = timedelta(days=5 * 365)
FIELD_NAME = "DecisionLetterSignature"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignatureReport:
    """What a check of a signed letter found.

    ``intact``: the signed bytes are unchanged and the signature matches them.
    ``valid``: intact, and the signer's certificate chains to a trusted root.
    ``signer``: the common name of the signer's certificate ("" when none was found).
    ``signed_at``: the signing time the signer reported (no timestamp authority vouches
    for it). ``covers_whole_file``: nothing was appended after signing.
    ``pades``: the signature is a PAdES one (``ETSI.CAdES.detached``).
    """

    intact: bool
    valid: bool
    signer: str
    signed_at: datetime | None
    covers_whole_file: bool
    pades: bool

    @property
    def ok(self) -> bool:
        """Return True for the letter exactly as issued: intact, trusted, nothing added."""
        return self.intact and self.valid and self.covers_whole_file


@dataclass(frozen=True)
class _SigningMaterial:
    # The paths the material was loaded from: a change of settings (tests, a reload with
    # new configuration) then loads the new files instead of signing with stale ones.
    source: tuple[Path, Path, Path | None]
    signer: signers.SimpleSigner
    trust_roots: tuple[asn1_x509.Certificate, ...]


_lock = threading.Lock()
_material: _SigningMaterial | None = None


def signer_reset() -> None:
    """Forget the loaded key and certificate, so the next use reads the files again."""
    global _material
    with _lock:
        _material = None


def _configured_paths() -> tuple[Path, Path, Path | None]:
    chain = settings.LETTER_SIGNING_CHAIN_FILE
    return (
        Path(settings.LETTER_SIGNING_KEY_FILE),
        Path(settings.LETTER_SIGNING_CERT_FILE),
        Path(chain) if chain else None,
    )


def _signing_material() -> _SigningMaterial:
    global _material
    source = _configured_paths()
    with _lock:
        if _material is None or _material.source != source:
            _material = _material_load(source=source)
        return _material


def _material_load(*, source: tuple[Path, Path, Path | None]) -> _SigningMaterial:
    key_path, cert_path, chain_path = source
    if not (key_path.exists() and cert_path.exists()):
        if settings.PRODUCTION:
            raise RuntimeError(
                "LETTER_SIGNING_KEY_FILE and LETTER_SIGNING_CERT_FILE must name the letter "
                "signing key and certificate"
            )
        _development_pair_create(key_path=key_path, cert_path=cert_path)
    key = load_private_key_from_pemder(str(key_path), passphrase=None)
    cert = load_cert_from_pemder(str(cert_path))
    chain = list(load_certs_from_pemder([str(chain_path)])) if chain_path else []
    _key_matches_cert(key_der=key.dump(), cert=cert)
    registry = SimpleCertificateStore()
    registry.register_multiple(chain)
    # The roots to trust when a caller names none: self-signed certificates in the chain,
    # or, with no root there, everything configured (a self-signed development
    # certificate is its own root).
    roots = tuple(c for c in chain if c.self_issued) or (cert, *chain)
    return _SigningMaterial(
        source=source,
        signer=signers.SimpleSigner(signing_cert=cert, signing_key=key, cert_registry=registry),
        trust_roots=roots,
    )


def _key_matches_cert(*, key_der: bytes, cert: asn1_x509.Certificate) -> None:
    # A mismatched pair would sign happily and every letter would fail to verify.
    private = serialization.load_der_private_key(key_der, password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != cert.public_key.dump():
        raise RuntimeError(
            "LETTER_SIGNING_CERT_FILE does not hold the certificate of LETTER_SIGNING_KEY_FILE"
        )


def _development_pair_create(*, key_path: Path, cert_path: Path) -> None:
    if cert_path.exists():
        raise RuntimeError(
            "LETTER_SIGNING_CERT_FILE exists but LETTER_SIGNING_KEY_FILE does not; remove the "
            "certificate to make a new development pair"
        )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    if not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            # Created 0o600 from the start (no window with the umask's mode) and
            # exclusively, so a second process racing to create it reads this one.
            descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as key_file:
                key_file.write(pem)
    loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise RuntimeError("the development letter signing key must be an EC key")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, DEVELOPMENT_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Civicstack (development)"),
        ]
    )
    now = datetime.now(UTC)
    public = loaded.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + DEVELOPMENT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # Signature validators require non-repudiation (content commitment) on a
            # document signing certificate.
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(loaded, hashes.SHA256())
    )
    # Written beside the target and renamed, so no reader ever sees half a certificate.
    partial = cert_path.with_name(f".{cert_path.name}.{os.getpid()}.tmp")
    partial.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    partial.replace(cert_path)


def _outside_event_loop[ResultT](work: Callable[[], ResultT]) -> ResultT:
    """Run ``work`` here, or in a worker thread when this thread runs an event loop.

    pyHanko's synchronous calls start their own event loop with ``asyncio.run``, which
    refuses to start inside a running one (an ASGI worker, a browser test driver).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="letter-signing") as pool:
        return pool.submit(work).result()


def pdf_sign(*, pdf: bytes, reason: str | None = None, location: str | None = None) -> bytes:
    """Return ``pdf`` with a PAdES B-B certification signature covering the whole file.

    ``reason`` defaults to "Decision letter" in the active language; ``location`` is
    recorded in the signature when given.
    """
    reason = reason if reason is not None else gettext("Decision letter")
    return _outside_event_loop(lambda: _sign(pdf=pdf, reason=reason, location=location))


def _sign(*, pdf: bytes, reason: str, location: str | None) -> bytes:
    material = _signing_material()
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        # A certification signature: PDF readers show the letter as certified by the
        # agency and flag any later change, not just changes to the signed bytes.
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
    )
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    output = signers.sign_pdf(writer, metadata, signer=material.signer)
    signed: bytes = output.getvalue()
    return signed


_NOT_SIGNED = SignatureReport(
    intact=False, valid=False, signer="", signed_at=None, covers_whole_file=False, pades=False
)


def pdf_signature_check(
    *, pdf: bytes, trust_roots: list[asn1_x509.Certificate] | None = None
) -> SignatureReport:
    """Check the last signature in ``pdf`` and report what was found.

    ``trust_roots`` are the certificates to trust (asn1crypto form, as certomancer and
    ``pyhanko.keys.load_cert_from_pemder`` give them); when None, the root of the
    configured letter signing chain is trusted (in development, the self-signed
    certificate, made first if need be). Nothing is fetched: no CRLs, OCSP or
    intermediate certificates from the network. A file that cannot be read, has no
    signature or has a mangled one is reported as not intact rather than raising.
    """
    roots = list(trust_roots) if trust_roots is not None else _signing_material().trust_roots
    return _outside_event_loop(lambda: _check(pdf=pdf, roots=roots))


def _check(*, pdf: bytes, roots: Sequence[asn1_x509.Certificate]) -> SignatureReport:
    context = ValidationContext(trust_roots=list(roots), allow_fetching=False)
    try:
        reader = PdfFileReader(BytesIO(pdf))
        signatures = reader.embedded_regular_signatures
        if not signatures:
            return _NOT_SIGNED
        embedded = signatures[-1]
        status = validate_pdf_signature(embedded, signer_validation_context=context)
    except RuntimeError:
        # asyncio.run() refusing to start (see _outside_event_loop): never a broken letter.
        raise
    except Exception as error:
        # Damaged bytes make pyHanko, asn1crypto and zlib raise all sorts (PdfReadError,
        # ValueError, zlib.error, even AssertionError); to the person checking, each means
        # the letter is not the one that was signed.
        logger.info("letter signature unreadable: %s", type(error).__name__)
        return _NOT_SIGNED
    common_name = status.signing_cert.subject.native.get("common_name", "")
    return SignatureReport(
        intact=status.intact and status.valid,
        valid=status.trusted,
        signer=str(common_name),
        signed_at=status.signer_reported_dt,
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        pades=embedded.sig_object.get("/SubFilter") == SigSeedSubFilter.PADES.value,
    )
