"""Rules: pure functions of :class:`~fitdoctor.evidence.Evidence` that return suspicions.

Each rule lives in its own module and registers itself with :func:`rule`. The confirm phase turns
suspicions into findings by replaying their fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.findings import Location
from fitdoctor.fixes import FixCandidate


@dataclass
class Suspect:
    """A rule's verdict before confirmation.

    Attributes:
        code: The rule code.
        message: What was found, with numbers.
        location: The user's line.
        module: The model part concerned.
        evidence: Measured values and thresholds.
        candidates: Fixes to replay, most specific first.
        symptom: Whether the short training showed the problem's symptom.
        proof: Whether the evidence settles the matter without a replay (e.g. targets out of range).
        caused_by: Codes of root causes.
    """

    code: str
    message: str
    location: Location | None = None
    module: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    candidates: list[FixCandidate] = field(default_factory=list)
    symptom: bool = False
    proof: bool = False
    caused_by: tuple[str, ...] = ()


RuleFn = Callable[[Evidence, RuleDoc], list[Suspect]]
RULES: dict[str, RuleFn] = {}


def rule(code: str) -> Callable[[RuleFn], RuleFn]:
    """Register a rule implementation under its catalog code."""

    def register(fn: RuleFn) -> RuleFn:
        RULES[code] = fn
        return fn

    return register


def load_rules() -> dict[str, RuleFn]:
    """Import every rule module (they register themselves) and return the registry."""
    from fitdoctor.rules import (  # noqa: F401
        cannot_overfit_batch,
        collapsed_output,
        dead_relu,
        eval_mode_training,
        exploding_gradients,
        learning_rate,
        loss_activation_mismatch,
        loss_not_decreasing,
        loss_shape_mismatch,
        missing_zero_grad,
        nonfinite_data,
        output_range_mismatch,
        params_not_updated,
        poor_initialization,
        saturated_activations,
        unscaled_inputs,
        unscaled_targets,
        vanishing_gradients,
    )

    return RULES


def g(value: float) -> str:
    """A number for a message: 4 significant digits."""
    return f"{value:.4g}"


def pct(share: float) -> str:
    """A share as a percentage."""
    return f"{100 * share:.0f}%"
