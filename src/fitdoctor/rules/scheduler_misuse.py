"""FD506 scheduler-misuse: a learning-rate schedule that drives the rate to almost nothing within the captured
steps. (Its other case, a scheduler stepped where the optimizer never is, is raised by the capture.)"""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes.builders import hold_peak_lr
from fitdoctor.measured import Measured
from fitdoctor.rules.base import Suspect, g, pct, rule


@rule("FD506")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """After its peak, the first param group's learning rate stays at or below ``floor_share`` of the peak for at
    least ``collapsed_share`` of the captured steps."""
    lrs = ev.loop.learning_rates
    if not lrs:
        return []
    top = max(range(len(lrs)), key=lambda i: lrs[i])
    peak = lrs[top]
    if not peak > 0:
        return []
    floor = doc.threshold("floor_share") * peak
    low = [i for i in range(top, len(lrs)) if lrs[i] <= floor]
    share = len(low) / len(lrs)
    if not low or share < doc.threshold("collapsed_share"):
        return []
    calls, steps = ev.loop.scheduler_steps, len(lrs)
    per_batch = calls >= 0.5 * steps
    if calls and per_batch:
        how = (
            f"The script steps its scheduler {calls} times in {steps} optimizer steps, about once per step: a "
            "schedule counted in epochs (step_size, T_max, a per-epoch gamma) runs out within its first steps when "
            "it is stepped after every batch"
        )
    elif calls:
        how = f"The script steps its scheduler {calls} times in {steps} optimizer steps: its decay is far too fast"
    else:
        how = "The script changes the learning rate itself (no torch.optim scheduler stepped it)"
    message = (
        f"The learning rate falls from {g(peak)} to {g(lrs[-1])} within the captured steps: from step {low[0] + 1} "
        f"on it is under {100 * doc.threshold('floor_share'):g}% of its peak, for {len(low)} of {steps} steps "
        f"({pct(share)}), where the weights barely move. {how}"
    )
    evidence = {
        "peak_lr": peak,
        "final_lr": lrs[-1],
        "collapsed_from_step": low[0] + 1,
        "collapsed_share": Measured(share, doc.threshold("collapsed_share"), "share of the captured steps"),
        "floor_share": doc.threshold("floor_share"),
        "scheduler_steps": calls,
        "optimizer_steps": steps,
    }
    where = ev.locate.scheduler or ev.locate.optimizer
    return [Suspect("FD506", message, where, None, evidence, [hold_peak_lr(ev, per_batch)])]
