"""FD104 data-order: the batch share on batches built here (sorted, grouped, shuffled; classification and
regression; several seeds), the label runs of data sorted by class, the shuffle the fix replays, and the rule
with its verified fix in-process; tests/scripts/class_folders.py through the CLI. Its examples run through the
CLI in test_examples.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import SCRIPTS, run_cli
from fitdoctor.analysis import analyse
from fitdoctor.batches import Batch, shuffled_samples
from fitdoctor.evidence import Locator
from fitdoctor.rules.data_order import mixing, runs_chance
from fitdoctor.selection import RuleSelection
from fitdoctor.training import TrainingSetup
from rule_support import setup_of, threshold


def _batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[Batch]:
    return [
        Batch((x[i : i + size],), {}, y[i : i + size], (len(y[i : i + size]), *([] if y.ndim == 1 else [1])))
        for i in range(0, len(x), size)
    ]


def _labels(classes: int, per_class: int, seed: int, shuffle: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(per_class)
    if shuffle:
        y = y[torch.randperm(len(y), generator=g)]
    return torch.randn(len(y), 4, generator=g), y


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("classes", "size"), [(2, 32), (10, 32), (100, 16), (1000, 32)])
def test_grouped_labels_fall_below_the_share_and_shuffled_ones_stay_above(seed: int, classes: int, size: int) -> None:
    limit = threshold("FD104", "batch_share")
    per_class = 2 * size  # every class fills two batches when stored in order
    grouped = mixing(_batches(*_labels(classes, per_class, seed, False), size), "cross_entropy")
    shuffled = mixing(_batches(*_labels(classes, per_class, seed, True), size), "cross_entropy")
    assert grouped is not None and shuffled is not None
    assert grouped.share < 0.05 and grouped.share < limit <= shuffled.share
    assert grouped.classes_seen == shuffled.classes_seen == classes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_targets_sorted_fall_below_the_share(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 3, generator=g)
    y = x[:, :1] + 0.1 * torch.randn(512, 1, generator=g)
    order = y[:, 0].argsort()
    limit = threshold("FD104", "batch_share")
    sorted_mix = mixing(_batches(x[order], y[order], 32), "mse_loss")
    random_mix = mixing(_batches(x, y, 32), "mse_loss")
    assert sorted_mix is not None and random_mix is not None
    assert sorted_mix.share < 0.05 < limit <= random_mix.share


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_sorted_by_one_of_several_targets_fall_below_the_share(seed: int) -> None:
    """Three target columns, the rows sorted by the second: that column's batches hold little of its spread
    (the mean over the columns would still pass); unsorted, every column stays above the share."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1024, 8, generator=g)
    y = x[:, :3] @ torch.randn(3, 3, generator=g) + 0.1 * torch.randn(1024, 3, generator=g)
    order = y[:, 1].argsort()
    limit = threshold("FD104", "batch_share")
    sorted_mix = mixing(_batches(x[order], y[order], 64), "mse_loss")
    random_mix = mixing(_batches(x, y, 64), "mse_loss")
    assert sorted_mix is not None and random_mix is not None
    assert sorted_mix.column == 1 and sorted_mix.share < 0.05 < limit <= random_mix.share


def test_the_shuffle_keeps_samples_and_sizes() -> None:
    x, y = _labels(4, 30, 0, False)
    batches = _batches(x, y, 32)  # the last batch holds 24
    out = shuffled_samples(batches, seed=3)
    assert out is not None and [len(b.target) for b in out] == [len(b.target) for b in batches]
    inputs, targets = torch.cat([b.args[0] for b in out])[:, 0].tolist(), torch.cat([b.target for b in out]).tolist()
    assert sorted(zip(inputs, targets, strict=True)) == sorted(zip(x[:, 0].tolist(), y.tolist(), strict=True))
    assert shuffled_samples(batches, seed=3)[0].target.tolist() == out[0].target.tolist()  # type: ignore[index]
    assert shuffled_samples([Batch((x, x), {}, y, (len(y),))] * 2, seed=0) is None  # two inputs: not pooled


def _setup(x: torch.Tensor, y: torch.Tensor, seed: int) -> TrainingSetup:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    return setup_of(model, _batches(x, y, 32), "mse_loss", lr=1e-2, seed=seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_fd104_on_rows_sorted_by_target_and_its_twin(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1024, 8, generator=g)
    y = torch.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3]
    order = y[:, 0].argsort()
    only = RuleSelection(select=("FD104",))
    report = analyse(_setup(x[order], y[order], seed), Locator(), script="<test>", replay_steps=160, rules=only)
    (finding,) = report.findings
    assert finding.code == "FD104" and finding.confidence == "confirmed"
    assert finding.fix is not None and finding.fix.id == "shuffle" and finding.fix.verified
    share = finding.evidence["batch_share"]
    assert 0 < share.value < threshold("FD104", "batch_share") / 2
    assert "one_class_share" not in finding.evidence  # sorted targets stand by their replay, never as a fact
    assert analyse(_setup(x, y, seed), Locator(), script="<test>", replay_steps=160, rules=only).findings == ()


