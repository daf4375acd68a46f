"""The run's outputs, in the order they depend on each other.

    findings.json  -> report.html -> manifest.json (hashes of inputs, queries, policy, and the
    two files before it) -> manifest.json.sig -> report.pdf (the HTML as PDF/A-3b with
    findings.json, manifest.json and its signature attached, then signed with PAdES)

The manifest cannot hold report.pdf's hash, since the PDF carries the manifest; the PDF is
covered by its own signature, made with the same certificate, and `verify` binds the two.
Each file is written to a temporary name and renamed, so a crash never leaves a half file
under a final name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .baseline import baseline_files
from .evidence.keys import SigningIdentity
from .evidence.manifest import build_manifest, manifest_bytes, sha256_bytes
from .policy import Policy
from .report import ReportInput, render_html, write_pdf
from .stage import StagedPeriod

log = logging.getLogger(__name__)

FINDINGS, HTML, MANIFEST, SIGNATURE, PDF = "findings.json", "report.html", "manifest.json", "manifest.json.sig", "report.pdf"
ALL_OUTPUTS = (FINDINGS, HTML, MANIFEST, SIGNATURE, PDF)


@dataclass
class Evidence:
    """What the report's appendix and the manifest list besides the outputs."""

    inputs: list[dict]
    queries: list[dict]
    policy: dict


def write_outputs(
    out_dir: Path,
    findings: dict,
    report: ReportInput,
    evidence: Evidence,
    identity: SigningIdentity,
    *,
    duckdb_version: str,
    previous_manifest_sha256: str | None = None,
    tsa_url: str | None = None,
) -> dict[str, Path]:
    from .evidence.manifest_sign import sign_manifest
    from .evidence.pdf_sign import sign_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ALL_OUTPUTS}
    _write(paths[FINDINGS], (json.dumps(findings, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    html = render_html(report)
    _write(paths[HTML], html.encode("utf-8"))

    manifest = build_manifest(
        period=findings["period"],
        tool=findings["tool"],
        duckdb_version=duckdb_version,
        inputs=evidence.inputs,
        queries=evidence.queries,
        policy=evidence.policy,
        outputs={FINDINGS: paths[FINDINGS], HTML: paths[HTML]},
        coverage={k: v for k, v in findings["coverage"].items() if k != "by_source_kind"},
        previous_manifest_sha256=previous_manifest_sha256,
        signer=identity.signer_block(),
    )
    data = manifest_bytes(manifest)
    _write(paths[MANIFEST], data)
    _write(paths[SIGNATURE], sign_manifest(data, identity))

    unsigned = out_dir / ".report.unsigned.pdf"
    write_pdf(
        html,
        unsigned,
        [
            (FINDINGS, paths[FINDINGS], "Data", "The findings this report renders (ingress-audit/findings/v1)"),
            (MANIFEST, paths[MANIFEST], "Supplement", "Evidence manifest: SHA-256 of every input, query, the policy and the outputs"),
            (SIGNATURE, paths[SIGNATURE], "Supplement", "Detached signature of manifest.json"),
        ],
        # the period's end, not the clock: the same inputs give the same document (see report.py)
        document_date=datetime.fromisoformat(findings["period"]["end"]),
    )
    tmp = out_dir / f".{PDF}.tmp"
    sign_pdf(unsigned, tmp, identity, tsa_url=tsa_url)
    unsigned.unlink()
    tmp.replace(paths[PDF])
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths


def collect_evidence(staged: StagedPeriod, query_files: list[tuple[str | None, Path]], queries_root: Path,
                     policy_path: Path | None, policy: Policy) -> Evidence:
    inputs = [
        # no LastModified: a local file's mtime changes with every checkout or copy, and the
        # bytes are identified by their SHA-256 (and in S3 by ETag and version id)
        {"url": o.object, "cluster": o.cluster, "etag": o.etag, "version_id": o.version_id, "size": o.size, "sha256": o.sha256, "source_kind": o.source_kind,
         "records_read": o.records_read, "records_parsed": o.records_parsed, "records_rejected": o.records_rejected,
         "error": o.error}
        for o in sorted(staged.objects, key=lambda o: o.object)
    ]
    # read from staged days (run --staged): their committed manifests are inputs too; they bind
    # the Parquet read to the raw objects listed above
    inputs += [{"url": m["url"], "cluster": None, "etag": None, "version_id": None, "size": m["size"],
                "sha256": m["sha256"], "source_kind": "staged-day", "records_read": 0, "records_parsed": 0,
                "records_rejected": 0, "error": None}
               for m in getattr(staged, "day_manifests", [])]
    queries = [
        {"id": qid, "path": path.relative_to(queries_root).as_posix(), "sha256": sha256_bytes(path.read_bytes())}
        for qid, path in query_files
    ]
    return Evidence(inputs, queries, _policy_evidence(policy_path, policy))


def _policy_evidence(path: Path | None, policy: Policy) -> dict:
    """The policy file's hash, the effective settings' (after env and --set overrides), and the
    GitOps baseline's files, which PD-07 compares against. Folders are recorded relative to the
    policy file, so the same checkout anywhere gives the same hashes."""
    # where metrics are pushed shapes no finding: moving the Pushgateway must not change the evidence
    settings = policy.model_dump(mode="json", exclude={"pushgateway"})
    folder = policy.baseline.ingress_manifests
    baseline = []
    if folder is not None:
        shown = _relative(folder, path.parent.resolve() if path else None)
        settings["baseline"]["ingress_manifests"] = shown
        baseline = [{"path": f"{shown}/{p.relative_to(folder).as_posix()}", "sha256": sha256_bytes(p.read_bytes())}
                    for p in baseline_files(folder)]
    return {
        "path": str(path) if path else None,
        "sha256": sha256_bytes(path.read_bytes()) if path else None,
        "effective_sha256": sha256_bytes(json.dumps(settings, sort_keys=True).encode("utf-8")),
        "baseline": baseline,
    }


def _relative(folder: Path, base: Path | None) -> str:
    try:
        return folder.resolve().relative_to(base).as_posix() if base else str(folder)
    except ValueError:
        return str(folder)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
