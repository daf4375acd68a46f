"""`run`'s metrics and webhooks end to end: a real Pushgateway and real HTTP receivers.

One run over a small two-cluster archive (a slice of the sample week, plus an object nobody can
read, named with Slack control characters) pushes to the Pushgateway and notifies two webhooks;
the expected values are computed from that run's own findings.json, manifest.json and stage log
lines, never written down here. Later runs reuse its cache, so each costs a few seconds.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from ingress_audit import delivery, metrics, notify
from ingress_audit.cli import main
from ingress_audit.outcome import RunOutcome
from ingress_audit.period import resolve_period
from ingress_audit.report import num
from ingress_audit.pipeline import RunState

from .monitoring_helpers import Pushgateway, Receiver, free_port

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "sample_data" / "archive"
POLICY = ROOT / "sample_data" / "policy.yaml"
WEEK = ["--from", "2026-11-16", "--to", "2026-11-23"]
# the controls judging each cluster apart: the HTTP ones and the Kubernetes API counts
PER_CLUSTER = {"AP-01", "AP-02", "AP-03", "AP-04", "AP-05", "AP-06", "CV-03", "CV-05", "FA-01", "FA-02", "FA-03",
               "FA-04", "FA-05", "FA-06", "PD-08"}
EVIL = "<!channel>&<!here|click>.log"  # an object key: attacker-controlled text
SLACK_SECRET = "/services/T000/B000/s3cr3tT0ken"
ENV = ("INGRESS_AUDIT_SOURCE", "INGRESS_AUDIT_PUSHGATEWAY", "INGRESS_AUDIT_SLACK_WEBHOOK_URL",
       "INGRESS_AUDIT_WEBHOOK_URL", "INGRESS_AUDIT_SLACK_WEBHOOK_URL_FILE", "INGRESS_AUDIT_WEBHOOK_URL_FILE")


def _copy(rel: str, dest: Path) -> None:
    shutil.copytree(ARCHIVE / rel, dest / rel)


def run(mp: pytest.MonkeyPatch, capfd, *args: str) -> tuple[int, str, float]:
    """The real entry point in-process, as cli_helpers.run_cli does, for session fixtures too."""
    mp.setattr(sys, "argv", ["ingress-audit", "--log-format", "json", *args])
    capfd.readouterr()
    started = time.monotonic()
    with pytest.raises(SystemExit) as info:
        main()
    seconds = time.monotonic() - started
    return info.value.code, capfd.readouterr().err, seconds


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clusters")
    eu, us = root / "eu", root / "us"
    _copy("ingress-nginx/internal/dt=2026-11-17", eu)
    _copy("kube-apiserver/webhook", eu)
    _copy("traefik/2026-11-18", us)
    bad = us / "junk" / "2026" / "11" / "18" / EVIL
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x00\x01 not a log format anyone writes \xff\n" * 3)
    return {"eu": eu, "us": us}


@pytest.fixture(scope="session")
def first_run(archive, tmp_path_factory, _session_capfd):
    """The run every test here compares against, with its Pushgateway and webhooks."""
    gateway = Pushgateway()
    slack, generic = Receiver(), Receiver(statuses=(500, 500))
    out, cache = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("cache")
    capfd = _session_capfd
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV:
            mp.delenv(name, raising=False)
        mp.setenv("INGRESS_AUDIT_SLACK_WEBHOOK_URL", slack.url(SLACK_SECRET))
        mp.setenv("INGRESS_AUDIT_WEBHOOK_URL", generic.url("/generic"))
        before = time.time()
        code, err, _ = run(mp, capfd, "run", "--source", f"eu={archive['eu']}", "--source", f"us={archive['us']}",
                           *WEEK, "--policy", str(POLICY), "--cache-dir", str(cache), "--out", str(out / "r"),
                           "--pushgateway", gateway.url)
        after = time.time()
    try:
        yield {"code": code, "err": err, "out": out / "r", "cache": cache, "gateway": gateway, "slack": slack,
               "generic": generic, "before": before, "after": after,
               "findings": json.loads((out / "r" / "findings.json").read_text()),
               "manifest": json.loads((out / "r" / "manifest.json").read_text())}
    finally:
        gateway.stop()
        slack.stop()
        generic.stop()


@pytest.fixture(scope="session")
def _session_capfd():
    # pytest's capture fixtures are per test; the session run captures its own stderr
    import io

    class Cap:
        def __init__(self):
            self.err = io.StringIO()

        def readouterr(self):
            value, self.err = self.err.getvalue(), io.StringIO()
            sys.stderr = self.err
            return type("R", (), {"err": value, "out": ""})()

    cap, saved = Cap(), sys.stderr
    sys.stderr = cap.err
    try:
        yield cap
    finally:
        sys.stderr = saved


def _by(samples, name: str, *labels: str) -> dict:
    return {tuple(s.labels[l] for l in labels): s.value for s in samples if s.name == name}


def _one(samples, name: str) -> float:
    (value,) = [s.value for s in samples if s.name == name]
    return value


# --- metrics ------------------------------------------------------------------------------------


def test_the_run_pushes_what_its_findings_and_stages_say(first_run):
    findings, manifest, samples = first_run["findings"], first_run["manifest"], first_run["gateway"].samples()
    assert first_run["code"] == 3, first_run["err"][-2000:]  # the junk object: done, input incomplete
    assert {s.name for s in samples} == set(metrics.METRIC_NAMES)  # every metric, and only those
    assert {(s.labels["job"], s.labels["clusters"]) for s in samples} == {("ingress_audit", "eu,us")}

    # run outcome
    assert _one(samples, "ingress_audit_last_run_exit_code") == first_run["code"]
    assert _one(samples, "ingress_audit_last_run_success") == 1
    ended = _one(samples, "ingress_audit_last_run_timestamp_seconds")
    assert first_run["before"] <= ended <= first_run["after"]
    assert _one(samples, "ingress_audit_last_success_timestamp_seconds") == ended
    assert _one(samples, "ingress_audit_report_incomplete") == (0 if findings["coverage"]["complete"] else 1)
    period = resolve_period(findings["period"]["start"], findings["period"]["end"], None)
    assert _one(samples, "ingress_audit_period_start_timestamp_seconds") == period.start.timestamp()
    assert _one(samples, "ingress_audit_period_end_timestamp_seconds") == period.end.timestamp()

    # stage durations: exactly the stages the run logged, with the seconds it logged
    logged = [json.loads(line) for line in first_run["err"].splitlines() if line.startswith("{")]
    stages = {r["stage"]: r["seconds"] for r in logged if r.get("event") == "stage"}
    assert set(stages) >= {"fetch", "parse", "controls", "report"}
    assert _by(samples, "ingress_audit_stage_duration_seconds", "stage") == {(k,): v for k, v in stages.items()}
    total = _one(samples, "ingress_audit_last_run_duration_seconds")
    assert sum(stages.values()) <= total + 0.01

    # coverage per cluster and source kind, from the manifest's inputs (one per object)
    expected = defaultdict(lambda: [0, 0, 0, 0])
    unreadable = defaultdict(int)
    for i in manifest["inputs"]:
        row = expected[(i["cluster"], i["source_kind"] or "unknown")]
        for n, key in enumerate(("records_read", "records_parsed", "records_rejected")):
            row[n + 1] += i[key]
        row[0] += 1
        unreadable[i["cluster"]] += bool(i["error"])
    assert {k[0] for k in expected} == {"eu", "us"}
    for n, name in enumerate(("objects", "records_read", "records_parsed", "records_rejected")):
        assert _by(samples, f"ingress_audit_{name}", "cluster", "source_kind") == {k: v[n] for k, v in expected.items()}, name
    assert sum(_by(samples, "ingress_audit_records_read", "cluster", "source_kind").values()) == findings["coverage"]["records_read"]
    assert _by(samples, "ingress_audit_unreadable_objects", "cluster") == {(c,): n for c, n in unreadable.items()}
    assert unreadable["us"] == len(findings["coverage"]["errors"]) == 1

    # controls
    controls = findings["controls"]
    assert _by(samples, "ingress_audit_controls", "status") == {(s,): findings["summary"][s] for s in ("pass", "fail", "info", "error")}
    assert _by(samples, "ingress_audit_control_findings", "control_id") == {(c["id"],): c["finding_count"] for c in controls}
    failing = _by(samples, "ingress_audit_control_failing", "control_id", "category", "severity")
    assert failing == {(c["id"], c["category"], c["severity"]): float(c["status"] == "fail") for c in controls}
    by_kind = defaultdict(int)
    for c in controls:
        by_kind[(c["category"], c["severity"])] += c["status"] == "fail"
    assert _by(samples, "ingress_audit_failing_controls", "category", "severity") == by_kind
    assert any(by_kind.values()), "the slice should still fail some control, or this proves little"

    # findings per cluster: findings.json's finding_count_by_cluster, one sample per (cluster, control)
    by_cluster = {(k, c["id"]): n for c in controls for k, n in c["finding_count_by_cluster"].items()}
    assert _by(samples, "ingress_audit_cluster_findings", "cluster", "control_id") == by_cluster
    assert {k for k, _ in by_cluster} == {"eu", "us"}
    for c in controls:  # no control names several clusters in one row ("eu, us"): no row counts twice
        assert all(", " not in (r.get("cluster") or "") for r in c["findings"]), c["id"]
        assert sum(c["finding_count_by_cluster"].values()) <= c["finding_count"], c["id"]
        if c["id"] in PER_CLUSTER and c["finding_count"]:  # and these name one in every row: the counts add up
            assert sum(c["finding_count_by_cluster"].values()) == c["finding_count"], c["id"]
            assert {r["cluster"] for r in c["findings"]} <= set(c["finding_count_by_cluster"]), c["id"]


def test_the_report_breaks_records_and_findings_down_by_both_clusters(first_run):
    html = (first_run["out"] / "report.html").read_text()
    section = html[html.index("Records by cluster"):]
    section = section[: section.index("</table>")]
    assert "<td>eu</td>" in section and "<td>us</td>" in section
    assert "2 clusters: eu, us" in html

    section = html[html.index("Findings by cluster"):]
    section = section[: section.index("</table>")]
    assert '<th class="n">eu</th><th class="n">us</th><th class="n">All</th>' in section
    failing = [c for c in first_run["findings"]["controls"] if c["status"] == "fail"]
    assert failing
    for c in failing:  # one row per failing control: its count in eu, in us, in all
        counts = c["finding_count_by_cluster"]
        cells = "".join(f'<td class="n">{num(counts.get(k, 0)) if counts else "—"}</td>' for k in ("eu", "us"))
        assert f"{cells}<td class=\"n\">{num(c['finding_count'])}</td></tr>" in section, c["id"]


def test_a_failed_push_keeps_the_last_success_and_names_the_failure():
    gateway = Pushgateway()
    try:
        period = resolve_period("2026-11-16", "2026-11-23", None)
        ok = RunOutcome(period, ["prod-eu"], 0, 1000.0, 1010.0, RunState(result=object()))
        assert metrics.push(gateway.url, ok).ok
        failed = RunOutcome(period, ["prod-eu"], 70, 2000.0, 2005.0, RunState(), stages=[("fetch", 1.5)])
        assert metrics.push(gateway.url, failed).ok
        other = RunOutcome(period, ["prod-us"], 0, 3000.0, 3001.0, RunState(result=object()))
        assert metrics.push(gateway.url, other).ok
        samples = gateway.samples()
    finally:
        gateway.stop()
    eu = [s for s in samples if s.labels["clusters"] == "prod-eu"]
    assert _one(eu, "ingress_audit_last_run_success") == 0
    assert _one(eu, "ingress_audit_last_run_exit_code") == 70
    assert _one(eu, "ingress_audit_last_success_timestamp_seconds") == 1010.0  # survived the failure
    assert _by(eu, "ingress_audit_stage_duration_seconds", "stage") == {("fetch",): 1.5}
    us = [s for s in samples if s.labels["clusters"] == "prod-us"]
    assert _one(us, "ingress_audit_last_success_timestamp_seconds") == 3001.0  # its own group


# --- webhooks -----------------------------------------------------------------------------------


def test_the_slack_message_says_what_happened_with_log_text_escaped(first_run):
    (path, body), = first_run["slack"].requests
    assert path == SLACK_SECRET
    message = json.loads(body)
    text = message["text"] + "".join(b["text"]["text"] for b in message["blocks"])
    assert "2026-W47" in text and "eu, us" in text and "INCOMPLETE: 1 unreadable" in text
    assert str(first_run["out"]) in text
    failing = [c for c in first_run["findings"]["controls"] if c["status"] == "fail"]
    for c in failing[: notify.MAX_LISTED]:
        assert f"`{c['id']}` {c['severity']}:" in text and f"({c['finding_count']})" in text
    # the object key arrives escaped: no <!channel> ping, no forged link, & as an entity
    assert "&lt;!channel&gt;&amp;&lt;!here|click&gt;.log" in text
    assert "<!channel>" not in text and "<!here" not in text


def test_the_generic_webhook_is_retried_after_two_500s(first_run):
    requests = first_run["generic"].requests
    assert len(requests) == 3 and len({b for _, b in requests}) == 1  # the same document each time
    doc = json.loads(requests[-1][1])
    findings = first_run["findings"]
    assert doc["schema"] == notify.SCHEMA
    assert doc["period"] == {**findings["period"], "label": "2026-W47"}
    assert doc["clusters"] == ["eu", "us"] and doc["outcome"] == "success" and doc["exit_code"] == 3
    assert doc["complete"] is False and doc["report"] == str(first_run["out"])
    assert doc["unreadable_objects"]["count"] == 1 and doc["unreadable_objects"]["first"][0]["object"].endswith(EVIL)
    assert doc["failing_controls"] == [
        {k: c[k] for k in ("id", "title", "category", "severity", "finding_count")}
        for c in findings["controls"] if c["status"] == "fail"
    ]
    assert "notified the json webhook at 127.0.0.1 (3 attempts)" in first_run["err"]


def test_webhook_urls_never_reach_the_logs(first_run):
    assert SLACK_SECRET not in first_run["err"] and "s3cr3t" not in first_run["err"]
    assert "notified the slack webhook at 127.0.0.1 (1 attempt)" in first_run["err"]


def test_a_webhook_that_never_answers_and_a_dead_gateway_cost_a_bounded_time(first_run, archive, tmp_path, monkeypatch, capfd):
    hang = Receiver(hang=True)
    monkeypatch.setattr(delivery, "DEFAULT_BUDGET", delivery.Budget(attempts=4, seconds=3, timeout_seconds=1, backoff_seconds=0.1))
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    secret_file = tmp_path / "url"
    secret_file.write_text(hang.url("/never/s3cr3t") + "\n")
    monkeypatch.setenv("INGRESS_AUDIT_WEBHOOK_URL_FILE", str(secret_file))
    monkeypatch.setenv("INGRESS_AUDIT_PUSHGATEWAY", f"http://127.0.0.1:{free_port()}")  # nothing listens: refused
    try:
        code, err, seconds = run(monkeypatch, capfd, "run", "--source", f"eu={archive['eu']}", "--source",
                                 f"us={archive['us']}", *WEEK, "--policy", str(POLICY), "--cache-dir",
                                 str(first_run["cache"]), "--out", str(tmp_path / "r"))
    finally:
        hang.stop()
    assert code == first_run["code"]
    assert (tmp_path / "r" / "report.pdf").is_file()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    webhook = [r for r in lines if "json webhook" in r["message"]]
    assert len(webhook) == 1 and webhook[0]["level"] == "WARNING", webhook
    assert "could not notify the json webhook at 127.0.0.1 after" in webhook[0]["message"]
    assert "no answer within" in webhook[0]["message"]
    push = [r for r in lines if "Pushgateway" in r["message"]]
    assert len(push) == 1 and "connection failed" in push[0]["message"]
    assert 2 <= len(hang.requests) <= 4
    assert "s3cr3t" not in err
    announced = [r for r in lines if r.get("event") == "summary"][0]
    # the report's own work plus two budgets of 3 s (and a second of slack for the last attempt)
    assert seconds - announced["seconds"] < 2 * 3 + 2, seconds


# --- configuration errors -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://gw:9091", "http://", "not a url", "http://gw:99999999"])
def test_a_malformed_pushgateway_is_one_line_exit_2_and_nothing_written(url, archive, tmp_path, monkeypatch, capfd):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    code, err, _ = run(monkeypatch, capfd, "run", "--source", str(archive["eu"]), *WEEK, "--cache-dir",
                       str(tmp_path / "c"), "--out", str(tmp_path / "r"), "--pushgateway", url)
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "--pushgateway" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_a_malformed_webhook_url_is_exit_2_without_repeating_it(archive, tmp_path, monkeypatch, capfd):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INGRESS_AUDIT_SLACK_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/s3cr3t")
    code, err, _ = run(monkeypatch, capfd, "run", "--source", str(archive["eu"]), *WEEK, "--cache-dir",
                       str(tmp_path / "c"), "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "s3cr3t" not in err
    assert "INGRESS_AUDIT_SLACK_WEBHOOK_URL" in err and not (tmp_path / "r").exists()


def test_webhook_urls_come_from_the_env_or_a_secret_file(tmp_path):
    secret = tmp_path / "url"
    secret.write_text("https://hooks.example.com/x\n")
    env = {"INGRESS_AUDIT_WEBHOOK_URL_FILE": str(secret),
           "INGRESS_AUDIT_SLACK_WEBHOOK_URL_FILE": str(tmp_path / "absent")}  # an optional Secret not there
    assert [(h.kind, h.url) for h in notify.webhooks_from_env(env)] == [("json", "https://hooks.example.com/x")]
    env["INGRESS_AUDIT_WEBHOOK_URL"] = "https://direct.example.com/y"
    assert [h.url for h in notify.webhooks_from_env(env)] == ["https://direct.example.com/y"]
    assert "hooks.example.com/x" not in repr(notify.webhooks_from_env({"INGRESS_AUDIT_WEBHOOK_URL_FILE": str(secret)}))
    assert notify.webhooks_from_env({}) == []


def test_the_pushgateway_comes_from_the_policy_when_no_flag_or_env(tmp_path):
    from ingress_audit.policy import load_policy

    policy = tmp_path / "p.yaml"
    policy.write_text("pushgateway: http://pushgateway.monitoring:9091\n")
    assert load_policy(policy, environ={}).pushgateway == "http://pushgateway.monitoring:9091"
