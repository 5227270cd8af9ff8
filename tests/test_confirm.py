"""How findings are reported: the cause is the alarm, what it explains an info, and measured harm makes an error."""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fitdoctor.analysis import gather_evidence
from fitdoctor.catalog import load_catalog
from fitdoctor.confirm import (
    HARM_FACTOR,
    _confirmed,
    _cuts_loss_tenfold,
    _escalated,
    already_fits,
    confirm,
    ends_no_better_than_constant,
    rank,
    still_learns_little,
)
from fitdoctor.evidence import Evidence, Locator
from fitdoctor.findings import Finding, Fix, Severity
from fitdoctor.fixes import FixCandidate
from fitdoctor.replay import DRAW_SEED_STEP
from fitdoctor.rules.base import Suspect
from fitdoctor.training import Plan
from rule_support import make_setup, mlp, sine


def _f(code: str, severity: Severity, caused_by: tuple[str, ...] = (), confidence: str = "confirmed") -> Finding:
    return Finding(
        code=code,
        rule=code.lower(),
        severity=severity,
        confidence=confidence,  # type: ignore[arg-type]
        message="m",
        caused_by=caused_by,
    )


def test_a_cause_takes_the_worst_severity_of_what_it_explains_through_a_chain() -> None:
    """FD303 (warning) explains FD301, which explains FD401; FD602 (an error before it was explained) is
    explained by FD301 only: FD303 still becomes an error, so ``--fail-on error`` fails as before."""
    findings = [
        _f("FD303", "warning"),
        _f("FD301", "info", ("FD303",)),
        _f("FD401", "info", ("FD301", "FD303")),
        _f("FD602", "info", ("FD301",)),
        _f("FD502", "info", confidence="suspected"),
    ]
    levels: dict[str, Severity] = {"FD303": "warning", "FD301": "warning", "FD401": "warning", "FD602": "error"}
    out = {f.code: f.severity for f in _escalated(findings, levels)}
    assert out == {"FD303": "error", "FD301": "info", "FD401": "info", "FD602": "info", "FD502": "info"}


def test_a_cause_with_nothing_worse_below_it_keeps_its_severity() -> None:
    findings = [_f("FD501", "warning"), _f("FD402", "info", ("FD501",))]
    out = {f.code: f.severity for f in _escalated(findings, {"FD501": "warning", "FD402": "warning"})}
    assert out == {"FD501": "warning", "FD402": "info"}


def test_alarms_come_first_then_what_they_explain_then_suspicions() -> None:
    catalog = load_catalog()
    findings = [
        _f("FD502", "info", confidence="suspected"),
        _f("FD601", "info", ("FD201",)),
        _f("FD602", "info", ("FD201",)),
        _f("FD201", "error"),
    ]
    # Among the explained, the one that was an error (FD602) before the one that was a warning (FD601).
    levels: dict[str, Severity] = {"FD201": "error", "FD601": "warning", "FD602": "error"}
    assert [f.code for f in rank(findings, catalog, levels)] == ["FD201", "FD602", "FD601", "FD502"]


@pytest.mark.parametrize(
    ("constant", "final", "nothing"),
    [
        (13.5, 75.3, True),  # worse than predicting the mean: learns nothing
        (13.5, 13.5, True),  # no better
        (13.5, math.inf, True),  # diverged
        (13.5, 13.4, False),
        (None, 75.3, False),  # no constant baseline to compare with
        (0.0, 1.0, False),
    ],
)
def test_a_setup_learns_nothing_when_it_ends_no_better_than_a_constant(
    constant: float | None, final: float, nothing: bool
) -> None:
    ev = SimpleNamespace(constant_loss=constant, baseline=SimpleNamespace(final=final))
    assert ends_no_better_than_constant(ev) is nothing  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "after", "measure", "verified", "harmful"),
    [
        (75.26, 0.0005221, "loss", True, True),
        (1.0, 0.1, "loss", True, True),  # exactly 10x
        (1.0, 0.11, "loss", True, False),
        (math.inf, 0.3, "loss", True, True),  # a diverged baseline
        (1.0, 0.01, "loss", False, False),  # not verified
        (0.6, 0.01, "error rate", True, False),  # an error rate is not a loss
        (-957.5, 0.07, "loss", True, False),  # NLL on raw outputs: no ratio of losses
    ],
)
def test_a_verified_fix_that_divides_the_loss_by_ten_is_harm(
    before: float, after: float, measure: str, verified: bool, harmful: bool
) -> None:
    fix = Fix("f", "t", "", verified=verified, before=before, after=after, measure=measure)
    assert _cuts_loss_tenfold(fix) is harmful
    assert HARM_FACTOR == 10.0


