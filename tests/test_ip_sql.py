"""Address numbers and trust (queries/lib/addresses.sql) agree with Python's ipaddress, v4 and v6."""

from __future__ import annotations

import ipaddress

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from ingress_audit.period import resolve_period
from ingress_audit.policy import Policy
from ingress_audit.policy_sql import install_policy

from .control_harness import given_tables

PERIOD = resolve_period("2026-11-16", "2026-11-23", None)


def _trust(addresses: list[str], policy: Policy) -> dict[str, tuple]:
    con = duckdb.connect()
    given_tables(con, http=[{"client_ip": a} for a in addresses])
    install_policy(con, policy, PERIOD)
    return {ip: (num, trusted) for ip, num, trusted in con.execute(
        "SELECT n.ip, n.num, t.trusted FROM ip_numbers n JOIN ip_trust t USING (ip)").fetchall()}


def _expected_num(text: str) -> int | None:
    try:
        addr = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    return int(addr) if addr.version == 6 else int(ipaddress.IPv6Address(f"::ffff:{addr}"))


def _inside(text: str, net) -> bool:
    addr = ipaddress.ip_address(text)
    mapped = addr.ipv4_mapped if addr.version == 6 else None  # ::ffff:a.b.c.d is the IPv4 client
    return (addr.version == net.version and addr in net) or (mapped is not None and net.version == 4 and mapped in net)


addresses = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: a.compressed),
                      st.ip_addresses(v=6).map(lambda a: a.exploded))
networks = st.one_of(
    st.ip_addresses(v=4).flatmap(lambda a: st.integers(8, 32).map(lambda p: ipaddress.ip_network(f"{a}/{p}", strict=False))),
    st.ip_addresses(v=6).flatmap(lambda a: st.integers(16, 128).map(lambda p: ipaddress.ip_network(f"{a}/{p}", strict=False))),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(addresses, min_size=1, max_size=40, unique=True), networks)
def test_numbers_and_cidr_membership_match_ipaddress(texts, net):
    # the network's own first address is always among them, so every run checks a member
    texts = [*texts, str(net.network_address)]
    got = _trust(texts, Policy(trusted_networks=[str(net)]))
    for text in set(texts):
        assert got[text][0] == _expected_num(text), text
        assert got[text][1] is _inside(text, net), (text, str(net))


def test_not_addresses_have_no_number():
    bad = ["garbage", "300.1.1.1", "1.2.3", "1::2::3", "1:::2", "1:2:3:4:5:6:7:8:9", "12345::1"]
    got = _trust(bad, Policy(trusted_networks=["0.0.0.0/0", "::/0"]))
    assert {ip: num for ip, (num, _) in got.items() if ip in bad} == dict.fromkeys([b for b in bad if b in got])
    assert all(not trusted for _, trusted in got.values())


def test_zone_index_and_mapped_addresses():
    got = _trust(["fe80::1%eth0", "::ffff:10.1.2.3", "10.1.2.3"], Policy(trusted_networks=["10.0.0.0/8"]))
    assert got["fe80::1%eth0"][0] == int(ipaddress.IPv6Address("fe80::1"))
    assert got["::ffff:10.1.2.3"] == got["10.1.2.3"] == (int(ipaddress.IPv6Address("::ffff:10.1.2.3")), True)
