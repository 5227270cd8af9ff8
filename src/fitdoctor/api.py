"""The Python API: check a model from a notebook or a test suite, without a script."""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from fitdoctor import options
from fitdoctor.analysis import analyse
from fitdoctor.capture.budget import CaptureBudget
from fitdoctor.capture.build import build, problem
from fitdoctor.capture.recorder import Recorder
from fitdoctor.capture.stops import StopCapture
from fitdoctor.capture.userframes import Site, UserFiles, real_path
from fitdoctor.effort import analysis_budget, captured_seconds
from fitdoctor.errors import UsageError
from fitdoctor.evidence import Locator
from fitdoctor.report.display import Report
from fitdoctor.selection import RuleSelection

LOSSES: dict[str, Callable[[], nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "huber": nn.HuberLoss,
    "smooth_l1": nn.SmoothL1Loss,
    "cross_entropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss,
    "bce": nn.BCELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
}


@contextlib.contextmanager
def preserved_state() -> Iterator[None]:
    """Restore torch, numpy and Python RNG states and torch's thread count afterwards."""
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)
        torch.set_num_threads(threads)


def _loader(data: Any, batch_size: int | None, seed: int) -> Iterable[Any]:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
            raise UsageError(
                f"data=(x, y) needs tensors with the same first (batch) dimension; got shapes "
                f"{tuple(x.shape)} and {tuple(y.shape)}"
            )
        if x.shape[0] == 0:
            raise UsageError("data=(x, y) is empty: there is nothing to train on")
        size = batch_size or (x.shape[0] if x.shape[0] <= 1024 else 64)
        return DataLoader(TensorDataset(x, y), batch_size=size, shuffle=False)
    if isinstance(data, Dataset):
        try:
            length = len(data)  # type: ignore[arg-type]
        except TypeError:
            length = None
        if length == 0:
            raise UsageError("the dataset is empty: there is nothing to train on")
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(data, batch_size=batch_size or 32, shuffle=True, generator=generator)
    raise UsageError(
        f"data must be an (inputs, targets) pair of tensors, a torch Dataset or a DataLoader, not {type(data).__name__}"
    )


def _loss_fn(loss: Any) -> Callable[..., torch.Tensor]:
    if isinstance(loss, str):
        key = loss.lower().removesuffix("_loss").replace("-", "_")
        if key not in LOSSES:
            raise UsageError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)} or pass a torch.nn loss")
        return LOSSES[key]()
    if callable(loss):
        return cast(Callable[..., torch.Tensor], loss)
    raise UsageError(f"loss must be a torch.nn loss module, a function or a name, not {type(loss).__name__}")


