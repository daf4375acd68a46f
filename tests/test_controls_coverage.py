"""coverage controls CV-01..CV-05: the sample week, then edge cases as given/expected rows.

Coverage needs volume (a source logging every minute for a day) and the `objects` / `rejects`
tables, which the harness leaves empty: `given` fills the tables with SQL after the harness
has created them.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from ingress_audit.controls import load_controls, run_controls
from ingress_audit.period import resolve_period
from ingress_audit.policy import Policy

from .control_harness import given_tables, run_control
from .sample_week_access import sample_week  # noqa: F401  (module-scoped fixture)

DAY = resolve_period("2026-11-18", "2026-11-19", None)
TWO_DAYS = resolve_period("2026-11-18", "2026-11-20", None)
PUBLIC = "archive/ingress-nginx/public/2026/11/18/ingress-nginx-controller-a.log.gz"


def given(control_id: str, *sql: str, http=(), audit=(), policy: dict | None = None, period=DAY) -> list[dict]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    given_tables(con, http, audit)
    for statement in sql:
        con.execute(statement)
    (control,) = [c for c in load_controls() if c.id == control_id]
    (result,) = run_controls(con, [control], Policy.model_validate(policy or {}), period, today=date(2026, 11, 23))
    assert result.status != "error", result.error
    return result.findings


def every_minute(obj: str = PUBLIC, skip: tuple[int, int] | None = None, start: str = "2026-11-18", minutes: int = 1440,
                 every: int = 1, cluster: str = "default", kind: str = "ingress-nginx", offset_s: int = 0) -> str:
    """http_requests rows, one each `every` minutes of a day, leaving out minutes [skip)."""
    where = f"WHERE NOT (i >= {skip[0]} AND i < {skip[1]})" if skip else ""
    return (f"INSERT INTO http_requests (ts, cluster, source_kind, object, line, status) "
            f"SELECT TIMESTAMPTZ '{start}' + INTERVAL (i) MINUTE + INTERVAL ({offset_s}) SECOND, '{cluster}', '{kind}', "
            f"'{obj}', i + 1, 200 FROM range(0, {minutes}, {every}) t(i) {where}")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the sample week ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_cv01_finds_the_public_controllers_silent_hour_and_no_quiet_night(sample_week):
    planted = sample_week.incidents["public_log_gap"]
    (row,) = sample_week.findings("CV-01")  # ALB and Traefik nights, the audit backend switch: not gaps
    assert row["source"].endswith(planted["objects"][0].rstrip("/"))
    assert row["source_kind"] == planted["source"]
    assert _ts(row["gap_start"]) <= _ts(planted["window"]["start"])
    assert _ts(row["gap_end"]) >= _ts(planted["window"]["end"])
    assert row["gap_minutes"] < 65 and row["position"] == "inside the period"


@pytest.mark.slow
def test_cv02_the_sample_week_keeps_time(sample_week):
    # nothing is planted; watches started before midnight and written after it are not skew
    assert sample_week.control("CV-02")["status"] == "pass"


@pytest.mark.slow
def test_cv03_secret_changes_are_logged_without_content_ingress_and_rbac_changes_are_not(sample_week):
    (row,) = sample_week.findings("CV-03")
    assert (row["resource_kind"], row["level"]) == ("secrets", "Metadata")
    tls = sample_week.incidents["tls_secret_changed"]["entity"]
    renewal = sample_week.lookalikes["cert_manager_renewal"]["entity"]
    assert {f"{tls['namespace']}/{tls['name']}", f"{renewal['namespace']}/{renewal['name']}"} <= set(row["sample_objects"])


@pytest.mark.slow
def test_cv04_every_object_of_the_sample_week_was_read(sample_week):
    assert sample_week.control("CV-04")["status"] == "pass"
    assert sample_week.document["coverage"]["errors"] == []


@pytest.mark.slow
def test_cv05_accounts_for_every_rejected_record(sample_week):
    rows = sample_week.findings("CV-05")
    assert sample_week.control("CV-05")["status"] == "info"
    assert sum(r["records_rejected"] for r in rows) == sample_week.document["coverage"]["records_rejected"] > 0
    # the line cut short by the pod restart on Friday is among them, with its place
    truncated = [r for r in rows if "/2026/11/20/" in r["object"] and "klog" not in r["reject_reason"]
                 and "error-log" not in r["reject_reason"]]
    assert truncated and all(r["line"] > 0 for r in truncated)


# --- CV-01 gaps -------------------------------------------------------------------------------------

def test_cv01_a_busy_source_silent_for_an_hour():
    (row,) = given("CV-01", every_minute(skip=(180, 240)))  # nothing from 03:00 to 03:59
    assert (row["source"], row["source_kind"], row["cluster"]) == ("archive/ingress-nginx/public", "ingress-nginx", "default")
    assert (row["gap_start"], row["gap_end"], row["gap_minutes"]) == ("2026-11-18T02:59:00Z", "2026-11-18T04:00:00Z", 61.0)
    assert (row["records_before"], row["records_after"]) == (61, 61)


def test_cv01_gap_minutes_at_the_boundary():
    (row,) = given("CV-01", every_minute(skip=(181, 240)))  # 03:00 to 04:00: exactly 60 minutes
    assert row["gap_minutes"] == 60.0
    assert given("CV-01", every_minute(skip=(182, 240))) == []  # 59 minutes
    assert len(given("CV-01", every_minute(skip=(182, 240)), policy={"thresholds": {"gap_minutes": 59}})) == 1


def test_cv01_a_naturally_quiet_source_is_not_a_gap():
    # a record every 7 minutes (~8 an hour), silent the first 6 hours: never busy enough
    assert given("CV-01", every_minute(every=7, skip=(0, 360))) == []
    # busy until 22:00, then silent over midnight into a quiet morning: busy on one side only
    rows = given("CV-01", every_minute(minutes=1320), every_minute(every=20, start="2026-11-19", minutes=600),
                 period=TWO_DAYS)
    assert rows == []
    # the same silence followed by a busy morning is a gap
    rows = given("CV-01", every_minute(minutes=1320), every_minute(start="2026-11-19", minutes=600), period=TWO_DAYS)
    assert [(r["position"], r["gap_start"], r["gap_end"]) for r in rows] == [
        ("inside the period", "2026-11-18T21:59:00Z", "2026-11-19T00:00:00Z"),
        ("at the end of the period", "2026-11-19T09:59:00Z", "2026-11-20T00:00:00Z")]  # and it stopped again


def test_cv01_busy_records_threshold_decides():
    sql = every_minute(every=6, skip=(180, 300))  # 10 records an hour, silent 03:00-05:00
    (row,) = given("CV-01", sql)
    assert (row["records_before"], row["records_after"]) == (11, 11)
    assert given("CV-01", sql, policy={"thresholds": {"gap_busy_records": 12}}) == []


def test_cv01_gaps_at_the_start_and_end_of_the_period():
    rows = given("CV-01", every_minute(skip=(0, 120)), every_minute(obj="archive/traefik/2026-11-18/a.json.gz",
                                                                       kind="traefik-json", skip=(1300, 1440)))
    found = sorted((r["source"], r["position"], r["gap_start"], r["gap_end"], r["records_before"], r["records_after"])
                   for r in rows)
    assert found == [
        ("archive/ingress-nginx/public", "at the start of the period", "2026-11-18T00:00:00Z", "2026-11-18T02:00:00Z",
         None, 61),
        ("archive/traefik", "at the end of the period", "2026-11-18T21:39:00Z", "2026-11-19T00:00:00Z", 61, None),
    ]


def test_cv01_pods_in_one_folder_and_day_folders_are_one_source():
    other_pod = PUBLIC.replace("controller-a", "controller-b")
    assert given("CV-01", every_minute(skip=(180, 240)), every_minute(obj=other_pod, skip=(600, 700))) == []
    next_day = "archive/ingress-nginx/internal/dt=2026-11-19/access.log.gz"
    rows = given("CV-01", every_minute(obj="archive/ingress-nginx/internal/dt=2026-11-18/access.log.gz"),
                 every_minute(obj=next_day, start="2026-11-19"), period=TWO_DAYS)
    assert rows == []


def test_cv01_clusters_are_separate_sources():
    rows = given("CV-01", every_minute(skip=(180, 240)), every_minute(cluster="prod-us"))
    assert [(r["cluster"], r["source"]) for r in rows] == [("default", "archive/ingress-nginx/public")]


def test_cv01_the_audit_trail_is_one_source_whichever_backend_wrote_it():
    def audit(obj: str, lo: int, hi: int) -> str:
        return (f"INSERT INTO audit_events (ts, stage_ts, cluster, audit_id, stage, object, line) "
                f"SELECT TIMESTAMPTZ '2026-11-18' + INTERVAL (i) MINUTE, TIMESTAMPTZ '2026-11-18' + INTERVAL (i) MINUTE, "
                f"'default', 'a' || i, 'ResponseComplete', '{obj}', i + 1 FROM range({lo}, {hi}) t(i)")
    switched = [audit("kube-apiserver/audit/2026/11/18/kube-apiserver-audit-00.log.gz", 0, 720),
                audit("kube-apiserver/webhook/2026/11/18/audit-batch-1.json.gz", 720, 1440)]
    assert given("CV-01", *switched) == []
    (row,) = given("CV-01", audit("kube-apiserver/audit/2026/11/18/kube-apiserver-audit-00.log.gz", 0, 600),
                   audit("kube-apiserver/audit/2026/11/18/kube-apiserver-audit-12.log.gz", 700, 1440))
    assert (row["source_kind"], row["gap_start"], row["gap_minutes"]) == ("k8s-audit", "2026-11-18T09:59:00Z", 101.0)


def test_cv01_nothing_logged_nothing_judged():
    assert given("CV-01") == []


# --- CV-02 clock skew -------------------------------------------------------------------------------

def records(obj: str, times: list[str], kind: str = "ingress-nginx") -> list[dict]:
    return [{"ts": t, "object": obj, "line": i + 1, "source_kind": kind, "cluster": "default", "status": 200}
            for i, t in enumerate(times)]


def test_cv02_records_stamped_after_the_day_of_their_file():
    rows = given("CV-02", http=records(PUBLIC, ["2026-11-18T23:59:00Z", "2026-11-19T00:06:00Z"]), period=TWO_DAYS)
    assert [(r["skew_check"], r["occurrences"], r["worst_seconds"], r["line"]) for r in rows] == [
        ("stamped after the day of its file", 1, 360.0, 2)]
    assert given("CV-02", http=records(PUBLIC, ["2026-11-19T00:04:59Z"]), period=TWO_DAYS) == []  # within 300 s


@pytest.mark.parametrize("obj", ["archive/ingress-nginx/internal/dt=2026-11-18/access.log.gz",
                                 "s3://logs/traefik/2026-11-18/traefik-access.json.gz",
                                 "archive/year=2026/month=11/day=18/x.log"])
def test_cv02_day_folders_in_other_layouts(obj):
    rows = given("CV-02", http=records(obj, ["2026-11-19T03:00:00Z"]), period=TWO_DAYS)
    assert [r["skew_check"] for r in rows] == ["stamped after the day of its file"]


def test_cv02_objects_without_a_day_in_their_key_are_not_judged_that_way():
    assert given("CV-02", http=records("archive/access.log", ["2026-11-19T03:00:00Z"]), period=TWO_DAYS) == []


def test_cv02_a_clock_stepped_back_within_a_file():
    times = ["2026-11-18T10:00:00Z", "2026-11-18T10:01:00Z", "2026-11-18T10:02:00Z", "2026-11-18T09:50:00Z",
             "2026-11-18T09:51:00Z"]
    (row,) = given("CV-02", http=records(PUBLIC, times))
    assert (row["skew_check"], row["occurrences"], row["worst_seconds"], row["line"]) == (
        "clock stepped back within a file", 2, 720.0, 4)


def test_cv02_small_disorder_is_tolerated():
    times = ["2026-11-18T10:00:00Z", "2026-11-18T10:04:00Z", "2026-11-18T10:00:30Z", "2026-11-18T10:05:00Z"]
    assert given("CV-02", http=records(PUBLIC, times)) == []


def test_cv02_audit_stage_before_the_request_was_received():
    audit = [{"ts": "2026-11-18T10:00:00Z", "stage_ts": "2026-11-18T09:59:58Z", "audit_id": "a", "line": 1,
              "object": "kube-apiserver/audit/2026/11/18/a.log", "cluster": "default", "stage": "ResponseComplete"},
             {"ts": "2026-11-18T10:00:00Z", "stage_ts": "2026-11-18T10:00:00Z", "audit_id": "b", "line": 2,
              "object": "kube-apiserver/audit/2026/11/18/a.log", "cluster": "default", "stage": "ResponseComplete"}]
    (row,) = given("CV-02", audit=audit)
    assert (row["source_kind"], row["skew_check"], row["worst_seconds"], row["line"]) == (
        "k8s-audit", "audit stage before request received", 2.0, 1)


def test_cv02_empty_tables_pass():
    assert given("CV-02") == []


# --- CV-03 changes logged without content --------------------------------------------------------------

def change(audit_id: str, resource: str, level: str = "RequestResponse", body: str | None = "{}", verb: str = "patch",
           code: int = 200, stage: str = "ResponseComplete", namespace: str | None = "shop", **extra) -> dict:
    return {"audit_id": audit_id, "stage": stage, "ts": "2026-11-18T10:00:00Z", "verb": verb, "resource": resource,
            "level": level, "request_object": body, "response_code": code, "namespace": namespace, "name": audit_id,
            "user": "dave@example.com", **extra}


def test_cv03_metadata_level_changes_are_found_per_kind():
    audit = [change("shop-tls", "secrets", "Metadata", None, "update"),
             change("api-tls", "secrets", "Metadata", None, "update", namespace="api"),
             change("shop-tls", "secrets", "Metadata", None, "update", stage="ResponseStarted")]
    (row,) = given("CV-03", audit=audit)
    assert (row["resource_kind"], row["changes"], row["level"], row["sample_objects"]) == (
        "secrets", 2, "Metadata", ["api/api-tls", "shop/shop-tls"])


def test_cv03_full_bodies_deletions_refusals_and_reads_are_not_findings():
    audit = [change("web", "ingresses", api_group="networking.k8s.io"),
             change("old", "ingresses", "Metadata", None, "delete"),
             change("denied", "clusterrolebindings", "Metadata", None, "create", 403),
             change("x", "secrets", "Metadata", None, "get")]
    assert given("CV-03", audit=audit) == []


def test_cv03_a_body_missing_at_request_level_counts():
    (row,) = given("CV-03", audit=[change("r", "rolebindings", "Request", None, "create",
                                          api_group="rbac.authorization.k8s.io")])
    assert (row["resource_kind"], row["api_group"], row["level"]) == ("rolebindings", "rbac.authorization.k8s.io", "Request")


def test_cv03_configmaps_count_only_in_controller_namespaces():
    audit = [change("app-config", "configmaps", "Metadata", None),
             change("ingress-nginx-controller", "configmaps", "Metadata", None, namespace="ingress-nginx")]
    (row,) = given("CV-03", audit=audit)
    assert row["sample_objects"] == ["ingress-nginx/ingress-nginx-controller"]
    assert given("CV-03", audit=audit, policy={"controller_namespaces": ["traefik"]}) == []


def test_cv03_one_row_per_kind_and_cluster_each_with_its_own_count():
    # each cluster's API server has its own audit policy: eu logging secrets at Metadata says
    # nothing of us, and the same audit ID in both clusters is two changes
    audit = [change("shop-tls", "secrets", "Metadata", None, "update", cluster="eu"),
             change("api-tls", "secrets", "Metadata", None, "update", namespace="api", cluster="eu"),
             change("shop-tls", "secrets", "Metadata", None, "update", cluster="us")]
    rows = given("CV-03", audit=audit)
    assert [(r["resource_kind"], r["cluster"], r["changes"], r["sample_objects"]) for r in rows] == [
        ("secrets", "eu", 2, ["api/api-tls", "shop/shop-tls"]), ("secrets", "us", 1, ["shop/shop-tls"])]


# --- CV-04 unreadable objects ---------------------------------------------------------------------------

OBJECTS = ("INSERT INTO objects (object, cluster, source_kind, size, records_read, records_parsed, records_rejected, error) "
           "VALUES ('a/broken.log.gz', 'default', NULL, 512, 0, 0, 0, 'not a gzip file'), "
           "('a/notes.txt', 'default', NULL, 80, 0, 0, 0, NULL), "
           "('a/changed.log', 'default', 'ingress-nginx', 900, 12, 0, 12, NULL), "
           "('a/empty.log', 'default', 'ingress-nginx', 0, 0, 0, 0, NULL), "
           "('a/good.log.gz', 'default', 'ingress-nginx', 4000, 100, 97, 3, NULL)")


def test_cv04_unreadable_unclassified_and_unparsed_objects():
    rows = given("CV-04", OBJECTS)
    assert [(r["object"], r["problem"]) for r in rows] == [
        ("a/changed.log", "nothing parsed"), ("a/notes.txt", "unclassified"), ("a/broken.log.gz", "unreadable")]
    assert "not a gzip file" in rows[2]["reason"]


def test_cv04_no_objects_pass():
    assert given("CV-04") == []


# --- CV-05 rejected records -----------------------------------------------------------------------------

def test_cv05_rejects_by_kind_and_reason_with_their_share():
    rejects = ("INSERT INTO rejects VALUES ('a/good.log.gz', 7, 'ingress-nginx', 'klog line', 'I1116 …'), "
               "('a/good.log.gz', 3, 'ingress-nginx', 'klog line', 'I1116 …'), "
               "('a/good.log.gz', 9, 'ingress-nginx', 'truncated', '10.0.5.10 - - [20/Nov'), "
               "('a/changed.log', 1, 'ingress-nginx', 'truncated', 'x')")
    rows = given("CV-05", OBJECTS, rejects)
    assert [(r["reject_reason"], r["records_rejected"], r["objects"], r["object"], r["line"]) for r in rows] == [
        ("klog line", 2, 1, "a/good.log.gz", 3), ("truncated", 2, 2, "a/changed.log", 1)]
    assert rows[0]["percent_of_read"] == round(100 * 2 / 112, 3)


def test_cv05_is_information_even_when_empty():
    assert run_control("CV-05") == []


def test_cv05_rejects_per_cluster_of_their_object_each_with_its_clusters_share():
    objects = ("INSERT INTO objects (object, cluster, source_kind, size, records_read, records_parsed, records_rejected, error) "
               "VALUES ('eu/a.log', 'eu', 'ingress-nginx', 100, 10, 8, 2, NULL), "
               "('us/b.log', 'us', 'ingress-nginx', 100, 40, 39, 1, NULL)")
    rejects = ("INSERT INTO rejects VALUES ('eu/a.log', 1, 'ingress-nginx', 'truncated', 'x'), "
               "('eu/a.log', 2, 'ingress-nginx', 'truncated', 'y'), ('us/b.log', 5, 'ingress-nginx', 'truncated', 'z')")
    rows = given("CV-05", objects, rejects)
    assert [(r["cluster"], r["records_rejected"], r["percent_of_read"]) for r in rows] == [
        ("eu", 2, 20.0), ("us", 1, 2.5)]
