"""report.pdf's signature: PAdES baseline B-B, or B-T with an RFC 3161 timestamp authority.

The signature is added as an incremental update: the unsigned PDF's bytes are kept as they are
and the signature is appended, so a PDF/A-3b file stays PDF/A-3b. It sits in an invisible field
named `ingress-audit`, signed by the same certificate as manifest.json.sig (`verify` requires
that), and carries the signing-certificate attribute PAdES requires.

B-B records when it was signed by the signer's own clock; with `tsa_url` (B-T) a timestamp
authority attests the time, which is what an auditor can rely on.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1, translate_pyca_cryptography_key_to_asn1
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..errors import ConfigError, IngressAuditError
from .atomic import write_atomic
from .keys import SigningIdentity

FIELD_NAME = "ingress-audit"
DEFAULT_REASON = "ingress-audit compliance report: findings and evidence manifest attached"
TSA_TIMEOUT_S = 30


class TimestampAuthorityError(IngressAuditError):
    """The timestamp authority could not be reached or refused the request (one line, exit 2)."""


def sign_pdf(unsigned: Path, out: Path, identity: SigningIdentity, *, tsa_url: str | None = None, reason: str = DEFAULT_REASON) -> None:
    """Write out: unsigned with a PAdES signature appended (out may be unsigned itself)."""
    timestamper = _timestamper(tsa_url) if tsa_url else None
    signer = signers.SimpleSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(identity.certificate),
        signing_key=translate_pyca_cryptography_key_to_asn1(identity.private_key),
        cert_registry=SimpleCertificateStore.from_certs([translate_pyca_cryptography_cert_to_asn1(c) for c in identity.chain]),
    )
    meta = signers.PdfSignatureMetadata(field_name=FIELD_NAME, subfilter=SigSeedSubFilter.PADES, reason=reason)
    try:
        pdf = Path(unsigned).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {unsigned}: {exc.strerror or type(exc).__name__}") from None
    signed = io.BytesIO()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        # sign_pdf is pyHanko's synchronous wrapper (it runs the event loop itself)
        signers.sign_pdf(writer, meta, signer=signer, timestamper=timestamper, output=signed)
    except TimestampRequestError as exc:
        raise TimestampAuthorityError(f"timestamp authority {tsa_url} failed: {_cause(exc)}") from None
    except (PdfError, SigningError) as exc:
        raise ConfigError(f"cannot sign {unsigned}: {_first_line(exc)}") from None
    write_atomic(Path(out), signed.getvalue())


def _timestamper(url: str) -> HTTPTimeStamper:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"timestamp authority URL {url!r} is not an http:// or https:// URL")
    return HTTPTimeStamper(url, timeout=TSA_TIMEOUT_S)


def _cause(exc: BaseException) -> str:
    """pyHanko's message and the network error under it, on one line."""
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    outer, inner = _first_line(exc), _first_line(root)
    return outer if root is exc or inner in outer else f"{outer}: {inner}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