@pytest.mark.parametrize("seed", [0, 1])
def test_batches_of_one_class_stand_as_a_loop_fact_and_their_shuffled_twin_gets_nothing(seed: int) -> None:
    """Labels stored class after class: almost every batch holds one class, a fact of the loop that stands
    whatever the replay measures (LeCun et al. 1998); the same samples shuffled get no finding. Rows sorted by a
    regression target never count that way (the test above: confirmed by its replay only)."""
    x, y = _labels(4, 64, seed, shuffle=False)
    x = x + y[:, None].float()  # a signal, so the twin learns
    only = RuleSelection(select=("FD104",))

    def classifier(x: torch.Tensor, y: torch.Tensor) -> TrainingSetup:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 4))
        return setup_of(model, _batches(x, y, 32), "cross_entropy", lr=1e-2, seed=seed)

    report = analyse(classifier(x, y), Locator(), script="<test>", replay_steps=120, rules=only)
    (finding,) = report.findings
    assert finding.code == "FD104" and finding.confidence == "confirmed" and finding.severity in ("warning", "error")
    assert finding.evidence["one_class_share"].value <= threshold("FD104", "proof_share")
    assert "single class" in finding.message
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    twin = analyse(classifier(x[order], y[order]), Locator(), script="<test>", replay_steps=120, rules=only)
    assert twin.findings == ()


@pytest.mark.parametrize("counts", [(3, 3), (4, 2, 2), (2, 2, 1, 2), (5, 1)])
def test_the_runs_chance_bounds_the_exact_probability(counts: tuple[int, ...]) -> None:
    """Against every distinct order of small label multisets: the share of orders with at most C + 1 runs is
    never above the bound."""
    from itertools import pairwise, permutations

    labels = [c for c, n in enumerate(counts) for _ in range(n)]
    orders = set(permutations(labels))
    few = sum(1 for o in orders if 1 + sum(a != b for a, b in pairwise(o)) <= len(counts) + 1)
    assert few / len(orders) <= runs_chance(counts) <= 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_sorted_into_a_few_large_batches_form_one_run_per_class(seed: int) -> None:
    """1,024 rows of 3 classes in 4 batches of 256 (two batches straddle a class boundary, so the share is about
    0.28, above proof_share): 3 runs, a chance far under sorted_chance; shuffled, hundreds of runs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (1024,), generator=g).sort().values
    x = torch.randn(1024, 4, generator=g)
    grouped = mixing(_batches(x, y, 256), "cross_entropy")
    order = torch.randperm(1024, generator=g)
    shuffled = mixing(_batches(x[order], y[order], 256), "cross_entropy")
    assert grouped is not None and shuffled is not None
    assert threshold("FD104", "proof_share") < grouped.share < threshold("FD104", "batch_share")
    assert grouped.runs == 3 and grouped.class_runs
    assert grouped.runs_chance <= threshold("FD104", "sorted_chance")
    assert shuffled.runs is not None and shuffled.runs > 500 and not shuffled.class_runs


@pytest.mark.parametrize("seed", [0, 1])
def test_labels_sorted_by_class_stand_as_a_loop_fact_beside_a_share_above_the_proof(seed: int) -> None:
    """The same data through the rule: a warning that stands whatever the replay measures, with the runs in its
    evidence and message; the shuffled twin gets nothing."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (1024,), generator=g).sort().values
    x = torch.randn(1024, 4, generator=g) + y[:, None].float()
    only = RuleSelection(select=("FD104",))

    def classifier(x: torch.Tensor, y: torch.Tensor) -> TrainingSetup:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        return setup_of(model, _batches(x, y, 256), "cross_entropy", lr=1e-2, seed=seed)

    (finding,) = analyse(classifier(x, y), Locator(), script="<test>", replay_steps=80, rules=only).findings
    assert finding.code == "FD104" and finding.confidence == "confirmed" and finding.severity in ("warning", "error")
    assert finding.evidence["label_runs"] == 3 and "one_class_share" not in finding.evidence
    assert "sorted by class" in finding.message
    order = torch.randperm(len(y), generator=g)
    assert (
        analyse(classifier(x[order], y[order]), Locator(), script="<test>", replay_steps=80, rules=only).findings == ()
    )


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_loader_over_classes_stored_in_order_through_the_cli(shuffle: bool) -> None:
    """A script whose DataLoader (batches of 256, shuffle=False) reads three classes stored one after another:
    FD104 as a warning with the three label runs in its evidence; with --shuffle, no finding at all."""
    run = run_cli(
        "check", str(SCRIPTS / "class_folders.py"), "--format", "json", "--", *(["--shuffle"] if shuffle else [])
    )
    assert run.report is not None and run.report["status"] == "ok", run.stderr[-2000:]
    if shuffle:
        assert run.report["findings"] == []
        return
    assert run.codes("warning") == ["FD104"]
    (finding,) = [f for f in run.report["findings"] if f["code"] == "FD104"]
    assert finding["evidence"]["label_runs"] == 3 and finding["confidence"] == "confirmed"
    assert finding["location"]["line"] == 33  # loss = loss_fn(model(xb), yb)


def test_binary_targets_sorted_by_class_form_two_runs() -> None:
    """Binary cross-entropy with 0/1 float targets of shape (N, 1), the negatives first: two runs, a chance far
    under sorted_chance; a 1-in-2 alternation (the most mixed order) gives one run per sample."""
    x = torch.randn(512, 4)
    ordered = torch.cat([torch.zeros(300, 1), torch.ones(212, 1)])
    alternating = (torch.arange(512) % 2).float().view(-1, 1)
    grouped = mixing(_batches(x, ordered, 128), "binary_cross_entropy_with_logits")
    mixed = mixing(_batches(x, alternating, 128), "binary_cross_entropy_with_logits")
    assert grouped is not None and mixed is not None
    assert grouped.runs == 2 and grouped.class_runs and grouped.runs_chance <= threshold("FD104", "sorted_chance")
    assert mixed.runs == 512 and not mixed.class_runs
