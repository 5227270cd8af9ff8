"""Confirm and verify: replay every proposed fix and keep only what measurably helps.

A fix is *verified* when its replay's final loss, in the user's own loss units on the captured
batches, is at most ``1 - MIN_IMPROVEMENT`` times the baseline's after the same number of steps from
the same initial weights and seed. A finding is *confirmed* when its fix is verified, or when the short
training shows its symptom while the loss is not going down. Unconfirmed findings are reported as
``info`` unless their evidence is a proof on its own (e.g. targets no weights can reach). A finding that
another confirmed finding explains (a symptom, or a consequence the cause's rule declares) is reported as
``info`` "explained by" its cause, which becomes the alarm and takes the worst severity of what it explains.

Severity follows measured harm: a confirmed warning is an error when the setup, trained as the script trains
it, ends no better than always predicting the best constant (it learns nothing), or when its verified fix
divides the loss by :data:`HARM_FACTOR` or more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

from fitdoctor import futility
from fitdoctor.batches import Batch
from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.findings import SEVERITY_ORDER, Finding, Fix, Severity
from fitdoctor.fixes import FixCandidate
from fitdoctor.parallel import run_all
from fitdoctor.probes.control import loop_end
from fitdoctor.replay import ReplayResult, StopTest, deciding_thin, portable, replay, restored
from fitdoctor.rules.base import Suspect
from fitdoctor.suppression import silenced_at

#: A fix must cut the baseline's final loss by at least this share to count as verified. Replays are
#: deterministic (same weights, batches and seed), so any difference is the fix's; 25 % keeps
#: marginal, seed-sized wins out of the report.
MIN_IMPROVEMENT = 0.25

#: A fix that draws new weights (a re-initialisation, wider layers) is one random draw: in a small or narrow network
#: the draw alone can decide the outcome (the benchmark's sine1d/tiny_relu/batch64, 8 ReLU layers 3 wide, widened
#: with He init: the first draw stopped behind the baseline's 0.049, the next two ended at 0.0002 and 0.0005).
#: When its first draw is not verified, it is drawn again until there are this many draws, and the median draw
#: decides (its loss, its verification): the fix then needs two of the three draws to win.
WEIGHT_DRAWS = 3

#: Root causes before symptoms: the order of categories in a report with equal severity.
CATEGORY_ORDER = {
    "data": 0,
    "output": 1,
    "initialization": 2,
    "activations": 3,
    "gradients": 4,
    "optimization": 5,
    "loop": 6,
    "meta": 7,
}

#: Findings that explain another finding, by code: (effect, cause).
#: A model whose baseline replay, or the user's own loop, ends below this share of the input-independent
#: baseline loss already fits (R² ≥ 0.95 for MSE; for cross-entropy, 5 % of the class-prior entropy). A fix that
#: makes it fit still better is an improvement, not the repair of a network that learns nothing: such findings
#: stay ``info``, except facts of the training loop (category ``loop``), which are bugs whatever the fit.
FITS_SHARE = 0.05


@dataclass
class Confirmation:
    """The confirmed findings and every replay behind them."""

    findings: list[Finding]
    replays: dict[str, ReplayResult]
    skipped: int = 0
    suppressed: list[Finding] = field(default_factory=list)


def already_fits(ev: Evidence) -> bool:
    """Whether the unchanged replay, or the user's own loop, already ends below ``FITS_SHARE`` of the
    input-independent baseline. The loop counts when the replay stopped before it: a replay scaled down to the
    analysis budget can be shorter than the steps the script took, and a fix that only gets there sooner repairs
    nothing (a BERT that fits in its 150 captured steps, replayed for 80: a Xavier re-init ahead of it at step 80
    is no finding). A replay that ran at least as long has the later word: a fit that the same training loses
    again (a tanh net from an N(0, 1) init, at 0.005 after the loop's 100 steps, 0.08 after 200) is no fit."""
    constant = ev.constant_loss
    if not (constant and constant > 0 and math.isfinite(constant)):
        return False
    losses = ev.setup.user_losses
    loop_counts = not ev.setup.adversarial and ev.baseline.steps < len(losses)
    ends = [ev.baseline.final, loop_end(losses) if loop_counts else None]
    return any(e is not None and math.isfinite(e) and 0 <= e <= FITS_SHARE * constant for e in ends)


#: A verified fix that divides the loss by at least this much makes its finding an error (see the README's
#: severity policy): a warning's default assumes a fix that helps, not one that decides whether training works.
HARM_FACTOR = 10.0


def ends_no_better_than_constant(ev: Evidence) -> bool:
    """Whether the baseline replay ends no better than always predicting the best constant: the setup, as the
    script trains it, learns nothing (a diverged replay included)."""
    constant, final = ev.constant_loss, ev.baseline.final
    return constant is not None and math.isfinite(constant) and constant > 0 and not final < constant


def still_learns_little(fix: Fix | None, replays: dict[str, ReplayResult], constant: float | None, gate: float) -> bool:
    """Whether a verified fix leaves the setup learning little: its replay still ends above ``gate`` times the best
    constant's loss. Its finding is real, but it doesn't explain the failure (LeakyReLU in place of dead units
    memorises shuffled labels a little better: 60 -> 44 % errors, and the loss stays at 95 % of the constant's)."""
    if fix is None or not fix.verified or constant is None or not math.isfinite(constant) or constant <= 0:
        return False
    replayed = replays.get(fix.id)
    return replayed is not None and not replayed.final <= gate * constant


def _cuts_loss_tenfold(fix: Fix | None) -> bool:
    if fix is None or not fix.verified or fix.measure != "loss" or fix.before is None or fix.after is None:
        return False
    if not math.isfinite(fix.after) or fix.after < 0:
        return False
    return fix.before == math.inf or (fix.before > 0 and fix.after * HARM_FACTOR <= fix.before)


def is_verified(result: ReplayResult, baseline: ReplayResult) -> bool:
    """Whether a fixed replay measurably beats the baseline: its loss, or for a classifier its error rate,
    is at least ``MIN_IMPROVEMENT`` lower."""
    return _loss_verified(result, baseline) or _errors_verified(result, baseline)


def _loss_verified(result: ReplayResult, baseline: ReplayResult) -> bool:
    if not math.isfinite(result.final):
        return False
    if not math.isfinite(baseline.final):
        return True
    return result.final <= (1.0 - MIN_IMPROVEMENT) * baseline.final and baseline.final > 0


def _errors_verified(result: ReplayResult, baseline: ReplayResult) -> bool:
    if result.error_rate is None or baseline.error_rate is None or baseline.error_rate <= 0:
        return False
    return result.error_rate <= (1.0 - MIN_IMPROVEMENT) * baseline.error_rate


def futility_stop(baseline: ReplayResult, steps: int) -> StopTest | None:
    """The stop test for fix replays against ``baseline`` (see ``fitdoctor.futility``): a replay that can no
    longer be verified by its loss stops, unless it is a classifier whose error rate is already below the
    baseline's final one (it may still be verified by that). None when no replay can be stopped."""
    test = futility.Futility.against(baseline.curve, baseline.final, steps, MIN_IMPROVEMENT)
    if test is None:
        return None
    rule = test

    def stop(curve: Sequence[tuple[int, float]], errors: Callable[[], float | None]) -> bool:
        if not rule.hopeless(curve):
            return False
        if baseline.error_rate is None or baseline.error_rate <= 0:
            return True
        now = errors()
        return now is None or now >= baseline.error_rate

    return stop


def _fix(c: FixCandidate, r: ReplayResult, baseline: ReplayResult, loss: str, steps: int) -> Fix:
    before: float | None
    after: float | None
    measure = "loss"
    note = c.note
    if r.stopped:
        # compared where it stopped: the baseline's loss at the same step
        at = dict(baseline.curve).get(r.steps, baseline.final)
        before = at if math.isfinite(at) else None
        after = r.final if math.isfinite(r.final) else None
        stop_note = (
            f"replay stopped at step {r.steps} of {steps}: behind the unchanged replay, it could no longer "
            f"end {MIN_IMPROVEMENT:.0%} below its final loss"
        )
        note = f"{note}; {stop_note}" if note else stop_note
    elif not _loss_verified(r, baseline) and _errors_verified(r, baseline):
        # The loss can't tell (e.g. NLL on raw outputs runs to -inf); the error rate can.
        assert r.error_rate is not None and baseline.error_rate is not None
        measure = "error rate"
        before, after = baseline.error_rate, r.error_rate
    else:
        before = baseline.final if math.isfinite(baseline.final) else None
        after = r.final if math.isfinite(r.final) else None
    if r.draws:
        finals = ", ".join(
            f"{v:.3g}" + (f" (stopped at step {n})" if n < steps and math.isfinite(v) else "") for n, v in r.draws
        )
        draws_note = f"the median of {len(r.draws)} draws of the new weights (last losses {finals})"
        note = f"{note}; {draws_note}" if note else draws_note
    return Fix(
        id=c.id,
        title=c.title,
        snippet=c.snippet,
        verified=not r.stopped and is_verified(r, baseline),
        metric=f"{loss if measure == 'loss' else measure} on the captured batches after {r.steps if r.stopped else steps} replay steps",
        measure=measure,
        before=before,
        after=after,
        steps=r.steps,
        location=c.location,
        note=note,
        edits=c.edits,
        stopped=r.stopped,
    )


def confirm(
    ev: Evidence,
    suspects: Sequence[Suspect],
    catalog: dict[str, RuleDoc],
    steps: int,
    eval_batches: Sequence[Batch],
    deadline: float = math.inf,
    points: int = 24,
    known: dict[str, ReplayResult] | None = None,
    repair_gate: float | None = None,
) -> Confirmation:
    """Replay each suspect's fixes, pick the best verified one, link causes and rank the findings.

    Fixes whose replay would start after ``deadline`` (a ``time.perf_counter()`` value) are not replayed:
    their suspects keep no measured fix (and stay unconfirmed unless proven otherwise). A suspect whose line
    carries ``# fitdoctor: ignore[...]`` for it is measured like the others but explains nothing: it goes to
    ``suppressed``, and no other finding says it is "explained by" it. Replays in ``known`` (by fix id, from an
    earlier confirmation of the same evidence) are not run again. With ``repair_gate``, a last-resort finding
    doesn't yield to a confirmed cause whose verified fix still ends above that share of the best constant's loss
    (:func:`still_learns_little`): the cause is real, but the failure is left unexplained by it.
    """
    baseline = ev.baseline
    replays: dict[str, ReplayResult] = {**(known or {}), "baseline": baseline}
    skipped: set[str] = set()
    todo: dict[str, FixCandidate] = {}
    for s in suspects:
        for c in s.candidates:
            if c.id not in replays:
                todo.setdefault(c.id, c)
    # Independent trainings: on every core (see ``fitdoctor.parallel``), each seeded as the baseline, each stopped
    # once it can no longer be verified; except the fixes of a suspect whose symptom the training showed: whether
    # each of those ends worse than the baseline decides whether it yields to another cause (``_made_worse``), and
    # a replay behind at its stop can still end level with the baseline.
    stop = futility_stop(baseline, steps) if futility.enabled() else None
    to_the_end = {c.id for s in suspects if s.symptom and not s.proof for c in s.candidates}
    outcomes = run_all(
        list(todo.values()),
        lambda c: replay(
            ev.setup,
            c.plan,
            steps,
            eval_batches,
            points=points,
            thin=deciding_thin(points),
            stop=None if c.id in to_the_end else stop,
        ),
        deadline=deadline,
        pack=portable,
        unpack=lambda c, packed: restored(ev.setup, c.plan, packed),
    )
    for c, outcome in zip(todo.values(), outcomes, strict=True):
        if outcome.skipped or outcome.value is None:
            skipped.add(c.id)
        else:
            replays[c.id] = outcome.value
    inconclusive = [c for c in todo.values() if c.id in replays and _draw_again(c, replays[c.id], baseline)]
    if inconclusive:
        replays.update(
            _median_draws(ev, inconclusive, replays, steps, eval_batches, points, stop, to_the_end, deadline)
        )
    silenced = {s.code for s in suspects if silenced_at(s.location, s.code, catalog[s.code].slug)}
    codes = {s.code for s in suspects} - silenced
    # While a rule that means "not learning" is raised, a suspect whose symptom the short training showed is confirmed.
    failing = any(catalog[s.code].signals_failure and s.symptom for s in suspects)
    fixes = {s.code: _best_fix(s, replays, baseline, ev.setup.loss.name, steps) for s in suspects}
    unrepaired = (
        frozenset(
            c for c, (best, _) in fixes.items() if still_learns_little(best, replays, ev.constant_loss, repair_gate)
        )
        if repair_gate is not None
        else frozenset()
    )
    confirmed, yielded = _confirmed(ev, suspects, catalog, fixes, failing, codes, unrepaired)
    findings: list[Finding] = []
    suppressed: list[Finding] = []
    alarm_levels: dict[str, Severity] = {}  # the severity each finding would have had without its causes
    order_levels: dict[str, Severity] = {}  # the same before measured harm: the report's order keeps to rules
    learns_nothing = ends_no_better_than_constant(ev)
    for s in suspects:
        doc = catalog[s.code]
        best, alternatives = fixes[s.code]
        caused_by: list[str] = []
        for cause in sorted(codes):
            if s.code in catalog[cause].explains and confirmed.get(cause) and cause not in caused_by:
                caused_by.append(cause)
        if doc.symptom:
            caused_by += [
                c for c in sorted(codes) if not catalog[c].symptom and confirmed.get(c) and c not in caused_by
            ]
        is_confirmed = confirmed[s.code]
        proof = s.proof and s.code not in yielded
        severity = cast(Severity, doc.severity) if (is_confirmed or proof) else "info"
        if s.code not in silenced:
            order_levels[s.code] = severity
        if is_confirmed and severity == "warning" and (learns_nothing or _cuts_loss_tenfold(best)):
            severity = "error"  # measured harm decides, not the rule's default
        message = _with_other_causes(
            s, doc, yielded, unrepaired & codes if is_confirmed else frozenset(), confirmed, repair_gate
        )
        if s.code not in silenced:
            alarm_levels[s.code] = severity
        if caused_by:
            # The cause is the alarm; what it explains is reported, confirmed, as an info under it.
            message += f"; explained by {', '.join(sorted(caused_by))} above"
            severity = "info"
        (suppressed if s.code in silenced else findings).append(
            Finding(
                code=s.code,
                rule=doc.slug,
                severity=severity,
                confidence="confirmed" if is_confirmed else "suspected",
                message=message,
                location=s.location,
                module=s.module,
                evidence=s.evidence,
                fix=best,
                alternatives=alternatives,
                caused_by=tuple(sorted(caused_by)),
            )
        )
    # ordered as the rules' own severities order them; measured harm changes what a finding is, not where it is
    ranked = rank(_escalated(findings, alarm_levels), catalog, _escalation(findings, order_levels))
    return Confirmation(ranked, replays, len(skipped), suppressed)


def _draw_again(c: FixCandidate, first: ReplayResult, baseline: ReplayResult) -> bool:
    """Whether a fix's first replay leaves its verdict to more draws of its new weights: it draws weights and its
    first draw is not verified (stopped as hopeless or not: a futility stop reads one draw's curve too)."""
    return c.plan.draws_weights and not is_verified(first, baseline)


def _median_draws(
    ev: Evidence,
    candidates: Sequence[FixCandidate],
    replays: dict[str, ReplayResult],
    steps: int,
    eval_batches: Sequence[Batch],
    points: int,
    stop: StopTest | None,
    to_the_end: set[str],
    deadline: float,
) -> dict[str, ReplayResult]:
    """Each candidate's median over :data:`WEIGHT_DRAWS` draws of its new weights (the first is in ``replays``),
    with every draw's final loss in ``draws``; a candidate whose further draws would start after ``deadline``
    keeps its first. Each draw stops as the first did (``stop``, except for the ids in ``to_the_end``)."""
    tasks = [(c, k) for c in candidates for k in range(1, WEIGHT_DRAWS)]
    outcomes = run_all(
        tasks,
        lambda t: replay(
            ev.setup,
            replace(t[0].plan, draw=t[1]),
            steps,
            eval_batches,
            points=points,
            thin=deciding_thin(points),
            stop=None if t[0].id in to_the_end else stop,
        ),
        deadline=deadline,
        pack=portable,
        unpack=lambda t, packed: restored(ev.setup, replace(t[0].plan, draw=t[1]), packed),
    )
    out: dict[str, ReplayResult] = {}
    for c in candidates:
        draws = [replays[c.id]] + [
            o.value for (t, o) in zip(tasks, outcomes, strict=True) if t[0].id == c.id and o.value is not None
        ]
        if len(draws) < WEIGHT_DRAWS:
            continue
        # a stopped draw ends where it could no longer be verified: it ranks behind every finished one
        ranked = sorted(draws, key=lambda r: (r.stopped, r.final if math.isfinite(r.final) else math.inf))
        median = ranked[len(ranked) // 2]
        out[c.id] = replace(median, draws=tuple((r.steps, math.inf if r.diverged else r.final) for r in draws))
    return out


def _best_fix(
    s: Suspect, replays: dict[str, ReplayResult], baseline: ReplayResult, loss: str, steps: int
) -> tuple[Fix | None, tuple[Fix, ...]]:
    """A suspect's measured fixes: the best (verified first, then the lowest loss) and the alternatives."""
    measured = [_fix(c, replays[c.id], baseline, loss, steps) for c in s.candidates if c.id in replays]
    measured.sort(key=lambda f: (not f.verified, f.after if f.after is not None else math.inf))
    return (measured[0], tuple(measured[1:])) if measured else (None, ())


def _confirmed(
    ev: Evidence,
    suspects: Sequence[Suspect],
    catalog: dict[str, RuleDoc],
    fixes: dict[str, tuple[Fix | None, tuple[Fix, ...]]],
    failing: bool,
    codes: set[str],
    unrepaired: frozenset[str] = frozenset(),
) -> tuple[dict[str, bool], dict[str, list[str]]]:
    """Which suspects are confirmed, and the last-resort ones that another cause (a confirmed finding that is not
    a symptom, and not in ``unrepaired``: its fix still learns little) can explain, each with those causes: they
    stay unconfirmed suspicions."""
    fits = already_fits(ev)
    confirmed = {
        s.code: (
            bool(fixes[s.code][0] and fixes[s.code][0].verified)  # type: ignore[union-attr]
            # a loop fact (parameters never updated, gradients never reset) stays a bug in a model that fits
            and (not fits or catalog[s.code].category == "loop")
        )
        or (s.symptom and failing)
        or s.proof
        for s in suspects
    }
    causes = {c for c in codes if confirmed.get(c) and not catalog[c].symptom and not catalog[c].last_resort}
    # A suspect the failing training would confirm, whose own fixes all made the replay worse, is refuted by
    # them when another cause is confirmed: the failure is that cause's (e.g. a standard BERT init at a far too
    # low learning rate: re-initialising loses, raising the rate wins).
    refuted = {s.code for s in suspects if s.symptom and not s.proof and _made_worse(fixes[s.code])}
    yielded = {
        s.code: sorted(explaining)
        for s in suspects
        if (catalog[s.code].last_resort or s.code in refuted)
        and (explaining := causes - {s.code} - (unrepaired if catalog[s.code].last_resort else frozenset()))
    }
    return {code: ok and code not in yielded for code, ok in confirmed.items()}, yielded


def _with_other_causes(
    s: Suspect,
    doc: RuleDoc,
    yielded: dict[str, list[str]],
    unrepaired: frozenset[str],
    confirmed: dict[str, bool],
    repair_gate: float | None,
) -> str:
    """A suspect's message, plus the confirmed causes that can explain its failure (it yielded to them), or, for a
    confirmed last resort, those it did not yield to because their fixes still learn little."""
    if s.code in yielded:
        return f"{s.message}; but {', '.join(yielded[s.code])} above, confirmed, can explain the same failure"
    standing = sorted(c for c in unrepaired if confirmed.get(c) and c != s.code)
    if not doc.last_resort or not standing or repair_gate is None:
        return s.message
    return (
        f"{s.message}; {', '.join(standing)} above is confirmed too, but with its fix the replay still ends above "
        f"{repair_gate:.0%} of that constant's loss: it doesn't explain this"
    )


def _made_worse(fixes: tuple[Fix | None, tuple[Fix, ...]]) -> bool:
    """Whether a suspect's fixes were all replayed to a higher loss than the baseline's (none: False)."""
    best, alternatives = fixes
    measured = [f for f in (best, *alternatives) if f is not None]
    return bool(measured) and all(
        not f.verified and f.measure == "loss" and f.before is not None and f.after is not None and f.after > f.before
        for f in measured
    )


def _escalated(findings: list[Finding], levels: dict[str, Severity]) -> list[Finding]:
    """Give each cause the highest severity among its own and those of the findings it explains, directly
    or through a chain of causes, so that explaining an error never lowers the report's worst severity
    (``--fail-on error`` still fails)."""
    level = _escalation(findings, levels)
    return [f if f.caused_by or level[f.code] == f.severity else replace(f, severity=level[f.code]) for f in findings]


def _escalation(findings: Sequence[Finding], levels: dict[str, Severity]) -> dict[str, Severity]:
    """Each finding's level (from ``levels``, else its severity), each cause raised to the worst of its effects."""
    level: dict[str, Severity] = {f.code: levels.get(f.code, f.severity) for f in findings}
    changed = True
    while changed:
        changed = False
        for effect in findings:
            for cause in effect.caused_by:
                if cause in level and SEVERITY_ORDER[level[effect.code]] < SEVERITY_ORDER[level[cause]]:
                    level[cause] = level[effect.code]
                    changed = True
    return level


def rank(
    findings: Sequence[Finding], catalog: dict[str, RuleDoc], levels: dict[str, Severity] | None = None
) -> list[Finding]:
    """Order: alarms, then the confirmed findings they explain, then unconfirmed suspicions; within each, root
    causes before the findings they explain, then severity (from ``levels`` where given: for an explained
    finding, the severity it has without its cause), a verified fix first, category and code."""
    levels = levels or {}
    present = {f.code for f in findings}

    def depth(f: Finding, seen: frozenset[str] = frozenset()) -> int:
        causes = [c for c in f.caused_by if c in present and c not in seen]
        if not causes:
            return 0
        by_code = {x.code: x for x in findings}
        return 1 + max(depth(by_code[c], seen | {f.code}) for c in causes)

    return sorted(
        findings,
        key=lambda f: (
            0 if f.severity != "info" else 1 if f.confidence == "confirmed" else 2,  # alarms, explained, suspected
            depth(f),
            SEVERITY_ORDER[levels.get(f.code, f.severity)],
            not (f.fix is not None and f.fix.verified),  # a cause shown by measurement outranks a suspicion
            CATEGORY_ORDER.get(catalog[f.code].category, 9) if f.code in catalog else 9,
            f.code,
        ),
    )
