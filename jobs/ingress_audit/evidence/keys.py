"""The signing identity: a private key, its certificate, and whether it is a development pair.

Production mounts a key and certificate from a Kubernetes Secret (`--sign-key`, `--sign-cert`:
file paths, or the PEM text itself when it comes from an environment variable). An encrypted
key's password comes from `INGRESS_AUDIT_SIGN_KEY_PASSWORD`.

Supported keys: ECDSA on P-256 (the default, and what the development key uses), Ed25519, and
RSA of 2048 bits or more. Both `cryptography` (manifest.json.sig) and pyHanko (report.pdf) sign
and verify all three; other curves and key types are refused when loaded, not when signing.

Without a key, a development identity is generated once per folder and reused, so reruns show
the same signer (report.html must be byte-identical). Its certificate is self-signed and its
subject says in capitals that it is a development key; reports signed with it verify, with a
loud warning.

Every problem is a `ConfigError` with one line that names the file and the problem, never the key.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ..errors import ConfigError
from .atomic import write_atomic

log = logging.getLogger(__name__)

PASSWORD_ENV = "INGRESS_AUDIT_SIGN_KEY_PASSWORD"
DEV_KEY_FILE = "dev-signing-key.pem"
DEV_CERT_FILE = "dev-signing-cert.pem"
DEV_COMMON_NAME = "ingress-audit DEVELOPMENT key (not for production)"
DEV_VALIDITY = dt.timedelta(days=3650)
MIN_RSA_BITS = 2048

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningIdentity:
    private_key: PrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    development: bool = False

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def fingerprint_sha256(self) -> str:
        return hashlib.sha256(self.certificate_der).hexdigest()

    @property
    def algorithm(self) -> str:
        return signature_algorithm(self.certificate.public_key())

    def signer_block(self) -> dict:
        """What the manifest records about the signer (its `signer` object)."""
        return {
            "subject": self.subject,
            "fingerprint_sha256": self.fingerprint_sha256,
            "certificate_pem": self.certificate_pem,
            "development": self.development,
            "algorithm": self.algorithm,
        }


def signature_algorithm(public_key) -> str:
    """The manifest signature's algorithm for a key, as named in the manifest's signer block."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return "ecdsa-p256-sha256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= MIN_RSA_BITS:
        return "rsa-pkcs1v15-sha256"
    raise ConfigError(f"unsupported key type {_describe(public_key)}: use ECDSA P-256, Ed25519 or RSA (at least {MIN_RSA_BITS} bits)")


def load_identity(key: str | None, cert: str | None, *, dev_dir: Path) -> SigningIdentity:
    """The identity to sign with: the given key and certificate, or the development pair in dev_dir."""
    key = key or None
    cert = cert or None
    if key is None and cert is None:
        return development_identity(dev_dir)
    if cert is None:
        raise ConfigError("a signing key was given without its certificate (--sign-cert)")
    if key is None:
        raise ConfigError("a signing certificate was given without its key (--sign-key)")
    key_label, key_pem = _read_source(key, "signing key")
    cert_label, cert_pem = _read_source(cert, "signing certificate")
    private_key = _parse_key(key_pem, key_label, os.environ.get(PASSWORD_ENV))
    certificate, chain = _parse_certs(cert_pem, cert_label)
    identity = SigningIdentity(private_key, certificate, chain, development=False)
    _check_pair(identity, key_label, cert_label)
    _check_validity(certificate, cert_label)
    return identity


