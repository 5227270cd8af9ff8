"""The analysis leaves the user's model as it was (in-process, on a small setup)."""

from __future__ import annotations

import torch
from torch import nn

from rule_support import make_setup, mlp, run, sine


def test_analysis_does_not_touch_the_users_model() -> None:
    torch.manual_seed(0)
    x, y = sine()
    model = mlp(nn.ReLU, [1, 8, 1])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    run(make_setup(model, x, y), steps=50)
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
