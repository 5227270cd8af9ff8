"""Cost of a check: wall time per example script, per-step overhead of the capture hooks, memory, scaling.

* ``examples``: for every example script, the wall time and peak memory of ``fitdoctor check`` (default
  options) against the same script run on its own for the same number of optimizer steps
  (``bench/capped.py``); several repetitions, alternating, medians.
* ``overhead``: in one process, the per-step time of a training loop with fitdoctor's Recorder installed
  (the hooks ``fitdoctor check`` runs the user's script under) against the same loop without it, for a
  small MLP, a deep MLP, a CNN and transformer stacks of growing size.
* ``scaling``: ``fitdoctor.check`` in a fresh process per configuration, for growing dataset sizes and
  growing model sizes: wall time and peak RSS, against a plain loop of the same steps in a fresh process.

Peak memory is ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a small middleman process that runs the measured
command: the peak resident set of the largest process in the command's tree (for ``fitdoctor check``, the
child that runs the script and the analysis; the CLI parent only waits).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
ENV1 = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}


#: Runs the command and reports its wall time and RUSAGE_CHILDREN peak RSS on stderr. A small middleman is
#: needed: a child forked straight from this (large) process would report this process's peak as its own,
#: because Linux carries the pre-exec memory high-water mark over into the child's ru_maxrss.
_WRAP = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "wall = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write('\\n@@measure ' + json.dumps({'wall_s': wall, 'rss_kib': rss, 'rc': rc}) + '\\n')\n"
)


def measure(
    cmd: list[str], cwd: Path | str = REPO, env: dict[str, str] | None = None, timeout: float = 300
) -> dict[str, Any]:
    """Run ``cmd``; its wall time, peak RSS (MiB, largest process of its tree), exit code and stdout."""
    proc = subprocess.run(
        [PY, "-c", _WRAP, *cmd], cwd=cwd, env=env or ENV1, capture_output=True, text=True, timeout=timeout
    )
    marker = proc.stderr.rsplit("@@measure ", 1)
    if len(marker) != 2:
        return {"wall_s": math.nan, "rss_mib": math.nan, "rc": proc.returncode, "stdout": proc.stdout}
    data = json.loads(marker[1])
    return {"wall_s": data["wall_s"], "rss_mib": data["rss_kib"] / 1024, "rc": data["rc"], "stdout": proc.stdout}


# ----------------------------------------------------------------------------------------------- examples
def example_scripts() -> list[Path]:
    """One script per example folder: broken.py, or the first script where there is none."""
    out = []
    for folder in sorted((REPO / "examples").iterdir()):
        if not folder.is_dir():
            continue
        scripts = sorted(folder.glob("*.py"))
        broken = folder / "broken.py"
        if broken.exists() or scripts:
            out.append(broken if broken.exists() else scripts[0])
    return out


def realistic_scripts() -> list[Path]:
    """The heavier scripts of ``bench/realistic`` (an MLP, a CNN, a GRU, an LSTM, a Transformer), as people
    write them: full runs of 5-20 s on one thread."""
    return sorted((REPO / "bench" / "realistic").glob("*.py"))


#: The phases of the report's ``timings`` the tables break the check into.
PHASES = (
    "start_s", "capture_s", "plan_s", "probes_s", "baseline_s", "lr_range_s", "overfit_s", "control_s", "confirm_s"
)


def examples(
    reps: int = 3, deadline: float = math.inf, progress: bool = True, scripts: list[Path] | None = None
) -> list[dict[str, Any]]:
    """Check time vs the script's whole plain run and vs its plain run capped at the captured steps, with the
    check's phases and peak memory, for every example (or for ``scripts``).

    Repetitions go round-robin over the scripts (so drift in the machine's load hits every script alike); a
    further round starts only while the previous round's duration still fits before ``deadline`` (a
    ``time.perf_counter()`` value). At least one round always runs.
    """
    scripts = scripts if scripts is not None else example_scripts()
    info: dict[Path, dict[str, Any]] = {s: {"script": str(s.relative_to(REPO))} for s in scripts}
    checks: dict[Path, list[dict[str, Any]]] = {s: [] for s in scripts}
    plains: dict[Path, list[dict[str, Any]]] = {s: [] for s in scripts}
    fulls: dict[Path, list[dict[str, Any]]] = {s: [] for s in scripts}
    for rep in range(reps):
        round_started = time.perf_counter()
        for script in scripts:
            row = info[script]
            if row.get("status", "ok") != "ok":
                continue
            check = measure(
                [PY, "-m", "fitdoctor", "check", row["script"], "--format", "json", "--quiet", "--exit-zero"]
            )
            try:
                report = json.loads(check["stdout"])
            except json.JSONDecodeError:
                row["status"] = "error"
                continue
            row["status"] = report["status"]
            if report["status"] != "ok":
                continue
            row["steps"] = int(report["training"].get("steps_captured", 0))
            row["replay_steps"] = int(report["training"].get("replay", {}).get("steps", 0))
            row["findings"] = [f"{f['code']}" for f in report["findings"] if f["severity"] != "info"]
            row.setdefault("timings", []).append(report["timings"])
            checks[script].append(check)
            plain = measure([PY, str(REPO / "bench" / "capped.py"), str(row["steps"]), str(script)])
            plains[script].append(plain)
            full = measure([PY, str(script)], cwd=script.parent)
            fulls[script].append(full)
            if rep == 0 and progress:
                print(
                    f"  cost: {row['script']} check {check['wall_s']:.1f} s, capped {plain['wall_s']:.1f} s, "
                    f"full {full['wall_s']:.1f} s",
                    flush=True,
                )
        took = time.perf_counter() - round_started
        if rep + 1 < reps and time.perf_counter() + took > deadline:
            if progress:
                print(f"  cost: stopping after {rep + 1} round(s): another takes {took:.0f} s", flush=True)
            break
    rows = []
    for script in scripts:
        row = info[script]
        if checks[script]:
            row["check_s"] = statistics.median(c["wall_s"] for c in checks[script])
            row["plain_s"] = statistics.median(p["wall_s"] for p in plains[script])
            row["full_s"] = statistics.median(p["wall_s"] for p in fulls[script])
            row["check_rss"] = statistics.median(c["rss_mib"] for c in checks[script])
            row["plain_rss"] = statistics.median(p["rss_mib"] for p in plains[script])
            row["ratio"] = row["check_s"] / row["plain_s"]
            row["ratio_full"] = row["check_s"] / row["full_s"]
            row["reps"] = len(checks[script])
            for phase in (*PHASES, "probe_s"):
                row[phase] = statistics.median(t.get(phase, 0.0) for t in row["timings"])
        row.pop("timings", None)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------- overhead
def _models() -> list[tuple[str, Any, Any]]:
    """(name, model factory, batch factory) for the overhead measurement, smallest first. For a name that
    says ``DataLoader``, the batch factory called with ``None`` returns a function that draws each step's batch
    from one, and the loss is written by hand: the capture's loss tape sees every torch call outside the model."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    def mlp_batch(seed: int) -> tuple[Any, Any]:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(64, 16, generator=g), torch.randn(64, 1, generator=g)

    def cnn_batch(seed: int) -> tuple[Any, Any]:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(32, 3, 32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)

    def small() -> nn.Module:
        return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def deep() -> nn.Module:
        layers: list[nn.Module] = [nn.Linear(16, 256), nn.ReLU()]
        for _ in range(19):
            layers += [nn.Linear(256, 256), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(256, 1))

    def cnn() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(128 * 16, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )

    class Transformer(nn.Module):
        def __init__(self, d: int, layers: int, vocab: int = 1000) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            block = nn.TransformerEncoderLayer(d, max(1, d // 64), 4 * d, dropout=0.0, batch_first=True)
            self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
            self.out = nn.Linear(d, vocab)

        def forward(self, tokens: Any) -> Any:
            return self.out(self.blocks(self.embed(tokens))).flatten(0, 1)

    def tokens(seed: int) -> tuple[Any, Any]:
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 1000, (4, 64), generator=g), torch.randint(0, 1000, (4 * 64,), generator=g)

    def loader(seed: int | None) -> Any:
        # a hundred batches of 64 drawn by a shuffling DataLoader, as most scripts feed their loop
        assert seed is None
        g = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.randn(6400, 16, generator=g), torch.randn(6400, 1, generator=g))
        batches = iter(())

        def draw() -> tuple[Any, Any]:
            nonlocal batches
            try:
                return next(batches)
            except StopIteration:
                batches = iter(DataLoader(data, batch_size=64, shuffle=True))
                return next(batches)

        return draw

    out: list[tuple[str, Any, Any]] = [
        ("MLP 16-64-64-1, batch 64", small, mlp_batch),
        ("MLP 16-64-64-1 fed by a DataLoader, batch 64, squared error by hand", small, loader),
        ("deep MLP, 20x256 ReLU, batch 64", deep, mlp_batch),
        ("CNN 3 conv blocks, 3x32x32, batch 32", cnn, cnn_batch),
    ]
    for d, n in ((128, 2), (256, 4), (512, 6), (768, 14)):  # the last: ~101M parameters
        out.append((f"transformer d={d}, {n} blocks, 4x64 tokens", lambda d=d, n=n: Transformer(d, n), tokens))
    return out


