"""The CLI contract: exit codes, one-line errors with nothing written, output formats, help."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb
import pytest

from ingress_audit import schema

from .cli_helpers import run_cli
from .test_stage import nginx_line

PERIOD = ["--from", "2026-11-16", "--to", "2026-11-23"]


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    day = tmp_path / "archive" / "2026" / "11" / "16"
    day.mkdir(parents=True)
    (day / "access.log").write_text("\n".join(nginx_line(i) for i in range(20)) + "\n")
    return tmp_path / "archive"


@pytest.fixture()
def cli(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("INGRESS_AUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INGRESS_AUDIT_SOURCE", raising=False)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def _one_clean_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l]
    assert "Traceback" not in err
    return lines[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "ARCHIVE", "--from", "2026-11-16", "--to", "2026-11-31"], "--to '2026-11-31' is not a date"),
        (["--source", "ARCHIVE", "--from", "2026-11-23", "--to", "2026-11-16"], "is not after --from"),
        (["--source", "ARCHIVE", "--from", "2026-11-16"], "needs both --from and --to"),
        (["--source", "ARCHIVE", "--to", "2026-11-16"], "needs both --from and --to"),
        (["--source", "ARCHIVE", "--period", "last-month"], "--period 'last-month' is not known"),
        (["--source", "ftp://host/x", *PERIOD], "unsupported scheme"),
        (["--source", "s3://", *PERIOD], "names no bucket"),
        (["--source", "/does/not/exist", *PERIOD], "does not exist"),
        (["--source", "ARCHIVE", *PERIOD, "--policy", "/no/policy.yaml"], "policy file /no/policy.yaml does not exist"),
        (["--source", "ARCHIVE", *PERIOD, "--format", "xml"], "--format 'xml' is not one of"),
        ([*PERIOD], "no --source given"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(cli, archive, tmp_path, args, message):
    args = [str(archive) if a == "ARCHIVE" else a for a in args]
    result = cli("query", *args, "SELECT 1")
    assert result.code == 2
    assert message in _one_clean_line(result.err)
    assert result.out == ""
    assert not (tmp_path / "cache").exists()


def test_bad_policy_names_the_file_and_key(cli, archive, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("formats:\n  nginx_log_formatz: []\n")
    result = cli("query", "--source", str(archive), *PERIOD, "--policy", str(policy), "SELECT 1")
    assert result.code == 2
    assert re.search(r"policy file .*policy.yaml: formats.nginx_log_formatz: Extra inputs", _one_clean_line(result.err))


def test_unknown_flag_is_a_usage_error(cli):
    result = cli("query", "--bogus", "SELECT 1")
    assert result.code == 2 and "No such option" in result.err and "Traceback" not in result.err


def test_sql_error_is_exit_2(cli, archive):
    result = cli("query", "--source", str(archive), *PERIOD, "SELECT nope FROM http_requests")
    assert result.code == 2
    assert _one_clean_line(result.err).startswith("ingress-audit: error: SQL error: Binder Error")


def test_json_is_one_array_of_objects(cli, archive):
    result = cli("query", "--source", str(archive), *PERIOD, "--format", "json",
                 "SELECT client_ip, ts, status FROM http_requests ORDER BY line")
    assert result.code == 0
    rows = json.loads(result.out)
    assert len(rows) == 20
    assert rows[0] == {"client_ip": "10.1.0.1", "ts": "2026-11-16T10:00:00Z", "status": 200}


def test_csv_and_table(cli, archive):
    result = cli("query", "--source", str(archive), *PERIOD, "--format", "csv", "SELECT path, status FROM http_requests ORDER BY line LIMIT 2")
    assert list(csv.reader(io.StringIO(result.out))) == [["path", "status"], ["/item/0", "200"], ["/item/1", "200"]]
    result = cli("query", "--source", str(archive), *PERIOD, "SELECT count(*) AS n FROM http_requests")
    assert result.code == 0 and "20" in result.out and "1 rows" in result.out


def test_table_output_prints_log_text_literally(cli, tmp_path):
    day = tmp_path / "a" / "2026" / "11" / "16"
    day.mkdir(parents=True)
    (day / "x.log").write_text(nginx_line(1).replace("curl/8.1", "[bold red]x[/]") + "\n")
    result = cli("query", "--source", str(tmp_path / "a"), *PERIOD, "SELECT user_agent FROM http_requests")
    assert "[bold red]x[/]" in result.out


def test_parquet_output(cli, archive, tmp_path):
    out = tmp_path / "r.parquet"
    result = cli("query", "--source", str(archive), *PERIOD, "--format", "parquet", "--output", str(out),
                 "SELECT * FROM http_requests")
    assert result.code == 0
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall() == [(20,)]


def test_unreadable_input_still_prints_names_it_and_exits_3(cli, archive):
    (archive / "2026" / "11" / "16" / "broken.log.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = cli("query", "--source", str(archive), *PERIOD, "--format", "csv", "SELECT count(*) AS n FROM http_requests")
    assert result.code == 3
    assert result.out.splitlines() == ["n", "20"]
    assert "unreadable:" in result.err and "broken.log.gz" in result.err


def test_stage_summary(cli, archive):
    result = cli("stage", "--source", str(archive), *PERIOD)
    assert result.code == 0
    assert "records read  20 = 20 parsed + 0 rejected" in result.out


def test_schema_lists_every_column(cli):
    text = cli("schema").out
    data = json.loads(cli("schema", "--format", "json").out)
    for table in schema.TABLES:
        assert f"{table.name}:" in text
        (entry,) = [t for t in data if t["table"] == table.name]
        assert [c["name"] for c in entry["columns"]] == table.column_names()


def test_every_command_has_help_with_an_example(cli):
    from ingress_audit.cli import app
    import typer.main

    group = typer.main.get_command(app)
    for name in group.commands:
        result = cli(name, "--help")
        assert result.code == 0
        assert "Example:" in result.out, name


def test_json_columns_are_embedded_as_json(cli, tmp_path):
    day = tmp_path / "a" / "2026" / "11" / "17"
    day.mkdir(parents=True)
    from .test_stage import audit_line

    event = json.loads(audit_line(1))
    event["requestObject"] = {"kind": "Ingress", "metadata": {"name": "x"}}
    (day / "audit.log").write_text(json.dumps(event) + "\n")
    result = cli("query", "--source", str(tmp_path / "a"), *PERIOD, "--format", "json",
                 "SELECT request_object, groups FROM audit_events")
    assert json.loads(result.out) == [{"request_object": {"kind": "Ingress", "metadata": {"name": "x"}},
                                       "groups": ["system:authenticated"]}]


def test_query_without_a_period_reads_the_last_complete_week(cli, archive):
    result = cli("query", "--source", str(archive), "--format", "csv", "SELECT count(*) AS n FROM objects")
    assert result.code == 0 and result.out.splitlines()[0] == "n"  # the sample's dates may lie outside it


def test_run_requires_a_period(cli, archive, tmp_path):
    result = cli("run", "--source", str(archive), "--out", str(tmp_path / "o"))
    assert result.code == 2 and "needs both --from and --to" in result.err
    assert not (tmp_path / "o").exists()


def test_json_log_has_a_line_per_stage_and_a_final_summary(cli, archive, tmp_path):
    result = cli("--log-format", "json", "run", "--source", str(archive), "--period", "last-week",
                 "--as-of", "2026-11-24", "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.err.splitlines() if line.strip()]  # every line is JSON
    stages = [r for r in records if r.get("event") == "stage"]
    assert [r["stage"] for r in stages] == ["fetch", "parse", "controls", "report"]
    parse = next(r for r in stages if r["stage"] == "parse")
    assert parse["records_read"] == 20 and parse["records_parsed"] == 20 and parse["seconds"] >= 0
    summary = records[-1]
    assert summary["event"] == "summary" and summary["exit_code"] == 0 and summary["period"] == "2026-W47"
    assert summary["complete"] is True and summary["report"] == str(tmp_path / "out")


def test_bad_log_format_is_exit_2(cli):
    result = cli("--log-format", "xml", "schema")
    assert result.code == 2 and "--log-format 'xml'" in _one_clean_line(result.err)


def test_an_internal_error_is_exit_70_not_1(cli, monkeypatch):
    """A bug must not read as "controls failed" (exit 1) to a scheduler."""
    import ingress_audit.summary

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ingress_audit.summary, "print_schema", broken)
    result = cli("schema")
    assert result.code == 70
    # the traceback is logged for the bug report; the last line says what happened
    assert result.err.strip().splitlines()[-1] == "ingress-audit: internal error: RuntimeError: boom"


def test_sigterm_exits_143_leaving_no_half_written_output(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingress_audit", "run", "--source", str(root / "sample_data" / "archive"), *PERIOD,
         "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # inside staging or the controls
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    written = sorted(p.name for p in (tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    assert not [n for n in written if n.startswith(".")], written  # no temporary files under final names


def test_csv_neutralizes_formulas_from_log_fields_but_not_numbers(cli, tmp_path):
    agents = ['=HYPERLINK(\\x22http://evil\\x22,\\x22x\\x22)', "@SUM(1)", "-2+3", "-5", "+1.5e3", "curl/8.1"]
    day = tmp_path / "formulas" / "2026" / "11" / "16"
    day.mkdir(parents=True)
    (day / "access.log").write_text("".join(
        nginx_line(i).replace(f'"curl/8.{i}"', f'"{ua}"').replace('"-"', '"=cmd|\' /C calc\'!A0"', 1) + "\n"
        for i, ua in enumerate(agents)))
    sql = ("SELECT user_agent, referer, status * -1 AS negative, chr(9) || '=1' AS tab, chr(13) || 'x' AS cr "
           "FROM http_requests ORDER BY line")
    result = cli("query", "--source", str(tmp_path / "formulas"), *PERIOD, "--format", "csv", sql)
    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert [r[0] for r in rows[1:]] == ["'" + agents[0], "'@SUM(1)", "'-2+3", "-5", "+1.5e3",
                                        "curl/8.1"]
    assert {r[1] for r in rows[1:]} == {"'=cmd|' /C calc'!A0"}
    assert {(r[2], r[3], r[4]) for r in rows[1:]} == {("-200", "'\t=1", "'\rx")}
