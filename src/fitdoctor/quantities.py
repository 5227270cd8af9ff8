"""The registry of measured quantities that cost a probe: what a rule may declare it needs.

A check measures only what its selected rules need (as a cockpit instrument declares the quantities it
reads): every other rule's quantities are left :class:`NotMeasured`. Reading one raises
:class:`NotMeasuredError`, so a rule that reads a quantity it did not declare fails loudly in its tests
instead of silently judging an empty list. The cheap measurements (data statistics, the activation probe at
initialisation that also finds the final activation, the baseline replay every confirmation compares with)
are always taken and are not listed here.
"""

from __future__ import annotations

from typing import Any, NoReturn

#: Quantity name -> what it is and what measuring it costs.
QUANTITIES: dict[str, str] = {
    "init.gradients": "per-layer weight-gradient norms and the mean loss at the initial weights "
    "(a backward pass on up to 16 probe batches)",
    "trained.activations": "per-unit activation statistics after the baseline replay (a forward pass on the probe batches)",
    "trained.gradients": "per-layer weight-gradient norms and the mean loss after the baseline replay "
    "(a backward pass on up to 16 probe batches)",
    "spread": "the spread of the predictions across inputs against that of the targets, at init and after the "
    "baseline replay (two forward passes on the probe batches)",
    "init.output": "the mean and standard deviation of the prediction the loss sees, at the initial weights "
    "(a forward pass on the probe batches)",
    "sequence_inputs": "the input shapes of recurrent and attention layers against the loss target's "
    "(a forward pass on up to 4 probe batches, only for models that have such layers)",
    "lr_range": "the learning-rate range test (a short run at growing learning rates)",
    "overfit": "the overfit-one-batch check (four short runs on one small batch)",
    "shuffled_targets": "two control replays: the baseline replay again with the targets permuted across the captured "
    "samples, and with the same targets ordered by one feature of the inputs (after the first confirmation, only when "
    "the user's loop ends far from a fit and no other cause was confirmed)",
}

#: Every quantity: what an unrestricted check measures.
ALL = frozenset(QUANTITIES)


class NotMeasuredError(RuntimeError):
    """A quantity was read that no selected rule declared, so the check did not measure it."""


class NotMeasured:
    """Stands in for a quantity nobody asked for: any use of it raises :class:`NotMeasuredError`.

    Args:
        name: The quantity's name in :data:`QUANTITIES`.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def _fail(self, *_: Any) -> NoReturn:
        raise NotMeasuredError(
            f"{self.name} was not measured: declare it in the rule's needs (fitdoctor.quantities.QUANTITIES)"
        )

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # copy, pickle and repr protocols look these up: not a use of the value
            raise AttributeError(attr)
        self._fail()

    __iter__ = __len__ = __bool__ = __getitem__ = __contains__ = _fail
    __lt__ = __le__ = __gt__ = __ge__ = __float__ = __int__ = _fail

    def __repr__(self) -> str:
        return f"NotMeasured({self.name!r})"


def measured(value: object) -> bool:
    """Whether a quantity was measured (is not :class:`NotMeasured`)."""
    return not isinstance(value, NotMeasured)


def unknown(names: set[str] | frozenset[str]) -> list[str]:
    """The names that are not registered quantities, sorted."""
    return sorted(set(names) - ALL)
