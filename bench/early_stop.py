"""The error rate of futility stopping (``fitdoctor.futility``), measured on full replays.

Runs every example (``broken.py`` and ``healthy.py``) and every faulty setup of the detection benchmark with
``FITDOCTOR_FULL_REPLAYS=1`` (every fix replayed to its last step, as before futility stopping), then applies the
stopping test to each fix's curve after the fact: a stop is *wrong* when the fix, run to the end, was verified.
Also counts the stopped fixes that ended at or under the baseline's final loss (behind at the stop step but not at
the end) and the replay seconds the stops save. The test is applied to every fix here; the check itself runs the
fixes of a suspect whose symptom showed to the end (their "made worse" decides whether it yields to another cause),
so these counts are an upper bound on what it stops. Not part of ``make bench`` (about 40 minutes):

    .venv/bin/python -m bench.early_stop [--jsonl runs.jsonl] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from bench import detection
from bench.generate import REPLAY_STEPS, STEPS, generate
from fitdoctor.confirm import MIN_IMPROVEMENT
from fitdoctor.futility import FULL_REPLAYS_ENV, MIN_FRACTION, NOISE_Z, Futility

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", FULL_REPLAYS_ENV: "1"}


def _kept(report: dict[str, Any]) -> dict[str, Any]:
    fixes = [
        x for f in report.get("findings", []) for x in [f.get("fix"), *(f.get("alternatives") or [])] if x is not None
    ]
    return {
        "status": report.get("status"),
        "replay": (report.get("training") or {}).get("replay"),
        "verified": {x["id"]: bool(x["verified"]) for x in fixes},
        "by_error_rate": sorted(x["id"] for x in fixes if x["verified"] and x.get("measure") == "error rate"),
        # per finding, its verified fixes: a finding whose verified fixes all stopped would lose its confirmation
        "groups": [
            [x["id"] for x in (f.get("fix"), *(f.get("alternatives") or [])) if x is not None and x["verified"]]
            for f in report.get("findings", [])
        ],
    }


def _cli(script: Path, args: list[str], cwd: Path | str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "fitdoctor", "check", str(script), "--format", "json", "--quiet", "--exit-zero", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env=ENV,
    )
    try:
        return dict(json.loads(proc.stdout))
    except json.JSONDecodeError:
        return {"status": "error"}


def _one(kind: str, item: Any) -> dict[str, Any]:
    if kind == "example":
        out = _kept(_cli(Path(item), [], ROOT))
        out["id"] = str(Path(item).relative_to(ROOT))
        return out
    if item["via"] == "cli":
        with tempfile.TemporaryDirectory(prefix="fitdoctor-bench-") as tmp:
            script = Path(tmp) / "train.py"
            script.write_text(detection.script_text(item))
            report = _cli(script, ["--steps", str(STEPS), "--replay-steps", str(REPLAY_STEPS), "--seed", "0"], tmp)
    else:
        os.environ[FULL_REPLAYS_ENV] = "1"  # a benchmark worker process of its own
        try:
            report = detection.check_setup(item, STEPS, REPLAY_STEPS).to_dict()
        except Exception:
            report = {"status": "error"}
    return {**_kept(report), "id": item["id"]}


def collect(path: Path) -> None:
    """Full-replay reports of the examples and the detection benchmark's faulty setups, one JSON line each."""
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*/*.py") if p.name in ("broken.py", "healthy.py"))
    items = [("example", e) for e in examples] + [("setup", c.spec) for c in generate() if c.label["expected"]]
    ctx = multiprocessing.get_context("spawn")
    with (
        path.open("w") as out,
        ProcessPoolExecutor(2, mp_context=ctx, initializer=detection._init_worker) as pool,
    ):
        futures = [pool.submit(_one, kind, item) for kind, item in items]
        for n, future in enumerate(as_completed(futures), 1):
            out.write(json.dumps(future.result()) + "\n")
            if n % 40 == 0 or n == len(items):
                print(f"  early stop: {n}/{len(items)} runs", flush=True)


def _curve(points: list[list[Any]]) -> list[tuple[int, float]]:
    return [(int(s), math.inf if v is None else float(v)) for s, v in points]


def score(path: Path) -> dict[str, Any]:
    """Apply the stopping test to every fix curve of the collected reports."""
    fixes = stopped = wrong = flips = by_errors = decisive = 0
    seconds = saved = 0.0
    wrongs: list[str] = []
    for line in path.read_text().splitlines():
        run = json.loads(line)
        replay = run.get("replay")
        if run.get("status") != "ok" or not replay:
            continue
        steps, base = int(replay["steps"]), replay["baseline"]
        final = math.inf if base["final"] is None else float(base["final"])
        rule = Futility.against(_curve(base["curve"]), final, steps, MIN_IMPROVEMENT)
        cut: set[str] = set()
        for fix_id, fix in replay.get("fixes", {}).items():
            fixes += 1
            seconds += fix["seconds"]
            curve = _curve(fix["curve"])
            at = next((curve[i][0] for i in range(1, len(curve)) if rule and rule.hopeless(curve[: i + 1])), None)
            if at is None:
                continue
            stopped += 1
            cut.add(fix_id)
            saved += fix["seconds"] * (steps - at) / steps
            if run["verified"].get(fix_id):
                wrong += 1
                by_errors += fix_id in run.get("by_error_rate", ())
                wrongs.append(f"{run['id']} {fix_id} (stopped at {at} of {steps})")
            if fix["final"] is not None and fix["final"] <= final:
                flips += 1
        decisive += sum(1 for group in run.get("groups", ()) if group and set(group) <= cut)
    return {
        "min_fraction": MIN_FRACTION,
        "noise_z": NOISE_Z,
        "fix_replays": fixes,
        "stopped": stopped,
        "wrong": wrong,
        "wrong_runs": wrongs,
        "wrong_by_error_rate": by_errors,
        "findings_unconfirmed": decisive,
        "worse_only_at_stop": flips,
        "replay_seconds": seconds,
        "saved_seconds": saved,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jsonl", type=Path, default=ROOT / "bench" / "results" / "early_stop.jsonl")
    parser.add_argument("--reuse", action="store_true", help="score the runs already collected in --jsonl")
    args = parser.parse_args()
    if not args.reuse:
        collect(args.jsonl)
    result = score(args.jsonl)
    args.jsonl.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    upper = 3 / result["stopped"] if result["stopped"] else math.nan  # the rule of three: 95 % bound for 0 events
    print(
        f"{result['stopped']} of {result['fix_replays']} fix replays stopped (from {MIN_FRACTION:.0%} of their "
        f"steps, {NOISE_Z:g} sigma), {result['wrong']} of them verified when run to the end"
        + (f" (95 % upper bound {upper:.1%})" if not result["wrong"] else "")
        + f" ({result['wrong_by_error_rate']} of those by their error rate, which the check also measures before it"
        " stops a classifier's replay: an upper bound)"
        + f"; findings left without a verified fix: {result['findings_unconfirmed']}"
        + f"; {result['worse_only_at_stop']} behind at the stop but not at the end; "
        f"{result['saved_seconds']:.0f} of {result['replay_seconds']:.0f} replay seconds saved"
    )
    for w in result["wrong_runs"]:
        print("  wrong:", w)


if __name__ == "__main__":
    main()
