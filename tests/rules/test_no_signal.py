"""FD105 no-signal: the target controls and the rule on setups built here (labels paired or shuffled apart from
their inputs, several seeds), in-process; the teacher control (another draw of the user's model) on token inputs
and on a GRU, and a GRU script through the CLI. Its examples run through the CLI in test_examples.py."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from conftest import SCRIPTS, run_cli
from fitdoctor.analysis import gather_evidence, single_thread
from fitdoctor.batches import Batch, planted_targets, shuffled_targets
from fitdoctor.evidence import Evidence, Locator
from fitdoctor.probes.control import (
    TEACHER_SEED_STEP,
    Controls,
    Decides,
    learns_little,
    target_controls,
    teacher_targets,
)
from fitdoctor.quantities import NotMeasuredError
from fitdoctor.training import LossSpec, TrainingSetup
from rule_support import setup_of, suspects, threshold

STEPS = 300


def _blobs(seed: int, paired: bool, n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Four Gaussian blobs in 12 dimensions; ``paired=False`` gives every row another row's label."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 12, generator=g) * 1.5
    y = torch.arange(n) % 4
    x = centers[y] + torch.randn(n, 12, generator=g)
    if not paired:
        y = y[torch.randperm(n, generator=g)]
    return x, y


def _setup(seed: int, paired: bool, lr: float = 3e-3) -> TrainingSetup:
    torch.manual_seed(seed)
    x, y = _blobs(seed, paired)
    batches = [Batch((x[i : i + 64],), {}, y[i : i + 64], (64, 4)) for i in range(0, len(x), 64)]
    model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    setup = setup_of(model, batches * 4, "cross_entropy", lr=lr, seed=seed)
    setup.user_losses.extend([math.log(4)] * 20)  # a loop that ends at the constant's loss: the control runs
    return setup


def _evidence(setup: TrainingSetup, stop: bool = True) -> Evidence:
    """The evidence with the target controls, as the analysis measures them once no other cause is confirmed:
    each stopped once it can no longer decide anything (``stop=False``: run to the end)."""
    ev = gather_evidence(setup, Locator(), replay_steps=STEPS, needed={"shuffled_targets"}, budget_s=math.inf).ev
    assert ev.control is None and ev.constant_loss is not None  # measured after the first confirmation
    decides = Decides(ev.baseline, ev.constant_loss, threshold("FD105", "margin")) if stop else None
    with single_thread(setup.model):  # as the analysis runs them: tiny models on one thread
        controls = target_controls(setup, ev.eval_batches, ev.baseline.steps, 24, decides)
    return dataclasses.replace(ev, control=controls)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_shuffled_apart_from_their_inputs_are_no_signal(seed: int) -> None:
    ev = _evidence(_setup(seed, paired=False))
    assert ev.control is not None
    (found,) = suspects("FD105", ev)
    assert found.proof and not found.candidates
    margin = threshold("FD105", "margin")
    assert found.evidence["advantage"].value <= margin < found.evidence["planted_advantage"].value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_labels_are_learned_far_better_than_shuffled_ones(seed: int) -> None:
    ev = _evidence(_setup(seed, paired=True))
    # The controls run whatever the user's loop did (here it was told the loop learned nothing).
    assert ev.control is not None and ev.control.shuffled is not None and ev.constant_loss
    assert suspects("FD105", ev) == []
    real = (ev.constant_loss - ev.baseline.final) / ev.constant_loss
    shuffled = (ev.constant_loss - ev.control.shuffled.final) / ev.constant_loss
    assert real - shuffled > 3 * threshold("FD105", "margin")


@pytest.mark.parametrize("seed", [0, 1])
def test_a_model_that_learns_nothing_from_either_says_nothing_about_the_data(seed: int) -> None:
    # lr 1e-6: no run moves from the constant, the planted control's neither: equal learning then proves nothing
    # (a learning rate far too low looks the same), and FD105 stays silent for the rules of that cause.
    ev = _evidence(_setup(seed, paired=False, lr=1e-6))
    assert ev.control is not None
    assert suspects("FD105", ev) == []


def test_the_control_keeps_each_input_and_moves_the_targets_across_batches() -> None:
    setup = _setup(0, paired=True)
    control = shuffled_targets(setup.batches, seed=0)
    assert control is not None
    distinct = list({id(b): b for b in setup.batches}.values())
    assert set(control) == {id(b) for b in distinct}
    before = torch.cat([b.target for b in distinct])  # type: ignore[misc]
    after = torch.cat([control[id(b)].target for b in distinct])  # type: ignore[misc]
    assert torch.equal(before.sort().values, after.sort().values) and not torch.equal(before, after)
    for b in distinct:
        assert control[id(b)].args[0] is b.args[0]
    # the same seed, the same control; the evaluation batches take their targets from it
    again = shuffled_targets(setup.batches, seed=0)
    assert again is not None and all(torch.equal(again[k].target, control[k].target) for k in control)  # type: ignore[arg-type]
    controls = target_controls(setup, distinct[:2], steps=5, points=5)
    assert controls.shuffled is not None and controls.shuffled.steps == 5 and controls.planted is not None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_targets_are_the_same_targets_ordered_by_one_feature_of_the_inputs(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(96, 5, generator=g), torch.randn(96, 1, generator=g)
    batches = [Batch((x[i : i + 32],), {}, y[i : i + 32], (32, 1)) for i in range(0, 96, 32)]
    planted = planted_targets(batches, seed)
    assert planted is not None
    xs = torch.cat([b.args[0] for b in batches])
    ys = torch.cat([planted[id(b)].target for b in batches])  # type: ignore[misc]
    assert torch.equal(ys.sort(0).values, y.sort(0).values)
    # one direction orders inputs and targets alike: some projection of the inputs ranks the targets exactly
    direction = torch.linalg.lstsq(xs - xs.mean(0), ys - ys.mean()).solution
    score = ((xs - xs.mean(0)) @ direction)[:, 0]
    rank_corr = torch.corrcoef(torch.stack([score.argsort().argsort().double(), ys[:, 0].argsort().argsort().double()]))
    assert rank_corr[0, 1] > 0.9
    tokens = [Batch((torch.arange(8),), {}, torch.zeros(8), (8,))]
    assert planted_targets(tokens, seed) is None  # integer inputs: no direction to order them by


def test_targets_that_are_not_rows_of_one_kind_have_no_control() -> None:
    x = torch.randn(8, 3)
    mixed = [Batch((x,), {}, torch.zeros(8, 1), (8, 1)), Batch((x,), {}, torch.zeros(8, 2), (8, 2))]
    assert shuffled_targets(mixed, 0) is None
    assert shuffled_targets([Batch((x,), {}, None, (8, 1))], 0) is None


def test_the_control_runs_only_for_a_loop_that_ends_far_from_a_fit() -> None:
    gate = threshold("FD105", "gate_share")
    assert learns_little([1.0] * 30, 1.0, gate)
    assert not learns_little([1.0] * 20 + [0.1] * 10, 1.0, gate)
    assert not learns_little([1.0] * 3, 1.0, gate)  # too few losses to tell
    assert not learns_little([1.0] * 30, None, gate)


def test_without_the_quantity_the_control_is_not_run() -> None:
    setup = _setup(0, paired=False)
    ev = gather_evidence(setup, Locator(), replay_steps=20, needed=set(), budget_s=math.inf).ev
    with pytest.raises(NotMeasuredError, match="shuffled_targets was not measured"):
        _ = ev.control.final  # type: ignore[union-attr]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_control_stops_once_it_can_no_longer_decide_anything_and_the_verdict_stays(seed: int) -> None:
    for paired in (True, False):
        setup = _setup(seed, paired)
        early, full = _evidence(setup), _evidence(setup, stop=False)
        assert early.control is not None and full.control is not None
        assert [s.code for s in suspects("FD105", early)] == [s.code for s in suspects("FD105", full)]
        runs = [(early.control.shuffled, full.control.shuffled), (early.control.planted, full.control.planted)]
        for cut, whole in runs:
            assert cut is not None and whole is not None and not whole.stopped
            assert cut.curve == whole.curve[: len(cut.curve)]  # the same run, cut short
            assert cut.stopped == (cut.steps < whole.steps)
    # paired labels: memorising shuffled ones can't come near what the real ones teach, so that control stops
    paired = _evidence(_setup(seed, paired=True))
    assert paired.control is not None and paired.control.shuffled is not None and paired.control.shuffled.stopped


def _tokens(seed: int, paired: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Six token ids in [0, 50) per row, labelled by the parity of the first (``paired=False``: shuffled apart):
    1,024 rows, more than the small model below can memorise."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 50, (1024, 6), generator=g)
    labels = tokens[:, 0] % 2
    if not paired:
        labels = labels[torch.randperm(len(labels), generator=g)]
    return tokens, labels


def _token_setup(seed: int, paired: bool, model: nn.Module | None = None) -> TrainingSetup:
    torch.manual_seed(seed)
    tokens, labels = _tokens(seed, paired)
    batches = [Batch((tokens[i : i + 32],), {}, labels[i : i + 32], (32, 2)) for i in range(0, 1024, 32)]
    model = model or nn.Sequential(nn.Embedding(50, 4), nn.Flatten(), nn.Linear(24, 2))
    setup = setup_of(model, batches, "cross_entropy", lr=1e-2, seed=seed)
    setup.user_losses.extend([math.log(2)] * 20)  # a loop that ends at the constant's loss: the controls run
    return setup


class _TableModel(nn.Module):
    """A token classifier whose weights are bare parameters: no layer that ``reset_parameters`` re-initialises."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(0.1 * torch.randn(50, 2))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table[tokens].sum(1)


