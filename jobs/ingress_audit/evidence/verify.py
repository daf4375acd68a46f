"""`ingress-audit verify`: is this report complete, unaltered, and signed by whom it should be?

The target is a report folder (report.pdf, manifest.json, manifest.json.sig, findings.json,
report.html) or a report.pdf on its own, which carries manifest.json, manifest.json.sig and
findings.json as attachments. The checks, each named in the output:

- manifest.json is a v1 manifest, and manifest.json.sig is a valid signature over its exact
  bytes by the certificate inside it;
- every output the manifest lists is in the folder with that SHA-256;
- report.pdf's PAdES signature is intact and valid, and covers the whole file (nothing appended);
- report.pdf was signed with the manifest's certificate (this binds the PDF, which the manifest
  cannot list, to the manifest: see manifest.py);
- the manifest and signature attached to report.pdf are the folder's (byte-equal); for a PDF on
  its own, the attached signature verifies; the attached findings.json has the manifest's hash;
- with `cert`: the manifest's and the PDF's signer certificate are exactly that certificate;
- with `check_inputs`: inputs that are local files still have the recorded SHA-256 (others are
  reported as not checked).

Without `cert` the checks prove the files are as their signer made them, not who that signer
is: the subject and fingerprint are printed for a person to judge, and a development key is
flagged loudly. Damaged or tampered files are failed checks, never exceptions; only a target
that does not exist or is not a report is a ConfigError.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import ConfigError
from . import FINDINGS_NAME, MANIFEST_NAME, MANIFEST_SIG_NAME, REPORT_PDF_NAME
from .keys import DEV_COMMON_NAME
from .manifest import SCHEMA, sha256_bytes, sha256_file
from .manifest_sign import verify_manifest_signature
from .pdf_verify import PdfSignature, inspect_pdf

DEVELOPMENT_WARNING = (
    "WARNING: signed with a DEVELOPMENT key (self-signed, made by ingress-audit when no --sign-key "
    "was given): this shows the files are unchanged since signing, not who signed them"
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    checked: bool = True  # False: could not be checked here (not a failure)


@dataclass
class Verification:
    target: Path
    checks: list[Check] = field(default_factory=list)
    signer_subject: str | None = None
    fingerprint_sha256: str | None = None
    development: bool = False
    signing_time: datetime | None = None
    signing_time_source: str | None = None
    pinned: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str = "", *, checked: bool = True) -> bool:
        self.checks.append(Check(name, ok, detail, checked))
        return ok


@dataclass
class _Manifest:
    """A manifest as read: its bytes, the parsed dict and signer certificate when they parse."""

    data: bytes
    doc: dict | None = None
    cert: x509.Certificate | None = None


def verify(target: Path, cert: Path | None = None, *, check_inputs: bool = False) -> Verification:
    target = Path(target)
    pinned = load_pinned_certificate(cert) if cert is not None else None
    pdf_only = _classify(target)
    v = Verification(target, pinned=pinned is not None)
    folder = target.parent if pdf_only else target
    pdf_path = target if pdf_only else target / REPORT_PDF_NAME

    pdf = None
    if pdf_only or pdf_path.exists():
        try:
            pdf = inspect_pdf(pdf_path.read_bytes())
        except OSError as exc:
            v.add(REPORT_PDF_NAME, False, f"cannot be read ({exc.strerror or type(exc).__name__})")
    else:
        v.add(REPORT_PDF_NAME, False, "missing")

    if pdf_only:
        manifest = _attached_manifest(v, pdf)
    else:
        manifest = _folder_manifest(v, folder)
        if manifest is not None:
            _check_outputs(v, folder, manifest.doc)
    if pdf is not None:
        _check_pdf(v, pdf, manifest, folder, pdf_only)
    _check_pins(v, pinned, manifest, pdf)
    if check_inputs and manifest is not None and manifest.doc is not None:
        _check_inputs(v, manifest.doc)
    _describe_signer(v, manifest, pdf)
    return v


def load_pinned_certificate(path: Path) -> x509.Certificate:
    """The certificate given with --cert (PEM, or DER)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"--cert {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read --cert {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"--cert {path} is not a PEM or DER certificate") from None


