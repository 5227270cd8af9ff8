"""API fuzz: any value of any argument of ``fitdoctor.check`` ends in a report or a ``UsageError``, never in another
exception (a TypeError from our own code, an optimizer's ValueError, a torch RuntimeError from a probe)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import fitdoctor

X = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
Y = X[:, :1] * 2


class _Pairs(Dataset[Any]):
    """A dataset whose items are whatever it was given."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


ODD = st.sampled_from(
    [
        None,
        0,
        -1,
        1,
        1.5,
        float("nan"),
        float("inf"),
        2**70,
        True,
        "8",
        "",
        "FD3",
        b"x",
        [],
        [1],
        ["FD3", 2],
        (),
        {},
        {"a": 1},
        object(),
    ]
)

MODELS = {
    "linear": lambda: nn.Linear(3, 1),
    "identity": nn.Identity,
    "frozen": lambda: nn.Linear(3, 1).requires_grad_(False),
    "meta": lambda: nn.Linear(3, 1, device="meta"),
    "complex": lambda: nn.Linear(3, 1, dtype=torch.complex64),
    "double": lambda: nn.Linear(3, 1).double(),
    "wrong_in": lambda: nn.Linear(5, 1),
    "buffer_only": lambda: nn.BatchNorm1d(3, affine=False),
}

DATA = {
    "pair": lambda: (X, Y),
    "list_pair": lambda: [X, Y],
    "triple": lambda: (X, Y, Y),
    "dict": lambda: {"x": X, "y": Y},
    "empty_pair": lambda: (X[:0], Y[:0]),
    "sparse": lambda: (X.to_sparse(), Y),
    "complex": lambda: (X.to(torch.complex64), Y.to(torch.complex64)),
    "int_target_mse": lambda: (X, Y.long()),
    "loader": lambda: DataLoader(TensorDataset(X, Y), batch_size=8),
    "empty_loader": lambda: DataLoader(TensorDataset(X[:0], Y[:0]), batch_size=8),
    "zero_row_batches": lambda: DataLoader(_Pairs([(X[:0], Y[:0])] * 4), batch_size=None),
    "dataset_of_scalars": lambda: _Pairs([1, 2, 3]),
    "dataset_of_triples": lambda: _Pairs([(X[i], Y[i], Y[i]) for i in range(8)]),
    "numpy": lambda: (X.numpy(), Y.numpy()),
    "string": lambda: "data.csv",
    "none": lambda: None,
}

LOSSES = [
    "mse",
    "cross_entropy",
    "bce",
    "nll",
    "huber",
    "nope",
    nn.MSELoss(),
    nn.CrossEntropyLoss(),
    torch.nn.functional.l1_loss,
    lambda a, b: (a - b).abs().sum(),  # a scalar, summed
    lambda a, b: a - b,  # not a scalar
]
OPTIMIZERS = [None, torch.optim.SGD, torch.optim.Adam, lambda p: torch.optim.SGD(p, lr=-1.0), lambda p: 3]
#: Valid values of the other arguments (small, to keep the fuzz fast).
VALID = {
    "steps": st.integers(1, 3),
    "replay_steps": st.integers(0, 4),
    "batch_size": st.sampled_from([None, 1, 5, 16]),
    "seed": st.integers(0, 3),
    "select": st.sampled_from([(), "FD1", ["FD3", "dead-relu"]]),
    "ignore": st.sampled_from([(), "FD6"]),
}


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # Valid setups are drawn more often, so that many calls reach the probes and replays.
    model=st.sampled_from(["linear"] * 8 + sorted(MODELS)),
    data=st.sampled_from(["pair", "loader", "dict", "int_target_mse"] * 3 + sorted(DATA)),
    loss=st.sampled_from([0, 0, 2, 6, 8, 9, *range(len(LOSSES))]),
    optimizer=st.sampled_from(range(len(OPTIMIZERS))),
    valid=st.fixed_dictionaries(VALID),
    odd_argument=st.sampled_from([None] * 6 + ["loss", "optimizer", *VALID]),
    odd_value=ODD,
)
def test_every_call_reports_or_raises_usage_error(
    model: str, data: str, loss: int, optimizer: int, valid: dict[str, Any], odd_argument: str | None, odd_value: Any
) -> None:
    """A random setup, valid or not, with at most one argument of an odd type or value."""
    kwargs = {"loss": LOSSES[loss], "optimizer": OPTIMIZERS[optimizer], **valid}
    if odd_argument is not None:
        kwargs[odd_argument] = odd_value
    _reports_or_refuses(model, data, kwargs)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(["linear", "double", "frozen"]),
    data=st.sampled_from(["pair", "list_pair", "loader", "int_target_mse", "zero_row_batches", "dataset_of_triples"]),
    loss=st.sampled_from(range(len(LOSSES))),
    optimizer=st.sampled_from(range(len(OPTIMIZERS))),
    valid=st.fixed_dictionaries(VALID),
)
def test_setups_that_train_report_or_raise_usage_error(
    model: str, data: str, loss: int, optimizer: int, valid: dict[str, Any]
) -> None:
    """Setups with valid arguments, most of which train: the probes and replays behind the report stay ours."""
    _reports_or_refuses(model, data, {"loss": LOSSES[loss], "optimizer": OPTIMIZERS[optimizer], **valid})


def _reports_or_refuses(model: str, data: str, kwargs: dict[str, Any]) -> None:
    """``fitdoctor.check`` returns a report of a check that ran, or raises a ``UsageError`` with a message."""
    try:
        report = fitdoctor.check(MODELS[model](), DATA[data](), **kwargs)
    except fitdoctor.UsageError as exc:
        assert str(exc)
        return
    assert report.status == "ok"
