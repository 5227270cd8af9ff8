"""The child process: run the user's script under the recorder, then analyse what it trained.

Started by :mod:`fitdoctor.capture.runner` as ``python -m fitdoctor.capture.child JOB.json``. The
user's output goes to this process's stdout, which the parent points at its own stderr. The result
(a report as JSON) is written to the file named in the job; nothing else crosses back.
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import sys
import time
import traceback
import warnings
from typing import Any

from fitdoctor.capture.userframes import UserFiles


def _write(path: str, payload: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, allow_nan=False, default=_json_default)
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float):
        return None
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _clean(obj: Any) -> Any:
    """NaN and Inf become None so the JSON stays standard."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Capture and analyse one script; returns the report as a dict."""
    # Imported here so that a broken torch install is reported as our error, not a crash at start.
    import torch

    from fitdoctor.analysis import analyse, meta_report
    from fitdoctor.capture.recorder import Recorder, StopCapture, unwrap_model
    from fitdoctor.evidence import Locator
    from fitdoctor.training import LossSpec, TrainingSetup

    script = job["script"]
    display = job["display"]
    user_files = UserFiles(script)
    recorder = Recorder(user_files, job["steps"], job["time_budget"])
    os.chdir(os.path.dirname(script))
    sys.path.insert(0, os.path.dirname(script))
    sys.argv = [script, *job["args"]]
    torch.manual_seed(job["seed"])
    if not os.environ.get("OMP_NUM_THREADS"):
        # Small training scripts run far faster on one intra-op thread on small machines (measured
        # 18.8 s -> 3.8 s on a 2-core machine); a script that sets its own thread count still wins.
        torch.set_num_threads(1)
    crash: BaseException | None = None
    exit_code: Any = None
    started = time.perf_counter()
    stdout, stderr = sys.stdout, sys.stderr
    recorder.install()
    try:
        with warnings.catch_warnings():
            runpy.run_path(script, run_name="__main__")
    except StopCapture:
        pass
    except SystemExit as exc:
        exit_code = exc.code
    except BaseException as exc:  # the user's error, reported with the user's traceback
        if not recorder.stopped:
            crash = exc
    finally:
        recorder.uninstall()
        sys.stdout, sys.stderr = stdout, stderr
        gc.collect()
    recorder.finish()
    capture_s = time.perf_counter() - started
    timings = {"capture_s": capture_s}
    if crash is not None:
        tb = user_files.format_traceback(crash)
        message = f"{display} raised {type(crash).__name__}: {crash}"
        if recorder.steps:
            message += f" after {recorder.steps} training steps"
        return meta_report(
            display, "crashed", "FD901", message, {"traceback": tb, "steps": recorder.steps}, timings=timings
        ).to_dict()
    if recorder.optimizer is None and recorder.backward_total:
        message = (
            f"{display} computes gradients ({recorder.backward_total} backward calls) but never calls step() on a "
            "torch.optim optimizer: it updates the weights by hand (e.g. `p.data -= lr * p.grad`). fitdoctor "
            "needs a torch.optim optimizer to replay the training; `torch.optim.SGD(model.parameters(), lr=lr)` "
            "with zero_grad()/step() does the same update"
        )
        return meta_report(
            display, "unsupported", "FD903", message, {"backward_calls": recorder.backward_total}, timings=timings
        ).to_dict()
    if recorder.optimizer is None or recorder.steps == 0:
        why = (
            "it never called optimizer.step() on a torch.optim optimizer"
            if recorder.optimizer is None
            else "no optimizer step completed"
        )
        if exit_code not in (None, 0):
            why += f" (the script exited with sys.exit({exit_code!r}))"
        message = (
            f"{display} finished without a training step that fitdoctor could watch: {why}. fitdoctor "
            "needs a loop that calls the model, a loss, backward() and optimizer.step() within the time "
            f"budget ({job['time_budget']:g} s)"
        )
        return meta_report(display, "no-step", "FD902", message, {"steps": recorder.steps}, timings=timings).to_dict()
    unsupported = _unsupported(recorder)
    if unsupported:
        message = f"{display}: {unsupported}"
        return meta_report(
            display, "unsupported", "FD903", message, {"steps": recorder.steps}, timings=timings
        ).to_dict()
    assert recorder.model is not None and recorder.loss is not None and recorder.initial_state is not None
    model = unwrap_model(recorder.model)
    names = {m: n for n, m in model.named_modules()}
    module_sites = {names[m]: s for m, s in list(recorder.module_sites.items()) if m in names}
    model_sites = recorder.module_sites.get(model) or []
    model_site = next((s for s in model_sites if s.function != "__init__"), model_sites[0] if model_sites else None)
    locate = Locator(
        display_root=job["cwd"],
        module_sites=module_sites,
        model=model_site,
        optimizer=recorder.optimizer_site,
        loss=recorder.loss.site,
        model_call=recorder.model_call_site,
        init_sites=recorder.init_sites,
    )
    setup = TrainingSetup(
        model=model,
        initial_state=recorder.initial_state,
        optimizer_cls=type(recorder.optimizer),
        optimizer_groups=recorder.optimizer_groups,
        loss=LossSpec(recorder.loss.name, recorder.loss.kwargs, recorder.loss.transform),
        batches=recorder.batches,
        user_losses=recorder.user_losses,
        seed=job["seed"],
        zero_grad=recorder.stale_steps <= 0.5 * recorder.single_backward_steps,
        accumulation=_accumulation(recorder.backward_calls),
        loss_scale=_median(recorder.loss_scales, 1.0),
    )
    notes = []
    if recorder.other_optimizers:
        notes.append(f"other optimizers seen and not checked: {', '.join(recorder.other_optimizers)}")
    if recorder.batches_dropped:
        notes.append(f"kept the first {len(recorder.batches)} batches; {recorder.batches_dropped} more were not stored")
    replay_steps = job["replay_steps"] or max(2 * recorder.steps, 200)
    report = analyse(
        setup,
        locate,
        script=display,
        replay_steps=replay_steps,
        training=recorder.training_summary(),
        is_user=user_files.is_user,
        notes=notes,
        timings=timings,
    )
    return report.to_dict()


