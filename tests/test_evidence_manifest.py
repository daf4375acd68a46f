"""manifest.json and manifest.json.sig: canonical bytes, no clock, hashes, signatures openssl accepts."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from ingress_audit.evidence.manifest import SCHEMA, build_manifest, manifest_bytes, sha256_file
from ingress_audit.evidence.manifest_sign import InvalidSignature, sign_manifest, verify_manifest_signature, write_signed_manifest

from .evidence_helpers import FINDINGS, NOW, REPORT_HTML, manifest_for, new_identity


@pytest.fixture()
def outputs(tmp_path):
    (tmp_path / "findings.json").write_bytes(FINDINGS)
    (tmp_path / "report.html").write_bytes(REPORT_HTML)
    return tmp_path


def test_manifest_records_hashes_sizes_and_signer(outputs):
    identity = new_identity()
    manifest = manifest_for(outputs, identity)
    assert manifest["schema"] == SCHEMA
    assert manifest["outputs"] == {
        "findings.json": {"sha256": hashlib.sha256(FINDINGS).hexdigest(), "size": len(FINDINGS)},
        "report.html": {"sha256": hashlib.sha256(REPORT_HTML).hexdigest(), "size": len(REPORT_HTML)},
    }
    assert manifest["signer"] == {
        "subject": identity.subject, "fingerprint_sha256": identity.fingerprint_sha256,
        "certificate_pem": identity.certificate_pem, "development": False, "algorithm": "ecdsa-p256-sha256",
    }
    (item,) = manifest["inputs"]
    assert item["cluster"] == "prod" and item["records_read"] == 3  # caller's extra fields kept


def test_bytes_are_canonical_and_hold_no_clock(outputs):
    identity = new_identity()
    data = manifest_bytes(manifest_for(outputs, identity))
    assert data == manifest_bytes(manifest_for(outputs, identity))
    assert data.endswith(b"}\n") and data.startswith(b'{\n  "coverage"')
    assert json.dumps(json.loads(data), sort_keys=True, indent=2, ensure_ascii=False).encode() + b"\n" == data
    text = data.decode()
    for stamp in (NOW.strftime("%Y-%m-%d"), NOW.strftime("%Y%m%d")):
        assert stamp not in text.replace(identity.certificate_pem.replace("\n", "\\n"), "")


def test_order_of_inputs_and_queries_does_not_change_the_bytes(outputs):
    identity = new_identity()
    inputs = [{"url": f"s3://b/{i}.log", "sha256": str(i)} for i in range(5)]
    queries = [{"path": f"controls/x/X-0{i}.sql", "id": f"X-0{i}", "sha256": "0"} for i in range(3)]

    def build(ins, qs):
        return manifest_bytes(build_manifest(
            period={}, tool={}, duckdb_version="1", inputs=ins, queries=qs,
            policy={"path": None, "sha256": None, "effective_sha256": "e"}, outputs={"findings.json": outputs / "findings.json"},
            coverage={}, previous_manifest_sha256="p" * 64, signer=identity.signer_block()))

    assert build(inputs, queries) == build(inputs[::-1], queries[::-1])
    first = json.loads(build(inputs, queries))["inputs"][0]
    assert first == {"url": "s3://b/0.log", "sha256": "0", "etag": None, "version_id": None, "size": None}


def test_unicode_is_written_as_utf8_not_escaped(outputs):
    manifest = manifest_for(outputs, new_identity())
    manifest["inputs"][0]["cluster"] = "prod-zürich"
    assert "prod-zürich".encode() in manifest_bytes(manifest)


@pytest.mark.parametrize("name", ["report.pdf", "manifest.json", "manifest.json.sig", "sub/findings.json"])
def test_outputs_that_cannot_be_listed_are_refused(outputs, name):
    with pytest.raises(ValueError):
        build_manifest(period={}, tool={}, duckdb_version="1", inputs=[], queries=[],
                       policy={"path": None, "sha256": None, "effective_sha256": "e"},
                       outputs={name: outputs / "findings.json"}, coverage={}, previous_manifest_sha256=None,
                       signer=new_identity().signer_block())


def test_sha256_file_streams_large_files(tmp_path):
    data = bytes(range(256)) * 12_000  # about 3 MiB: several chunks
    (tmp_path / "big").write_bytes(data)
    assert sha256_file(tmp_path / "big") == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("kind", ["ec", "ed25519", "rsa"])
def test_signatures_verify_are_repeatable_and_catch_one_flipped_byte(kind):
    identity = new_identity(kind)
    data = b'{"schema": "ingress-audit/manifest/v1"}\n'
    signature = sign_manifest(data, identity)
    verify_manifest_signature(data, signature, identity.certificate)
    assert sign_manifest(data, identity) == signature  # RFC 6979 for ECDSA; Ed25519 and PKCS#1 v1.5 are deterministic
    with pytest.raises(InvalidSignature):
        verify_manifest_signature(data.replace(b"v1", b"v2"), signature, identity.certificate)
    with pytest.raises(InvalidSignature):
        verify_manifest_signature(data, signature[:-1] + bytes([signature[-1] ^ 1]), identity.certificate)


def test_write_signed_manifest_refuses_another_signers_block(outputs):
    manifest = manifest_for(outputs, new_identity())
    with pytest.raises(ValueError):
        write_signed_manifest(manifest, outputs, new_identity())


@pytest.mark.parametrize("kind", ["ec", "ed25519", "rsa"])
def test_the_documented_openssl_commands_verify_the_signature(outputs, kind):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH: the documented commands cannot be checked here")
    identity = new_identity(kind)
    manifest_path, sig_path = write_signed_manifest(manifest_for(outputs, identity), outputs, identity)
    # what `jq -r .signer.certificate_pem manifest.json > signer.pem` does
    (outputs / "signer.pem").write_text(json.loads(manifest_path.read_bytes())["signer"]["certificate_pem"])

    def sh(command):  # the commands exactly as manifest_sign.py's docstring gives them
        return subprocess.run(command, shell=True, cwd=outputs, capture_output=True, text=True)

    assert sh("openssl x509 -in signer.pem -noout -pubkey > pub.pem").returncode == 0
    if kind == "ed25519":
        command = "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json -sigfile manifest.json.sig"
    else:
        command = "openssl dgst -sha256 -verify pub.pem -signature manifest.json.sig manifest.json"
    good = sh(command)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verified" in good.stdout
    manifest_path.write_bytes(manifest_path.read_bytes().replace(b'"size": 10', b'"size": 11'))
    assert sh(command).returncode != 0