def test_a_last_resort_finding_stands_only_while_no_other_cause_is_confirmed() -> None:
    """FD105 (inputs and targets misaligned) is the explanation left when nothing else explains a failure: beside
    a confirmed cause (FD104, sorted data) it stays an unconfirmed suspicion that names that cause; beside a
    symptom or an unconfirmed suspicion it stands."""

    catalog = load_catalog()
    assert catalog["FD105"].last_resort and not catalog["FD104"].last_resort
    ev = SimpleNamespace(constant_loss=None, baseline=SimpleNamespace(final=1.0))
    last = Suspect("FD105", "m", proof=True)
    cause = Suspect("FD104", "m", proof=True)
    symptom = Suspect("FD601", "m", symptom=True)
    none: tuple[None, tuple[Fix, ...]] = (None, ())
    both = [last, cause, symptom]
    confirmed, yielded = _confirmed(ev, both, catalog, {s.code: none for s in both}, True, {"FD105", "FD104", "FD601"})  # type: ignore[arg-type]
    assert confirmed == {"FD105": False, "FD104": True, "FD601": True} and yielded == {"FD105": ["FD104"]}
    alone = [last, symptom]
    confirmed, yielded = _confirmed(ev, alone, catalog, {s.code: none for s in alone}, True, {"FD105", "FD601"})  # type: ignore[arg-type]
    assert confirmed == {"FD105": True, "FD601": True} and yielded == {}
    # a cause whose verified fix still learns little explains nothing: the last resort stands beside it
    unrepaired = frozenset({"FD104"})
    confirmed, yielded = _confirmed(
        ev, both, catalog, {s.code: none for s in both}, True, {"FD105", "FD104", "FD601"}, unrepaired
    )  # type: ignore[arg-type]
    assert confirmed == {"FD105": True, "FD104": True, "FD601": True} and yielded == {}


@pytest.mark.parametrize(
    ("verified", "fixed_final", "learns_little"),
    [
        (True, 1.32, True),  # cnn/shuffled_labels/depth1: LeakyReLU memorises a little better, 95 % of ln 4 left
        (True, 0.60, False),  # below half of the constant's loss: the fix makes it learn
        (False, 1.32, False),  # an unverified fix confirms nothing to begin with
    ],
)
def test_a_verified_fix_that_leaves_the_loss_near_the_constant_still_learns_little(
    verified: bool, fixed_final: float, learns_little: bool
) -> None:
    fix = Fix("leaky-relu", "t", "", verified=verified, before=0.596, after=0.436, measure="error rate")
    replays = {"leaky-relu": SimpleNamespace(final=fixed_final)}
    assert still_learns_little(fix, replays, math.log(4), 0.5) is learns_little  # type: ignore[arg-type]
    assert not still_learns_little(None, replays, math.log(4), 0.5)  # type: ignore[arg-type]


def _fits_ev(
    replay_final: float, user_end: float, adversarial: bool = False, replay_steps: int = 40
) -> SimpleNamespace:
    """Evidence of a 2-class classifier (the best constant scores ln 2) whose 70-step loop ends at ``user_end``."""
    losses = [0.69] * 50 + [user_end] * 20
    return SimpleNamespace(
        constant_loss=math.log(2),
        baseline=SimpleNamespace(final=replay_final, steps=replay_steps),
        setup=SimpleNamespace(user_losses=losses, adversarial=adversarial),
    )


