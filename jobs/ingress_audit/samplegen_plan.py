"""When and by whom the sample week's incidents happen: one place for the story.

Times are (day, "HH:MM:SS" UTC); day 0 is the first day of the week (Monday 2026-11-16 by default).
sample_data/README.md and sample_data/expected_incidents.yaml describe the same plan for the
default week; tests check the generated archive against the YAML.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

# --- HTTP -------------------------------------------------------------------------------------
BRUTE_FORCE_IP = "203.0.113.66"
BRUTE_FORCE_START = (1, "02:14:00")  # 64 failed POST /login on shop.example.com in ~5 minutes
BRUTE_FORCE_ATTEMPTS = 64
BRUTE_FORCE_SUCCESS = (1, "02:19:12")  # then the password works

STUFFING_START = (2, "13:05:00")  # 45 addresses, 2-3 failures each, within the hour
STUFFING_IPS = tuple(f"198.18.{7 + 5 * k}.{(37 * k) % 241 + 9}" for k in range(45))

SCANNER_IP = "198.51.100.23"
SCANNER_START = (3, "04:30:00")  # 240 distinct non-existent paths, all 404

SPIKE_IP = "203.0.113.200"
SPIKE_START = (4, "15:20:00")  # 3000 requests in 10 minutes to api.example.com, ramping up and down
SPIKE_PER_MINUTE = (60, 150, 420, 720, 760, 480, 210, 110, 60, 30)

OUTAGE_START = (5, "10:00:00")  # shop-checkout-8080 answers 5xx for one hour
OUTAGE_REQUESTS = 150

ADMIN_INTRUDER_IPS = ("198.51.100.150", "2001:db8:bad:1::17")
ADMIN_ACCESS_START = (6, "21:05:00")  # after bob opened the whitelist at 20:48

PLAINTEXT_HOST = "payroll.internal.example.com"  # its ingress was created without TLS
PLAINTEXT_FROM = (2, "16:05:00")  # until the end of the week
PLAINTEXT_PER_DAY = 24

PUBLIC_GAP_START = (2, "03:00:00")  # no public-controller logs for this hour (both pods)

MISTYPING_IP = "198.51.100.42"  # two wrong passwords, then in: ordinary
MISTYPING_START = (0, "08:12:40")
PARTNER_IP = "198.51.100.10"  # a partner's nightly catalogue sync: a burst, waived by policy.yaml
PARTNER_PAGES = 650  # all within one clock minute, every night

# --- Kubernetes API -----------------------------------------------------------------------------
API_401_IP = "198.51.100.201"
API_401_START = (0, "22:10:00")  # 150 requests with a bad bearer token in 15 minutes
API_401_REQUESTS = 150
ANONYMOUS_IP = "203.0.113.99"
ANONYMOUS_AT = (1, "03:41:10")  # anonymous list/get of secrets in ns shop, allowed
# Thursday from noon the API server sent its audit events to the webhook backend instead of the
# log files (a migration test, switched back at midnight): that half day is in webhook batches.
WEBHOOK_FROM = (3, "12:00:00")
WEBHOOK_HOURS = 12

# Addresses the background never uses, so that every request from them belongs to its story.
RESERVED_IPS = frozenset(
    (BRUTE_FORCE_IP, SCANNER_IP, SPIKE_IP, MISTYPING_IP, PARTNER_IP, API_401_IP, ANONYMOUS_IP,
     *STUFFING_IPS, *ADMIN_INTRUDER_IPS)
)


def at(week_start: date, when: tuple[int, str]) -> int:
    """Microseconds since the epoch for a (day, "HH:MM:SS") of the plan."""
    day, hms = when
    t = datetime.combine(week_start, time.fromisoformat(hms), timezone.utc)
    return int(t.timestamp()) * 1_000_000 + day * 86_400_000_000

# --- ordinary noise that readers must reject ------------------------------------------------------
PUBLIC_POD_RESTART = (4, "06:12:31")  # pod b7vwn restarts; its last access-log line is cut short
