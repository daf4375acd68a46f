"""Falco's Kubernetes audit trace files against our controls: where we have a counterpart of a
Falco rule, our control must be raised by exactly the files that rule fires on.

The files are real audit events from minikube and kubeadm clusters (2018 and 2020), with the
rules Falco's own test matrix expects for each (EXPECTED_RULES.tsv, in ../shared/real_samples;
the test skips when that folder is absent). They are staged like an archive, each under the
date of its event (k8s-audit/2018/10/26/…), for a period covering them all.

Falco's test matrix checks one rule per test case, so a rule can fire on more files than the
matrix says: those files are named below, with the reason, where our counterpart fires on them.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ingress_audit.controls import load_controls, run_controls
from ingress_audit.period import resolve_period
from ingress_audit.pipeline import open_period, stage_period
from ingress_audit.policy import Policy

from .real_samples import sample

FALCO = "k8s-audit/falco-trace-files"
ROOT = Path(__file__).resolve().parents[1]
TLS_VARIANT = "create_secret_as_tls.json"  # derived below: create_secret.json, had it been a TLS secret


@dataclass
class Falco:
    flagged: dict[str, set[str]]  # Falco rule -> files it fires on (its test matrix)
    events: dict[str, list[dict]]  # file -> its audit events
    findings: dict[str, list[dict]]  # control id -> findings, default policy
    findings_ingress_default_ns: dict[str, list[dict]]  # the same with controller_namespaces [default]

    def files_of(self, found: list[dict]) -> set[str]:
        """The trace files a control's findings come from (by auditID, timestamp or name)."""
        files = set()
        for row in found:
            values = {str(v) for v in row.values() if isinstance(v, (str, int, float))}
            hits = {f for f, evs in self.events.items()
                    if any(e["auditID"] in values or e.get("requestReceivedTimestamp") in values for e in evs)}
            if not hits:
                hits = {f for f, evs in self.events.items() if any(e["objectRef"].get("name") in values for e in evs)}
            assert len(hits) == 1, f"cannot tell which trace file {row} comes from: {sorted(hits)}"
            files |= hits
        return files


def _read_expected(path: Path) -> dict[str, set[str]]:
    flagged: dict[str, set[str]] = {}
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    for file, _events, _first, _case, detect, counts in csv.reader(lines, delimiter="\t"):
        if detect == "True":
            for item in counts.split(","):
                rule = item.rpartition("=")[0]
                flagged.setdefault(rule, set()).add(file)
    return flagged


def _tls_variant(create_secret: dict) -> dict:
    event = json.loads(json.dumps(create_secret))
    event["auditID"] = "00000000-0000-4000-8000-7e57c0de0001"
    event["level"] = "Request"
    event["objectRef"]["name"] = "example-tls"
    event["requestReceivedTimestamp"] = "2020-04-21T17:58:05.541358Z"
    event["stageTimestamp"] = "2020-04-21T17:58:05.548299Z"
    event["requestObject"] = {"kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/tls",
                              "metadata": {"name": "example-tls", "namespace": "default"}}
    return event


@pytest.fixture(scope="module")
def falco(tmp_path_factory) -> Falco:
    folder = sample(FALCO)
    flagged = _read_expected(folder / "EXPECTED_RULES.tsv")
    tmp = tmp_path_factory.mktemp("falco")
    events: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.json")):
        parsed = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        events[path.name] = parsed
    events[TLS_VARIANT] = [_tls_variant(events["create_secret.json"][0])]
    for name, evs in events.items():
        when = evs[0].get("requestReceivedTimestamp") or evs[0]["timestamp"]
        target = tmp / "archive" / "k8s-audit" / when[:4] / when[5:7] / when[8:10] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (folder / name).exists():
            shutil.copyfile(folder / name, target)
        else:
            target.write_text("".join(json.dumps(e) + "\n" for e in evs))
    period = resolve_period("2018-10-25", "2020-04-22", None)
    policy = Policy()
    staged = stage_period([str(tmp / "archive")], period, policy, tmp / "cache", progress=False)
    assert staged.complete, staged.errors
    con = open_period(staged, tmp / "cache")
    assert con.execute("SELECT count(*) FROM audit_events").fetchone()[0] == sum(len(v) for v in events.values())
    controls = load_controls()
    runs = []
    for run_policy in (policy, Policy(controller_namespaces=["default"])):
        results = run_controls(con, controls, run_policy, period)
        errors = {r.control.id: r.error for r in results if r.status == "error"
                  and (r.control.meta.category in ("certificates", "policy_drift") or r.control.id in _exec_controls())}
        assert not errors, errors
        runs.append({r.control.id: r.findings for r in results})
    return Falco(flagged, events, runs[0], runs[1])


def _exec_controls() -> list[str]:
    """The access_patterns control(s) about exec sessions (written beside ours), by their metadata."""
    ids = []
    for meta in sorted((ROOT / "queries" / "controls" / "access_patterns").glob("*.yaml")):
        data = yaml.safe_load(meta.read_text())
        if "pods/exec" in data.get("title", "") + data.get("description", ""):
            ids.append(data["id"])
    return ids


def _where(found: list[dict], predicate) -> list[dict]:
    return [r for r in found if predicate(r)]


