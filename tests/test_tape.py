"""The loss tape's cost controls: which operations it reads, and the data loading it never sees."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.dataloader import _BaseDataLoaderIter

from fitdoctor.capture.budget import CaptureBudget
from fitdoctor.capture.recorder import Recorder
from fitdoctor.capture.stops import StopCapture
from fitdoctor.capture.tape import Tape
from fitdoctor.capture.userframes import UserFiles


def _tape_with_one_value() -> tuple[Tape, torch.Tensor]:
    tape = Tape()
    w = torch.ones(3, requires_grad=True)
    out = w * 2  # a value computed from a trainable tensor: the tape tracks it
    tape.record(torch.mul, None, (w, 2), {}, out, None)
    return tape, out


def test_depends_finds_a_recorded_value_or_a_trainable_leaf_wherever_it_is_passed() -> None:
    tape, recorded = _tape_with_one_value()
    plain, leaf = torch.zeros(3), torch.zeros(3, requires_grad=True)
    assert tape.depends((recorded,), {})
    assert tape.depends((plain, [1, (plain, recorded)]), {})
    assert tape.depends((), {"input": {"a": [recorded]}})
    assert tape.depends((leaf,), {})
    assert not tape.depends((plain, 1, [plain, (plain,)]), {"dim": 0, "x": {"y": plain}})
    # a tensor with the same id as a recorded one that was freed is not that value
    assert not tape.depends((recorded.detach().clone(),), {})


class _ModeSpy(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A dataset that notes how deep the torch-function mode stack is while it is indexed."""

    def __init__(self) -> None:
        self.x, self.y = torch.randn(32, 4), torch.randn(32, 1)
        self.depths: list[int] = []

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.depths.append(len(torch.overrides._get_current_function_mode_stack()))
        return self.x[i], self.y[i]


def test_a_data_loader_is_read_with_the_tape_off_and_the_loss_with_it_on() -> None:
    original = _BaseDataLoaderIter.__dict__["__next__"]
    data = _ModeSpy()
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    in_loop: list[int] = []
    recorder = Recorder(UserFiles(None), CaptureBudget(3))
    recorder.install()
    try:
        for _ in range(3):
            for xb, yb in DataLoader(data, batch_size=8):
                in_loop.append(len(torch.overrides._get_current_function_mode_stack()))
                loss = ((model(xb) - yb) ** 2).mean()  # a loss by hand: on the tape
                opt.zero_grad()
                loss.backward()
                opt.step()
    except StopCapture:
        pass
    finally:
        recorder.uninstall()
    recorder.finish()
    assert _BaseDataLoaderIter.__dict__["__next__"] is original
    assert data.depths and set(data.depths) == {0}
    assert in_loop and set(in_loop) == {1}
    # the hand-written loss is on the tape, each step's batch a constant of it: the model input and the target
    assert recorder.steps == 3
    assert [[tuple(c.shape) for c in p.sliced.consts] for p in recorder.store.programs] == [[(8, 4), (8, 1)]] * 3
    assert torch.equal(recorder.store.programs[1].sliced.consts[1], data.y[8:16])


def test_a_model_built_while_capturing_may_change_a_no_grad_view_in_place() -> None:
    """``nn.Embedding(padding_idx=...)`` zeroes a row through a view made under ``no_grad`` (every Hugging Face
    model builds one): the tape must not read ``is_leaf`` of such a view outside its taping, where it raises."""
    recorder = Recorder(UserFiles(None), CaptureBudget(3))
    recorder.install()
    try:
        embed = nn.Embedding(10, 4, padding_idx=0)
        nn.init.normal_(embed.weight)
        embed._fill_padding_idx_with_zero()
    finally:
        recorder.uninstall()
    assert torch.equal(embed.weight[0], torch.zeros(4))