@pytest.mark.parametrize(
    ("replay_final", "user_end", "adversarial", "replay_steps", "fits"),
    [
        (0.014, 0.3, False, 40, True),  # the replay fits
        (0.0914, 0.0164, False, 40, True),  # a replay shorter than the loop hasn't, the user's loop has
        (0.0914, 0.3, False, 40, False),
        (0.0914, 0.0164, True, 40, False),  # a GAN's losses are two games, not one fit
        (0.0914, 0.0164, False, 140, False),  # a replay twice the loop's length lost the fit again
    ],
)
def test_a_model_fits_when_its_replay_or_the_users_own_loop_ends_near_zero(
    replay_final: float, user_end: float, adversarial: bool, replay_steps: int, fits: bool
) -> None:
    assert already_fits(_fits_ev(replay_final, user_end, adversarial, replay_steps)) is fits  # type: ignore[arg-type]


@pytest.mark.parametrize(("init_after", "refuted"), [(0.885, True), (0.6, False)])
def test_a_suspect_whose_own_fixes_made_it_worse_yields_to_a_confirmed_cause(init_after: float, refuted: bool) -> None:
    """hf_trainer: at lr 1e-6 the loss stays at ln 2; raising the rate is verified, re-initialising BERT's standard
    N(0, 0.02) weights ends higher than the baseline. The stuck loss then confirms the rate, not the init; a
    re-init that helps a little (not enough to be verified) is no refutation."""
    ev = _fits_ev(0.694, 0.693)
    rate = Suspect("FD502", "rate", None, None, {}, [], symptom=False)
    init = Suspect("FD303", "init", None, None, {}, [], symptom=True)
    fixes = {
        "FD502": (Fix("lr", "t", "", verified=True, before=0.694, after=0.001, measure="loss"), ()),
        "FD303": (Fix("he", "t", "", verified=False, before=0.694, after=init_after, measure="loss"), ()),
    }
    confirmed, yielded = _confirmed(ev, [rate, init], load_catalog(), fixes, True, {"FD502", "FD303"})  # type: ignore[arg-type]
    assert confirmed == {"FD502": True, "FD303": not refuted}
    assert yielded == ({"FD303": ["FD502"]} if refuted else {})


def _draw_of(seed: int) -> int:
    """Which draw a replay seeded by ``fitdoctor.replay`` is (its seed is the replay seed plus draw * step)."""
    return (torch.initial_seed() - seed) // DRAW_SEED_STEP


@functools.cache
def _frozen_evidence() -> Evidence:
    """A 1-16-16-1 tanh MLP whose weights are all zero fitting sin: its baseline replay stays near the constant."""
    torch.manual_seed(0)
    x, y = sine()
    model = mlp(nn.Tanh, [1, 16, 16, 1])
    for p in model.parameters():
        nn.init.zeros_(p)
    setup = make_setup(model, x, y, steps=20)
    return gather_evidence(setup, Locator(), replay_steps=60, needed=frozenset(), budget_s=math.inf).ev


@pytest.mark.parametrize(
    ("winning", "draws_weights", "verified", "draws"),
    [
        ({0}, True, True, 0),  # the first draw is verified: no more draws
        ({1, 2}, True, True, 3),  # two of three draws win: the median is verified
        ({1}, True, False, 3),  # one of three is not enough
        ({1, 2}, False, False, 0),  # a plan that draws no weights is replayed once
    ],
)
def test_a_fix_that_draws_new_weights_is_judged_on_the_median_of_three_draws(
    winning: set[int], draws_weights: bool, verified: bool, draws: int
) -> None:
    """The plan re-initialises the frozen model only on the ``winning`` draws (each draw is seeded apart, see
    ``Plan.draw``); on the others it leaves the zeros, which end where the baseline does."""
    ev = _frozen_evidence()

    def edit(model: nn.Module) -> None:
        if _draw_of(ev.setup.seed) in winning:
            for layer in model.modules():
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()

    fix = FixCandidate("redraw", "Re-initialise", "", Plan("redraw", model_edits=(edit,), draws_weights=draws_weights))
    suspect = Suspect("FD303", "init", None, None, {}, [fix])
    out = confirm(ev, [suspect], load_catalog(), 60, ev.eval_batches)
    measured = out.findings[0].fix
    assert measured is not None and measured.verified is verified
    assert len(out.replays["redraw"].draws) == draws
    assert ("the median of 3 draws" in measured.note) is (draws == 3)
    if draws:
        assert measured.after == sorted(v for _, v in out.replays["redraw"].draws)[1]