def test_the_trace_files_are_all_staged(falco):
    assert len(falco.events) == 32 + 1 and all(len(v) == 1 for v in falco.events.values())
    assert falco.flagged["Attach/Exec Pod"] == {"exec_pod.json"}


def test_attach_exec_pod(falco):
    ids = _exec_controls()
    if not ids:
        pytest.skip("no exec control in queries/controls/access_patterns yet")
    for control_id in ids:
        assert falco.files_of(falco.findings[control_id]) == falco.flagged["Attach/Exec Pod"], control_id


ROLE_KINDS = ("roles", "clusterroles")
BINDING_KINDS = ("rolebindings", "clusterrolebindings")
ROLE_CREATES = {"create_clusterrole.json", "create_cluster_role_pod_exec.json",
                "create_cluster_role_wildcard_resources.json", "create_cluster_role_write_privileges.json"}


@pytest.mark.parametrize(("rule", "control_id", "predicate", "also"), [
    # who: every RBAC write by an identity outside approved_actors (none are approved here)
    ("K8s Role/Clusterrolebinding Created", "PD-02",
     lambda r: r["resource_kind"] in BINDING_KINDS and r["verb"] == "create", set()),
    # Falco's rule fires on every successful role creation; its matrix tests only this file
    ("K8s Role/Clusterrole Created", "PD-02",
     lambda r: r["resource_kind"] in ROLE_KINDS and r["verb"] == "create", ROLE_CREATES - {"create_clusterrole.json"}),
    # deleting system:kube-aggregator is a role deletion too (and Falco's system-role rule below)
    ("K8s Role/Clusterrole Deleted", "PD-02",
     lambda r: r["resource_kind"] in ROLE_KINDS and r["verb"] == "delete", {"delete_cluster_role_kube_aggregator.json"}),
    ("System ClusterRole Modified/Deleted", "PD-02",
     lambda r: r["resource_kind"] in ROLE_KINDS and r["verb"] != "create" and r["name"].startswith("system:"), set()),
    # what: a role written with rules that grant power (reported even before it is bound)
    ("ClusterRole With Pod Exec Created", "PD-06", lambda r: "exec into pods" in r["grants"], set()),
    ("ClusterRole With Wildcard Created", "PD-06", lambda r: "wildcard" in r["grants"], set()),
])
def test_rbac_counterparts_fire_on_exactly_the_files_falco_flags(falco, rule, control_id, predicate, also):
    found = _where(falco.findings[control_id], predicate)
    assert falco.files_of(found) == falco.flagged[rule] | also


def test_write_privileges_only_on_non_resource_urls_is_not_a_grant_we_report(falco):
    # Falco flags any write verb; PD-06 reports writes on secrets and ingresses (and wildcards).
    # This role may only `delete` non-resource URLs such as /healthz: nothing PD-06 guards.
    assert falco.flagged["ClusterRole With Write Privileges Created"] == {"create_cluster_role_write_privileges.json"}
    assert falco.files_of(falco.findings["PD-06"]) == {
        "create_cluster_role_pod_exec.json", "create_cluster_role_wildcard_resources.json"}
    # the binding to system:basic-user grants nothing PD-06 lists either
    assert "create_clusterrolebinding.json" not in falco.files_of(falco.findings["PD-06"])


def test_pd02_reports_rbac_writes_and_nothing_outside_its_scope(falco):
    assert falco.files_of(falco.findings["PD-02"]) == ROLE_CREATES | {
        "create_clusterrolebinding.json", "delete_clusterrole.json", "delete_cluster_role_kube_aggregator.json",
        TLS_VARIANT}  # not the plain secrets, configmaps, pods, services or namespaces
    assert {r["user"] for r in falco.findings["PD-02"]} == {"minikube-user"}


def test_k8s_secret_created_only_tls_secrets_raise_our_controls(falco):
    assert falco.flagged["K8s Secret Created"] == {"create_secret.json"}
    for control_id in ("CE-01", "CE-02"):
        # the plain secret Falco flags (and the kube-system bootstrap token) are not TLS secrets
        assert falco.files_of(falco.findings[control_id]) == {TLS_VARIANT}, control_id
    assert falco.files_of(_where(falco.findings["PD-02"], lambda r: r["resource_kind"] == "secrets")) == {TLS_VARIANT}
    (row,) = falco.findings["CE-02"]
    assert (row["namespace"], row["name"], row["identified_by"]) == ("default", "example-tls", ["type kubernetes.io/tls"])


def test_configmaps_count_only_in_the_controller_namespaces(falco):
    configmap_files = falco.flagged["K8s ConfigMap Created"] | falco.flagged["K8s ConfigMap Deleted"]
    assert falco.files_of(falco.findings["PD-05"]) == set()  # `default` is no controller's namespace
    # with it declared one, PD-05 fires where Falco's rules do (its matrix tests the
    # no-sensitive-values file only for another rule; Falco's "K8s ConfigMap Created" fires on it too)
    assert falco.files_of(falco.findings_ingress_default_ns["PD-05"]) == configmap_files | {
        "create_configmap_no_sensitive_values.json"}


def test_nothing_else_of_ours_fires_on_clusters_without_ingresses(falco):
    for control_id in ("CE-03", "CE-04", "CE-05", "PD-01", "PD-03", "PD-04", "PD-07"):
        assert falco.findings[control_id] == [], control_id
    (summary,) = falco.findings["PD-08"]
    assert summary["baseline_loaded"] is False
