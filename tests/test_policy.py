"""The policy file: validated with one-line messages, precedence CLI > environment > file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingress_audit.errors import ConfigError
from ingress_audit.policy import load_policy

SAMPLE_POLICY = Path(__file__).resolve().parents[1] / "sample_data" / "policy.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_the_sample_policy_loads_and_comments_every_key():
    policy = load_policy(SAMPLE_POLICY, environ={})
    assert policy.trusted_networks and policy.approved_actors and policy.waivers
    text = SAMPLE_POLICY.read_text()
    for key in ["trusted_networks", "trusted_proxies", "restricted_hosts", "restricted_paths", "restricted_upstreams",
                "plaintext_allowed_hosts", "login_paths", "approved_actors", "controller_namespaces", "fail_on",
                "thresholds", "waivers", "baseline", "formats", "report", "mask_client_ips",
                *policy.thresholds.model_dump()]:
        line = next((l for l in text.splitlines() if l.strip().startswith(f"{key}:")), None)
        assert line is not None, f"{key} missing from the example policy"
        index = text.splitlines().index(line)
        before = text.splitlines()[index - 1].strip()
        assert "#" in line or before.startswith("#"), f"{key} has no comment"


def test_precedence_cli_over_env_over_file(tmp_path):
    path = write(tmp_path, "fail_on: low\nthresholds:\n  brute_force_failures: 7\n  scanning_distinct_404: 8\n")
    assert load_policy(path, environ={}).fail_on == "low"
    env = {"INGRESS_AUDIT_FAIL_ON": "medium", "INGRESS_AUDIT_THRESHOLD_BRUTE_FORCE_FAILURES": "30"}
    policy = load_policy(path, environ=env)
    assert (policy.fail_on, policy.thresholds.brute_force_failures, policy.thresholds.scanning_distinct_404) == ("medium", 30, 8)
    policy = load_policy(path, fail_on="critical", overrides=["thresholds.brute_force_failures=40"], environ=env)
    assert (policy.fail_on, policy.thresholds.brute_force_failures) == ("critical", 40)
    assert load_policy(None, environ={}).thresholds.brute_force_failures == 20  # the default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trusted_networks: [10.0.0.0/33]\n", "trusted_networks: Value error, '10.0.0.0/33' is not a CIDR"),
        ("trusted_netwerks: []\n", "trusted_netwerks: Extra inputs are not permitted"),
        ("thresholds:\n  brute_force_failures: 0\n", "thresholds.brute_force_failures: Input should be greater than or equal to 1"),
        ("fail_on: urgent\n", "fail_on: Input should be"),
        ("waivers:\n  - control: AP-04\n    entity: {}\n    owner: a\n    reason: b\n    expires: 2027-01-01\n", "waivers.0.entity"),
        ("waivers:\n  - control: AP-04\n    entity: {client_ip: 1.2.3.4}\n    owner: a\n    reason: b\n    expires: someday\n", "waivers.0.expires"),
        ("baseline:\n  ingress_manifests: nowhere/\n", "baseline.ingress_manifests: folder"),
        ("- a list\n", "must be a YAML mapping"),
        ("a: [unclosed\n", "is not valid YAML at line"),
    ],
)
def test_bad_policies_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_policy(write(tmp_path, text), environ={})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_override_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="--set 'fail_on=low': use --set thresholds.NAME=VALUE"):
        load_policy(None, overrides=["fail_on=low"], environ={})
    with pytest.raises(ConfigError, match="thresholds.brute_force_failures"):
        load_policy(None, overrides=["thresholds.brute_force_failures=many"], environ={})


def test_mask_client_ips_from_the_file_and_the_environment(tmp_path):
    assert load_policy(None, environ={}).report.mask_client_ips is False
    path = write(tmp_path, "report:\n  mask_client_ips: true\n")
    assert load_policy(path, environ={}).report.mask_client_ips is True
    assert load_policy(path, environ={"INGRESS_AUDIT_MASK_CLIENT_IPS": "0"}).report.mask_client_ips is False
    assert load_policy(None, environ={"INGRESS_AUDIT_MASK_CLIENT_IPS": "1"}).report.mask_client_ips is True
    with pytest.raises(ConfigError, match="report.mask_client_ips"):
        load_policy(None, environ={"INGRESS_AUDIT_MASK_CLIENT_IPS": "maybe"})
    with pytest.raises(ConfigError, match="report.mask_ips"):
        load_policy(write(tmp_path, "report:\n  mask_ips: true\n"), environ={})
