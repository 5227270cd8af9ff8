"""FD504 for layers a model holds unregistered (a plain list or dict of modules, a bare tensor with
requires_grad): what the capture records of them, the registration the fix replays, and the rule on real captured
runs with their near misses (a frozen teacher kept in a list on purpose, a list whose layers the optimizer gets
anyway). The shipped example runs through the CLI in test_examples.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from fitdoctor.analysis import analyse
from fitdoctor.capture.build import build
from fitdoctor.capture.recorder import Recorder
from fitdoctor.findings import Finding
from fitdoctor.selection import RuleSelection
from fitdoctor.unregistered import find_unregistered, register
from rule_support import capture


class _Blocks(nn.Module):
    def __init__(self, container: str = "list", teacher: bool = False) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 16)
        blocks = [nn.Linear(16, 16) for _ in range(2)]
        if container == "list":
            self.blocks = blocks
        elif container == "dict":
            self.blocks = {str(i): b for i, b in enumerate(blocks)}
        else:
            self.blocks = nn.ModuleList(blocks)
        self.scale = torch.ones(16, requires_grad=True)  # a bare tensor, not an nn.Parameter
        self.frozen = torch.ones(16)  # no requires_grad: not a trainable tensor
        self.out = nn.Linear(16, 1)
        self.teacher = [nn.Linear(4, 1)] if teacher else []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for block in self.blocks.values() if isinstance(self.blocks, (dict, nn.ModuleDict)) else self.blocks:
            h = h + torch.relu(block(h))
        out = self.out(h * self.scale * self.frozen)
        if self.teacher:
            with torch.no_grad():  # distillation: the teacher is kept out of the parameters on purpose
                soft = self.teacher[0](x)
            out = out + 0 * soft
        return out


def _run(model: nn.Module, params: Callable[[nn.Module], list[torch.Tensor]], steps: int = 40) -> Recorder:
    """The user's loop on a small regression, captured in-process."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = torch.sin(x[:, :1]) + x[:, 1:2] * x[:, 2:3]
    opt = torch.optim.Adam(params(model), lr=3e-3)

    def train() -> None:
        for _ in range(10):
            for i in range(0, 256, 32):
                opt.zero_grad()
                nn.functional.mse_loss(model(x[i : i + 32]), y[i : i + 32]).backward()
                opt.step()

    return capture(train, steps)


def _fd504(recorder: Recorder, seed: int) -> tuple[Finding, ...]:
    """FD504 alone on a captured run, with what the capture saw of the loop."""
    captured = build(recorder, seed, None)
    only = RuleSelection(select=("FD504",))
    return analyse(
        captured.setup, captured.locate, script="<test>", replay_steps=200, training=captured.training, rules=only
    ).findings


def _own_parameters(model: nn.Module) -> list[torch.Tensor]:
    return list(model.parameters())


def test_what_is_unregistered() -> None:
    labels = {f.label: (f.container, f.modules) for f, _ in find_unregistered(_Blocks("list"))}
    assert labels == {"self.blocks": ("list", 2), "self.scale": ("tensor", 0)}
    assert {f.label for f, _ in find_unregistered(_Blocks("dict"))} == {"self.blocks", "self.scale"}
    assert {f.label for f, _ in find_unregistered(_Blocks("registered"))} == {"self.scale"}


def test_registering_keeps_what_the_model_computes_and_exposes_the_layers() -> None:
    for container in ("list", "dict"):
        torch.manual_seed(0)
        model = _Blocks(container)
        x = torch.randn(8, 4)
        before, count = model(x).detach(), sum(p.numel() for p in model.parameters())
        register(model, frozenset({"self.blocks", "self.scale"}))
        assert torch.equal(model(x).detach(), before)
        assert sum(p.numel() for p in model.parameters()) == count + 2 * (16 * 16 + 16) + 16
        assert find_unregistered(model) == []


def test_the_capture_records_what_gets_gradients_and_no_optimizer() -> None:
    torch.manual_seed(0)
    assert _run(_Blocks("list"), _own_parameters).facts.unregistered == ["self.blocks", "self.scale"]
    torch.manual_seed(0)
    assert _run(_Blocks("registered"), _own_parameters).facts.unregistered == ["self.scale"]

    # Near misses: the layers handed to the optimizer by hand, and a teacher used without gradients.
    def everything(model: nn.Module) -> list[torch.Tensor]:
        assert isinstance(model, _Blocks) and isinstance(model.blocks, list)
        return [*model.parameters(), *(p for b in model.blocks for p in b.parameters()), model.scale]

    torch.manual_seed(0)
    assert _run(_Blocks("list"), everything).facts.unregistered == []
    torch.manual_seed(0)
    model = _Blocks("registered", teacher=True)
    model.scale = nn.Parameter(model.scale.detach())
    assert _run(model, _own_parameters).facts.unregistered == []


@pytest.mark.parametrize("seed", [0, 1])
def test_fd504_names_the_list_and_its_registration_is_verified(seed: int) -> None:
    torch.manual_seed(seed)
    (finding,) = _fd504(_run(_Blocks("list"), _own_parameters), seed)
    assert finding.code == "FD504" and finding.confidence == "confirmed"
    assert "self.blocks is a plain Python list of 2 modules" in finding.message
    assert "self.scale is a tensor with requires_grad, not an nn.Parameter" in finding.message
    assert finding.fix is not None and finding.fix.id == "register-layers" and finding.fix.verified
    assert finding.evidence["unregistered"] == ["self.blocks", "self.scale"]
    # The twin: the blocks in an nn.ModuleList and the scale an nn.Parameter.
    torch.manual_seed(seed)
    model = _Blocks("registered")
    model.scale = nn.Parameter(model.scale.detach())
    assert _fd504(_run(model, _own_parameters), seed) == ()