def _classify(target: Path) -> bool:
    """True for a PDF on its own, False for a report folder; ConfigError for anything else."""
    if not target.exists():
        raise ConfigError(f"{target} does not exist")
    if target.is_dir():
        if not ((target / MANIFEST_NAME).exists() or (target / REPORT_PDF_NAME).exists()):
            raise ConfigError(f"{target} holds neither {MANIFEST_NAME} nor {REPORT_PDF_NAME}: not an ingress-audit report folder")
        return False
    try:
        with open(target, "rb") as f:
            head = f.read(1024)
    except OSError as exc:
        raise ConfigError(f"cannot read {target}: {exc.strerror or type(exc).__name__}") from None
    if target.suffix.lower() == ".pdf" or b"%PDF-" in head:
        return True
    raise ConfigError(f"{target} is neither a report folder nor a PDF")


def _folder_manifest(v: Verification, folder: Path) -> _Manifest | None:
    path, sig_path = folder / MANIFEST_NAME, folder / MANIFEST_SIG_NAME
    if not path.exists():
        v.add(MANIFEST_NAME, False, "missing")
        return None
    manifest = _parse_manifest(v, MANIFEST_NAME, path.read_bytes())
    if not sig_path.exists():
        v.add(MANIFEST_SIG_NAME, False, "missing")
    else:
        _check_manifest_signature(v, MANIFEST_SIG_NAME, manifest, sig_path.read_bytes())
    return manifest


def _attached_manifest(v: Verification, pdf: PdfSignature) -> _Manifest | None:
    data = _attachment(v, pdf, MANIFEST_NAME)
    if data is None:
        return None
    manifest = _parse_manifest(v, f"{REPORT_PDF_NAME}: attached {MANIFEST_NAME}", data)
    sig = _attachment(v, pdf, MANIFEST_SIG_NAME)
    if sig is not None:
        _check_manifest_signature(v, f"{REPORT_PDF_NAME}: attached {MANIFEST_SIG_NAME}", manifest, sig)
    return manifest


def _attachment(v: Verification, pdf: PdfSignature, name: str) -> bytes | None:
    """The one file attached under name, or None after recording why there is not exactly one."""
    contents = pdf.attachments.get(name, [])
    if len(contents) == 1:
        return contents[0]
    if "readable" in pdf.problems or "attachments" in pdf.problems:
        return None  # already reported
    detail = "not attached" if not contents else f"attached {len(contents)} times with different contents"
    v.add(f"{REPORT_PDF_NAME}: attached {name}", False, detail)
    return None


def _parse_manifest(v: Verification, name: str, data: bytes) -> _Manifest:
    manifest = _Manifest(data)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        v.add(name, False, f"not valid JSON ({exc})")
        return manifest
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        v.add(name, False, f"not an {SCHEMA} manifest (schema: {found!r})")
        return manifest
    manifest.doc = doc
    signer = doc.get("signer")
    pem = signer.get("certificate_pem") if isinstance(signer, dict) else None
    try:
        manifest.cert = x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except (AttributeError, ValueError):
        v.add(name, False, "its signer.certificate_pem is not a PEM certificate")
        return manifest
    v.add(name, True, f"{SCHEMA}, {len(doc.get('inputs') or [])} inputs, {len(doc.get('outputs') or {})} outputs")
    return manifest


def _check_manifest_signature(v: Verification, name: str, manifest: _Manifest, signature: bytes) -> None:
    if manifest.cert is None:
        v.add(name, False, "not checked: the manifest it signs has no usable signer certificate")
        return
    algorithm = (manifest.doc or {}).get("signer", {}).get("algorithm", "")
    try:
        verify_manifest_signature(manifest.data, signature, manifest.cert)
    except Exception:  # InvalidSignature, or a ConfigError for a key type we never sign with
        v.add(name, False, "does not verify over the manifest's bytes with the signer certificate in the manifest")
        return
    v.add(name, True, f"valid {algorithm} signature by the certificate in the manifest")