def _unsupported(recorder: Any) -> str | None:
    if recorder.loss is None and recorder.loss_in_model is not None:
        site = recorder.loss_in_model
        return (
            f"the loss is computed inside the model's forward ({os.path.basename(site.path)}:{site.line}), so "
            "fitdoctor can't separate the prediction from the loss to replay them; return the prediction "
            "from forward() and compute the loss in the training loop"
        )
    if recorder.model is None:
        return (
            "the optimizer's parameters belong to no module that was called during training, so the "
            "model could not be identified"
        )
    if recorder.loss is None:
        if recorder.hand_written_loss or recorder.user_losses:
            return (
                "the loss is computed by hand (not with a torch.nn.functional / torch.nn loss), so its "
                "targets can't be recovered for a replay; use a torch.nn loss such as nn.MSELoss"
            )
        return "no loss call could be tied to the model's output"
    if recorder.loss.transform == "other":
        ops = ", ".join(recorder.loss.transform_ops[:4])
        return (
            f"the loss is computed on a transformation of the model output ({ops}) that fitdoctor can't "
            "replay yet; pass the model output (or a reshape of it) to the loss directly"
        )
    if not recorder.batches:
        return "no (input, target) batch could be captured"
    return None


def _median(values: list[float], default: float) -> float:
    finite = sorted(v for v in values if v == v and abs(v) != float("inf"))
    return finite[len(finite) // 2] if finite else default


def _accumulation(backward_calls: list[int]) -> int:
    """Backward calls per optimizer step in the user's loop (1 without gradient accumulation)."""
    counts = sorted(c for c in backward_calls if c > 0)
    return max(1, counts[len(counts) // 2]) if counts else 1


def main() -> None:
    """Entry point of the child process."""
    job_path = sys.argv[1]
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    try:
        result = run_job(job)
    except BaseException as exc:  # our own failure: reported by the parent as an internal error
        result = {"internal_error": "".join(traceback.format_exception(exc))}
    _write(job["result"], _clean(result))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: user threads or atexit handlers must not hold the check hostage.
    os._exit(0)


if __name__ == "__main__":
    main()
