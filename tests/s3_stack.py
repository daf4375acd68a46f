"""A small archive in moto's S3 server behind the fault proxy, and the CLI run against it as a subprocess.

Shared by tests/test_s3_faults.py, tests/test_interrupted.py and benchmarks/hostile_scenarios.py,
so the scenario table and the tests exercise the same objects, commands and checks.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from .test_stage import audit_line, nginx_line

ROOT = Path(__file__).resolve().parents[1]
WEEK = ["--from", "2026-11-16", "--to", "2026-11-23"]
COUNTS_SQL = ("SELECT object, sha256, records_read, records_parsed, records_rejected, error "
              "FROM objects ORDER BY object")
# Short timeouts and few attempts keep a persistent fault to seconds (INGRESS_AUDIT_S3_*_TIMEOUT,
# AWS_MAX_ATTEMPTS: see README "Sources, credentials and the cache").
FAST_CLIENT = {"INGRESS_AUDIT_S3_CONNECT_TIMEOUT": "2", "INGRESS_AUDIT_S3_READ_TIMEOUT": "1",
               "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "3"}
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials", "AWS_EC2_METADATA_DISABLED": "true"}


def small_archive(lines: int = 400) -> dict[str, bytes]:
    """Three objects of three kinds, with controller noise (rejects) and a blank line (not a record)."""
    nginx = [nginx_line(i) for i in range(lines)]
    noisy = nginx[:50] + ['I1116 10:02:03.123456       7 controller.go:190] "reload"', ""] + nginx[50:]
    return {
        "logs/2026/11/16/access.log": ("\n".join(noisy) + "\n").encode(),
        "logs/2026/11/17/access.log.gz": gzip.compress(("\n".join(nginx) + "\n").encode(), mtime=0),
        "logs/2026/11/17/audit.jsonl": ("\n".join(audit_line(i) for i in range(lines // 2)) + "\n").encode(),
    }


def big_archive(lines: int) -> dict[str, bytes]:
    """One large plain object: enough chunks for a SIGTERM to land in the middle of staging."""
    return {"logs/2026/11/16/big.log": ("\n".join(nginx_line(i % 20000) for i in range(lines)) + "\n").encode()}


def new_bucket(client, objects: dict[str, bytes]) -> str:
    bucket = f"hostile-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def client_for(endpoint: str, *, checksums: bool = True):
    """A client to moto itself. checksums=False uploads without x-amz-checksum-* (as older
    clients and many S3-compatible stores do): then the ETag's MD5 is the only check of a body."""
    from botocore.config import Config

    config = Config(request_checksum_calculation="when_supported" if checksums else "when_required")
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@contextmanager
def moto_server():
    """moto's standalone S3 server on 127.0.0.1 (for the scenario script; tests use conftest's fixture)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def cli_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGRESS_AUDIT_"))}
    return env | FAKE_AWS | FAST_CLIENT | {"AWS_ENDPOINT_URL": endpoint} | extra


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def rows(self) -> list[dict]:
        """`query --format json` output, keyed by object."""
        return json.loads(self.out)


def cli(args: list[str], env: dict[str, str], timeout: float = 120) -> Run:
    proc = subprocess.run([sys.executable, "-m", "ingress_audit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ingress_audit", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def query_counts(bucket: str, cache: Path, env: dict[str, str], *extra: str) -> Run:
    return cli(["query", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir", str(cache), *extra,
                "--format", "json", COUNTS_SQL], env)


def records_lost(rows: list[dict]) -> int:
    """read - parsed - rejected over every object: the contract says this is always 0."""
    return sum(r["records_read"] - r["records_parsed"] - r["records_rejected"] for r in rows)


def counts(rows: list[dict]) -> dict[str, tuple]:
    return {r["object"]: (r["sha256"], r["records_read"], r["records_parsed"], r["records_rejected"]) for r in rows}


def cached_data_files(cache: Path) -> list[Path]:
    """Downloaded object files in a --cache-dir (data and temp files, not sidecars): cache.py's
    `%o-<tag>` and `%t-…` names under <cache>/objects/s3/."""
    root = cache / "objects" / "s3"
    assert root.is_dir(), f"no downloads under {root}: has the cache layout changed?"
    return [p for p in root.rglob("%[ot]-*") if p.is_file() and not p.name.endswith(".json")]
