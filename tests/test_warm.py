"""The warm start (:mod:`fitdoctor.capture.warm`): a check whose child is forked from the zygote reports what
a fresh child reports, the child dies with the check that asked for it, and a zygote started with another
start-up environment is not used."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, process_alive, start_hanging_check
from fitdoctor.capture import runner
from fitdoctor.capture.runner import CheckOptions, run_check
from fitdoctor.capture.warm import ENV, WarmChild, Zygote


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _verdicts(report: Any) -> dict[str, Any]:
    """What a check concluded and from what it concluded it (not its numbers: the analysis plans its effort
    from measured step times, so a loaded machine may replay a different number of steps)."""
    data = report.to_dict()
    findings = [
        (
            f["code"],
            f["severity"],
            f["confidence"],
            (f.get("fix") or {}).get("id"),
            (f.get("fix") or {}).get("verified"),
        )
        for f in data["findings"]
    ]
    training = data["training"]
    seen = {k: training[k] for k in ("steps_captured", "user_loss", "batches_kept", "stop_reason")}
    return {"status": data["status"], "setup": data["setup"], "findings": findings, "training": seen}


@pytest.mark.slow
def test_a_forked_child_reports_exactly_what_a_fresh_child_reports(
    warm_start: Zygote | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if warm_start is None:
        pytest.skip("FITDOCTOR_COLD_TESTS: no zygote")
    started: list[type] = []
    original = runner.start_child

    def spy(*args: Any) -> Any:
        child = original(*args)
        started.append(type(child))
        return child

    monkeypatch.setattr(runner, "start_child", spy)
    # set by importing torch._dynamo (as this test process may have): not a start-up variable
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", os.environ.get("TORCHINDUCTOR_CACHE_DIR", "/tmp/inductor"))
    script = str(EXAMPLES / "unscaled_targets" / "broken.py")
    options = CheckOptions(steps=60, replay_steps=120, quiet=True)
    warm = run_check(script, options)
    monkeypatch.delenv(ENV)
    cold = run_check(script, options)
    assert started == [WarmChild, subprocess.Popen]
    assert warm.status == "ok" and [f.code for f in warm.findings] == ["FD102", "FD204", "FD601"]
    assert _verdicts(warm) == _verdicts(cold)


@pytest.mark.slow
def test_a_forked_child_dies_with_the_check_even_when_the_check_is_killed(
    warm_start: Zygote | None, tmp_path: Path
) -> None:
    if warm_start is None:
        pytest.skip("FITDOCTOR_COLD_TESTS: no zygote")
    # a check killed by SIGKILL can't remove its temporary folder: it goes in pytest's, not /tmp
    proc, child = start_hanging_check("--time-budget", "60", env={**os.environ, "TMPDIR": str(tmp_path)})
    assert _parent(child) == warm_start.pid  # forked by the zygote
    proc.kill()  # SIGKILL: the check can't clean up; the zygote sees its connection close
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30  # a bound on waiting, not a performance assertion
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not process_alive(child), "the script kept running after its check was killed"
    assert process_alive(warm_start.pid)  # the zygote serves the next check


@pytest.mark.slow
def test_a_check_whose_child_starts_differently_starts_a_fresh_one(warm_start: Zygote | None) -> None:
    if warm_start is None:
        pytest.skip("FITDOCTOR_COLD_TESTS: no zygote")
    # --seed 7 makes PYTHONHASHSEED 7, which a fork of the zygote (started with 0) can't have
    assert os.environ.get("PYTHONHASHSEED", "0") == "0"
    proc, child = start_hanging_check("--time-budget", "60", "--seed", "7")
    try:
        assert _parent(child) == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