def development_identity(dev_dir: Path) -> SigningIdentity:
    """The development pair in dev_dir, generated on first use (the lock keeps two runs from racing)."""
    dev_dir = Path(dev_dir)
    key_path, cert_path = dev_dir / DEV_KEY_FILE, dev_dir / DEV_CERT_FILE
    try:
        dev_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(dev_dir / ".dev-signing.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not key_path.exists() and not cert_path.exists():
                _write_development_pair(key_path, cert_path)
                log.warning("generated a DEVELOPMENT signing key in %s (not for production)", dev_dir)
            elif not (key_path.exists() and cert_path.exists()):
                present, absent = (key_path, cert_path) if key_path.exists() else (cert_path, key_path)
                raise ConfigError(f"development signing pair is incomplete: {present} exists but {absent} does not (delete it to generate a new pair)")
            key_pem, cert_pem = key_path.read_bytes(), cert_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot use development key folder {dev_dir}: {exc.strerror or exc}") from None
    key_label, cert_label = f"development signing key {key_path}", f"development signing certificate {cert_path}"
    private_key = _parse_key(key_pem, key_label, None)
    certificate, _ = _parse_certs(cert_pem, cert_label)
    identity = SigningIdentity(private_key, certificate, (), development=True)
    _check_pair(identity, key_label, cert_label)
    _check_validity(certificate, cert_label)
    return identity


def make_self_signed(private_key: PrivateKey, common_name: str, *, not_before: dt.datetime, validity: dt.timedelta) -> x509.Certificate:
    """A self-signed signing certificate (the development pair; tests use it too)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ingress-audit")])
    public_key = private_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    # Ed25519 signs the certificate with its own built-in hash; the others use SHA-256
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, algorithm)


def _write_development_pair(key_path: Path, cert_path: Path) -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    certificate = make_self_signed(private_key, DEV_COMMON_NAME, not_before=now - dt.timedelta(minutes=5), validity=DEV_VALIDITY)
    key_pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # key first: a reader that finds the certificate can rely on its key being there
    write_atomic(key_path, key_pem, mode=0o600)
    write_atomic(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _read_source(value: str, what: str) -> tuple[str, bytes]:
    """(label for messages, PEM bytes): value is PEM text itself, or a file path."""
    if value.lstrip().startswith("-----BEGIN"):
        return f"{what} (PEM text)", value.encode("utf-8")
    path = Path(value)
    try:
        return f"{what} {path}", path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} file {path} is a folder, not a PEM file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror or type(exc).__name__}") from None


def _parse_key(pem: bytes, label: str, password: str | None) -> PrivateKey:
    # The library's messages are not shown: none should quote key bytes, but none needs to.
    if b"-----BEGIN" not in pem or b"PRIVATE KEY-----" not in pem:
        raise ConfigError(f"{label} is not a PEM private key")
    secret = password.encode("utf-8") if password else None
    try:
        private_key = serialization.load_pem_private_key(pem, password=secret)
    except TypeError:
        if secret is None:
            raise ConfigError(f"{label} is encrypted: set {PASSWORD_ENV}") from None
        raise ConfigError(f"{label} is not encrypted, but {PASSWORD_ENV} is set") from None
    except ValueError:
        if secret is not None:
            raise ConfigError(f"{label} could not be decrypted (wrong {PASSWORD_ENV}?) or is not a valid PEM private key") from None
        raise ConfigError(f"{label} is not a valid PEM private key") from None
    except UnsupportedAlgorithm:
        raise ConfigError(f"{label}: unsupported key type: use ECDSA P-256, Ed25519 or RSA (at least {MIN_RSA_BITS} bits)") from None
    try:
        signature_algorithm(private_key.public_key())
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    return private_key


def _parse_certs(pem: bytes, label: str) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """The signer's certificate (first in the file) and any chain certificates after it."""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(f"{label} is not a PEM certificate")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ConfigError(f"{label} is not a valid PEM certificate") from None
    return certs[0], tuple(certs[1:])


def _check_pair(identity: SigningIdentity, key_label: str, cert_label: str) -> None:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if identity.private_key.public_key().public_bytes(*spki) != identity.certificate.public_key().public_bytes(*spki):
        raise ConfigError(f"{cert_label} does not match {key_label}")


def _check_validity(cert: x509.Certificate, label: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    if now < cert.not_valid_before_utc:
        raise ConfigError(f"{label} is not valid until {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}")
    if now > cert.not_valid_after_utc:
        raise ConfigError(f"{label} expired on {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")


def _describe(public_key) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECDSA {public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size} bits"
    return type(public_key).__name__.removeprefix("_").replace("PublicKey", "")
