"""What the recorder learns about the user's own loop, step by step: the losses it logged, how many backward
calls each step made, whether gradients were reset, which parameters got none, whether the model trained in
eval mode. One collector, filled by the recorder's hooks and summarised once for the report."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from fitdoctor.summary import LoopSummary
from fitdoctor.unregistered import unregistered_labels


@dataclass
class LoopFacts:
    """The loop facts of one captured training stage.

    Attributes:
        user_losses: The loss each step computed (the mean of its loss calls, else of its backward calls).
        backward_calls: Backward calls per step (more than one: gradient accumulation or several losses).
        hand_written_loss: A step backpropagated a scalar that no recorded loss function returned.
        backward_total: Backward calls seen, counted before any optimizer is known.
        stale_steps: Steps whose single backward call found a gradient left from the step before.
        single_backward_steps: Steps with exactly one backward call (the ones where staleness is measurable).
        loss_scales: The backpropagated scalar over the loss function's value (a scaled or summed loss).
        grad_missing: Steps at which each optimised parameter had no gradient, by parameter name.
        eval_mode_steps: Steps taken while the model was in eval mode.
        params_outside_optimizer: Trainable parameters of the model that no optimizer group holds.
        params_unchanged: Optimised parameters whose values never changed during the capture.
        mode_layers: Layers that behave differently in train and eval mode (dropout, batch norm).
        unregistered: Attributes holding layers or tensors the model does not register, which got gradients
            while no optimizer held them (``fitdoctor.unregistered``).
        lrs: The learning rate of each param group of the checked optimizer at each of its steps.
    """

    user_losses: list[float] = field(default_factory=list)
    backward_calls: list[int] = field(default_factory=list)
    hand_written_loss: bool = False
    backward_total: int = 0
    stale_steps: int = 0
    single_backward_steps: int = 0
    loss_scales: list[float] = field(default_factory=list)
    grad_missing: dict[str, int] = field(default_factory=dict)
    eval_mode_steps: int = 0
    params_outside_optimizer: list[str] = field(default_factory=list)
    params_unchanged: list[str] = field(default_factory=list)
    mode_layers: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)
    lrs: list[tuple[float, ...]] = field(default_factory=list)
    #: This step's backpropagated scalars and loss-function values, in call order.
    backward_values: list[float] = field(default_factory=list)
    loss_values: list[float] = field(default_factory=list)
    #: Whether this step's first gradient has arrived, and whether it found a stale ``.grad``.
    grad_seen: bool = False
    stale: bool = False

    def forget_step(self) -> None:
        """Drop this step's values (a step of an optimizer that isn't the one checked)."""
        self.backward_values.clear()
        self.loss_values.clear()

    def end_step(
        self, steps: int, params: list[tuple[str, torch.Tensor]], eval_mode: bool, lrs: tuple[float, ...] = ()
    ) -> None:
        """Account for one step of the checked optimizer, before its update.

        Args:
            steps: Steps taken before this one.
            params: The optimised parameters, by name (their ``.grad`` is read, not copied).
            eval_mode: Whether the model is in eval mode at this step.
            lrs: The learning rate of each param group for this step.
        """
        self.lrs.append(lrs)
        backward, losses = self.backward_values, self.loss_values
        if len(backward) == 1 and len(losses) == 1 and losses[0]:
            self.loss_scales.append(backward[0] / losses[0])
        elif backward and len(backward) == len(losses):
            self.loss_scales.extend(b / v for b, v in zip(backward, losses, strict=True) if v)
        if len(backward) == 1 and steps > 0:
            self.single_backward_steps += 1
            self.stale_steps += int(self.stale)
        for name, p in params:
            if p.grad is None:
                self.grad_missing[name] = self.grad_missing.get(name, 0) + 1
        self.eval_mode_steps += int(eval_mode)
        values = losses or backward
        if values:
            self.user_losses.append(sum(values) / len(values))
            self.hand_written_loss = self.hand_written_loss or not losses
        self.backward_calls.append(len(backward))
        self.forget_step()

    def end_manual_step(self) -> None:
        """Account for one update applied by hand (between two backward calls, no optimizer)."""
        values = self.backward_values
        if values:
            self.user_losses.append(sum(values) / len(values))
            self.hand_written_loss = self.hand_written_loss or not self.loss_values
        self.backward_calls.append(len(values) or 1)
        self.forget_step()

    def end_update(self) -> None:
        """The optimizer's update is done: the next gradient starts a new step."""
        self.grad_seen = False
        self.stale = False

    def watch_stale(self, params: list[torch.Tensor]) -> Callable[[], None] | None:
        """Watch the smallest of ``params`` for gradients never reset: a gradient hook runs before the new
        gradient is accumulated into ``.grad``, so a non-zero ``.grad`` at a step's first backward is stale.

        Returns:
            What removes the hook (None when there is nothing to watch).
        """
        if not params:
            return None
        probe = min(params, key=lambda p: p.numel())

        def hook(grad: torch.Tensor) -> None:
            if not self.grad_seen:
                self.grad_seen = True
                old = probe.grad
                self.stale = old is not None and bool((old.detach() != 0).any())

        return probe.register_hook(hook).remove

    def note_end(
        self,
        initial_state: dict[str, torch.Tensor],
        optimized: list[tuple[str, torch.Tensor]],
        model: nn.Module,
        optimizers: Sequence[torch.optim.Optimizer],
    ) -> None:
        """After the script stopped: which optimised parameters never changed, and which layers or tensors the
        model holds unregistered while they got gradients and no optimizer holds them."""
        self.note_unchanged(initial_state, optimized)
        self.unregistered = unregistered_labels(model, optimizers)

    def note_unchanged(self, before: dict[str, torch.Tensor], params: list[tuple[str, torch.Tensor]]) -> None:
        """After the script stopped: which of the optimised ``params`` still equal their value ``before``."""
        for name, p in params:
            old = before.get(name)
            if old is not None and torch.equal(old, p.detach()):
                self.params_unchanged.append(name)

    def lr_schedule(self) -> list[tuple[float, ...]]:
        """The learning rates of every step when a scheduler (or the script) changed them, else empty."""
        if len(set(self.lrs)) <= 1 or any(len(lrs) != len(self.lrs[0]) for lrs in self.lrs):
            return []
        if any(not math.isfinite(v) for lrs in self.lrs for v in lrs):
            return []
        return list(self.lrs)

    def summary(
        self,
        steps: int,
        stop_reason: str,
        batches_kept: int,
        batches_dropped: int,
        scheduler_steps: int = 0,
    ) -> LoopSummary:
        """What was seen of the user's own loop, for the rules and the report."""
        finite = [v for v in self.user_losses if math.isfinite(v)]
        calls = self.backward_calls
        return LoopSummary(
            steps_captured=steps,
            stop_reason=stop_reason or "the script finished",
            user_loss=tuple(self.user_losses),
            backward_calls_per_step=sum(calls) / len(calls) if calls else 0,
            batches_kept=batches_kept,
            batches_dropped=batches_dropped,
            nonfinite_user_losses=len(self.user_losses) - len(finite),
            stale_gradient_steps=self.stale_steps,
            single_backward_steps=self.single_backward_steps,
            params_outside_optimizer=tuple(self.params_outside_optimizer),
            params_without_grad=tuple(sorted(self.grad_missing)),
            params_unchanged=tuple(self.params_unchanged),
            eval_mode_steps=self.eval_mode_steps,
            mode_dependent_layers=tuple(self.mode_layers),
            unregistered=tuple(self.unregistered),
            learning_rates=tuple(lrs[0] for lrs in schedule) if (schedule := self.lr_schedule()) else None,
            scheduler_steps=scheduler_steps,
        )
