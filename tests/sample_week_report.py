"""One real `ingress-audit run` over the sample week, shared by the report tests of a session.

It runs the CLI in a subprocess from the checkout's root with relative paths, as a user would,
so object URLs and the policy path in the report do not depend on where the checkout is. It
signs with a fixed Ed25519 test identity (Ed25519 signatures and this certificate are
deterministic), so the signer on the cover is the same on every machine and report.html can
be compared with the golden copy. The development-key path is exercised by the CLI tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
WEEK = ["--from", "2026-11-16", "--to", "2026-11-23"]
GOLDEN_HTML = Path(__file__).parent / "golden" / "sample_week_report.html"


@dataclass(frozen=True)
class SampleReport:
    out: Path  # report.html, report.pdf, findings.json, manifest.json, manifest.json.sig
    cert: Path  # the signer's certificate, for verify --cert
    exit_code: int
    stdout: str
    stderr: str


def write_test_identity(folder: Path, seed: bytes = b"ingress-audit test signer".ljust(32, b".")) -> tuple[Path, Path]:
    """A deterministic Ed25519 key and self-signed certificate (same seed, same bytes)."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed[:32])
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "ingress-audit test signer")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2036, 1, 1, tzinfo=dt.timezone.utc))
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, None)
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / "signer.key", folder / "signer.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def run_sample_week(work: Path, *extra: str, out: Path | None = None) -> SampleReport:
    key, cert = write_test_identity(work / "keys")
    out = out or work / "out"
    cmd = [sys.executable, "-m", "ingress_audit", "--quiet", "run", "--source", "sample_data/archive", *WEEK,
           "--policy", "sample_data/policy.yaml", "--cache-dir", str(work / "cache"), "--out", str(out),
           "--sign-key", str(key), "--sign-cert", str(cert), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return SampleReport(out, cert, proc.returncode, proc.stdout, proc.stderr)


@functools.cache
def sample_report() -> SampleReport:
    """The session's run (cached per process; each xdist worker that needs it runs it once)."""
    work = Path(tempfile.mkdtemp(prefix="sample-week-report-"))
    return run_sample_week(work)


def normalized_html(html: str) -> str:
    """The golden form: each chart's data URI replaced by its SHA-256 (still compared, but short),
    and the checkout's folder (in paths resolved from the policy file, e.g. the GitOps baseline)
    replaced by <checkout>."""
    html = html.replace(str(ROOT), "<checkout>")
    return re.sub(r'data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)',
                  lambda m: "data:image/svg+xml;sha256," + hashlib.sha256(m.group(1).encode()).hexdigest(), html)


def update_golden() -> Path:
    work = Path(tempfile.mkdtemp(prefix="sample-week-report-"))
    try:
        report = run_sample_week(work)
        if report.exit_code not in (0, 1):
            raise SystemExit(f"run failed ({report.exit_code}): {report.stderr}")
        GOLDEN_HTML.write_text(normalized_html((report.out / "report.html").read_text(encoding="utf-8")), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return GOLDEN_HTML
