"""Capture through the real CLI on every loop style, plus the crash and no-step paths."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import SCRIPTS, run_cli

LOOP_STYLES = [
    "per_sample",
    "full_batch",
    "dataloader_workers",
    "main_guard",
    "plt_show",
    "try_except",
    "classification",
    "relative_data",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", LOOP_STYLES)
def test_loop_style_is_captured(name: str) -> None:
    run = run_cli("check", str(SCRIPTS / f"{name}.py"), "--steps", "50", "--format", "json")
    assert run.code == 0, run.stderr[-3000:]
    report = run.report
    assert report is not None and report["status"] == "ok"
    training = report["training"]
    assert training["steps_captured"] == 50
    assert len(training["user_loss"]) == 50
    assert training["batches_kept"] >= 1
    setup = report["setup"]
    assert setup["model"]["parameters"] > 0
    assert setup["optimizer"]["class"] in ("Adam", "SGD")
    assert setup["loss"]["name"] in ("mse_loss", "cross_entropy")
    # Locations point into the user's script, at real lines.
    for key in ("model", "optimizer", "loss"):
        loc = setup[key]["location"]
        assert loc is not None and loc["path"].endswith(f"{name}.py"), (key, loc)
        assert loc["source"], (key, loc)
    assert "optim" in setup["optimizer"]["location"]["source"]
    # The user's own prints went to stderr; stdout holds exactly the JSON.
    assert run.stdout.lstrip().startswith("{") and run.stdout.rstrip().endswith("}")


@pytest.mark.slow
def test_script_arguments_after_double_dash() -> None:
    run = run_cli(
        "check",
        str(SCRIPTS / "main_guard.py"),
        "--steps",
        "20",
        "--format",
        "json",
        "--",
        "--epochs",
        "5",
        "--lr",
        "0.1",
    )
    assert run.code == 0, run.stderr[-2000:]
    assert "epochs=5 lr=0.1" in run.stderr
    assert run.report is not None
    # 5 epochs of one step each: the script finished before the budget.
    assert run.report["training"]["steps_captured"] == 5
    assert run.report["setup"]["optimizer"]["hyperparameters"]["lr"] == pytest.approx(0.1)


@pytest.mark.slow
def test_crash_in_training_shows_the_users_traceback() -> None:
    run = run_cli("check", str(SCRIPTS / "crash_in_training.py"), "--format", "json")
    assert run.code == 2
    assert run.report is not None and run.report["status"] == "crashed"
    (finding,) = run.report["findings"]
    assert finding["code"] == "FD901" and finding["severity"] == "error"
    tb = run.report["error"]["traceback"]
    assert "load_batch" in tb and "corrupt batch 4" in tb
    # the script's own path may hold "fitdoctor" (a checkout of that name): no other frame may
    outside = tb.replace(str(SCRIPTS), "<scripts>")
    assert "fitdoctor" not in outside and "runpy" not in outside
    assert run.report["error"]["steps"] == 3


@pytest.mark.slow
def test_crash_before_training_full_format() -> None:
    run = run_cli("check", str(SCRIPTS / "crash_before_training.py"))
    assert run.code == 2
    assert "FD901" in run.stdout and "FileNotFoundError" in run.stdout
    assert "load_csv" in run.stdout
    assert "Traceback" not in run.stderr  # no traceback of ours


@pytest.mark.slow
def test_script_without_optimizer_step() -> None:
    run = run_cli("check", str(SCRIPTS / "no_step.py"), "--format", "json")
    assert run.code == 2
    assert run.report is not None and run.report["status"] == "no-step"
    assert [f["code"] for f in run.report["findings"]] == ["FD902"]
    assert "optimizer.step()" in run.report["findings"][0]["message"]


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing.py", "no such file"), (".", "is a directory"), ("README.md", "not a Python script")],
)
def test_bad_script_argument_is_a_usage_error(target: str, message: str) -> None:
    run = run_cli("check", target)
    assert run.code == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_users_files_are_not_modified() -> None:
    folder = SCRIPTS / "pkg_user"
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    run = run_cli("check", str(folder / "train_with_module.py"), "--steps", "30", "--format", "json")
    assert run.code == 0, run.stderr[-2000:]
    after = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert after == before
    # The model is created in the sibling module, which is the user's code too.
    assert run.report is not None
    location = run.report["setup"]["model"]["location"]
    assert location["path"].endswith("model_def.py") and "nn.Sequential" in location["source"]


@pytest.mark.slow
def test_same_script_and_seed_give_the_same_report() -> None:
    """A shuffling DataLoader allocates a new batch each step; freed addresses get reused, so batch
    identity must rest on content (this once made the replay differ from run to run)."""
    from conftest import EXAMPLES

    script = str(EXAMPLES / "quadratic_dying_relu" / "broken.py")
    first, second = (run_cli("check", script, "--format", "json") for _ in range(2))
    assert first.report is not None and second.report is not None
    assert first.report["findings"] == second.report["findings"]

    def untimed(replay: dict[str, Any]) -> dict[str, Any]:
        """The replays without their wall times: the baseline, each fix and each target control."""
        out = {**replay, "baseline": {**replay["baseline"], "seconds": None}}
        for group in ("fixes", "controls"):
            if group in replay:
                out[group] = {k: {**v, "seconds": None} for k, v in replay[group].items()}
        return out

    assert untimed(first.report["training"]["replay"]) == untimed(second.report["training"]["replay"])
    assert first.report["training"]["replay"]["baseline"]["final"] is not None


def test_a_models_own_hooks_are_replayed_once_as_part_of_the_model() -> None:
    """The capture records the model call with its arguments before the model's pre-hooks and its output
    after its hooks, so a replay (which calls the model, hooks and all) computes what the script computed."""
    run = run_cli("check", str(SCRIPTS / "model_hooks.py"), "--steps", "100", "--format", "json")
    assert run.code == 0, run.stderr[-3000:]
    report = run.report
    assert report is not None and report["status"] == "ok"
    assert [f["code"] for f in report["findings"] if f["severity"] != "info"] == []
    training = report["training"]
    curve = training["replay"]["baseline"]["curve"]
    # the replay starts where the script started (a hook applied twice would put it ~1e8 times higher) ...
    assert 0.2 < curve[0][1] / training["loss_start"] < 5
    # ... and learns as the script did
    assert curve[-1][1] < 0.5 * curve[0][1]
