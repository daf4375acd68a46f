"""The signing identity: mounted key and certificate, one-line errors, the development pair."""

from __future__ import annotations

import base64
import datetime as dt
import stat

import pytest

from ingress_audit.errors import ConfigError
from ingress_audit.evidence.keys import DEV_CERT_FILE, DEV_KEY_FILE, PASSWORD_ENV, SigningIdentity, load_identity, make_self_signed

from .evidence_helpers import NOW, cert_pem, key_pem, new_identity, new_key, write_identity


@pytest.fixture(autouse=True)
def _no_password(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


def _error(tmp_path, key, cert) -> str:
    with pytest.raises(ConfigError) as info:
        load_identity(key, cert, dev_dir=tmp_path / "dev")
    message = str(info.value)
    assert "\n" not in message
    assert "PRIVATE KEY" not in message and "Traceback" not in message
    return message


def test_development_identity_is_made_once_and_reused(tmp_path):
    dev = tmp_path / "dev"
    first = load_identity(None, None, dev_dir=dev)
    key_bytes = (dev / DEV_KEY_FILE).read_bytes()
    second = load_identity("", "", dev_dir=dev)

    assert first.development and second.development
    assert "DEVELOPMENT" in first.subject and "not for production" in first.subject
    assert second.fingerprint_sha256 == first.fingerprint_sha256
    assert second.certificate_pem == first.certificate_pem
    assert (dev / DEV_KEY_FILE).read_bytes() == key_bytes
    assert stat.S_IMODE((dev / DEV_KEY_FILE).stat().st_mode) == 0o600
    assert first.algorithm == "ecdsa-p256-sha256"
    assert not [p.name for p in dev.iterdir() if p.name.endswith(".tmp")]


def test_an_incomplete_development_pair_is_an_error_not_a_silent_new_key(tmp_path):
    dev = tmp_path / "dev"
    load_identity(None, None, dev_dir=dev)
    (dev / DEV_CERT_FILE).unlink()
    message = _error(tmp_path, None, None)
    assert DEV_KEY_FILE in message and DEV_CERT_FILE in message


@pytest.mark.parametrize("kind,algorithm", [("ec", "ecdsa-p256-sha256"), ("ed25519", "ed25519"), ("rsa", "rsa-pkcs1v15-sha256")])
def test_mounted_key_and_certificate_from_files(tmp_path, kind, algorithm):
    identity = new_identity(kind)
    key_path, cert_path = write_identity(identity, tmp_path / "secret")
    loaded = load_identity(str(key_path), str(cert_path), dev_dir=tmp_path / "dev")
    assert not loaded.development
    assert loaded.algorithm == algorithm
    assert loaded.fingerprint_sha256 == identity.fingerprint_sha256
    assert not (tmp_path / "dev").exists()  # no development key made when one is given


def test_pem_text_is_accepted_as_well_as_a_path(tmp_path):
    identity = new_identity()
    loaded = load_identity(key_pem(identity.private_key).decode(), cert_pem(identity.certificate).decode(), dev_dir=tmp_path)
    assert loaded.fingerprint_sha256 == identity.fingerprint_sha256


def test_a_certificate_file_may_carry_the_chain(tmp_path):
    identity, ca = new_identity(), new_identity(cn="some CA")
    key_path, cert_path = write_identity(identity, tmp_path)
    cert_path.write_bytes(cert_pem(identity.certificate) + cert_pem(ca.certificate))
    loaded = load_identity(str(key_path), str(cert_path), dev_dir=tmp_path)
    assert [c.subject for c in loaded.chain] == [ca.certificate.subject]


def test_encrypted_key_needs_the_password_from_the_environment(tmp_path, monkeypatch):
    identity = new_identity()
    _, cert_path = write_identity(identity, tmp_path)
    key_path = tmp_path / "encrypted.key"
    key_path.write_bytes(key_pem(identity.private_key, password=b"s3cret"))

    assert PASSWORD_ENV in _error(tmp_path, str(key_path), str(cert_path))
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    assert "could not be decrypted" in _error(tmp_path, str(key_path), str(cert_path))
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    assert load_identity(str(key_path), str(cert_path), dev_dir=tmp_path).fingerprint_sha256 == identity.fingerprint_sha256


def test_one_line_errors_name_the_problem(tmp_path):
    identity, other = new_identity(), new_identity()
    key_path, cert_path = write_identity(identity, tmp_path / "a")
    other_key, other_cert = write_identity(other, tmp_path / "b")

    assert _error(tmp_path, str(key_path), None) == "a signing key was given without its certificate (--sign-cert)"
    assert _error(tmp_path, None, str(cert_path)) == "a signing certificate was given without its key (--sign-key)"
    assert _error(tmp_path, str(tmp_path / "nope.key"), str(cert_path)) == f"signing key file {tmp_path / 'nope.key'} does not exist"
    assert _error(tmp_path, str(cert_path), str(cert_path)) == f"signing key {cert_path} is not a PEM private key"
    assert _error(tmp_path, str(key_path), str(key_path)) == f"signing certificate {key_path} is not a PEM certificate"
    assert _error(tmp_path, str(key_path), str(other_cert)) == f"signing certificate {other_cert} does not match signing key {key_path}"
    assert "does not match" in _error(tmp_path, key_pem(other.private_key).decode(), str(cert_path))


@pytest.mark.parametrize("kind,expected", [("p384", "ECDSA secp384r1"), ("rsa1024", "RSA 1024 bits")])
def test_unsupported_key_types_are_refused_when_loaded(tmp_path, kind, expected):
    key_path, cert_path = write_identity(new_identity(kind), tmp_path)
    message = _error(tmp_path, str(key_path), str(cert_path))
    assert f"unsupported key type {expected}" in message and "ECDSA P-256, Ed25519 or RSA" in message


@pytest.mark.parametrize("start,days,expected", [(-60, 30, "expired on"), (10, 30, "is not valid until")])
def test_expired_and_not_yet_valid_certificates_are_refused(tmp_path, start, days, expected):
    key = new_key()
    cert = make_self_signed(key, "t", not_before=NOW + dt.timedelta(days=start), validity=dt.timedelta(days=days))
    key_path, cert_path = write_identity(SigningIdentity(key, cert), tmp_path)
    assert expected in _error(tmp_path, str(key_path), str(cert_path))


def test_the_key_never_shows_in_messages_or_repr(tmp_path):
    identity = new_identity()
    key_path, _ = write_identity(identity, tmp_path)
    pem_text = key_pem(identity.private_key).decode()
    body = "".join(pem_text.splitlines()[1:-1])
    secret = identity.private_key.private_numbers().private_value.to_bytes(32, "big")

    for message in (_error(tmp_path, pem_text, None), _error(tmp_path, pem_text, pem_text), repr(load_identity(None, None, dev_dir=tmp_path / "d"))):
        assert body[:40] not in message
        assert base64.b64encode(secret).decode()[:20] not in message
    assert "private_key" not in repr(identity)
