"""The deployment, checked offline: cronjob.yaml against the Kubernetes API schema and the real
CLI, the Dockerfile's invariants, constraints.txt, and DuckDB's memory limit from the container's."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import tomllib
import zoneinfo
from pathlib import Path

import kubernetes_validate
import pytest
import typer.main
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ingress_audit import db
from ingress_audit.cli import app
from ingress_audit.period import resolve_period
from ingress_audit.policy import load_policy
from ingress_audit.publish import parse_out_url
from ingress_audit.sources import parse_source

ROOT = Path(__file__).resolve().parents[1]
CRONJOB = ROOT / "cronjob.yaml"
DOCKERFILE = ROOT / "Dockerfile"
PACKAGE = ROOT / "jobs" / "ingress_audit"

# 1.31: the oldest with everything the manifest uses GA (timeZone 1.27, podFailurePolicy 1.31);
# 1.33: backoffLimitPerIndex GA. Both ship with kubernetes-validate.
K8S_VERSIONS = ("1.31", "1.33")
UID = 10001
WEEKLY, STAGE = "ingress-audit", "ingress-audit-stage"
SCALE_OUT_RUN_ARGS = '["run", "--period", "last-week", "--staged", "$(INGRESS_AUDIT_STAGED)"]'


# --- reading the manifest ---------------------------------------------------------------------


def documents() -> list[dict]:
    return [d for d in yaml.safe_load_all(CRONJOB.read_text()) if d]


def find(kind: str, name: str) -> dict:
    (doc,) = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def cronjobs() -> list[dict]:
    return [d for d in documents() if d["kind"] == "CronJob"]


def pod_spec(cronjob: dict) -> dict:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def only_container(cronjob: dict) -> dict:
    (container,) = pod_spec(cronjob)["containers"]
    return container


_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text: str | int) -> int:
    """A Kubernetes resource quantity in bytes (or cores): '4Gi', '2', '21Gi'."""
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text)).groups()
    return math.ceil(float(number) * _UNITS[unit])


def duckdb_bytes(limit: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(MiB|GiB|MB|GB)", limit).groups()
    return int(number) * {"MiB": 2**20, "GiB": 2**30, "MB": 10**6, "GB": 10**9}[unit]


def container_env(cronjob: dict) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom, then env (which wins),
    downward-API resource fields resolved from the container's own resources."""
    container = only_container(cronjob)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(find("ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "secretKeyRef" in item["valueFrom"]:
            continue  # a Secret's value is not in the manifests (secret_env below)
        else:
            field = item["valueFrom"]["resourceFieldRef"]
            kind, _, resource = field["resource"].partition(".")
            value = quantity(container["resources"][kind][resource])
            env[item["name"]] = str(math.ceil(value / quantity(field.get("divisor", "1"))))
    return env


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' $(VAR) expansion of args: defined variables are replaced, $$ escapes a $,
    an undefined reference stays as written."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return [re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, arg) for arg in args]


# --- parsing arguments with the real CLI (nothing runs) ----------------------------------------


def parse(args: list[str], env: dict[str, str], monkeypatch) -> tuple[dict, dict]:
    """The group's and the subcommand's parameters, as Click parses them from args and env."""
    for name in [n for n in os.environ if n.startswith("INGRESS_AUDIT_") or n == "JOB_COMPLETION_INDEX"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    group = typer.main.get_command(app)
    ctx = group.make_context("ingress-audit", list(args), resilient_parsing=False)
    name = args[len(args) - len(ctx.args) - 1]  # what the group left: the subcommand and its args
    command = group.get_command(ctx, name)
    assert command is not None, f"no command {name!r}"
    sub = command.make_context(name, list(ctx.args), parent=ctx, resilient_parsing=False)
    return ctx.params, sub.params


def has_option(command: str, flag: str) -> bool:
    return any(flag in p.opts for p in typer.main.get_command(app).commands[command].params)


# --- the Kubernetes API schema ------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_document_validates_strictly_against_the_api_schema(version):
    docs = documents()
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ConfigMap", "ConfigMap", "CronJob", "CronJob"]
    for doc in docs:  # an unknown kind raises SchemaNotFoundError: a failure, not a skip
        assert kubernetes_validate.validate(doc, version, strict=True) == version


def test_strict_validation_catches_a_misspelt_field():
    doc = find("CronJob", WEEKLY)
    only_container(doc)["securityContxt"] = only_container(doc).pop("securityContext")
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContxt"):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


def test_what_the_api_server_checks_beyond_the_schema():
    for cj in cronjobs():
        spec, job, pod = cj["spec"], cj["spec"]["jobTemplate"]["spec"], pod_spec(cj)
        assert len(cj["metadata"]["name"]) <= 52  # the Job name adds 11 characters
        assert len(spec["schedule"].split()) == 5
        zoneinfo.ZoneInfo(spec["timeZone"])
        assert spec["concurrencyPolicy"] == "Forbid"
        names = {c["name"] for c in pod["containers"]}
        policy = job["podFailurePolicy"]
        assert pod["restartPolicy"] == "Never"  # required by podFailurePolicy
        assert job.get("podReplacementPolicy", "Failed") == "Failed"  # the only value it allows
        for rule in policy["rules"]:
            if rule["action"] == "FailIndex":
                assert "backoffLimitPerIndex" in job
            codes = rule.get("onExitCodes")
            if codes:
                assert codes["containerName"] in names
                values = codes["values"]
                assert values == sorted(set(values)) and 0 < len(values) <= 255
                assert codes["operator"] != "In" or 0 not in values
        if "backoffLimitPerIndex" in job:
            assert job["completionMode"] == "Indexed"
            assert job.get("maxFailedIndexes", 0) <= job["completions"]
        for c in pod["containers"]:
            for item in c.get("env", []):
                ref = item.get("valueFrom", {}).get("resourceFieldRef")
                if ref:
                    assert ref.get("containerName", c["name"]) in names


def test_the_documents_fit_together():
    sa = find("ServiceAccount", "ingress-audit")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert "iam.gke.io/gcp-service-account" in CRONJOB.read_text()  # the GKE alternative, commented
    assert not [d for d in documents() if d["kind"] == "Secret"], "the Secret is referenced, never defined"
    for cj in cronjobs():
        pod, container = pod_spec(cj), only_container(cj)
        assert pod["serviceAccountName"] == sa["metadata"]["name"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert {m["name"] for m in mounts.values()} == set(volumes)
        env = container_env(cj)
        policy_file = Path(env["INGRESS_AUDIT_POLICY"])
        mount = mounts[str(policy_file.parent)]
        assert mount["readOnly"]
        (item,) = volumes[mount["name"]]["configMap"]["items"]
        assert item["path"] == policy_file.name
        assert item["key"] in find("ConfigMap", volumes[mount["name"]]["configMap"]["name"])["data"]
        assert env["INGRESS_AUDIT_CACHE"] in mounts
    weekly = only_container(find("CronJob", WEEKLY))
    env = container_env(find("CronJob", WEEKLY))
    secret_mount = {m["name"]: m for m in weekly["volumeMounts"]}["signing"]
    secret = {v["name"]: v for v in pod_spec(find("CronJob", WEEKLY))["volumes"]}["signing"]["secret"]
    assert secret["secretName"] == "ingress-audit-signing" and secret_mount["readOnly"]
    assert secret_mount["mountPath"] == "/var/run/secrets/ingress-audit"
    assert env["INGRESS_AUDIT_SIGN_KEY"] == "/var/run/secrets/ingress-audit/tls.key"  # kubernetes.io/tls keys
    assert env["INGRESS_AUDIT_SIGN_CERT"] == "/var/run/secrets/ingress-audit/tls.crt"


def test_every_container_is_locked_down():
    for cj in cronjobs():
        pod = pod_spec(cj)
        assert pod["automountServiceAccountToken"] is False
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True
        assert psc["runAsUser"] == psc["runAsGroup"] == psc["fsGroup"] == UID
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == UID
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc.get("privileged", False) is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        for volume in pod["volumes"]:
            if "secret" in volume:
                # readable by the owner (root) and fsGroup, the job's group; nobody else; no writes
                assert volume["secret"]["defaultMode"] == 0o440
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("medium") != "Memory"  # a tmpfs counts as memory
                assert "sizeLimit" in volume["emptyDir"]


def test_what_writes_is_on_a_volume_not_the_read_only_root():
    env = dockerfile_env()
    for cj in cronjobs():
        mounts = [m["mountPath"] for m in only_container(cj)["volumeMounts"] if not m.get("readOnly")]
        for name in ("HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME", "INGRESS_AUDIT_CACHE"):
            path = container_env(cj).get(name, env[name])
            assert any(path == m or path.startswith(m + "/") for m in mounts), (cj["metadata"]["name"], name, path)


def test_every_ingress_audit_variable_is_one_the_code_reads():
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    for cj in cronjobs():
        container = only_container(cj)
        for name in container_env(cj):
            if name == "INGRESS_AUDIT_STAGED":  # ours: only referenced as $(INGRESS_AUDIT_STAGED)
                assert f"$({name})" in json.dumps(container["args"])
            elif name.startswith("INGRESS_AUDIT_"):
                assert f'"{name}"' in source, f"{name} is read by nothing in {PACKAGE}"


def secret_env(cronjob: dict) -> dict[str, dict]:
    return {item["name"]: item["valueFrom"]["secretKeyRef"] for item in only_container(cronjob).get("env", [])
            if "secretKeyRef" in item.get("valueFrom", {})}


def test_webhook_urls_come_from_an_optional_secret_the_code_reads():
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    refs = secret_env(find("CronJob", WEEKLY))
    assert set(refs) == {"INGRESS_AUDIT_SLACK_WEBHOOK_URL", "INGRESS_AUDIT_WEBHOOK_URL"}
    for name, ref in refs.items():
        assert ref["optional"] is True, f"{name}: a missing Secret must not stop the pod from starting"
        assert ref["name"] == "ingress-audit-webhooks"
        assert f'"{name}"' in source, f"{name} is read by nothing in {PACKAGE}"
    assert not any("WEBHOOK" in k for k in find("ConfigMap", "ingress-audit-settings")["data"])
    # the policy has no webhook key: its model refuses unknown keys (test_the_policy_in_the_configmap_loads)
    assert not secret_env(find("CronJob", STAGE)), "the staging pods send nothing"


def test_the_pushgateway_setting_is_one_the_run_accepts(monkeypatch):
    from ingress_audit.delivery import check_url

    url = find("ConfigMap", "ingress-audit-settings")["data"]["INGRESS_AUDIT_PUSHGATEWAY"]
    assert check_url(url, "INGRESS_AUDIT_PUSHGATEWAY") == url
    _, params = parse(expand(only_container(find("CronJob", WEEKLY))["args"], container_env(find("CronJob", WEEKLY))),
                      container_env(find("CronJob", WEEKLY)), monkeypatch)
    assert params["pushgateway"] == url


# --- the container's arguments, parsed by the real CLI -----------------------------------------


def test_the_weekly_run_arguments_parse_with_the_real_cli(monkeypatch):
    cj = find("CronJob", WEEKLY)
    env = container_env(cj)
    args = expand(only_container(cj)["args"], env)
    group, params = parse(args, env, monkeypatch)
    assert args[0] == "run" and group["log_format"] == "json"
    assert params["period"] == "last-week"
    settings = find("ConfigMap", "ingress-audit-settings")["data"]
    assert params["source"] == settings["INGRESS_AUDIT_SOURCE"].split()
    assert params["out"] == settings["INGRESS_AUDIT_OUT"]
    assert params["retain_days"] == int(settings["INGRESS_AUDIT_RETAIN_DAYS"])
    assert params["policy"] == Path("/etc/ingress-audit/policy.yaml")
    assert params["sign_key"].endswith("/tls.key") and params["sign_cert"].endswith("/tls.crt")
    # what `run` checks before any I/O, with the same values
    assert all(parse_source(s).scheme == "s3" for s in params["source"])
    assert parse_out_url(params["out"]) == ("compliance-reports", "ingress-audit")
    assert resolve_period(None, None, params["period"], as_of="2026-11-24").label() == "2026-W47"


@pytest.mark.xfail(
    not (has_option("stage", "--out") and (has_option("stage", "--day-index") or has_option("stage", "--day"))),
    reason="`stage --out s3://… --day-index N` (JOB_COMPLETION_INDEX) is being built by another engineer",
    strict=False,
)
def test_the_staging_arguments_parse_with_the_real_cli(monkeypatch):
    cj = find("CronJob", STAGE)
    env = container_env(cj) | {"JOB_COMPLETION_INDEX": "3"}  # what the Job controller adds
    args = expand(only_container(cj)["args"], env)
    assert "$(" not in " ".join(args)
    _, params = parse(args, env, monkeypatch)
    assert params["period"] == "last-week"
    assert env["INGRESS_AUDIT_STAGED"] in params.values()
    assert 3 in params.values() or "3" in params.values(), "the day index comes from JOB_COMPLETION_INDEX"


@pytest.mark.xfail(
    not has_option("run", "--staged"),
    reason="`run --staged s3://…` is being built by another engineer",
    strict=False,
)
def test_the_scale_out_weekly_arguments_parse_with_the_real_cli(monkeypatch):
    # the args cronjob.yaml's comments (and the README) tell you to switch the weekly run to
    assert f"args: {SCALE_OUT_RUN_ARGS}" in CRONJOB.read_text()
    staged = container_env(find("CronJob", STAGE))["INGRESS_AUDIT_STAGED"]
    env = container_env(find("CronJob", WEEKLY)) | {"INGRESS_AUDIT_STAGED": staged}
    _, params = parse(expand(json.loads(SCALE_OUT_RUN_ARGS), env), env, monkeypatch)
    assert staged in params.values()


def test_the_stage_cronjob_is_an_indexed_job_over_the_weeks_days():
    cj = find("CronJob", STAGE)
    job = cj["spec"]["jobTemplate"]["spec"]
    assert cj["spec"]["suspend"] is True  # optional: off until the weekly run reads the Parquet
    assert job["completionMode"] == "Indexed" and job["completions"] == 7
    assert 1 <= job["parallelism"] <= 7 and job["backoffLimitPerIndex"] >= 1
    assert only_container(cj)["args"][:3] == ["stage", "--period", "last-week"]
    stage_at = [int(f) for f in cj["spec"]["schedule"].split()[:2]]  # minute, hour
    weekly = find("CronJob", WEEKLY)["spec"]["schedule"].split()
    assert cj["spec"]["schedule"].split()[2:] == weekly[2:]  # the same day
    run_at = [int(f) for f in weekly[:2]]
    finished_by = stage_at[1] * 3600 + stage_at[0] * 60 + job["activeDeadlineSeconds"]
    assert finished_by <= run_at[1] * 3600 + run_at[0] * 60, "staging must end before the weekly run"


def test_the_readme_reruns_parse_with_the_real_cli(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deployment") : readme.index("## Performance")]
    reruns = re.findall(r"\.args = (\[.*?\])'", section)
    assert len(reruns) >= 2
    env = container_env(find("CronJob", WEEKLY))
    for args in reruns:
        _, params = parse(json.loads(args), env, monkeypatch)
        assert params["period"] or (params["start"] and params["end"])


def test_the_policy_in_the_configmap_loads(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(find("ConfigMap", "ingress-audit-policy")["data"]["policy.yaml"])
    policy = load_policy(path, environ={})
    assert policy.fail_on == "high"
    assert "system:serviceaccount:argocd:argocd-application-controller" in policy.approved_actors
    assert policy.trusted_networks and policy.restricted_hosts and policy.login_paths


# --- memory: DuckDB's share of the container's limit ---------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    return path


def test_duckdb_memory_limit_comes_from_the_cgroup(tmp_path):
    v2 = write(tmp_path / "memory.max", str(4 * 2**30))
    assert db.default_memory_limit({}, [v2]) == "2457MiB"  # 60% of 4 GiB, whole MiB
    assert db.default_memory_limit({}, [write(tmp_path / "max", "max")]) == db.DEFAULT_MEMORY_LIMIT
    v1 = write(tmp_path / "memory.limit_in_bytes", "9223372036854771712")  # cgroup v1: unlimited
    assert db.default_memory_limit({}, [tmp_path / "missing", v1]) == db.DEFAULT_MEMORY_LIMIT
    v1.write_text(str(2 * 2**30))
    assert db.default_memory_limit({}, [tmp_path / "missing", v1]) == "1228MiB"
    assert db.default_memory_limit({}, [tmp_path / "missing"]) == "2GB"  # not in a container


def test_duckdb_memory_limit_from_the_downward_api_and_the_override(tmp_path):
    none = [tmp_path / "missing"]
    downward = {"INGRESS_AUDIT_CONTAINER_MEMORY_BYTES": str(8 * 2**30)}
    assert db.default_memory_limit(downward, none) == "4915MiB"
    # both known: the smaller, since going over either is an OOM kill
    assert db.default_memory_limit(downward, [write(tmp_path / "memory.max", str(2**30))]) == "614MiB"
    assert db.default_memory_limit({"INGRESS_AUDIT_CONTAINER_MEMORY_BYTES": "4Gi"}, none) == "2GB"  # not bytes
    explicit = downward | {"INGRESS_AUDIT_MEMORY_LIMIT": "3GB"}
    assert db.default_memory_limit(explicit, none) == "3GB"


def test_duckdb_takes_the_derived_limit_and_reads_the_environment_when_connecting(tmp_path, monkeypatch):
    def setting(con) -> str:
        try:
            return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        finally:
            con.close()

    assert setting(db.connect(tmp_path, memory_limit=db.memory_limit_for(4 * 2**30))) == "2.3 GiB"
    monkeypatch.setenv("INGRESS_AUDIT_MEMORY_LIMIT", "1GiB")  # after import: read per connection
    assert setting(db.connect(tmp_path)) == "1.0 GiB"


def test_the_manifests_memory_arithmetic_holds():
    for cj in cronjobs():
        container = only_container(cj)
        resources = container["resources"]
        limit = quantity(resources["limits"]["memory"])
        assert quantity(resources["requests"]["memory"]) == limit  # reserved in full: never evicted for it
        assert "cpu" not in resources["limits"]  # DuckDB uses every core it sees; a CPU limit throttles it
        assert container_env(cj)["INGRESS_AUDIT_CONTAINER_MEMORY_BYTES"] == str(limit)
        duck = db.memory_limit_for(limit)
        assert limit * db.CONTAINER_MEMORY_FRACTION - 2**20 < duckdb_bytes(duck) <= limit * db.CONTAINER_MEMORY_FRACTION
        # the comment above the resources states the same numbers
        assert f"{duck}" in CRONJOB.read_text(), f"cronjob.yaml's comment should say DuckDB gets {duck}"
        volumes = pod_spec(cj)["volumes"]
        disk = sum(quantity(v["emptyDir"]["sizeLimit"]) for v in volumes if "emptyDir" in v)
        assert quantity(resources["requests"]["ephemeral-storage"]) >= disk
        assert quantity(resources["limits"]["ephemeral-storage"]) > disk
    weekly = quantity(only_container(find("CronJob", WEEKLY))["resources"]["limits"]["memory"])
    duck = duckdb_bytes(db.memory_limit_for(weekly))
    assert duck >= duckdb_bytes(db.DEFAULT_MEMORY_LIMIT)  # at least what the busy week was measured with
    assert weekly - duck >= 2**30  # room for Python, staging buffers and WeasyPrint


# --- the Dockerfile, constraints.txt, .dockerignore ----------------------------------------------


def dockerfile_stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(FROM line, [(INSTRUCTION, arguments)])], continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in DOCKERFILE.read_text().splitlines() if not l.lstrip().startswith("#")))
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append((rest.strip(), []))
        else:
            stages[-1][1].append((instruction.upper(), " ".join(rest.split())))
    return stages


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, rest in dockerfile_stages()[-1][1]:
        if instruction == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(rest)))
    return env


COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|cpp|make|[\w.+-]+-dev)\b")


