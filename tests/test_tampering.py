"""Tampering with a real signed run's outputs, and secrets kept out of outputs and logs.

One `ingress-audit run` over a small archive in moto's S3 (tests/s3_stack.py), signed with a
password-protected key, logged once as text (--verbose) and once as JSON. Each output file gets
one flipped byte and `ingress-audit verify` must exit 1 naming the check that failed. What
tests/test_evidence_verify.py covers on a synthetic report (every check's wording) and
tests/test_report.py on the sample week is not repeated here; this adds the manifest signature,
the PDF's attachment and its signature value, the CLI's exit code, and the secrets.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cli_helpers import run_cli
from .evidence_helpers import cert_pem, flip_byte, key_pem, new_identity, write_identity
from .s3_stack import WEEK, Run, cli, cli_env, client_for, new_bucket, small_archive

pytestmark = pytest.mark.slow  # one whole signed run over S3 (~20 s)

PASSWORD = b"correct horse battery staple 7c1f"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYhostileKEY"


@dataclass
class Signed:
    out: Path  # the text-logged run's report folder
    outputs: list[Path]  # both runs' report folders
    runs: list[Run]
    cert: Path
    secrets: dict[str, bytes]


@pytest.fixture(scope="module")
def signed(s3_server, tmp_path_factory) -> Signed:
    work = tmp_path_factory.mktemp("tampering")
    identity = new_identity()
    key_file, cert_file = work / "signer.key", work / "signer.crt"
    key_file.write_bytes(key_pem(identity.private_key, PASSWORD))
    cert_file.write_bytes(cert_pem(identity.certificate))
    bucket = new_bucket(client_for(s3_server), small_archive())
    env = cli_env(s3_server, AWS_SECRET_ACCESS_KEY=AWS_SECRET, INGRESS_AUDIT_SIGN_KEY_PASSWORD=PASSWORD.decode())
    runs, outs = [], []
    for fmt in ("text", "json"):
        out = work / f"out-{fmt}"
        run = cli(["--log-format", fmt, "--verbose", "run", "--source", f"s3://{bucket}/logs/", *WEEK,
                   "--cache-dir", str(work / "cache"), "--out", str(out), "--sign-key", str(key_file),
                   "--sign-cert", str(cert_file)], env, timeout=300)
        assert run.code in (0, 1), run.err
        runs.append(run)
        outs.append(out)
    assert runs[1].err.lstrip().startswith("{"), "the second run did not log JSON"
    plain_pem = key_pem(identity.private_key)
    secrets = {
        "key password": PASSWORD,
        "AWS secret key": AWS_SECRET.encode(),
        # any 48 characters of either PEM's base64 body (the encrypted file and the key itself)
        **{f"PEM body ({name}) at {i}": body[i:i + 48]
           for name, pem in (("encrypted", key_file.read_bytes()), ("plain", plain_pem))
           for body in [b"".join(pem.splitlines()[1:-1])] for i in range(0, len(body) - 48, 48)},
    }
    return Signed(outs[0], outs, runs, cert_file, secrets)


@pytest.fixture()
def cli_inproc(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


@pytest.fixture()
def copy(signed, tmp_path) -> Path:
    dest = tmp_path / "report"
    shutil.copytree(signed.out, dest)
    return dest


def _in_a_stream(pdf: bytes) -> int:
    return pdf.index(b"stream\n", len(pdf) // 3) + 200  # compressed page content, inside the signed bytes


def _in_an_attachment(pdf: bytes) -> int:
    # the embedded findings.json's stream (WeasyPrint writes each attachment as an /EmbeddedFile)
    at = pdf.index(b"/EmbeddedFile")
    return pdf.index(b"stream", at) + 20


def _in_the_signature_value(pdf: bytes) -> int:
    # /Contents <hex…> is the one range the signature does not cover: the CMS blob itself
    m = re.search(rb"/Contents\s*<([0-9a-fA-F]{64})", pdf)
    return m.start(1) + 40


@pytest.mark.parametrize("name,where,check", [
    ("report.html", 100, "report.html"),
    ("findings.json", 10, "findings.json"),
    ("manifest.json", 40, "manifest.json.sig"),
    ("manifest.json.sig", 20, "manifest.json.sig"),
    ("report.pdf", _in_a_stream, "report.pdf: signature"),
    ("report.pdf", _in_an_attachment, "report.pdf: signature"),
    # the CMS blob no longer parses: the PDF's check itself fails, naming the PDF
    ("report.pdf", _in_the_signature_value, "report.pdf"),
], ids=["html", "findings", "manifest", "manifest-sig", "pdf-signed-range", "pdf-attachment", "pdf-signature-value"])
def test_one_flipped_byte_in_any_output_fails_verify_naming_the_check(signed, copy, cli_inproc, name, where, check):
    assert cli_inproc("verify", str(copy), "--cert", str(signed.cert)).code == 0  # untouched, it verifies
    path = copy / name
    data = path.read_bytes()
    offset = where(data) if callable(where) else where
    flip_byte(path, offset)
    result = cli_inproc("verify", str(copy), "--cert", str(signed.cert))
    assert result.code == 1, result.out
    failing = [line for line in result.out.splitlines() if line.startswith("FAIL ")]
    assert any(line.startswith(f"FAIL  {check}:") for line in failing), result.out
    assert result.out.splitlines()[-1].startswith("FAILED: ")
    assert "Traceback" not in result.out + result.err


def test_the_pdf_alone_fails_when_its_attachment_is_changed(signed, copy, cli_inproc):
    flip_byte(copy / "report.pdf", _in_an_attachment((copy / "report.pdf").read_bytes()))
    result = cli_inproc("verify", str(copy / "report.pdf"))
    assert result.code == 1 and "FAIL  report.pdf: signature:" in result.out, result.out


def test_a_report_signed_by_another_key_is_refused_by_cert(signed, cli_inproc, tmp_path):
    _, other_cert = write_identity(new_identity(cn="someone else"), tmp_path / "other")
    for target in (signed.out, signed.out / "report.pdf"):
        result = cli_inproc("verify", str(target), "--cert", str(other_cert))
        assert result.code == 1, result.out
        assert "FAIL  report.pdf: signer is --cert:" in result.out
        assert cli_inproc("verify", str(target), "--cert", str(signed.cert)).code == 0


def test_no_secret_in_any_output_or_log(signed):
    places: dict[str, bytes] = {}
    for out in signed.outputs:
        for path in out.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes()
    for fmt, run in zip(("text", "json"), signed.runs):
        places[f"{fmt} run stdout"] = run.out.encode()
        places[f"{fmt} run stderr"] = run.err.encode()
    assert len(places) >= 12 and places["text run stderr"] and places["json run stderr"]
    # the attachments are compressed inside the PDF: read them out too
    from pypdf import PdfReader

    for out in signed.outputs:
        for name, blobs in PdfReader(out / "report.pdf").attachments.items():
            places[f"{out.name}/report.pdf:{name}"] = b"".join(blobs)
    leaks = [(what, where) for where, data in places.items() for what, secret in signed.secrets.items()
             if secret in data]
    assert not leaks, leaks
