"""Scripts of every shape people write: the recorded objective replays what the script computed, the
yardsticks follow the user's reduction, stages and what can't be replayed are reported."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import EXAMPLES, SCRIPTS, run_cli
from fitdoctor.capture.build import build, problem
from fitdoctor.training import batch_loss, fresh_model, unwrap
from rule_support import capture

SHAPES = SCRIPTS / "shapes"
ROBUST = SCRIPTS / "robust"


def test_a_hand_written_objective_replays_to_the_value_the_script_backpropagated() -> None:
    """Squared error by hand plus an L2 penalty on the weights: at the initial weights, the replayed program
    gives exactly the script's first loss, and its term is read as mse with its target."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    first: list[float] = []

    def train() -> None:
        for _ in range(6):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean() + 1e-2 * sum(p.pow(2).sum() for p in model.parameters())
            first.append(float(loss.detach()))
            loss.backward()
            opt.step()

    recorder = capture(train)
    assert problem(recorder, "test") is None
    setup = build(recorder, 0, None).setup
    assert setup.programmed and setup.loss.name == "mse_loss" and setup.loss.reduction == "mean"
    value = batch_loss(fresh_model(setup), setup, setup.batches[0])
    assert float(value.detach()) == pytest.approx(first[0], rel=1e-6)
    assert setup.batches[0].target is not None and torch.equal(setup.batches[0].target, y)


def _stable_logistic(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.clamp(min=0) - out * y + torch.log1p(torch.exp(-out.abs()))).mean()


