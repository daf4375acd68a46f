"""manifest.json: what a report was made from and what it produced, by SHA-256.

The manifest names the period, the tool and DuckDB versions, every input object (URL, ETag,
version id, size, SHA-256 of the bytes read, records read/parsed/rejected), every control
query and the policy by hash, the coverage, the hash and size of every output, the previous
week's manifest hash (a chain a deleted week breaks), and the signer with its certificate.

It holds no wall-clock time: the same inputs give the same manifest bytes, so a rerun can be
compared byte for byte. When it was signed is what the signatures attest (report.pdf's
signing time, and an RFC 3161 timestamp when a TSA is configured).

Why report.pdf is not among the outputs: the PDF carries manifest.json and manifest.json.sig as
PDF/A-3 attachments, so the manifest cannot also hold the PDF's hash (each would have to be
written before the other). The PDF is instead protected by its own PAdES signature, made with
the same certificate; `verify` binds the two: the PDF's signer certificate must be the one in
the manifest, and the attached manifest must be byte-equal to the folder's (or, for a PDF alone,
its attached signature must verify). manifest.json.sig is not listed either: it signs these bytes.

Bytes are canonical JSON: sorted keys, two-space indent, UTF-8 without escapes, one final newline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import MANIFEST_NAME, MANIFEST_SIG_NAME, REPORT_PDF_NAME

SCHEMA = "ingress-audit/manifest/v1"
INPUT_FIELDS = ("url", "etag", "version_id", "size", "sha256")
SIGNER_FIELDS = ("subject", "fingerprint_sha256", "certificate_pem", "development", "algorithm")
_CHUNK = 1 << 20
# written after the manifest, so they cannot be listed in it (see the module docstring)
NOT_OUTPUTS = frozenset({MANIFEST_NAME, MANIFEST_SIG_NAME, REPORT_PDF_NAME})


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (archives can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(
    *,
    period: dict,
    tool: dict,
    duckdb_version: str,
    inputs: list[dict],
    queries: list[dict],
    policy: dict,
    outputs: dict[str, Path],
    coverage: dict,
    previous_manifest_sha256: str | None,
    signer: dict,
) -> dict:
    """The manifest as a dict; outputs (file name -> path) are hashed here.

    Inputs are sorted by URL and queries by path, so the listing order of a bucket does not
    change the bytes. Raises ValueError for a caller's mistake (a missing field, an output that
    cannot be listed); these are programming errors, not user errors.
    """
    for item in inputs:
        if "url" not in item:
            raise ValueError(f"manifest input without a url: {sorted(item)}")
    missing = [k for k in SIGNER_FIELDS if k not in signer]
    if missing:
        raise ValueError(f"manifest signer block lacks {', '.join(missing)}")
    for key in ("path", "sha256", "effective_sha256"):
        if key not in policy:
            raise ValueError(f"manifest policy block lacks {key}")
    return {
        "schema": SCHEMA,
        "period": dict(period),
        "tool": dict(tool),
        "duckdb_version": duckdb_version,
        "inputs": sorted(({**dict.fromkeys(INPUT_FIELDS), **item} for item in inputs), key=_input_order),
        "queries": sorted((dict(q) for q in queries), key=lambda q: (q["path"], q.get("id") or "")),
        "policy": dict(policy),
        "outputs": {name: describe_output(name, Path(path)) for name, path in sorted(outputs.items())},
        "coverage": dict(coverage),
        "previous_manifest_sha256": previous_manifest_sha256,
        "signer": dict(signer),
    }


def describe_output(name: str, path: Path) -> dict:
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ValueError(f"output name {name!r} must be a plain file name (verify looks for it beside the manifest)")
    if name in NOT_OUTPUTS:
        raise ValueError(f"{name} cannot be listed in the manifest's outputs (see evidence/manifest.py)")
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _input_order(item: dict) -> tuple:
    # url first; the rest of the record breaks ties (one object listed under two clusters)
    return (str(item["url"]), json.dumps(item, sort_keys=True, default=str))