def test_the_final_stage_is_slim_non_root_and_has_no_compilers():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: build in one, ship another"
    base, steps = stages[-1]
    assert re.fullmatch(r"python:3\.11-slim(-bookworm)?(@sha256:[0-9a-f]{64})?", base), base
    users = [rest for instruction, rest in steps if instruction == "USER"]
    assert users and re.fullmatch(rf"{UID}(:{UID})?", users[-1]), "a numeric non-root USER (runAsNonRoot checks it)"
    entrypoints = [rest for instruction, rest in steps if instruction == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoints] == [["ingress-audit"]]
    installs = " ".join(rest for instruction, rest in steps if instruction == "RUN" and "apt-get install" in rest)
    assert not COMPILERS.search(installs), COMPILERS.search(installs)
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core", "fonts-noto-cjk"):
        assert package in installs.split(), package
    copies = [rest for instruction, rest in steps if instruction == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"], "only the venv crosses over"
    env = dockerfile_env()
    assert env["INGRESS_AUDIT_CACHE"] == "/var/cache/ingress-audit"
    assert env["MPLCONFIGDIR"].startswith("/tmp/") and env["XDG_CACHE_HOME"].startswith("/tmp/")
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_the_image_carries_the_tokenizer_kernels_built_ahead_of_time():
    """Built in the builder stage (it has the C compiler), after the package is installed; the final
    stage checks they load (tokenizer_aot), so a pod never imports numba."""
    (_, builder), *_, (_, final) = dockerfile_stages()
    runs = [rest for instruction, rest in builder if instruction == "RUN"]
    install = next(i for i, r in enumerate(runs) if "pip install --constraint constraints.txt ." in r)
    build = [i for i, r in enumerate(runs) if "python -m ingress_audit.tokenizer_aot" in r]
    assert build and build[0] > install, "build the kernels after installing the package"
    assert any(instruction == "RUN" and "t.KERNELS" in rest for instruction, rest in final)


def test_the_builder_installs_what_constraints_txt_pins():
    (builder_from, steps), *_ = dockerfile_stages()
    assert builder_from.endswith(" AS builder")
    assert builder_from.split()[0] == dockerfile_stages()[-1][0], "the venv's python must be the same in both"
    runs = [rest for instruction, rest in steps if instruction == "RUN"]
    assert "constraints.txt ./" in [rest for instruction, rest in steps if instruction == "COPY"]
    assert any("pip install" in r and "--requirement constraints.txt" in r for r in runs)
    assert any("pip install --constraint constraints.txt ." in r for r in runs)
    assert any("pip check" in r for r in runs)


def test_constraints_pin_every_runtime_dependency_and_no_test_tool():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        assert canonicalize_name(req.name) in pins, f"{req.name} is not pinned: make constraints"
        assert req.specifier.contains(pins[canonicalize_name(req.name)], prereleases=True), (req, pins[canonicalize_name(req.name)])
    for tool in ("pytest", "pytest-xdist", "hypothesis", "moto", "kubernetes-validate", "hatchling"):
        assert tool not in pins, f"{tool} is a test tool, not for the image"
    assert "ingress-audit" not in pins


def test_the_docker_context_holds_what_the_dockerfile_copies():
    lines = [l for l in (ROOT / ".dockerignore").read_text().splitlines() if l and not l.startswith("#")]
    assert lines[0] == "*", "an allowlist: venvs, caches and benchmark archives stay out"
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    for _, steps in dockerfile_stages():
        for instruction, rest in steps:
            if instruction == "COPY" and not rest.startswith("--from"):
                for source in rest.split()[:-1]:
                    assert source.rstrip("/") in allowed, source
                    assert (ROOT / source).exists(), source


# --- the README's IAM policy ---------------------------------------------------------------------


def test_the_readme_iam_policy_is_least_privilege_for_the_manifests_buckets():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deployment") : readme.index("## Performance")]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.S)
    statements = json.loads(block)["Statement"]
    grants: dict[str, set[str]] = {}
    for st in statements:
        assert st["Effect"] == "Allow"
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        assert all("*" not in a for a in actions), "no wildcard actions"
        for action in actions:
            grants.setdefault(action, set()).add(st["Resource"])
        if st["Action"] == "s3:ListBucket":
            assert st["Condition"]["StringLike"]["s3:prefix"], "listing is confined to a prefix"
    assert "s3:DeleteObject" not in {a for a, rs in grants.items() if any("compliance-reports" in r for r in rs)}
    settings = find("ConfigMap", "ingress-audit-settings")["data"]
    for source in settings["INGRESS_AUDIT_SOURCE"].split():
        spec = parse_source(source)
        assert f"arn:aws:s3:::{spec.bucket}/{spec.prefix}*" in grants["s3:GetObject"]
        assert f"arn:aws:s3:::{spec.bucket}" in grants["s3:ListBucket"]
    bucket, prefix = parse_out_url(settings["INGRESS_AUDIT_OUT"])
    reports = f"arn:aws:s3:::{bucket}/{prefix}/*"
    for action in ("s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObjectRetention", "s3:GetObjectRetention"):
        assert reports in grants[action], action
    assert f"arn:aws:s3:::{bucket}" in grants["s3:GetBucketObjectLockConfiguration"]
    staged_bucket, staged_prefix = parse_out_url(container_env(find("CronJob", STAGE))["INGRESS_AUDIT_STAGED"])
    assert f"arn:aws:s3:::{staged_bucket}/{staged_prefix}/*" in grants["s3:PutObject"]
