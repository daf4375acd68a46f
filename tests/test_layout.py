"""The project's layout promises: resources found, every column documented, controls named by id."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from ingress_audit import schema
from ingress_audit.controls import load_controls
from ingress_audit.frameworks import load_frameworks
from ingress_audit.resources import queries_dir, templates_dir

ROOT = Path(__file__).resolve().parents[1]


def test_resources_are_found_from_the_checkout():
    assert (queries_dir() / "normalize" / "ingress_nginx.sql").is_file()
    assert templates_dir().is_dir()


def test_readme_documents_every_column_of_every_table():
    readme = (ROOT / "README.md").read_text()
    for table in schema.TABLES:
        assert f"`{table.name}`" in readme, table.name
        for column in table.column_names():
            assert re.search(rf"(^\| {re.escape(column)} \|)|(\b{re.escape(column)}\b)", readme, re.M), (table.name, column)


def test_control_ids_equal_file_names_and_every_control_is_mapped():
    controls = load_controls()
    assert controls
    for control in controls:
        assert control.path.stem == control.id
        data = yaml.safe_load(control.path.with_suffix(".yaml").read_text())
        assert data["id"] == control.path.stem
        assert control.frameworks, f"{control.id} is not mapped to any framework requirement"


def test_every_mapped_control_exists():
    ids = {c.id for c in load_controls()}
    for req in load_frameworks():
        missing = set(req.controls) - ids
        assert not missing, f"{req.ref} maps unknown controls {missing}"


@pytest.mark.slow
def test_a_wheel_carries_the_sql_and_templates_and_finds_them(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("ingress_audit-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    assert "ingress_audit/queries/normalize/ingress_nginx.sql" in names
    assert any(n.startswith("ingress_audit/report_templates/") for n in names)
    found = subprocess.run(
        [sys.executable, "-c", "from ingress_audit.resources import queries_dir; print(queries_dir())"],
        cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert found == str(tmp_path / "site" / "ingress_audit" / "queries")


def test_readme_lists_every_control():
    readme = (ROOT / "README.md").read_text()
    for control in load_controls():
        assert f"| {control.id} | {control.meta.category} | {control.meta.severity} | {control.meta.title} |" in readme, control.id
