"""End to end against moto's S3 server: hostile log values, an unreadable object, Object Lock.

One small archive, uploaded to a bucket, holds a scanner whose paths are script and markup, an
ingress change by a user whose name and user agent are markup, and a corrupt gzip object. The
real CLI (a subprocess, talking HTTP to the server) stages it from S3 and publishes the report
to an Object Lock bucket; the published files are read back and checked.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ingress_audit.evidence.verify import verify

pytestmark = pytest.mark.slow

XSS_PATH = "/<script>alert('path')</script>"
XSS_PATH_ATTR = '/"><img/src=x/onerror=alert(1)>'
XSS_USER = "<script>alert('user')</script>@evil.example"
XSS_AGENT = "\"><svg onload=alert('ua')>"
PAYLOADS = (XSS_PATH, XSS_PATH_ATTR, XSS_USER, XSS_AGENT)
OUTPUTS = {"report.html", "report.pdf", "findings.json", "manifest.json", "manifest.json.sig"}


def nginx_line(i: int, path: str, status: int = 404) -> str:
    return (f'198.51.100.7 - - [17/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] '
            f'"GET {path} HTTP/1.1" {status} 153 "-" "Mozilla/5.0 (scanner)" 80 0.001 [shop-web-8080] [] '
            f'10.2.0.5:8080 153 0.001 {status} req{i:08d}')


def ingress_create() -> str:
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "evil-1",
        "stage": "ResponseComplete", "requestURI": "/apis/networking.k8s.io/v1/namespaces/shop/ingresses",
        "verb": "create", "user": {"username": XSS_USER, "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.9"], "userAgent": XSS_AGENT,
        "objectRef": {"resource": "ingresses", "namespace": "shop", "name": "backdoor",
                      "apiGroup": "networking.k8s.io", "apiVersion": "v1"},
        "responseStatus": {"code": 201},
        "requestObject": {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
                          "metadata": {"name": "backdoor", "namespace": "shop"},
                          "spec": {"rules": [{"host": "backdoor.example.com"}]}},
        "requestReceivedTimestamp": "2026-11-18T09:00:00.000000Z", "stageTimestamp": "2026-11-18T09:00:00.100000Z",
    })


def write_archive(root: Path) -> None:
    day = root / "ingress-nginx" / "2026" / "11" / "17"
    day.mkdir(parents=True)
    # 60 distinct 404 paths (AP-03 scanning, threshold 50); the hostile ones sort first, so they
    # are among the sample paths the finding shows
    paths = [XSS_PATH, XSS_PATH_ATTR] + [f"/x-{i:03d}" for i in range(58)]
    (day / "access.log.gz").write_bytes(gzip.compress("\n".join(nginx_line(i, p) for i, p in enumerate(paths)).encode() + b"\n"))
    (day / "broken.log.gz").write_bytes(gzip.compress(b"x" * 5000)[:40])  # corrupt: unreadable, reported
    audit = root / "kube-apiserver" / "2026" / "11" / "18"
    audit.mkdir(parents=True)
    (audit / "audit.log").write_text(ingress_create() + "\n")


@pytest.fixture(scope="module")
def published(s3_server, s3_client, tmp_path_factory):
    work = tmp_path_factory.mktemp("s3-report")
    write_archive(work / "archive")
    logs, reports = f"logs-{uuid.uuid4().hex[:8]}", f"reports-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=logs)
    s3_client.create_bucket(Bucket=reports, ObjectLockEnabledForBucket=True)
    for path in sorted((work / "archive").rglob("*")):
        if path.is_file():
            s3_client.upload_file(str(path), logs, path.relative_to(work / "archive").as_posix())

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ingress_audit", "--quiet", "run", "--source", f"s3://{logs}/",
             "--from", "2026-11-16", "--to", "2026-11-23", "--cache-dir", str(work / "cache"),
             "--out", f"s3://{reports}/weekly", *extra],
            capture_output=True, text=True, timeout=600)

    first = run("--retain-days", "3")
    again = run("--retain-days", "3")
    local = work / "downloaded"
    local.mkdir()
    listing = s3_client.list_object_versions(Bucket=reports, Prefix="weekly/2026-W47/")
    for v in listing.get("Versions", []):
        s3_client.download_file(reports, v["Key"], str(local / v["Key"].rsplit("/", 1)[1]))
    return {"first": first, "again": again, "dir": local, "bucket": reports, "versions": listing.get("Versions", []),
            "client": s3_client}


def test_every_output_is_published_under_the_period_once(published):
    assert published["first"].returncode == 3, published["first"].stderr  # an object was unreadable
    keys = sorted(v["Key"] for v in published["versions"])
    assert keys == sorted(f"weekly/2026-W47/{n}" for n in OUTPUTS)  # one version each: nothing overwritten
    assert "published s3://" in published["first"].stdout


def test_rerun_of_the_period_is_idempotent(published):
    again = published["again"]
    assert again.returncode == 3, again.stderr
    assert "already holds this report" in again.stdout


def test_published_objects_carry_compliance_retention(published):
    for v in published["versions"]:
        head = published["client"].head_object(Bucket=published["bucket"], Key=v["Key"], VersionId=v["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE", v["Key"]
        assert head["ObjectLockRetainUntilDate"] > v["LastModified"]


def test_published_report_verifies_and_says_it_is_development_signed(published):
    result = verify(published["dir"])
    assert result.ok, [(c.name, c.detail) for c in result.failures]
    assert result.development


def test_incomplete_run_says_so_on_page_one(published):
    findings = json.loads((published["dir"] / "findings.json").read_text())
    assert findings["coverage"]["complete"] is False
    assert any("broken.log.gz" in e["object"] for e in findings["coverage"]["errors"])
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    page1 = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(published["dir"] / "report.pdf"), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert "This report is INCOMPLETE" in page1
    assert "development key" in page1


def test_hostile_values_are_escaped_in_html_and_inert_in_pdf(published):
    html = (published["dir"] / "report.html").read_text(encoding="utf-8")
    findings = (published["dir"] / "findings.json").read_text(encoding="utf-8")
    for payload in PAYLOADS:
        assert json.dumps(payload)[1:-1] in findings or payload in json.loads(findings).__repr__(), payload
        assert payload not in html, f"unescaped in report.html: {payload}"
    # they are shown, escaped: the reader sees what the attacker sent
    assert "&lt;script&gt;alert(&#39;path&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#39;user&#39;)&lt;/script&gt;@evil.example" in html
    assert "&#34;&gt;&lt;svg onload=alert(&#39;ua&#39;)&gt;" in html
    lowered = html.lower()
    assert "<script" not in lowered and "onerror=" not in lowered.replace("onerror=alert(1)&gt;", "")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", str(published["dir"] / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = "".join(text.split())
    assert "".join(XSS_USER.split()) in flat  # printed as text in the PDF