def overhead(max_seconds: float = 150.0, progress: bool = True) -> list[dict[str, Any]]:
    """Per-step time with the Recorder installed vs without, alternating blocks in this one process."""
    import torch

    rows = []
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as fitdoctor check runs scripts; also less exposed to other load
    try:
        for name, make_model, make_batch in _models():
            rows.append(_overhead_one(name, make_model, make_batch, started, max_seconds, progress))
    finally:
        torch.set_num_threads(threads)
    return rows


def _overhead_one(
    name: str, make_model: Any, make_batch: Any, started: float, max_seconds: float, progress: bool
) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from fitdoctor.capture.budget import CaptureBudget
    from fitdoctor.capture.recorder import Recorder
    from fitdoctor.capture.userframes import UserFiles

    torch.manual_seed(0)
    model = make_model()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    draw = make_batch(None) if "DataLoader" in name else None
    pool = [make_batch(i) for i in range(8)] if draw is None else [draw()]
    loss_fn: Any = F.cross_entropy if pool[0][1].dtype == torch.int64 else F.mse_loss
    if draw is not None:
        loss_fn = lambda out, y: ((out - y) ** 2).mean()  # noqa: E731 - the loss as scripts write it by hand
    step_no = 0

    def steps(k: int) -> float:
        nonlocal step_no
        t = time.perf_counter()
        for _ in range(k):
            x, y = pool[step_no % len(pool)] if draw is None else draw()
            step_no += 1
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return (time.perf_counter() - t) / k

    steps(2)
    one = steps(1)
    k = int(min(200, max(3, math.ceil(0.7 / one))))
    blocks = 5 if one < 0.2 else 3
    if time.perf_counter() - started + one * (3 + 2 * blocks * (k + 1)) * 1.2 > max_seconds:
        return {"model": name, "params": params, "skipped": f"one step takes {one:.2f} s: over the budget"}
    plain, captured, first = [], [], []
    for block in range(blocks):
        if block % 2:  # alternate which loop goes first, so drift hits both alike
            plain.append(steps(k))
        recorder = Recorder(UserFiles(None), CaptureBudget(10**9))
        recorder.install()
        try:
            first.append(steps(1))  # the first captured step clones the initial weights
            captured.append(steps(k))
        finally:
            recorder.uninstall()
        if not block % 2:
            plain.append(steps(k))
    row = {
        "model": name,
        "params": params,
        "steps": k,
        "blocks": blocks,
        "plain_ms": 1000 * statistics.median(plain),
        "captured_ms": 1000 * statistics.median(captured),
        "first_ms": 1000 * statistics.median(first),
    }
    row["ratio"] = row["captured_ms"] / row["plain_ms"]
    if progress:
        print(f"  overhead: {name}: {row['plain_ms']:.2f} ms -> {row['captured_ms']:.2f} ms", flush=True)
    return row


