"""Keys, certificates, a signed report folder and a local timestamp authority for evidence tests.

Keys are generated per test session; no private key is committed. The report is a small real
PDF/A-3b from WeasyPrint carrying findings.json, manifest.json and manifest.json.sig, as the
pipeline writes it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ingress_audit.evidence.keys import SigningIdentity, make_self_signed
from ingress_audit.evidence.manifest import build_manifest, sha256_bytes
from ingress_audit.evidence.manifest_sign import write_signed_manifest
from ingress_audit.evidence.pdf_sign import sign_pdf

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
PERIOD = {"start": "2020-03-02T00:00:00Z", "end": "2020-03-09T00:00:00Z"}  # not today: see the no-clock test
FINDINGS = b'{"schema": "ingress-audit/findings/v1", "controls": []}\n'
REPORT_HTML = b"<!doctype html><html><body><h1>Weekly ingress audit</h1></body></html>\n"


def new_key(kind: str = "ec"):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    raise ValueError(kind)


def new_identity(kind: str = "ec", cn: str = "ingress-audit test signer") -> SigningIdentity:
    key = new_key(kind)
    cert = make_self_signed(key, cn, not_before=NOW - dt.timedelta(hours=1), validity=dt.timedelta(days=30))
    return SigningIdentity(key, cert)


def key_pem(key, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_identity(identity: SigningIdentity, folder: Path, name: str = "signer") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(key_pem(identity.private_key))
    cert_path.write_bytes(cert_pem(identity.certificate))
    return key_path, cert_path


def manifest_for(folder: Path, identity: SigningIdentity, *, inputs: list[dict] | None = None) -> dict:
    return build_manifest(
        period=PERIOD,
        tool={"name": "ingress-audit", "version": "0.1.0"},
        duckdb_version="1.4.0",
        inputs=inputs if inputs is not None else [
            {"url": "s3://logs/prod/2020/03/02/access.log.gz", "etag": '"abc"', "version_id": None, "size": 10,
             "sha256": "0" * 64, "cluster": "prod", "records_read": 3, "records_parsed": 3, "records_rejected": 0},
        ],
        queries=[{"path": "controls/failed_auth/FA-01.sql", "id": "FA-01", "sha256": sha256_bytes(b"SELECT 1")}],
        policy={"path": "policy.yaml", "sha256": sha256_bytes(b"fail_on: high\n"), "effective_sha256": sha256_bytes(b"{}")},
        outputs={"findings.json": folder / "findings.json", "report.html": folder / "report.html"},
        coverage={"objects": 1, "records_read": 3, "records_parsed": 3, "records_rejected": 0, "errors": [], "complete": True},
        previous_manifest_sha256=None,
        signer=identity.signer_block(),
    )


def render_pdf(path: Path, attachments: dict[str, bytes]) -> None:
    import weasyprint  # imported here: 1.5 s, only the tests that render pay for it

    files = [weasyprint.Attachment(string=data, name=name, relationship="Data") for name, data in attachments.items()]
    html = "<html lang='en'><head><title>Weekly ingress audit</title></head><body><h1>Weekly ingress audit</h1><p>No findings.</p></body></html>"
    weasyprint.HTML(string=html).write_pdf(path, pdf_variant="pdf/a-3b", attachments=files)


@dataclass
class Report:
    folder: Path
    unsigned_pdf: Path  # beside the folder, not in it
    identity: SigningIdentity


def make_report(folder: Path, identity: SigningIdentity, *, inputs: list[dict] | None = None,
                attached_findings: bytes | None = None, tsa_url: str | None = None) -> Report:
    """A signed report folder, as `run` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "findings.json").write_bytes(FINDINGS)
    (folder / "report.html").write_bytes(REPORT_HTML)
    manifest_path, sig_path = write_signed_manifest(manifest_for(folder, identity, inputs=inputs), folder, identity)
    unsigned = folder.parent / f"{folder.name}-unsigned.pdf"
    render_pdf(unsigned, {
        "findings.json": FINDINGS if attached_findings is None else attached_findings,
        "manifest.json": manifest_path.read_bytes(),
        "manifest.json.sig": sig_path.read_bytes(),
    })
    sign_pdf(unsigned, folder / "report.pdf", identity, tsa_url=tsa_url)
    return Report(folder, unsigned, identity)


def copy_report(report: Report, dest: Path) -> Report:
    shutil.copytree(report.folder, dest)
    return Report(dest, report.unsigned_pdf, report.identity)


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@contextmanager
def local_tsa():
    """An RFC 3161 timestamp authority on 127.0.0.1 (pyHanko's test TSA behind real HTTP); yields its URL."""
    from asn1crypto import tsp
    from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1, translate_pyca_cryptography_key_to_asn1
    from pyhanko.sign.timestamps import DummyTimeStamper

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the dummy TSA signs with RSA only
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ingress-audit test TSA")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1)).not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    stamper = DummyTimeStamper(tsa_cert=translate_pyca_cryptography_cert_to_asn1(cert), tsa_key=translate_pyca_cryptography_key_to_asn1(key))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = asyncio.run(stamper.async_request_tsa_response(request)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
