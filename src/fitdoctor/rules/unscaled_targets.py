"""FD102 unscaled-targets: regression targets far from the scale of the model's output at init."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import standardize_targets
from fitdoctor.measured import Measured
from fitdoctor.rules.base import Suspect, g, rule


@rule("FD102", needs=("init.output",), per_term=True)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Regression targets whose distance from the model's output at init, max(|mean − output mean|, std), is
    more than ``target_scale`` times the output's spread at init (at least 1: outputs of order 1)."""
    t = ev.targets
    if t is None or not ev.setup.loss.is_regression or ev.final is not None:
        return []
    limit = doc.threshold("target_scale")
    out_mean, out_std = ev.init.output or (0.0, 0.0)
    unit = max(1.0, out_std)
    scale = max(abs(t.mean - out_mean), t.std) / unit
    if scale <= limit:
        return []
    lr = ev.setup.lr
    at_init = f"mean {g(out_mean)}, std {g(out_std)}" if ev.init.output else "not measured"
    gap = max(abs(t.mean - out_mean), t.std)
    measure = f"max(|target mean − output mean|, target std) = {g(gap)}"
    if unit > 1.0:
        measure += f", {g(scale)}× the output's spread at init (> {g(limit)}×)"
    else:
        measure += f" > {g(limit)}"
    message = (
        f"The targets span [{g(t.low)}, {g(t.high)}] (mean {g(t.mean)}, std {g(t.std)}), far from what the model "
        f"outputs at init ({at_init}): {measure}"
    )
    if lr:
        message += f": at lr {lr:g} the output weights need about {scale / lr:.0g} steps just to reach that scale"
    evidence = {
        "mean": t.mean,
        "std": t.std,
        "min": t.low,
        "max": t.high,
        "output_mean": out_mean,
        "output_std": out_std,
        "scale": Measured(scale, limit, threshold_key="threshold"),
    }
    fix = standardize_targets(ev)
    return [Suspect("FD102", message, ev.locate.loss, None, evidence, [fix] if fix else [], symptom=True)]