def _check_outputs(v: Verification, folder: Path, doc: dict | None) -> None:
    if doc is None:
        return
    outputs = doc.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        v.add(f"{MANIFEST_NAME}: outputs", False, "the manifest lists no outputs")
        return
    for name, expected in sorted(outputs.items()):
        path = folder / name
        if "/" in name or "\\" in name or not isinstance(expected, dict):
            v.add(name, False, "not a plain file name with a sha256 in the manifest")
        elif not path.is_file():
            v.add(name, False, "missing")
        else:
            _compare_hash(v, name, expected.get("sha256"), sha256_file(path), "file", size=path.stat().st_size)


def _compare_hash(v: Verification, name: str, expected, actual: str, what: str, *, size: int) -> None:
    if expected == actual:
        v.add(name, True, f"sha256 {_short(actual)} ({size} bytes)")
    else:
        v.add(name, False, f"sha256 mismatch (manifest {_short(expected)}, {what} {_short(actual)})")


def _check_pdf(v: Verification, pdf: PdfSignature, manifest: _Manifest | None, folder: Path, pdf_only: bool) -> None:
    name = REPORT_PDF_NAME
    if "readable" in pdf.problems:
        v.add(name, False, pdf.problems["readable"])
        return
    if "signature" in pdf.problems:
        v.add(f"{name}: signature", False, pdf.problems["signature"])
    else:
        v.add(f"{name}: signature", True, f"intact and valid ({pdf.mechanism})")
    if pdf.signer_cert_der is not None and "signature" not in pdf.problems:
        if "unchanged" in pdf.problems:
            v.add(f"{name}: unchanged since signing", False, pdf.problems["unchanged"])
        else:
            v.add(f"{name}: unchanged since signing", True, "the signature covers the whole file")
    if pdf.timestamp_ok is not None:
        v.add(f"{name}: timestamp", pdf.timestamp_ok, pdf.timestamp_detail)
    if "attachments" in pdf.problems:
        v.add(f"{name}: attachments", False, pdf.problems["attachments"])

    if manifest is not None and manifest.cert is not None and pdf.signer_cert_der is not None:
        same = manifest.cert.public_bytes(serialization.Encoding.DER) == pdf.signer_cert_der
        detail = "the manifest's signer certificate" if same else (
            f"{pdf.signer_subject} (sha256 {_short(sha256_bytes(pdf.signer_cert_der))}) is not the manifest's signer "
            f"(sha256 {_short(_fingerprint(manifest.cert))})"
        )
        v.add(f"{name}: signer", same, detail)
    if not pdf_only and manifest is not None:
        for attached in (MANIFEST_NAME, MANIFEST_SIG_NAME):
            path = folder / attached
            data = _attachment(v, pdf, attached)
            if data is not None and path.exists():
                same = data == path.read_bytes()
                v.add(f"{name}: attached {attached}", same, f"byte-equal to the folder's {attached}" if same else
                      f"differs from the folder's {attached} (attached {_short(sha256_bytes(data))}, folder {_short(sha256_file(path))})")
    if manifest is not None and manifest.doc is not None:
        findings = _attachment(v, pdf, FINDINGS_NAME)
        entry = (manifest.doc.get("outputs") or {}).get(FINDINGS_NAME)
        if findings is not None:
            if not isinstance(entry, dict):
                v.add(f"{name}: attached {FINDINGS_NAME}", False, f"the manifest lists no {FINDINGS_NAME} to compare with")
            else:
                _compare_hash(v, f"{name}: attached {FINDINGS_NAME}", entry.get("sha256"), sha256_bytes(findings), "attached", size=len(findings))


