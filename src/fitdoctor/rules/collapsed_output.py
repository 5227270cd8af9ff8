"""FD204 collapsed-output: the same output for every input."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.measured import Measured
from fitdoctor.rules.base import Suspect, g, pct, rule


@rule("FD204", needs=("spread",))
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """After the short training, the predictions' spread across inputs is below ``relative_spread`` of the
    targets' spread."""
    limit = doc.threshold("relative_spread")
    after, init = ev.trained.spread, ev.init.spread
    if after is None or after[1] <= 0:
        return []
    ratio = after[0] / after[1]
    if ratio >= limit:
        return []
    when = f"after {ev.baseline.steps} training steps"
    message = (
        f"The model gives nearly the same output for every input {when}: its spread across inputs (std "
        f"{g(after[0])}) is {pct(ratio) if ratio >= 0.01 else f'{ratio:.1e}×'} of the targets' (std {g(after[1])})"
    )
    if init is not None and init[1] > 0:
        message += f"; at init it was {g(init[0] / init[1])}× the targets' spread"
    evidence = {
        "prediction_std": after[0],
        "target_std": after[1],
        "ratio": Measured(ratio, limit, threshold_key="threshold"),
        "ratio_init": init[0] / init[1] if init and init[1] > 0 else None,
    }
    return [Suspect("FD204", message, ev.locate.model, None, evidence, [], symptom=True)]
