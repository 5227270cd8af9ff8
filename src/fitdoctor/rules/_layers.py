"""Shared logic of the per-layer activation rules (dead and saturated units)."""

from __future__ import annotations

from dataclasses import dataclass

from fitdoctor.evidence import Evidence
from fitdoctor.probes.activations import ActivationStats


@dataclass(frozen=True)
class LayerVerdict:
    """One activation layer's share of stuck units, at init and after the short training.

    Attributes:
        stats: The layer's statistics after training (at init when no trained statistics exist).
        at_init: Share of units stuck at init.
        after: Share of units stuck after the short training.
        stuck_units: Number of units stuck after the short training.
        mean_init: The per-unit value averaged over units at init: for a share per unit (saturated on a share of
            the inputs), the share of all unit-input pairs.
        mean_after: The same after the short training.
    """

    stats: ActivationStats
    at_init: float
    after: float
    stuck_units: int
    mean_init: float = 0.0
    mean_after: float = 0.0


def stuck_share(per_unit: list[float], limit: float, below: bool) -> tuple[float, int]:
    """Share (and count) of units whose per-unit value is below (or at least) ``limit``."""
    if not per_unit:
        return 0.0, 0
    hits = sum(1 for v in per_unit if (v < limit if below else v >= limit))
    return hits / len(per_unit), hits


def layer_verdicts(
    ev: Evidence, kinds: frozenset[str], unit_limit: float, below: bool, field_name: str
) -> list[LayerVerdict]:
    """Per activation layer of the given kinds (the final activation excluded), the stuck share."""
    final_index = ev.final.index if ev.final else None
    after = {a.index: a for a in ev.trained.activations}
    out = []
    for a in ev.init.activations:
        if a.kind not in kinds or not a.units or a.index == final_index:
            continue
        init_share, _ = stuck_share(getattr(a, field_name), unit_limit, below)
        trained = after.get(a.index)
        measured = trained is not None and trained.units
        after_share, count = stuck_share(getattr(trained, field_name), unit_limit, below) if measured else (0.0, 0)
        mean_after = _mean(getattr(trained, field_name)) if measured else 0.0
        out.append(
            LayerVerdict(trained or a, init_share, after_share, count, _mean(getattr(a, field_name)), mean_after)
        )
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
