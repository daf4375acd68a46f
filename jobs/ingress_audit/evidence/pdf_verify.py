"""What report.pdf's signature says: intact, valid, covering the whole file, by whom, and when.

Trust is by pinning, not by certificate chains: a development certificate is self-signed and has
no chain, and a production certificate's CA is the operator's choice, not ours. So pyHanko's own
trust verdict is not used. Validation is anchored at the signer's own certificate, which makes
pyHanko check the document digest and the signature over it without consulting the operating
system's trust store or the network (allow_fetching=False). Who signed is then decided in
verify.py by comparing certificates byte for byte: with the manifest's signer, and with `--cert`.
(Revocation is therefore not checked either: a pinned certificate is replaced, not revoked.)
"""

from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from .pdf_files import attached_files
from .pdf_sign import FIELD_NAME


@dataclass
class PdfSignature:
    """What was learnt from report.pdf; `problems` maps a check name to why it failed."""

    signer_cert_der: bytes | None = None
    signer_subject: str | None = None
    intact_and_valid: bool = False
    mechanism: str = ""
    whole_file: bool = False
    coverage: str = ""
    signing_time: datetime | None = None
    time_source: str = ""
    timestamp_ok: bool | None = None  # None: no timestamp token
    timestamp_detail: str = ""
    attachments: dict[str, list[bytes]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def inspect_pdf(data: bytes) -> PdfSignature:
    """Read and validate the signature in field `ingress-audit`; never raises on a damaged file."""
    result = PdfSignature()
    try:
        reader = PdfFileReader(io.BytesIO(data))  # strict: no hybrid-reference tricks
        signatures = {s.field_name: s for s in reader.embedded_signatures}
    except Exception as exc:  # a damaged PDF can fail anywhere in the parser
        result.problems["readable"] = f"not a readable PDF ({_one_line(exc)})"
        return result
    try:
        result.attachments = attached_files(reader)
    except Exception as exc:
        result.problems["attachments"] = f"attached files could not be read ({_one_line(exc)})"
    sig = signatures.get(FIELD_NAME)
    if sig is None:
        found = ", ".join(repr(n) for n in signatures) or "none"
        result.problems["signature"] = f"no signature in field {FIELD_NAME!r} (signature fields: {found})"
        return result
    try:
        cert = sig.signer_cert
        result.signer_cert_der = cert.dump()
        result.signer_subject = _subject(cert)
        context = ValidationContext(trust_roots=[cert], allow_fetching=False)
        with _quiet_pyhanko():
            status = validate_pdf_signature(sig, context)
    except Exception as exc:
        result.problems["signature"] = f"could not be validated ({_one_line(exc)})"
        return result
    result.intact_and_valid = bool(status.intact and status.valid)
    result.mechanism = str(status.pkcs7_signature_mechanism or "")
    if not status.intact:
        result.problems["signature"] = "the signed bytes were changed after signing (document digest mismatch)"
    elif not status.valid:
        result.problems["signature"] = "the signature does not verify with the signer's certificate"
    # Strict: one signature covering every byte. Later incremental updates (even ones pyHanko
    # would call harmless) are refused: nothing in ingress-audit appends to a signed report.
    coverage = status.coverage
    result.coverage = coverage.name if coverage is not None else "UNKNOWN"
    result.whole_file = coverage == SignatureCoverageLevel.ENTIRE_FILE
    if not result.whole_file:
        level = status.modification_level.name if status.modification_level is not None else "unknown"
        result.problems["unchanged"] = f"data was added after the signature (coverage {result.coverage}, modification level {level})"
    _timing(status, result)
    return result


def _timing(status, result: PdfSignature) -> None:
    ts = status.timestamp_validity
    if ts is not None:
        result.timestamp_ok = bool(ts.intact and ts.valid)
        tsa = _subject(ts.signing_cert)
        if result.timestamp_ok:
            result.signing_time = ts.timestamp
            result.time_source = f"RFC 3161 timestamp from {tsa}"
            # like the signer, the TSA is named, not judged against a trust list
            result.timestamp_detail = f"{ts.timestamp:%Y-%m-%dT%H:%M:%SZ} by {tsa} (the TSA is not checked against a trust list)"
            return
        result.timestamp_detail = f"the timestamp token by {tsa} does not match the signature"
    result.signing_time = status.signer_reported_dt
    result.time_source = "the signer's own clock; no timestamp authority"


@contextmanager
def _quiet_pyhanko():
    # pyHanko logs (with tracebacks) what it finds wrong; verify reports each finding as a
    # failed check instead, so its log would only repeat them as noise on stderr.
    loggers = [logging.getLogger(n) for n in ("pyhanko", "pyhanko_certvalidator")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _subject(cert) -> str:
    """A certificate's subject as RFC 4514 text, as keys.py and the manifest write it."""
    return x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
