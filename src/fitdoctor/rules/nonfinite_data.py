"""FD103 nonfinite-data: NaN or Inf in the inputs or targets."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import drop_nonfinite_rows
from fitdoctor.rules.base import Suspect, rule


@rule("FD103")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Any NaN/Inf value (more than ``nonfinite_values``) in the captured inputs or targets."""
    nf = ev.nonfinite
    if nf is None or nf.input_values + nf.target_values <= doc.threshold("nonfinite_values"):
        return []
    parts = []
    if nf.input_values:
        cols = ", ".join(str(c) for c in nf.features[:8])
        parts.append(f"{nf.input_values} in the inputs (feature{'s' if len(nf.features) != 1 else ''} {cols})")
    if nf.target_values:
        parts.append(f"{nf.target_values} in the targets")
    distinct = len({id(b) for b in ev.setup.batches})
    message = (
        f"The training data holds NaN/Inf values: {' and '.join(parts)}, in {len(nf.batches)} of the {distinct} "
        "captured batches. One NaN makes that step's loss and every gradient NaN, and the optimizer then writes "
        "NaN into the weights"
    )
    evidence = {
        "input_values": nf.input_values,
        "target_values": nf.target_values,
        "features": nf.features,
        "batches": nf.batches[:20],
        "values_inspected": nf.total_values,
    }
    return [
        Suspect(
            "FD103", message, ev.locate.model_call, None, evidence, [drop_nonfinite_rows(ev)], symptom=True, proof=True
        )
    ]
