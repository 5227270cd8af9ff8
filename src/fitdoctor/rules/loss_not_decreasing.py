"""FD601 loss-not-decreasing: the symptom, in the user's loop and in the replay."""

from __future__ import annotations

from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.probes.trend import Trend, block_size, loss_trend
from fitdoctor.probes.yardstick import constant_words
from fitdoctor.rules.base import Suspect, g, rule


def _stalled(t: Trend | None, doc: RuleDoc, constant: float | None, tail: Trend | None) -> bool:
    if t is None:
        return False
    flat = t.relative_decrease < doc.threshold("min_relative_decrease") and t.p_value > doc.threshold("trend_p_value")
    stuck = constant is not None and constant > 0 and t.end >= doc.threshold("baseline_share") * constant
    return flat or (stuck and not _falling(tail, doc))


def _falling(tail: Trend | None, doc: RuleDoc) -> bool:
    """Whether the last half of a run still falls by ``still_falling``, significantly."""
    return (
        tail is not None
        and tail.relative_decrease >= doc.threshold("still_falling")
        and tail.p_value < doc.threshold("trend_p_value")
    )


def _creeping(tail: Trend | None, doc: RuleDoc, constant: float | None) -> bool:
    """Whether the last half of a run still goes down steadily (a significant downward trend), if slowly, at a
    pace that would take the loss below ``baseline_share`` of the input-independent baseline within as many
    steps again as the run had: slow, but on its way. A loss that only inches towards a plateau at the
    mean-prediction level (a significant trend of a few parts in ten thousand) is not."""
    if tail is None or tail.relative_decrease <= 0 or tail.p_value >= doc.threshold("trend_p_value"):
        return False
    if not constant or constant <= 0:
        return False
    projected = tail.end - 2 * (tail.start - tail.end)  # the tail is the run's last half: two more of them
    return projected < doc.threshold("baseline_share") * constant


@rule("FD601")
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """The loss neither falls (by ``min_relative_decrease``, significantly) nor beats ``baseline_share`` of
    the input-independent baseline — in the user's loop and in the replay."""
    if ev.setup.adversarial:
        return []  # a generator's and a discriminator's losses are meant to stay up (see the capture note)
    user, rep = ev.user_trend, ev.replay_trend
    constant = ev.constant_loss
    if constant and rep is not None and rep.start < 1e-3 * constant:
        return []  # already fitted from the start
    losses = ev.setup.user_losses
    block = block_size([id(b) for b in ev.setup.batches])
    user_tail = loss_trend(losses[len(losses) // 2 :], block) if user is not None else None
    curve = [v for _, v in ev.baseline.curve]
    replay_tail = loss_trend(curve[len(curve) // 2 :])
    user_stalled = _stalled(user, doc, constant, user_tail)
    replay_stalled = _stalled(rep, doc, constant, replay_tail)
    if not (replay_stalled and (user is None or user_stalled)):
        return []
    # Slow is not broken: a loss still going down steadily in the last half of every run is at most an info.
    slow = _creeping(replay_tail, doc, constant) and (user_tail is None or _creeping(user_tail, doc, constant))
    parts = []
    if user is not None:
        unit = "steps" if user.block == 1 else f"blocks of {user.block} steps"
        parts.append(
            f"In your loop it went from {g(user.start)} to {g(user.end)} (medians of the first and last fifth, "
            f"over {user.points} {unit}; Kendall τ = {user.tau:.2f}, p = {user.p_value:.2g})"
        )
    if rep is not None:
        parts.append(f"replayed from the same start for {ev.baseline.steps} steps: {g(rep.start)} → {g(rep.end)}")
    found = "; ".join(parts)
    # a significant downward trend whose size is negligible is "barely going down", not "not going down"
    trending = [t for t in (user, rep) if t is not None and t.tau < 0 and t.p_value < doc.threshold("trend_p_value")]
    lead = (
        "The loss is going down, but slowly. "
        if slow
        else "The loss is barely going down. "
        if trending
        else "The loss is not going down. "
    )
    message = lead + found[:1].upper() + found[1:]
    if constant is not None:
        message += f". Predicting {constant_words(ev.setup.loss.name)} for every input scores {g(constant)}"
    if slow:
        tail = replay_tail
        assert tail is not None
        lr = ev.setup.lr
        message += (
            f". Over the last half of the replay it still fell {tail.relative_decrease:.1%} with a steady downward "
            f"trend (Kendall τ = {tail.tau:.2f}, p = {tail.p_value:.2g}): training that is slow, not stuck"
            + (f"; the learning rate {g(lr)} sets the pace" if lr else "")
        )
    evidence = {
        "user_start": user.start if user else None,
        "user_end": user.end if user else None,
        "user_relative_decrease": user.relative_decrease if user else None,
        "user_p_value": user.p_value if user else None,
        "replay_start": rep.start if rep else None,
        "replay_end": rep.end if rep else None,
        "replay_relative_decrease": rep.relative_decrease if rep else None,
        "constant_prediction_loss": constant,
        "min_relative_decrease": doc.threshold("min_relative_decrease"),
        "trend_p_value": doc.threshold("trend_p_value"),
        "baseline_share": doc.threshold("baseline_share"),
        "still_falling_steadily": slow,
    }
    # A slow loss is not the symptom of a failure: unconfirmed (info), and it confirms no other suspect.
    return [Suspect("FD601", message, ev.locate.loss, None, evidence, [], symptom=not slow)]
