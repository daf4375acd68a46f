"""Edge cases for AP-01 and FA-01 as given/expected rows (the pattern every control follows)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .control_harness import run_control

T0 = datetime(2026, 11, 17, 9, 0, tzinfo=timezone.utc)


def login(ip: str, seconds: int, status: int = 401, path: str = "/login", **extra) -> dict:
    return {"ts": T0 + timedelta(seconds=seconds), "client_ip": ip, "host": "shop.example.com", "path": path,
            "method": "POST", "status": status, **extra}


def test_fa01_burst_inside_the_window_is_found():
    rows = run_control("FA-01", http=[login("203.0.113.9", i * 10) for i in range(25)])
    assert [(r["client_ip"], r["max_failures_in_window"]) for r in rows] == [("203.0.113.9", 25)]


def test_fa01_the_same_failures_spread_over_a_day_are_not():
    # 25 failures, one every 20 minutes: never 20 within 5 minutes
    assert run_control("FA-01", http=[login("203.0.113.9", i * 1200) for i in range(25)]) == []


def test_fa01_a_user_who_mistypes_twice_is_not_brute_force():
    rows = [login("198.51.100.7", 0), login("198.51.100.7", 20), login("198.51.100.7", 40, status=302)]
    assert run_control("FA-01", http=rows) == []


def test_fa01_sliding_window_finds_a_burst_that_straddles_fixed_buckets():
    # 20 failures from 09:04:00 to 09:06:00: split 10/10 by fixed 5-minute buckets
    rows = [login("203.0.113.10", 240 + i * 6) for i in range(20)]
    found = run_control("FA-01", http=rows)
    assert found and found[0]["max_failures_in_window"] == 20


def test_fa01_behind_a_trusted_proxy_the_forwarded_client_counts():
    rows = [login("10.0.0.2", i, forwarded_for=f"203.0.113.{i}, 10.0.0.3") for i in range(25)]
    policy = {"trusted_proxies": ["10.0.0.0/24"]}
    assert run_control("FA-01", http=rows, policy=policy) == []  # 25 different clients, one each
    rows = [login("10.0.0.2", i, forwarded_for="203.0.113.50") for i in range(25)]
    assert [r["client_ip"] for r in run_control("FA-01", http=rows, policy=policy)] == ["203.0.113.50"]


def test_fa01_threshold_comes_from_the_policy():
    rows = [login("203.0.113.9", i) for i in range(5)]
    assert run_control("FA-01", http=rows) == []
    assert len(run_control("FA-01", http=rows, policy={"thresholds": {"brute_force_failures": 5}})) == 1


def test_ap01_summarizes_hosts():
    rows = [login("203.0.113.9", i, status=200) for i in range(3)] + [login("203.0.113.8", 9, status=500)]
    (row,) = run_control("AP-01", http=rows)
    assert (row["host"], row["requests"], row["clients"], row["pct_5xx"]) == ("shop.example.com", 4, 2, 25.0)
