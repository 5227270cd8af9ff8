"""Distributed scripts: `--nproc-per-node` launches a DDP script as torchrun does, checks rank 0, and leaves no
process behind; without it, the crash names the option."""

from __future__ import annotations

import re
import time

import pytest

from conftest import ROOT, process_alive, run_cli

#: These tests are about processes: their checks start fresh children, as a check does by default.
pytestmark = pytest.mark.cold

SCRIPT = ROOT / "tests" / "scripts" / "distributed" / "ddp_ranks.py"


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 10  # the group's SIGKILL may take a moment to land
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(process_alive(pid) for pid in pids)


@pytest.mark.slow
def test_a_ddp_script_is_checked_on_two_cpu_ranks_and_leaves_no_process() -> None:
    run = run_cli("check", str(SCRIPT), "--nproc-per-node", "2", "--format", "json")
    assert run.code == 1, run.stderr[-3000:]
    # the ranks write to one stream at once: a line of one may run into another's (print writes its end apart)
    printed = re.findall(r"rank (\d+) pid (\d+) of (\d+)", run.stderr)
    ranks = {int(rank): int(pid) for rank, pid, _ in printed}
    assert sorted(ranks) == [0, 1] and {world for *_, world in printed} == {"2"}  # both ranks, in a world of 2
    assert _gone(list(ranks.values())), "a rank outlived the check"
    report = run.report
    assert report is not None and report["status"] == "ok"
    assert [f["code"] for f in report["findings"] if f["severity"] != "info"] == ["FD201"]
    (note,) = [n for n in report["training"]["notes"] if n.startswith("distributed:")]
    assert "2 processes" in note and "rank 0" in note
    (others,) = [n for n in report["training"]["notes"] if n.startswith("other ranks:")]
    steps = report["training"]["steps_captured"]
    assert others.startswith(f"other ranks: rank 1: {steps} steps, its loss ")  # stopped at rank 0's step
    assert report["setup"]["model"]["class"] == "Sequential"  # unwrapped from DistributedDataParallel


@pytest.mark.slow
def test_a_ddp_script_run_without_a_launcher_is_told_the_option() -> None:
    run = run_cli("check", str(SCRIPT), "--format", "json")
    assert run.code == 2 and run.report is not None
    (finding,) = run.report["findings"]
    assert finding["code"] == "FD901"
    assert f"fitdoctor check --nproc-per-node 2 {SCRIPT}" in finding["message"]
