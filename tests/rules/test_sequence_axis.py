"""FD206 sequence-axis: the rule on setups built here (no subprocess, several seeds), in both layouts PyTorch
accepts, for recurrent layers and attention; and the shape logic on the cases it must leave alone. Its examples
run through the CLI in test_examples.py."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fitdoctor.analysis import analyse, gather_evidence
from fitdoctor.batches import Batch
from fitdoctor.evidence import Locator
from fitdoctor.probes.sequence import SequenceInput
from fitdoctor.rules.sequence_axis import batch_axis, misread_layers, undecided_layers
from fitdoctor.selection import RuleSelection
from fitdoctor.training import TrainingSetup
from rule_support import setup_of, suspects

SAMPLES, STEPS, BATCH = 256, 12, 32


class _Recurrent(nn.Module):
    """A GRU regressor; ``time_first`` says how the user lays the data out and reads the last step."""

    def __init__(self, batch_first: bool, time_first: bool) -> None:
        super().__init__()
        self.gru = nn.GRU(1, 16, batch_first=batch_first)
        self.head = nn.Linear(16, 1)
        self.time_first = time_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[-1] if self.time_first else out[:, -1])


class _Attention(nn.Module):
    """Self-attention over the sequence, then the mean over time."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.embed = nn.Linear(1, 16)
        self.attention = nn.MultiheadAttention(16, 2, batch_first=batch_first)
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        out, _ = self.attention(h, h, h)
        return self.head(out.mean(1))


def _setup(
    model: nn.Module, seed: int, time_first: bool = False, steps: int = STEPS, batch: int = BATCH
) -> TrainingSetup:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SAMPLES, steps, 1, generator=g)
    weights = 0.7 ** torch.arange(steps - 1, -1, -1.0)
    y = (x[..., 0] * weights).sum(1, keepdim=True) / weights.norm()
    batches = []
    for i in range(0, SAMPLES, batch):
        xb = x[i : i + batch]
        batches.append(Batch((xb.transpose(0, 1) if time_first else xb,), {}, y[i : i + batch], (batch, 1)))
    return setup_of(model, batches, "mse_loss", lr=3e-3, seed=seed)


def _fd206(setup: TrainingSetup) -> list[tuple[str, str, str]]:
    only = RuleSelection(select=("FD206",))  # the rule alone: no range test, no overfit check
    report = analyse(setup, Locator(), script="<test>", replay_steps=150, rules=only)
    return [(f.code, f.severity, f.confidence) for f in report.findings]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fd206_a_gru_fed_batch_first_data_and_its_twins(seed: int) -> None:
    torch.manual_seed(seed)
    assert _fd206(_setup(_Recurrent(batch_first=False, time_first=False), seed)) == [("FD206", "error", "confirmed")]
    # The twins: the layer told the batch comes first, and the (time, batch, feature) layout it defaults to.
    torch.manual_seed(seed)
    assert _fd206(_setup(_Recurrent(batch_first=True, time_first=False), seed)) == []
    torch.manual_seed(seed)
    assert _fd206(_setup(_Recurrent(batch_first=False, time_first=True), seed, time_first=True)) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_fd206_as_many_samples_as_steps_the_replay_decides(seed: int) -> None:
    """Batches of 16 sequences of 16 steps: the shapes can't tell the layouts apart, the batch_first=True replay
    can. Fed (batch, time, feature) the finding is confirmed; fed (time, batch, feature), as the layer expects, it
    stays an unconfirmed info, since the swapped replay mixes the samples and does worse."""
    square = {"steps": 16, "batch": 16}
    assert SAMPLES % 16 == 0  # every batch square, the last one too
    torch.manual_seed(seed)
    ((code, severity, confidence),) = _fd206(_setup(_Recurrent(batch_first=False, time_first=False), seed, **square))
    assert (code, confidence) == ("FD206", "confirmed") and severity != "info"
    torch.manual_seed(seed)
    setup = _setup(_Recurrent(batch_first=False, time_first=True), seed, time_first=True, **square)
    assert _fd206(setup) == [("FD206", "info", "suspected")]


def test_fd206_attention_fed_batch_first_data() -> None:
    for batch_first, expected in ((False, ["FD206"]), (True, [])):
        torch.manual_seed(0)
        setup = _setup(_Attention(batch_first), 0)
        ev = gather_evidence(
            setup, Locator(), replay_steps=20, needed=frozenset({"sequence_inputs"}), budget_s=math.inf
        ).ev
        found = suspects("FD206", ev)
        assert [s.code for s in found] == expected
        if found:
            assert found[0].evidence["layers"] == ["attention"] and found[0].evidence["input_shape"] == [
                BATCH,
                STEPS,
                16,
            ]


def _call(shape: tuple[int, ...], target: tuple[int, ...] | None, batch_first: bool = False) -> SequenceInput:
    return SequenceInput("rnn", "LSTM", batch_first, shape, target)


@pytest.mark.parametrize(
    ("shape", "target", "axis"),
    [
        ((64, 16, 8), (64, 1), 0),  # (batch, time, feature): the samples first
        ((16, 64, 8), (64, 1), 1),  # (time, batch, feature)
        ((16, 64, 8), (64,), 1),  # class labels
        ((32, 32, 8), (32, 1), None),  # as many steps as samples: can't tell
        ((64, 16, 8), (64, 16), None),  # a per-step target is as ambiguous as the input
        ((16, 64, 8), (16, 64), None),
        ((64, 16, 8), None, None),
        ((64, 16, 8), (10, 1), None),  # the target counts something else
    ],
)
def test_the_batch_axis_is_read_from_the_target(
    shape: tuple[int, ...], target: tuple[int, ...] | None, axis: int | None
) -> None:
    assert batch_axis(_call(shape, target)) == axis


def test_a_layer_is_misread_only_when_every_judgeable_call_says_so() -> None:
    misread = _call((64, 16, 8), (64, 1))
    assert list(misread_layers([misread, _call((32, 32, 8), (32, 1))])) == ["rnn"]
    assert misread_layers([misread, _call((16, 64, 8), (64, 1))]) == {}  # contradicting calls: no verdict
    assert misread_layers([_call((64, 16, 8), (64, 1), batch_first=True)]) == {}


def test_a_layer_is_undecided_only_when_every_call_is_square() -> None:
    square = _call((32, 32, 8), (32, 1))
    assert list(undecided_layers([square, _call((32, 32, 8), (32,))])) == ["rnn"]
    assert undecided_layers([square, _call((16, 32, 8), (32, 1))]) == {}  # a last batch that tells
    assert undecided_layers([_call((32, 32, 8), (32, 32))]) == {}  # a per-step target
    assert undecided_layers([_call((32, 32, 8), None)]) == {}
    assert undecided_layers([_call((32, 32, 8), (32, 1), batch_first=True)]) == {}
