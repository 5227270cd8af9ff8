"""FD104 data-order: consecutive batches drawn from one class or from one slice of the sorted targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fitdoctor.batches import Batch, shuffled_samples
from fitdoctor.catalog import RuleDoc
from fitdoctor.evidence import Evidence
from fitdoctor.fixes import FixCandidate
from fitdoctor.measured import Measured
from fitdoctor.patches.edits import SourceEdit
from fitdoctor.rules.base import Suspect, pct, rule
from fitdoctor.training import CLASS_LABEL_LOSSES, Plan

#: Fewer distinct batches than this say nothing about an order.
MIN_BATCHES = 4


@dataclass(frozen=True)
class Mixing:
    """How much of the whole captured data's spread a batch holds, on average.

    Attributes:
        share: Mean over batches of the batch's label entropy over the most a batch of its size can hold
            (classes), or of its target variance over the pooled variance (regression).
        batches: Distinct batches measured.
        measure: ``labels`` or ``targets``.
        classes_seen: Distinct labels over all captured batches (classification).
        runs: Runs of equal labels along the distinct batches in captured order (classification): one per class
            when the samples arrive sorted by class.
        runs_chance: An upper bound on the probability that a random order of the same labels forms at most one
            run per class plus one (classification; 1.0 when it can't be small).
        column: For targets of several columns, the one whose batches hold the least of its spread (the data
            is sorted by it); None for one column or labels.
    """

    share: float
    batches: int
    measure: str
    classes_seen: int | None = None
    runs: int | None = None
    runs_chance: float = 1.0
    column: int | None = None

    @property
    def class_runs(self) -> bool:
        """Whether the labels arrive in one contiguous run per class (one class may wrap once)."""
        seen = self.classes_seen or 0
        return self.runs is not None and seen >= 2 and self.runs <= seen + 1


def _labels(batch: Batch, loss: str) -> torch.Tensor | None:
    target = batch.target
    if target is None or target.numel() == 0:
        return None
    if loss in ("cross_entropy", "nll_loss") and not target.is_floating_point():
        return target.reshape(-1).long()
    if loss.startswith("binary_cross_entropy") and bool(((target == 0) | (target == 1)).all()):
        return target.reshape(-1).long()
    return None


def _entropy(counts: torch.Tensor) -> float:
    p = counts[counts > 0].double() / counts.sum()
    return float(-(p * p.log()).sum())


def _runs(labels: torch.Tensor) -> int:
    return 1 + int((labels[1:] != labels[:-1]).sum()) if labels.numel() else 0


def runs_chance(counts: Sequence[int]) -> float:
    """An upper bound on the probability that a uniformly random order of labels with these class counts forms
    at most one run per class plus one.

    Every order of the labels is one of N! / prod(n_i!) equally likely sequences. At most C! of them have one run
    per class, and at most (n_i - 1) * (C + 1)! have class i split in two runs and every other class in one;
    the bound is their sum over the number of sequences.
    """
    counts = [n for n in counts if n > 0]
    c, total = len(counts), sum(counts)
    if c < 2:
        return 1.0
    arrangements = math.factorial(c) + sum(n - 1 for n in counts) * math.factorial(c + 1)
    log_p = math.log(arrangements) + sum(math.lgamma(n + 1) for n in counts) - math.lgamma(total + 1)
    return min(1.0, math.exp(log_p))


def mixing(batches: Sequence[Batch], loss: str) -> Mixing | None:
    """How mixed the distinct captured batches are, in captured order (None when it can't be told)."""
    distinct = list({id(b): b for b in batches}.values())
    if len(distinct) < MIN_BATCHES:
        return None
    labels = [_labels(b, loss) for b in distinct]
    if loss in CLASS_LABEL_LOSSES and all(x is not None for x in labels):
        pooled = torch.cat([x for x in labels if x is not None])
        if pooled.min() < 0:
            return None
        counts = torch.bincount(pooled)
        total = _entropy(counts)
        shares = []
        for x in labels:
            assert x is not None
            room = min(total, math.log(x.numel())) if x.numel() > 1 else 0.0
            if room > 0:
                shares.append(min(_entropy(torch.bincount(x)) / room, 1.0))
        if not shares:
            return None
        return Mixing(
            sum(shares) / len(shares),
            len(distinct),
            "labels",
            int((counts > 0).sum()),
            runs=_runs(pooled),
            runs_chance=runs_chance(counts.tolist()),
        )
    if loss in CLASS_LABEL_LOSSES:
        return None
    targets = [b.target for b in distinct]
    if any(t is None or not t.is_floating_point() or t.ndim == 0 or t.shape[0] < 2 for t in targets):
        return None
    rows = [t.detach().double().reshape(t.shape[0], -1) for t in targets if t is not None]
    if len({r.shape[1] for r in rows}) != 1:
        return None
    pooled_var = torch.cat(rows).var(0, unbiased=False)
    keep = pooled_var > 0
    if not bool(keep.any()):
        return None
    # Per target column, the mean over batches of the batch's share of that column's variance; data sorted by
    # any one column (rows exported sorted by one of several targets) shows in that column alone.
    per_column = torch.stack([r.var(0, unbiased=False)[keep] / pooled_var[keep] for r in rows]).mean(0)
    worst = int(per_column.argmin())
    column = int(keep.nonzero()[worst]) if int(keep.sum()) > 1 else None
    return Mixing(float(per_column[worst]), len(distinct), "targets", column=column)


def shuffle_fix(ev: Evidence) -> FixCandidate | None:
    """Replay on the same samples, shuffled across the captured batches (None when they can't be pooled)."""
    seed, where = ev.setup.seed, ev.locate.model_call
    if shuffled_samples(ev.setup.batches, seed) is None:
        return None
    return FixCandidate(
        "shuffle",
        "Shuffle the training data every epoch",
        "loader = DataLoader(dataset, batch_size=..., shuffle=True)  # or index with torch.randperm(len(x)) each epoch",
        Plan("shuffle", rebatch=lambda batches: shuffled_samples(batches, seed) or list(batches)),
        where,
        edits=(SourceEdit("set_argument_anywhere", where.path, where.line, "DataLoader", "shuffle", "True"),)
        if where is not None
        else (),
    )


@rule("FD104", per_term=True)
def check(ev: Evidence, doc: RuleDoc) -> list[Suspect]:
    """Batches that hold less than ``batch_share`` of the spread of the whole captured data (label entropy for
    classification, target variance for regression): the data arrives sorted or grouped, not shuffled."""
    if ev.setup.adversarial:
        return []  # a discriminator's batches are all-real or all-fake by design
    found = mixing(ev.setup.batches, ev.setup.loss.name)
    limit = doc.threshold("batch_share")
    if found is None or found.share >= limit:
        return []
    if found.measure == "labels":
        what = (
            f"the {found.batches} captured batches hold {pct(found.share)} of the label variety a shuffled batch "
            f"of their size would (label entropy; {found.classes_seen} classes seen in all): the data arrives "
            "grouped by class"
        )
    else:
        of = "the target variance" if found.column is None else f"the variance of target column {found.column}"
        by = "its target" if found.column is None else f"target column {found.column}"
        what = (
            f"the {found.batches} captured batches hold {pct(found.share)} of {of} of the data they come from: "
            f"the data arrives sorted by {by}"
        )
    slice_ = "one class" if found.measure == "labels" else "one range of targets"
    message = (
        f"The training data is not shuffled: {what}. Each stretch of steps then fits {slice_} and undoes the "
        "last, so the loss swings and the model forgets what came before"
    )
    evidence = {
        "batch_share": Measured(found.share, limit),
        "batches": found.batches,
        "measure": found.measure,
        "classes_seen": found.classes_seen,
        "target_column": found.column,
    }
    # Batches that each hold one class are a fact of the loop, whatever it costs this run: every step pulls
    # every output towards one class. So are labels that arrive in one run per class (sorted by class), which
    # a few large batches can hide from the share (two of four batches straddle a boundary). The replay still
    # measures what shuffling gives.
    one_class = found.measure == "labels" and found.share <= doc.threshold("proof_share")
    chance = doc.threshold("sorted_chance")
    sorted_by_class = found.class_runs and found.runs_chance <= chance
    if one_class:
        message += "; almost every batch holds a single class"
        evidence["one_class_share"] = Measured(found.share, doc.threshold("proof_share"))
    elif sorted_by_class:
        message += (
            f"; the captured samples arrive in {found.runs} runs of one label each, one per class: sorted by class "
            f"(a shuffled order of these labels forms so few runs with a probability under {chance:.0e})"
        )
    if sorted_by_class:
        evidence["label_runs"] = found.runs
        evidence["runs_chance"] = Measured(found.runs_chance, chance)
    fix = shuffle_fix(ev)
    return [
        Suspect(
            "FD104",
            message,
            ev.locate.model_call,
            None,
            evidence,
            [fix] if fix else [],
            symptom=True,
            proof=one_class or sorted_by_class,
        )
    ]