def _check_pins(v: Verification, pinned: x509.Certificate | None, manifest: _Manifest | None, pdf: PdfSignature | None) -> None:
    if pinned is None:
        return
    want = pinned.public_bytes(serialization.Encoding.DER)
    pin = f"--cert ({pinned.subject.rfc4514_string()}, sha256 {_short(sha256_bytes(want))})"
    signers = []
    if manifest is not None and manifest.cert is not None:
        signers.append((f"{MANIFEST_NAME}: signer is --cert", manifest.cert.public_bytes(serialization.Encoding.DER)))
    else:
        v.add(f"{MANIFEST_NAME}: signer is --cert", False, "no readable manifest signer to compare")
    if pdf is not None and pdf.signer_cert_der is not None:
        signers.append((f"{REPORT_PDF_NAME}: signer is --cert", pdf.signer_cert_der))
    else:
        v.add(f"{REPORT_PDF_NAME}: signer is --cert", False, "no readable PDF signer to compare")
    for name, der in signers:
        detail = f"the certificate given with {pin}" if der == want else f"signed by sha256 {_short(sha256_bytes(der))}, not {pin}"
        v.add(name, der == want, detail)


def _check_inputs(v: Verification, doc: dict) -> None:
    """Re-hash inputs that are local files; remote or vanished ones are counted as not checked."""
    local, matched, unchecked = 0, 0, []
    for item in doc.get("inputs") or []:
        url = str(item.get("url") or "")
        path = _local_path(url)
        if path is None or not path.is_file():
            unchecked.append("remote" if path is None else "not found")
        elif not item.get("sha256"):
            unchecked.append("no hash recorded")
        else:
            local += 1
            actual = sha256_file(path)
            if actual == item["sha256"]:
                matched += 1
            else:
                v.add(f"input {url}", False, f"sha256 mismatch (manifest {_short(item['sha256'])}, file {_short(actual)})")
    reasons = ", ".join(f"{unchecked.count(r)} {r}" for r in sorted(set(unchecked)))
    detail = f"{matched} of {local} local files match the manifest" + (f"; {len(unchecked)} not checked ({reasons})" if unchecked else "")
    v.add("inputs", matched == local, detail, checked=local > 0)


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if "://" in url or not url:
        return None
    return Path(url)


def _describe_signer(v: Verification, manifest: _Manifest | None, pdf: PdfSignature | None) -> None:
    if manifest is not None and manifest.cert is not None:
        v.signer_subject = manifest.cert.subject.rfc4514_string()
        v.fingerprint_sha256 = _fingerprint(manifest.cert)
        signer = (manifest.doc or {}).get("signer") or {}
        v.development = signer.get("development") is True or DEV_COMMON_NAME in v.signer_subject
    elif pdf is not None and pdf.signer_cert_der is not None:
        v.signer_subject = pdf.signer_subject
        v.fingerprint_sha256 = sha256_bytes(pdf.signer_cert_der)
        v.development = DEV_COMMON_NAME in (pdf.signer_subject or "")
    if pdf is not None:
        v.signing_time, v.signing_time_source = pdf.signing_time, pdf.time_source or None


def report_lines(v: Verification) -> list[str]:
    """What `ingress-audit verify` prints: one line per check, then the signer, then the verdict."""
    lines = [f"{'ok' if c.ok and c.checked else '--' if c.ok else 'FAIL':<5} {c.name}: {c.detail}" for c in v.checks]
    if v.signer_subject:
        lines.append(f"signer: {v.signer_subject} (sha256 fingerprint {v.fingerprint_sha256})")
        if not v.pinned:
            lines.append("        not pinned: pass --cert with the expected certificate to require this signer")
    if v.signing_time is not None:
        lines.append(f"signed: {v.signing_time.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ} ({v.signing_time_source})")
    if v.development:
        lines.append(DEVELOPMENT_WARNING)
    failed = len(v.failures)
    lines.append(f"verified: all {len(v.checks)} checks hold" if v.ok else f"FAILED: {failed} of {len(v.checks)} checks")
    return lines


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _short(digest) -> str:
    return f"{digest[:12]}…" if isinstance(digest, str) and len(digest) > 12 else repr(digest)
