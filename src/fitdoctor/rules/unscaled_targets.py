"""FD102 unscaled-targets: regression targets far from the output layer's scale."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import standardize_targets
from fitdoctor.measured import Measured
from fitdoctor.rules.base import Suspect, g, rule


@rule("FD102", per_term=True)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Regression targets whose max(|mean|, std) exceeds ``target_scale``."""
    t = ev.targets
    if t is None or not ev.setup.loss.is_regression or ev.final is not None:
        return []
    limit = doc.threshold("target_scale")
    scale = max(abs(t.mean), t.std)
    if scale <= limit:
        return []
    lr = ev.setup.lr
    message = (
        f"The targets span [{g(t.low)}, {g(t.high)}] (mean {g(t.mean)}, std {g(t.std)}), far from the outputs of "
        f"order 1 a freshly initialised last layer produces (max(|mean|, std) = {g(scale)} > {g(limit)})"
    )
    if lr:
        message += f": at lr {lr:g} the output weights need about {scale / lr:.0g} steps just to reach that scale"
    evidence = {
        "mean": t.mean,
        "std": t.std,
        "min": t.low,
        "max": t.high,
        "scale": Measured(scale, limit, threshold_key="threshold"),
    }
    fix = standardize_targets(ev)
    return [Suspect("FD102", message, ev.locate.loss, None, evidence, [fix] if fix else [], symptom=True)]