def _optimizer(optimizer: Any, model: nn.Module, copy_model: nn.Module) -> torch.optim.Optimizer:
    """An optimizer for the copy: same class and per-group hyperparameters as the user's."""
    if optimizer is None:
        return torch.optim.Adam(copy_model.parameters(), lr=1e-3)
    if isinstance(optimizer, torch.optim.Optimizer):
        names = {id(p): n for n, p in model.named_parameters()}
        copy_params = dict(copy_model.named_parameters())
        groups = []
        for group in optimizer.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            params = [copy_params[names[id(p)]] for p in group["params"] if id(p) in names]
            if params:
                groups.append({"params": params, **hyper})
        if not groups:
            raise UsageError("the optimizer holds none of the model's parameters")
        cls: Any = type(optimizer)
        try:
            return cast(torch.optim.Optimizer, cls(groups))
        except Exception as exc:
            raise UsageError(f"recreating the optimizer failed: {type(exc).__name__}: {exc}") from exc
    if callable(optimizer):  # an optimizer class or a factory of the parameters
        try:
            made = optimizer(copy_model.parameters())
        except Exception as exc:
            raise UsageError(f"creating the optimizer failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(made, torch.optim.Optimizer):
            raise UsageError(f"optimizer must create a torch.optim optimizer, not {type(made).__name__}")
        return made
    raise UsageError("optimizer must be a torch.optim optimizer, its class, or a function of the parameters")


def _split_batch(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, dict):
        for x_key, y_key in (("x", "y"), ("input", "target"), ("inputs", "targets")):
            if x_key in batch and y_key in batch:
                return batch[x_key], batch[y_key]
    raise UsageError("each batch must be an (inputs, targets) pair (or a dict with x/y or input/target keys)")


def check(
    model: nn.Module,
    data: Any,
    *,
    loss: Any = "mse",
    optimizer: Any = None,
    steps: int = 200,
    replay_steps: int = 0,
    batch_size: int | None = None,
    seed: int = 0,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> Report:
    """Diagnose a training setup given as objects rather than a script.

    fitdoctor trains a copy of ``model`` for ``steps`` steps (the user's model, optimizer, RNG states
    and train/eval mode are left as they were), then probes, replays and verifies exactly as
    ``fitdoctor check`` does.

    Args:
        model: The network.
        data: An ``(inputs, targets)`` pair of tensors, a ``Dataset`` of pairs, or a ``DataLoader``.
        loss: A torch.nn loss module, a ``torch.nn.functional`` loss, or a name (``"mse"``,
            ``"cross_entropy"``, ``"bce_with_logits"``...).
        optimizer: A torch.optim optimizer over ``model``'s parameters, its class, or a function of the
            parameters (default: Adam at lr 1e-3).
        steps: Steps of the captured training.
        replay_steps: Steps per replay. 0: twice ``steps``, at least 200, with the analysis planned from the time
            the captured steps took (scaled down for large models); a number: replays of that many steps and the
            full analysis, whatever it takes, so that the result doesn't depend on how busy the machine is.
        batch_size: Batch size for tensor pairs and datasets (default: full batch up to 1024 samples, else 64;
            32 for datasets).
        seed: Seed of the training and every replay.
        select: Only these rules (codes, prefixes or slugs).
        ignore: Skip these rules.

    Returns:
        The report (``print(report)`` or display it in Jupyter to see it).

    Raises:
        UsageError: The arguments are of the wrong kind or shape, the data is empty, or the setup can't be
            captured (the message says why).
    """
    if not isinstance(model, nn.Module):
        raise UsageError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise UsageError(f"the model ({type(model).__name__}) has no trainable parameters: there is nothing to train")
    steps = options.steps(steps)
    batch_size = options.batch_size(batch_size)
    seed = options.seed(seed)
    replay_steps = options.replay_steps(replay_steps, "replay_steps")
    selection = RuleSelection(options.patterns(select, "select"), options.patterns(ignore, "ignore")).validate()
    started = time.perf_counter()
    caller = sys._getframe(1)
    own = os.path.dirname(os.path.realpath(__file__)) + os.sep
    while caller.f_back is not None and os.path.realpath(caller.f_code.co_filename).startswith(own):
        caller = caller.f_back  # called through fitdoctor.testing.assert_trainable: the user's line is above
    call = (os.path.realpath(caller.f_code.co_filename), caller.f_lineno)
    with preserved_state():
        torch.manual_seed(seed)
        loader = _loader(data, batch_size, seed)
        loss_fn = _loss_fn(loss)
        trained = copy.deepcopy(model)
        trained.train()
        opt = _optimizer(optimizer, model, trained)
        recorder = Recorder(UserFiles(None), CaptureBudget(steps))
        recorder.install()
        try:
            batches = itertools.cycle(loader) if not isinstance(loader, DataLoader) else _cycle(loader)
            for batch in itertools.islice(batches, steps + 1):
                x, y = _split_batch(batch)
                opt.zero_grad()
                value = loss_fn(trained(x), y)
                value.backward()
                opt.step()
        except StopCapture:
            pass
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"training the model on this data failed: {type(exc).__name__}: {exc}") from exc
        finally:
            recorder.uninstall()
        recorder.finish()
        sites = _ObjectSites(call, _definition(model), None if isinstance(loss, str) else _definition(loss))
        return _report(recorder, "<api>", seed, replay_steps, selection, started, sites)


def _cycle(loader: DataLoader[Any]) -> Iterator[Any]:
    empty = True
    while True:
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise UsageError("the data loader yields no batches: there is nothing to train on")


@dataclass(frozen=True)
class _ObjectSites:
    """Where :func:`check` was called, and where the objects it was given are defined."""

    call: tuple[str, int]
    model: Site | None
    loss: Site | None

    def relocate(self, locate: Locator) -> None:
        """The training loop :func:`check` runs is fitdoctor's own, so its lines are the ``check()`` call: point
        them at the user's objects instead (the model's class, a loss function), or nowhere."""
        for name, site in (("model", self.model), ("model_call", self.model), ("loss", self.loss), ("optimizer", None)):
            where = getattr(locate, name)
            if where is not None and (os.path.realpath(where.path), where.line) == self.call:
                setattr(locate, name, locate.site(site))


def _definition(obj: Any) -> Site | None:
    """Where the user's code defines ``obj``'s function or class; None for library objects."""
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    try:
        path = inspect.getsourcefile(target)
        _, line = inspect.getsourcelines(target)
    except (TypeError, OSError):
        return None
    if path is None or not UserFiles(None).is_user(path):
        return None
    return Site(real_path(path), max(line, 1), getattr(target, "__qualname__", ""))


def _report(
    recorder: Recorder,
    what: str,
    seed: int,
    replay_steps: int,
    selection: RuleSelection,
    started: float,
    sites: _ObjectSites | None = None,
) -> Report:
    found = problem(recorder, "the training code" if what == "<api>" else what)
    if found is not None:
        raise UsageError(found.message)
    captured = build(recorder, seed, None)
    if sites is not None:
        sites.relocate(captured.locate)
    training_s, step_s = captured_seconds(recorder.first_step_at, recorder.last_step_at, recorder.steps)
    report = analyse(
        captured.setup,
        captured.locate,
        script=what,
        replay_steps=replay_steps or max(2 * recorder.steps, 200),
        training=captured.training,
        is_user=recorder.user_files.is_user,
        notes=captured.notes,
        timings={"capture_s": time.perf_counter() - started},
        rules=selection,
        budget_s=analysis_budget(training_s, planned=not replay_steps),
        captured_step_s=step_s,
    )
    report.timings["total_s"] = time.perf_counter() - started
    return Report.of(report)


class Watch:
    """What :func:`watch` captured; ``report`` is set when the ``with`` block ends."""

    def __init__(self, steps: int, seed: int, replay_steps: int, selection: RuleSelection) -> None:
        self.steps = steps
        self.seed = seed
        self.replay_steps = replay_steps
        self.selection = selection
        self.report: Report | None = None
        self.recorder = Recorder(UserFiles(None), CaptureBudget(steps), passive=True)


@contextlib.contextmanager
def watch(
    steps: int = 200, *, seed: int = 0, replay_steps: int = 0, select: Sequence[str] = (), ignore: Sequence[str] = ()
) -> Iterator[Watch]:
    """Capture the training code run inside the ``with`` block (a notebook cell, a test) and check it.

    Recording stops after ``steps`` optimizer steps; the code itself runs on undisturbed. When the
    block ends, the captured setup is analysed from its initial weights, on copies, and the report is
    in ``watched.report``::

        with fitdoctor.watch() as watched:
            train(model, loader)
        watched.report

    Raises:
        UsageError: The block trained nothing fitdoctor could capture (the message says why).
    """
    selection = RuleSelection(options.patterns(select, "select"), options.patterns(ignore, "ignore")).validate()
    watched = Watch(
        options.steps(steps), options.seed(seed), options.replay_steps(replay_steps, "replay_steps"), selection
    )
    started = time.perf_counter()
    watched.recorder.install()
    try:
        yield watched
    finally:
        watched.recorder.uninstall()
    watched.recorder.finish()
    with preserved_state():
        watched.report = _report(watched.recorder, "<watch>", seed, replay_steps, watched.selection, started)
