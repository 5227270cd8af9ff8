"""The wheel ships the rule catalog, and fitdoctor finds it there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_and_loads_the_catalog(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("fitdoctor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.rsplit("/", 1)[-1] for n in names if n.startswith("fitdoctor/catalog/") and n.endswith(".toml")}
    assert shipped == {p.name for p in (ROOT / "rules").glob("*.toml")}
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = (
        "import json, fitdoctor.catalog as c; "
        "print(json.dumps({'file': c.__file__, 'dir': str(c.catalog_dir()), 'codes': sorted(c.load_catalog())}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout)
    assert found["file"].startswith(str(site)), "the wheel's package, not the editable install, was imported"
    assert found["dir"] == str(site / "fitdoctor" / "catalog")
    assert len(found["codes"]) == len(shipped)


def test_editable_install_reads_the_repository_catalog() -> None:
    from fitdoctor.catalog import catalog_dir

    assert catalog_dir() == ROOT / "rules"


@pytest.mark.slow
def test_pre_commit_entry_checks_each_file() -> None:
    from fitdoctor.precommit import main

    scripts = ROOT / "tests" / "scripts"
    assert main([str(scripts / "full_batch.py"), "--steps=20", "--replay-steps=40", "--quiet", "--format=concise"]) == 0
    assert main([str(scripts / "full_batch.py"), str(scripts / "no_step.py"), "--quiet", "--format=concise"]) == 2


def test_pre_commit_hook_definition() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: fitdoctor" in text and "entry: fitdoctor-pre-commit" in text
