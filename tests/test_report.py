"""The signed report of the sample week, end to end through the real CLI.

The run is shared (tests/sample_week_report.py); tests that change bytes work on copies.
Where a check needs poppler (pdftotext), it is skipped with a message when poppler is not
installed; .ci/run installs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from ingress_audit.evidence.verify import verify as verify_report
from ingress_audit.period import resolve_period
from ingress_audit.output_target import OutputTarget
from ingress_audit.report import ReportInput, render_html

from .sample_week_report import GOLDEN_HTML, ROOT, normalized_html, run_sample_week, sample_report, write_test_identity

pytestmark = pytest.mark.slow
OUTPUTS = ("report.html", "report.pdf", "findings.json", "manifest.json", "manifest.json.sig")


@pytest.fixture(scope="module")
def report():
    r = sample_report()
    assert r.exit_code == 1, r.stderr  # the planted incidents fail controls at or above high
    return r


def verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ingress_audit", "verify", *args],
                          capture_output=True, text=True, timeout=120)


def pdf_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pages = (["-f", str(first)] if first else []) + (["-l", str(last)] if last else [])
    return subprocess.run(["pdftotext", "-layout", *pages, str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_run_writes_every_output(report):
    for name in OUTPUTS:
        assert (report.out / name).stat().st_size > 0, name
    assert "report.pdf" in report.stdout
    assert not list(report.out.glob(".*")), "temporary files left behind"


def test_report_html_matches_the_golden_copy(report):
    """After a deliberate change: python -m tests.golden.update, and review the diff."""
    html = normalized_html((report.out / "report.html").read_text(encoding="utf-8"))
    assert html == GOLDEN_HTML.read_text(encoding="utf-8")


def test_report_html_is_self_contained(report):
    html = (report.out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    for attr in ("src=", "href="):
        for value in html.split(attr)[1:]:
            target = value[1:].split(value[0], 1)[0]
            assert target.startswith(("#", "data:")), f"{attr}{target[:60]} reaches outside the file"
    assert "<style>" in html


def test_pdf_text_holds_the_key_findings(report):
    findings = json.loads((report.out / "findings.json").read_text())
    text = pdf_text(report.out / "report.pdf")
    flat = " ".join(text.split())
    blocking = findings["summary"]["failing_at_or_above_fail_on"]
    assert f"{len(blocking)} controls failed at or above severity" in flat
    for c in findings["controls"]:
        if c["status"] == "fail":
            assert f"{c['id']} · {c['title']}" in flat, c["id"]
    # the planted incidents' entities appear as evidence
    incidents = yaml.safe_load((ROOT / "sample_data" / "expected_incidents.yaml").read_text())
    brute = next(i for i in incidents if i["id"] == "brute_force")
    assert brute["entity"]["client_ip"] in flat
    for heading in ("Executive summary", "Coverage and completeness", "Waivers", "Framework mapping",
                    "Appendix: evidence", "Reviewer sign-off"):
        assert heading in flat, heading


def test_pdf_is_pdfa3b_with_findings_and_manifest_attached(report):
    reader = PdfReader(report.out / "report.pdf")
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    # the identification survives signing (pyHanko rewrites the XMP packet with attributes)
    assert re.search(r'pdfaid:part(="|>)3', xmp) and re.search(r'pdfaid:conformance(="|>)B', xmp), xmp
    attached = reader.attachments
    for name in ("findings.json", "manifest.json", "manifest.json.sig"):
        assert attached[name][0] == (report.out / name).read_bytes(), name
    # (WeasyPrint lists each associated file twice in /AF; the relationship is what matters)
    associated = {f.get_object()["/F"]: f.get_object()["/AFRelationship"] for f in reader.trailer["/Root"]["/AF"]}
    assert associated == {"findings.json": "/Data", "manifest.json": "/Supplement", "manifest.json.sig": "/Supplement"}


def test_cover_page_names_period_signer_and_verdict(report):
    cover = " ".join(pdf_text(report.out / "report.pdf", 1, 1).split())
    assert "week 47 of 2026" in cover
    assert "ingress-audit test signer" in cover
    assert "failed at or above severity" in cover
    assert "INCOMPLETE" not in cover


def test_verify_passes_with_the_signers_certificate(report):
    result = verify(str(report.out), "--cert", str(report.cert))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ingress-audit test signer" in result.stdout
    assert "DEVELOPMENT" not in result.stdout


@pytest.mark.parametrize("name", ["report.pdf", "findings.json", "manifest.json", "report.html"])
def test_verify_fails_when_one_byte_changes(report, tmp_path, name):
    copy = tmp_path / "report"
    shutil.copytree(report.out, copy)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(data))
    result = verify_report(copy, report.cert)
    assert not result.ok
    assert any(name in f"{c.name} {c.detail}" for c in result.failures), [(c.name, c.detail) for c in result.failures]


def test_verify_refuses_another_signers_certificate(report, tmp_path):
    _, other = write_test_identity(tmp_path / "other", seed=b"someone else entirely".ljust(32, b"!"))
    result = verify(str(report.out / "report.pdf"), "--cert", str(other))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "signer" in result.stdout


def test_same_inputs_give_identical_outputs(report, tmp_path):
    """findings.json, report.html and the manifest are byte-identical; the PDF differs only in
    its signature (the incremental update after the first revision)."""
    again = run_sample_week(tmp_path, out=tmp_path / "again")
    assert again.exit_code == report.exit_code, again.stderr
    for name in ("findings.json", "report.html", "manifest.json", "manifest.json.sig"):
        assert (again.out / name).read_bytes() == (report.out / name).read_bytes(), name
    first, second = (report.out / "report.pdf").read_bytes(), (again.out / "report.pdf").read_bytes()
    end = first.index(b"%%EOF") + len(b"%%EOF")
    assert first[:end] == second[:end]


def test_week_over_week_names_new_failures(report):
    """Last period's findings beside this one's: a control that passed then and fails now is new."""
    findings = json.loads((report.out / "findings.json").read_text())
    previous = json.loads(json.dumps(findings))
    newly = next(c for c in previous["controls"] if c["status"] == "fail")
    newly.update(status="pass", finding_count=0, findings=[])
    html = render_html(ReportInput(findings, {}, [], [], {"path": None, "sha256": None, "effective_sha256": "0", "baseline": []},
                                   {"subject": "CN=x", "fingerprint_sha256": "0", "development": False}, [],
                                   previous=previous))
    after = html.split("New failures:")[1][:300]
    assert f'href="#{newly["id"]}"' in after
    assert "No previous report was available" not in html


def test_previous_report_is_found_beside_this_one(tmp_path):
    """--out reports/2026-W47 finds reports/2026-W46 for the comparison and the manifest chain."""
    period = resolve_period("2026-11-16", "2026-11-23", None)
    (tmp_path / "2026-W46").mkdir()
    for name in ("findings.json", "manifest.json"):
        (tmp_path / "2026-W46" / name).write_text("{}")
    target = OutputTarget.resolve(str(tmp_path / "2026-W47"), period, tmp_path / "cache", None)
    assert target.previous(None, period, tmp_path / "cache") == {
        "findings.json": tmp_path / "2026-W46" / "findings.json", "manifest.json": tmp_path / "2026-W46" / "manifest.json"}
    elsewhere = OutputTarget.resolve(str(tmp_path / "latest"), period, tmp_path / "cache", None)
    assert elsewhere.previous(None, period, tmp_path / "cache") == {}


def test_non_latin_values_render_with_real_glyphs(report, tmp_path):
    """Log values in any script reach the PDF as text, drawn by a font that has the glyphs."""
    if shutil.which("pdffonts") is None or not subprocess.run(["fc-list", ":lang=zh"], capture_output=True,
                                                               text=True).stdout.strip():
        pytest.skip("needs poppler-utils and a CJK font (fonts-noto-cjk); .ci/run installs both")
    findings = json.loads((report.out / "findings.json").read_text())
    failing = next(c for c in findings["controls"] if c["status"] == "fail" and c["findings"])
    words = ["Привет", "مرحبا", "登录失败", "ログイン"]
    failing["findings"][0]["reason"] = " ".join(words)
    html = render_html(ReportInput(findings, {}, [], [], {"path": None, "sha256": None, "effective_sha256": "0", "baseline": []},
                                   {"subject": "CN=x", "fingerprint_sha256": "0", "development": False}, []))
    from datetime import datetime, timezone

    from ingress_audit.report import write_pdf

    write_pdf(html, tmp_path / "r.pdf", [], document_date=datetime(2026, 11, 23, tzinfo=timezone.utc))
    text = pdf_text(tmp_path / "r.pdf")
    for word in words:
        assert word in text, word
    fonts = subprocess.run(["pdffonts", str(tmp_path / "r.pdf")], capture_output=True, text=True).stdout
    assert "CJK" in fonts, fonts


def test_cover_says_client_addresses_are_masked_only_when_they_are(report):
    findings = json.loads((report.out / "findings.json").read_text())
    assert findings["masked_client_ips"] is False
    args = ({}, [], [], {"path": None, "sha256": None, "effective_sha256": "0", "baseline": []},
            {"subject": "CN=x", "fingerprint_sha256": "0", "development": False}, [])
    assert "client addresses masked" not in render_html(ReportInput(findings, *args))
    cover = render_html(ReportInput({**findings, "masked_client_ips": True}, *args)).split('id="summary"')[0]
    assert "client addresses masked" in cover


def test_findings_by_cluster_only_with_several_clusters_and_escaped(report):
    """Failing controls × clusters from finding_count_by_cluster; absent with one cluster."""
    findings = json.loads((report.out / "findings.json").read_text())
    args = ({}, [], [], {"path": None, "sha256": None, "effective_sha256": "0", "baseline": []},
            {"subject": "CN=x", "fingerprint_sha256": "0", "development": False}, [])
    assert "Findings by cluster" not in render_html(ReportInput(findings, *args))  # the sample week: one cluster
    for c in findings["controls"]:  # every control of the sample week names `default`: say `us` instead
        c["finding_count_by_cluster"] = {"us": c["finding_count"]} if c["finding_count"] else {}
    failing = [c for c in findings["controls"] if c["status"] == "fail"]
    hostile = "<script>x</script>"  # labels cannot hold it (sources.py), the template must not trust that
    failing[0]["finding_count_by_cluster"] = {"eu": 3, hostile: 1234}
    failing[1]["finding_count_by_cluster"] = {}  # evidence naming no cluster
    passing = next(c for c in findings["controls"] if c["status"] == "info")
    passing["finding_count_by_cluster"] = {"eu": 7}
    html = render_html(ReportInput(findings, *args))
    section = html[html.index("Findings by cluster"):]
    section = section[: section.index("</table>")]
    assert hostile not in html and "&lt;script&gt;x&lt;/script&gt;" in section
    clusters = sorted(["eu", hostile, "us"])
    assert "".join(f'<th class="n">{c}</th>' for c in clusters).replace(hostile, "&lt;script&gt;x&lt;/script&gt;") in section
    counts = {"eu": "3", hostile: "1,234", "us": "0"}
    assert "".join(f'<td class="n">{counts[c]}</td>' for c in clusters) in section
    assert '<td class="n">—</td>' * 3 in section
    assert section.count("<tr>") == 1 + len(failing)  # the header and the failing controls only
    assert f"<td>{passing['id']} " not in section
    # the other failing controls: their count under us, — for the one naming no cluster
    assert f'<td class="n">0</td><td class="n">0</td><td class="n">{failing[2]["finding_count"]:,}</td><td class="n">{failing[2]["finding_count"]:,}</td></tr>' in section
