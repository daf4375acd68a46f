"""manifest.json.sig: a detached signature over the exact bytes of manifest.json.

The signature is raw, not CMS: DER-encoded ECDSA (P-256, SHA-256; deterministic RFC 6979 nonces,
so signing the same manifest twice gives the same bytes), the 64 bytes of Ed25519, or RSA
PKCS#1 v1.5 with SHA-256. The signer's certificate is inside the manifest (and so is signed
too): checking needs no other file, and plain openssl can do it:

    jq -r .signer.certificate_pem manifest.json > signer.pem
    openssl x509 -in signer.pem -noout -fingerprint -sha256   # is this the signer you expect?
    openssl x509 -in signer.pem -noout -pubkey > pub.pem
    # ECDSA or RSA:
    openssl dgst -sha256 -verify pub.pem -signature manifest.json.sig manifest.json
    # Ed25519 (OpenSSL 3):
    openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json -sigfile manifest.json.sig

Both print "Verified OK" / "Signature Verified Successfully". A certificate taken from the
manifest only proves the manifest is as its holder signed it; who that is, is the fingerprint
check (`ingress-audit verify --cert` compares the whole certificate).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from . import MANIFEST_NAME, MANIFEST_SIG_NAME
from .atomic import write_atomic
from .keys import SigningIdentity, signature_algorithm
from .manifest import manifest_bytes

__all__ = ["InvalidSignature", "sign_manifest", "verify_manifest_signature", "write_signed_manifest"]


def sign_manifest(data: bytes, identity: SigningIdentity) -> bytes:
    """The detached signature of data (the manifest's bytes) with the identity's key."""
    key = identity.private_key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            return key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        except UnsupportedAlgorithm:  # an OpenSSL without RFC 6979: still valid, just not repeatable
            return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    raise TypeError(f"cannot sign with {type(key).__name__}")  # keys.py refuses these when loading


def verify_manifest_signature(data: bytes, signature: bytes, certificate: x509.Certificate) -> None:
    """Raise InvalidSignature unless signature is certificate's key's signature over data."""
    public_key = certificate.public_key()
    algorithm = signature_algorithm(public_key)  # ConfigError for a key type we never sign with
    if algorithm == "ecdsa-p256-sha256":
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    elif algorithm == "ed25519":
        public_key.verify(signature, data)
    else:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def write_signed_manifest(manifest: dict, out_dir: Path, identity: SigningIdentity) -> tuple[Path, Path]:
    """Write manifest.json and manifest.json.sig into out_dir (each atomically); return both paths."""
    if manifest.get("signer", {}).get("fingerprint_sha256") != identity.fingerprint_sha256:
        raise ValueError("the manifest's signer block is not this identity's (build it with identity.signer_block())")
    data = manifest_bytes(manifest)
    signature = sign_manifest(data, identity)
    manifest_path, sig_path = Path(out_dir) / MANIFEST_NAME, Path(out_dir) / MANIFEST_SIG_NAME
    write_atomic(manifest_path, data)
    write_atomic(sig_path, signature)
    return manifest_path, sig_path