# ----------------------------------------------------------------------------------------------- scaling
def _scale_setup(rows: int, width: int) -> tuple[Any, Any, Any]:
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 16, generator=g)
    y = (torch.sin(x[:, 0]) + x[:, 1] * x[:, 2]).view(-1, 1)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(16, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 1),
    )
    return model, x, y


def scale_child(mode: str, rows: int, width: int, steps: int) -> None:
    """In a fresh process: one check (or the plain loop) of the scaling MLP; prints JSON timings."""
    import torch

    import fitdoctor

    model, x, y = _scale_setup(rows, width)
    started = time.perf_counter()
    if mode == "check":
        report = fitdoctor.check(model, (x, y), loss="mse", optimizer=torch.optim.Adam, steps=steps, batch_size=64)
        extra = {"findings": [f.code for f in report.findings if f.severity != "info"], "timings": report.timings}
    else:
        opt = torch.optim.Adam(model.parameters())
        for i in range(steps):
            s = (i * 64) % rows
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x[s : s + 64]), y[s : s + 64]).backward()
            opt.step()
        extra = {}
    print(
        json.dumps(
            {"seconds": time.perf_counter() - started, "params": sum(p.numel() for p in model.parameters()), **extra}
        )
    )


def scaling(steps: int = 100, progress: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Check time and peak memory as the dataset and the model grow (fresh process per configuration)."""
    series = {
        "rows": [(n, 64) for n in (1_000, 10_000, 100_000, 1_000_000)],
        "width": [(10_000, w) for w in (64, 256, 1024)],
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for key, configs in series.items():
        rows = []
        for n, w in configs:
            row: dict[str, Any] = {"rows": n, "width": w}
            for mode in ("check", "plain"):
                m = measure([PY, "-m", "bench.cost", "child", mode, str(n), str(w), str(steps)], env=ENV1)
                try:
                    data = json.loads(m["stdout"].strip().splitlines()[-1])
                except (json.JSONDecodeError, IndexError):
                    data = {"seconds": math.nan, "params": math.nan}
                row[f"{mode}_wall"] = m["wall_s"]
                row[f"{mode}_s"] = data["seconds"]
                row[f"{mode}_rss"] = m["rss_mib"]
                row["params"] = data["params"]
                if mode == "check":
                    row["findings"] = data.get("findings", [])
            rows.append(row)
            if progress:
                print(
                    f"  scaling: rows={n} width={w}: check {row['check_s']:.1f} s {row['check_rss']:.0f} MiB, "
                    f"plain {row['plain_s']:.1f} s {row['plain_rss']:.0f} MiB",
                    flush=True,
                )
        out[key] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    child = sub.add_parser("child")
    child.add_argument("mode", choices=["check", "plain"])
    child.add_argument("rows", type=int)
    child.add_argument("width", type=int)
    child.add_argument("steps", type=int)
    sub.add_parser("overhead")
    sub.add_parser("scaling")
    ex = sub.add_parser("examples")
    ex.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if args.what == "child":
        scale_child(args.mode, args.rows, args.width, args.steps)
    elif args.what == "overhead":
        print(json.dumps(overhead(), indent=1))
    elif args.what == "scaling":
        print(json.dumps(scaling(), indent=1))
    else:
        print(json.dumps(examples(args.reps), indent=1))


if __name__ == "__main__":
    main()
