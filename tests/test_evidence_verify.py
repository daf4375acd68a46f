"""`verify`: a signed report passes; each tampered file fails with its check named; `--cert` pins."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from ingress_audit.errors import ConfigError
from ingress_audit.evidence.keys import load_identity
from ingress_audit.evidence.manifest import sha256_bytes
from ingress_audit.evidence.pdf_sign import TimestampAuthorityError, sign_pdf
from ingress_audit.evidence.verify import DEVELOPMENT_WARNING, verify

from .cli_helpers import run_cli
from .evidence_helpers import copy_report, flip_byte, local_tsa, make_report, new_identity, write_identity


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """One signed report per test module (rendering costs ~0.2 s); tests tamper with copies."""
    return make_report(tmp_path_factory.mktemp("signed") / "report", new_identity())


@pytest.fixture()
def report(signed, tmp_path):
    return copy_report(signed, tmp_path / "report")


@pytest.fixture()
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def failed(result) -> dict[str, str]:
    return {c.name: c.detail for c in result.checks if not c.ok}


def test_a_signed_report_verifies(report):
    result = verify(report.folder)
    assert result.ok, failed(result)
    names = [c.name for c in result.checks]
    assert names == [
        "manifest.json", "manifest.json.sig", "findings.json", "report.html",
        "report.pdf: signature", "report.pdf: unchanged since signing", "report.pdf: signer",
        "report.pdf: attached manifest.json", "report.pdf: attached manifest.json.sig", "report.pdf: attached findings.json",
    ]
    assert result.fingerprint_sha256 == report.identity.fingerprint_sha256
    assert result.signer_subject == report.identity.subject
    assert not result.development and result.signing_time is not None


def test_the_signed_pdf_keeps_the_unsigned_bytes_as_its_first_revision(report):
    unsigned = report.unsigned_pdf.read_bytes()
    assert (report.folder / "report.pdf").read_bytes().startswith(unsigned)  # incremental: PDF/A-3b untouched


def test_a_report_pdf_alone_verifies_through_its_attachments(report):
    result = verify(report.folder / "report.pdf")
    assert result.ok, failed(result)
    assert {"report.pdf: attached manifest.json", "report.pdf: attached manifest.json.sig", "report.pdf: attached findings.json"} <= {c.name for c in result.checks}


def _offset_inside_a_stream(pdf: bytes) -> int:
    # a byte inside the first stream's compressed data (the colour profile): the file still
    # parses, only the signed bytes differ
    return pdf.index(b"stream\n") + 100


@pytest.mark.parametrize("file,offset,check,detail", [
    ("report.pdf", _offset_inside_a_stream, "report.pdf: signature", "the signed bytes were changed after signing"),
    ("findings.json", 5, "findings.json", "sha256 mismatch (manifest "),
    ("report.html", 5, "report.html", "sha256 mismatch (manifest "),
    ("manifest.json", 30, "manifest.json.sig", "does not verify over the manifest's bytes"),
    ("manifest.json.sig", 20, "manifest.json.sig", "does not verify over the manifest's bytes"),
])
def test_one_flipped_byte_fails_the_check_that_names_it(report, file, offset, check, detail):
    path = report.folder / file
    flip_byte(path, offset(path.read_bytes()) if callable(offset) else offset)
    result = verify(report.folder)
    assert not result.ok
    assert check in failed(result), failed(result)
    assert failed(result)[check].startswith(detail)


def test_a_flipped_manifest_byte_is_also_caught_against_the_pdf_copy(report):
    flip_byte(report.folder / "manifest.json", 30)
    assert "differs from the folder's manifest.json" in failed(verify(report.folder))["report.pdf: attached manifest.json"]


def test_content_appended_after_the_signature_fails(report):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    path = report.folder / "report.pdf"
    writer = IncrementalPdfFileWriter(io.BytesIO(path.read_bytes()))
    writer.root["/Lang"] = generic.TextStringObject("de")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    path.write_bytes(out.getvalue())
    problems = failed(verify(report.folder))
    assert list(problems) == ["report.pdf: unchanged since signing"], problems
    assert problems["report.pdf: unchanged since signing"].startswith("data was added after the signature")


def test_a_missing_output_fails(report):
    (report.folder / "findings.json").unlink()
    assert failed(verify(report.folder)) == {"findings.json": "missing"}


def test_a_pdf_signed_by_another_key_is_not_bound_to_the_manifest(report):
    sign_pdf(report.unsigned_pdf, report.folder / "report.pdf", new_identity())
    problems = failed(verify(report.folder))
    assert list(problems) == ["report.pdf: signer"]
    assert "is not the manifest's signer" in problems["report.pdf: signer"]


def test_cert_pins_the_signer_a_report_by_another_key_fails(signed, tmp_path):
    other = make_report(tmp_path / "other", new_identity(cn="someone else"))
    _, first_cert = write_identity(signed.identity, tmp_path / "first")
    _, other_cert = write_identity(other.identity, tmp_path / "other-cert")
    assert verify(other.folder).ok  # consistent in itself: only a pin tells who signed
    assert verify(signed.folder, first_cert).ok and verify(other.folder, other_cert).ok
    for target in (other.folder, other.folder / "report.pdf"):
        problems = failed(verify(target, first_cert))
        assert set(problems) == {"manifest.json: signer is --cert", "report.pdf: signer is --cert"}, problems
        assert f"not --cert (O=ingress-audit,CN=ingress-audit test signer, sha256 {signed.identity.fingerprint_sha256[:12]}" in problems["report.pdf: signer is --cert"]


def test_in_pdf_only_mode_the_attached_findings_must_match_the_manifest(tmp_path):
    report = make_report(tmp_path / "r", new_identity(), attached_findings=b'{"controls": ["edited"]}\n')
    problems = failed(verify(report.folder / "report.pdf"))
    assert list(problems) == ["report.pdf: attached findings.json"]
    assert problems["report.pdf: attached findings.json"].startswith("sha256 mismatch (manifest ")


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_ed25519_and_rsa_reports_verify(tmp_path, kind):
    report = make_report(tmp_path / "r", new_identity(kind))
    result = verify(report.folder)
    assert result.ok, failed(result)


def test_damaged_files_are_failed_checks_not_exceptions(report):
    (report.folder / "report.pdf").write_bytes(b"%PDF-1.7\n garbage")
    (report.folder / "manifest.json").write_bytes(b"{not json")
    problems = failed(verify(report.folder))
    assert problems["report.pdf"].startswith("not a readable PDF")
    assert problems["manifest.json"].startswith("not valid JSON")
    assert problems["manifest.json.sig"].startswith("not checked")


def test_an_unsigned_pdf_fails(report):
    shutil.copy(report.unsigned_pdf, report.folder / "report.pdf")
    problems = failed(verify(report.folder))
    assert problems["report.pdf: signature"] == "no signature in field 'ingress-audit' (signature fields: none)"


def test_check_inputs_rehashes_local_files(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "a.log").write_bytes(b"line\n")
    (archive / "b.log").write_bytes(b"other\n")
    inputs = [
        {"url": str(archive / "a.log"), "sha256": sha256_bytes(b"line\n")},
        {"url": (archive / "b.log").as_uri(), "sha256": sha256_bytes(b"other\n")},
        {"url": "s3://bucket/c.log", "sha256": "0" * 64},
        {"url": str(archive / "gone.log"), "sha256": "0" * 64},
    ]
    report = make_report(tmp_path / "r", new_identity(), inputs=inputs)
    result = verify(report.folder, check_inputs=True)
    assert result.ok, failed(result)
    (summary,) = [c for c in result.checks if c.name == "inputs"]
    assert summary.detail == "2 of 2 local files match the manifest; 2 not checked (1 not found, 1 remote)"
    (archive / "b.log").write_bytes(b"edited\n")
    problems = failed(verify(report.folder, check_inputs=True))
    assert problems[f"input {(archive / 'b.log').as_uri()}"].startswith("sha256 mismatch")
    assert verify(report.folder).ok  # inputs are only re-hashed when asked


@pytest.fixture(scope="module")
def dev_reports(tmp_path_factory):
    """Two runs over the same inputs without --sign-key: the development key is made once, then reused."""
    root = tmp_path_factory.mktemp("dev")
    return [make_report(root / name, load_identity(None, None, dev_dir=root / "dev-keys")) for name in ("a", "b")]


def test_a_development_signer_is_flagged(dev_reports):
    result = verify(dev_reports[0].folder)
    assert result.ok and result.development
    assert "DEVELOPMENT" in result.signer_subject


def test_rerunning_with_the_development_key_gives_identical_manifest_bytes(dev_reports):
    a, b = dev_reports
    assert a.identity.fingerprint_sha256 == b.identity.fingerprint_sha256
    for name in ("manifest.json", "manifest.json.sig", "findings.json", "report.html"):
        assert (a.folder / name).read_bytes() == (b.folder / name).read_bytes(), name


def test_the_private_key_is_in_no_output(report):
    key = report.identity.private_key
    secrets = [
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        key.private_numbers().private_value.to_bytes(32, "big"),
    ]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    secrets.append("".join(pem.splitlines()[1:-1])[:48].encode())
    for path in [*report.folder.iterdir(), report.unsigned_pdf]:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, path.name


def test_a_timestamp_authority_makes_it_pades_b_t(tmp_path):
    with local_tsa() as url:
        report = make_report(tmp_path / "r", new_identity(), tsa_url=url)
    result = verify(report.folder)
    assert result.ok, failed(result)
    (ts,) = [c for c in result.checks if c.name == "report.pdf: timestamp"]
    assert "ingress-audit test TSA" in ts.detail
    assert "RFC 3161 timestamp from" in result.signing_time_source


def test_timestamp_authority_errors_are_one_line(report, tmp_path):
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL"):
        sign_pdf(report.unsigned_pdf, tmp_path / "x.pdf", report.identity, tsa_url="ftp://tsa.example/")
    with pytest.raises(TimestampAuthorityError) as info:
        sign_pdf(report.unsigned_pdf, tmp_path / "x.pdf", report.identity, tsa_url="http://127.0.0.1:9/")
    assert str(info.value).startswith("timestamp authority http://127.0.0.1:9/ failed: ")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x.pdf").exists()


def test_poppler_agrees_the_signature_is_valid(report):
    if shutil.which("pdfsig") is None:
        pytest.skip("pdfsig (poppler-utils) is not installed: no independent check of the PDF signature")
    out = subprocess.run(["pdfsig", str(report.folder / "report.pdf")], capture_output=True, text=True).stdout
    assert "Signature Field Name: ingress-audit" in out
    assert "Signature is Valid." in out and "Total document signed" in out


# --- the command line -------------------------------------------------------------------------

def test_cli_verify_prints_one_line_per_check_and_exits_0(cli, report, tmp_path):
    _, cert = write_identity(report.identity, tmp_path / "pin")
    result = cli("verify", str(report.folder), "--cert", str(cert))
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0] == "ok    manifest.json: ingress-audit/manifest/v1, 1 inputs, 2 outputs"
    assert f"signer: {report.identity.subject} (sha256 fingerprint {report.identity.fingerprint_sha256})" in lines
    assert any(line.startswith("signed: ") and "signer's own clock" in line for line in lines)
    assert lines[-1] == "verified: all 12 checks hold"
    assert "WARNING" not in result.out


def test_cli_verify_names_the_failure_and_exits_1(cli, report):
    flip_byte(report.folder / "findings.json", 5)
    result = cli("verify", str(report.folder))
    assert result.code == 1
    (line,) = [l for l in result.out.splitlines() if l.startswith("FAIL ")]
    assert line.startswith("FAIL  findings.json: sha256 mismatch (manifest ")
    assert result.out.splitlines()[-1] == "FAILED: 1 of 10 checks"


def test_cli_verify_warns_loudly_about_a_development_key(cli, dev_reports):
    result = cli("verify", str(dev_reports[0].folder / "report.pdf"))
    assert result.code == 0
    assert DEVELOPMENT_WARNING in result.out.splitlines()


@pytest.mark.parametrize("target,message", [
    ("missing", "does not exist"),
    ("notes.txt", "is neither a report folder nor a PDF"),
    ("empty", "not an ingress-audit report folder"),
])
def test_cli_verify_usage_errors_exit_2_with_one_line(cli, tmp_path, target, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    result = cli("verify", str(tmp_path / target))
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("ingress-audit: error: ") and message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_cli_verify_with_an_unreadable_cert_exits_2(cli, report, tmp_path):
    (tmp_path / "bad.pem").write_text("nope")
    result = cli("verify", str(report.folder), "--cert", str(tmp_path / "bad.pem"))
    assert result.code == 2 and "is not a PEM or DER certificate" in result.err