def _naive_logistic(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(out)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _gathered(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -torch.log_softmax(out, dim=1).gather(1, y.view(-1, 1)).mean()


def _indexed_sum(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -F.log_softmax(out, dim=1)[torch.arange(len(y)), y].sum()


def _softmax_over_batch(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -torch.log_softmax(out, dim=0).gather(1, y.view(-1, 1)).mean()  # the wrong axis: no loss of ours


def _masked(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mask = (torch.arange(len(y)) % 3 != 0).float().view(-1, 1)
    return (((out - y) ** 2) * mask).sum() / mask.sum()


@pytest.mark.parametrize(
    ("loss", "classes", "expected"),
    [
        (_stable_logistic, 0, ("binary_cross_entropy_with_logits", "mean")),
        (_naive_logistic, 0, ("binary_cross_entropy_with_logits", "mean")),
        (_gathered, 3, ("cross_entropy", "mean")),
        (_indexed_sum, 3, ("cross_entropy", "sum")),
        (_softmax_over_batch, 3, None),
        (_masked, -1, None),
    ],
)
def test_a_hand_written_loss_is_identified_by_what_it_computes(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], classes: int, expected: tuple[str, str] | None
) -> None:
    """A loss written by hand in any form is read as the torch.nn.functional loss it equals on random outputs,
    with its target: the logistic loss in its stable and naive forms, cross-entropy by gather or by indexing.
    An objective that equals none (log_softmax over the batch, a masked squared error) keeps its target
    unknown, and the replay still runs it as written."""
    torch.manual_seed(0)
    x = torch.randn(24, 4)
    if classes > 0:
        y: torch.Tensor = torch.randint(0, classes, (24,))
    elif classes == 0:
        y = (x[:, :1] > 0).float()
    else:
        y = x[:, :1].clone()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, max(classes, 1)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    first: list[float] = []
    state = torch.random.get_rng_state()

    def train() -> None:
        for _ in range(6):
            opt.zero_grad()
            value = loss(model(x), y)
            first.append(float(value.detach()))
            value.backward()
            opt.step()

    recorder = capture(train)
    setup = build(recorder, 0, None).setup
    assert torch.equal(torch.random.get_rng_state(), state)  # the probes drew from their own generator
    assert setup.programmed
    value = batch_loss(fresh_model(setup), setup, setup.batches[0])
    assert float(value.detach()) == pytest.approx(first[0], rel=1e-6)  # replayed as written, matched or not
    if expected is None:
        assert setup.batches[0].target is None
        return
    assert (setup.loss.name, setup.loss.reduction) == expected
    assert setup.batches[0].target is not None and torch.equal(setup.batches[0].target, y)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["logistic", "gather"])
@pytest.mark.parametrize("broken", [False, True])
def test_a_hand_written_loss_gets_the_target_side_checks(loss: str, broken: bool) -> None:
    """The stable logistic loss and a gathered cross-entropy, written by hand: a model ending in a sigmoid
    (ReLU) before them is FD203 with its fix verified, as with torch's own losses; the healthy twins are clean
    and nothing says the target is unknown."""
    run = run_cli(
        "check",
        str(SHAPES / "hand_written_classifier.py"),
        "--format",
        "json",
        "--",
        "--loss",
        loss,
        *(["--broken"] if broken else []),
    )
    assert run.report is not None and run.report["status"] == "ok", run.stderr[-2000:]
    assert run.codes("warning") == (["FD203"] if broken else [])
    if broken:
        assert run.report["findings"][0]["fix"]["verified"]
    assert not [n for n in run.report["training"]["notes"] if n.startswith("hand-written loss")]


def test_the_capture_changes_nothing_the_script_computes() -> None:
    """The same seeded training with and without the capture ends with bit-identical weights."""

    def train(model: nn.Module) -> None:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        x, y = torch.randn(32, 4), torch.randn(32, 2)
        for _ in range(5):
            opt.zero_grad()
            out = model(x)
            loss = F.mse_loss(out, y, reduction="sum") / len(x) + out.abs().mean()
            loss.backward()
            opt.step()

    torch.manual_seed(1)
    plain = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    torch.manual_seed(2)
    train(plain)
    torch.manual_seed(1)
    watched = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    torch.manual_seed(2)
    capture(lambda: train(watched), steps=100)
    for a, b in zip(plain.parameters(), watched.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.overrides._get_current_function_mode_stack() == []


def test_weights_updated_by_hand_are_measured_as_sgd() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 1, requires_grad=True)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def train() -> None:
        for _ in range(10):
            loss = ((x @ w - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w.sub_(0.05 * w.grad)  # w -= lr * w.grad, as the tutorial writes it at module level
                w.grad = None

    recorder = capture(train)
    setup = build(recorder, 0, None).setup
    assert setup.optimizer_cls is torch.optim.SGD
    assert setup.optimizer_groups[0]["lr"] == pytest.approx(0.05, rel=1e-4)
    assert [n for n, _ in unwrap(setup.model).named_parameters()] == ["w"]


@pytest.mark.slow
@pytest.mark.parametrize("broken", [False, True])
def test_the_verdicts_do_not_depend_on_the_reduction(broken: bool) -> None:
    """mean, sum and a sum divided by the batch size by hand: the same findings, and a yardstick in the
    user's own units (the constant-prediction loss scales with the reduction)."""
    found = {}
    constants = {}
    for reduction in ("mean", "sum", "manual"):
        extra = ["--broken"] if broken else []
        run = run_cli(
            "check", str(SHAPES / "reductions.py"), "--format", "json", "--", "--reduction", reduction, *extra
        )
        assert run.report is not None and run.report["status"] == "ok", run.stderr[-2000:]
        found[reduction] = sorted(run.diagnosed())
        constants[reduction] = run.report["training"]["constant_prediction_loss"]
    assert found["mean"] == found["sum"] == found["manual"]
    assert (found["mean"] != []) is broken
    if broken:
        assert "FD201" in found["mean"]
    assert constants["sum"] == pytest.approx(32 * constants["mean"], rel=1e-3)
    assert constants["manual"] == pytest.approx(constants["mean"], rel=1e-3)


@pytest.mark.slow
def test_a_staged_script_is_checked_stage_by_stage() -> None:
    script = EXAMPLES / "pretrain_finetune" / "broken.py"
    first = run_cli("check", str(script), "--format", "json", "--steps", "500")
    assert first.report is not None and first.report["status"] == "ok", first.stderr[-2000:]
    note = next(n for n in first.report["training"]["notes"] if n.startswith("stages:"))
    assert "this check covers stage 1" in note and "`--stage 2` checks the next one" in note
    assert first.codes("warning") == []
    missing = run_cli("check", str(script), "--format", "json", "--stage", "3")
    assert missing.code == 2 and missing.report is not None
    assert missing.codes() == ["FD902"] and "no stage 3" in missing.report["findings"][0]["message"]


@pytest.mark.slow
def test_a_hand_written_update_other_than_sgd_is_reported_as_unsupported() -> None:
    run = run_cli("check", str(EXAMPLES / "manual_momentum" / "broken.py"), "--format", "json")
    assert run.code == 2 and run.report is not None
    assert run.codes() == ["FD903"]
    assert "other than plain gradient descent" in run.report["findings"][0]["message"]


@pytest.mark.slow
def test_a_loss_that_cannot_be_traced_is_reported_as_unsupported() -> None:
    """The loss tape records the main thread: a hand-written loss in a training thread can't be replayed."""
    run = run_cli("check", str(ROBUST / "thread_hand_written.py"), "--format", "json")
    assert run.code == 2 and run.report is not None, run.stderr[-2000:]
    assert run.codes() == ["FD903"]
    assert "could not be traced to the model's output" in run.report["findings"][0]["message"]