def test_token_inputs_have_the_teacher_as_their_positive_control() -> None:
    """Token ids have no direction to plant a feature along: the teacher control stands in for the planted one,
    and where no teacher can be built either (no layer to re-initialise), no control runs, since the rule reads
    a negative and a positive control together."""
    setup = _token_setup(0, paired=True)
    ev = gather_evidence(setup, Locator(), replay_steps=40, needed={"shuffled_targets"}, budget_s=math.inf).ev
    assert ev.constant_loss is not None
    alone = target_controls(setup, ev.eval_batches, 40, 8)
    assert alone.shuffled is not None and alone.planted is None and alone.teacher is not None
    assert alone.teacher.steps == 40
    bare = _token_setup(0, paired=True, model=_TableModel())
    assert teacher_targets(bare) is None
    bare_ev = gather_evidence(bare, Locator(), replay_steps=40, needed={"shuffled_targets"}, budget_s=math.inf).ev
    assert bare_ev.constant_loss is not None
    decides = Decides(bare_ev.baseline, bare_ev.constant_loss, threshold("FD105", "margin"))
    assert target_controls(bare, bare_ev.eval_batches, 40, 8, decides) == Controls(None, None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_token_labels_shuffled_apart_are_no_signal_by_the_teacher(seed: int) -> None:
    ev = _evidence(_token_setup(seed, paired=False))
    assert ev.control is not None and ev.control.planted is None and ev.control.teacher is not None
    (found,) = suspects("FD105", ev)
    assert found.evidence["planted_by"] == "model-teacher"
    assert "another random initialisation of the same model" in found.message
    paired = _evidence(_token_setup(seed, paired=True))
    assert suspects("FD105", paired) == []  # the parity of the first token is learned far beyond shuffled labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_teacher_targets_are_the_same_targets_ranked_by_another_draw_of_the_model(seed: int) -> None:
    setup = _token_setup(seed, paired=True)
    weights = {k: v.clone() for k, v in setup.model.state_dict().items()}
    rng = torch.get_rng_state()
    control = teacher_targets(setup)
    assert control is not None
    assert torch.equal(torch.get_rng_state(), rng)  # draws no random number from the caller's stream
    assert all(torch.equal(v, setup.model.state_dict()[k]) for k, v in weights.items())  # the user's model as it was
    distinct = list({id(b): b for b in setup.batches}.values())
    before = torch.cat([b.target for b in distinct])  # type: ignore[misc]
    after = torch.cat([control[id(b)].target for b in distinct])  # type: ignore[misc]
    assert torch.equal(before.sort().values, after.sort().values)
    assert all(control[id(b)].args[0] is b.args[0] for b in distinct)
    # the teacher: the same architecture, every layer re-initialised from the seed; its output ranks the targets
    teacher = nn.Sequential(nn.Embedding(50, 4), nn.Flatten(), nn.Linear(24, 2)).eval()
    torch.manual_seed(seed + TEACHER_SEED_STEP)
    for layer in teacher.modules():
        if callable(getattr(layer, "reset_parameters", None)):
            layer.reset_parameters()
    with torch.no_grad():
        out = torch.cat([teacher(*b.args) for b in distinct]).double()
    direction = torch.randn(2, generator=torch.Generator().manual_seed(seed + TEACHER_SEED_STEP), dtype=torch.float64)
    score = (out - out.mean(0)) @ direction
    assert torch.equal(after[score.argsort(stable=True)], before.sort(stable=True).values)
    again = teacher_targets(setup)
    assert again is not None and all(torch.equal(again[k].target, control[k].target) for k in control)  # type: ignore[arg-type]


class _LastStep(nn.Module):
    """Reads only the last of the 64 steps of a sequence (as a model keyed on the latest reading does)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.net(seq[:, -1])


def _last_step_setup(seed: int) -> TrainingSetup:
    """A model of the last step of 64, trained with SGD and momentum on a function of that step, its targets
    shuffled apart from the sequences."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 64, 1, generator=g)
    y = torch.sin(2 * x[:, -1])[torch.randperm(512, generator=g)]
    batches = [Batch((x[i : i + 32],), {}, y[i : i + 32], (32, 1)) for i in range(0, 512, 32)]
    torch.manual_seed(seed)
    model = _LastStep()
    setup = TrainingSetup(
        model=model,
        initial_state={k: v.clone() for k, v in model.state_dict().items()},
        optimizer_cls=torch.optim.SGD,
        optimizer_groups=[{"lr": 0.05, "momentum": 0.9, "params": [n for n, _ in model.named_parameters()]}],
        loss=LossSpec("mse_loss", {}),
        batches=batches,
        seed=seed,
    )
    setup.user_losses.extend([0.5] * 20)
    return setup


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_feature_the_model_cannot_see_is_replaced_by_the_teacher(seed: int) -> None:
    """The planted feature is a direction over all 64 steps, of which this model sees one: it learns that
    control no better than the real targets, so the teacher (a function of what the model sees) runs after it,
    is learned, and FD105 stands on it."""
    ev = _evidence(_last_step_setup(seed))
    assert ev.control is not None and ev.control.planted is not None and ev.control.teacher is not None
    (found,) = suspects("FD105", ev)
    assert found.evidence["planted_by"] == "model-teacher"
    margin = threshold("FD105", "margin")
    assert found.evidence["learned_planted"] - found.evidence["learned_real"] > margin


@pytest.mark.slow
@pytest.mark.parametrize("paired", [False, True])
def test_a_gru_whose_targets_were_shuffled_apart_through_the_cli(paired: bool) -> None:
    """tests/scripts/shuffled_sequences.py: exactly FD105 as the alarm, at the loss line, on the teacher control,
    with FD601 explained by it; --paired: no finding at all."""
    run = run_cli(
        "check",
        str(SCRIPTS / "shuffled_sequences.py"),
        "--format",
        "json",
        "--",
        *(["--paired"] if paired else []),
    )
    assert run.report is not None and run.report["status"] == "ok", run.stderr[-2000:]
    if paired:
        assert run.report["findings"] == []
        return
    found = [(f["code"], f["severity"], f["caused_by"]) for f in run.report["findings"]]
    assert found == [("FD105", "error", []), ("FD601", "info", ["FD105"])]
    (fd105,) = [f for f in run.report["findings"] if f["code"] == "FD105"]
    assert fd105["evidence"]["planted_by"] == "model-teacher" and fd105["location"]["line"] == 45
