"""The terminal pictures: line charts, per-layer bars, the fit chart, the "Pictures" section and ``--explain``.

Snapshot tests render at 80 columns without colour and compare with ``tests/snapshots/*.txt``; a change in
the rendering fails them. After checking a new rendering by eye, rewrite the snapshots with
``FITDOCTOR_UPDATE_SNAPSHOTS=1 pytest tests/test_charts.py``. The reports they render are the saved ones of
``saved_reports.py``, which are checked against what the check writes today.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from fitdoctor.catalog import rule_doc
from fitdoctor.findings import Finding, Report
from fitdoctor.measured import Measured, evidence_from_json, evidence_to_json
from fitdoctor.report.charts import fit_chart, layer_bars, line_chart
from fitdoctor.report.explain import explain, first_sentences, numbers_sentence, plain
from fitdoctor.report.figures import FitFigure, LayerBar, fit_figure, layer_figure, loss_figure
from fitdoctor.report.full import full_renderables, pictures
from fitdoctor.summary import Fit, GradientRow, LayerRow, TrainingSummary
from saved_reports import load

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE / "snapshots"
EXAMPLES = ("sine_tiny_relu", "gelu_final_activation", "interpolation_unscaled")


def render(renderables: Iterable[RenderableType], width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    for r in renderables:
        console.print(r)
    return console.export_text()


def snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("FITDOCTOR_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: render it, check it by eye, then set FITDOCTOR_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), f"rendering differs from {path.name}"


def is_ascii(text: str) -> bool:
    return all(ord(ch) < 128 for ch in text)


def widest(text: str) -> int:
    return max(len(line.rstrip()) for line in text.splitlines())


# -- synthetic data ---------------------------------------------------------------------------------

FALLING = [(float(i), 0.5 * 0.97**i) for i in range(200)]  # 0.5 down to about 0.001: a log axis
SLOW = [(float(i), 1.0 - 0.004 * i) for i in range(200)]  # 1 down to 0.2: a linear axis
FLAT = [(float(i), 0.25) for i in range(200)]
GAP = [(float(i), None if 80 <= i < 120 else 0.3 + 0.1 * math.sin(i / 10)) for i in range(200)]

LAYERS = [
    {
        "name": "relu after model.fc1",
        "kind": "relu",
        "units": 4,
        "dead_init": 0.0,
        "dead_after": 0.75,
        "saturated_init": 0.0,
        "saturated_after": 0.0,
        "preact_std": 0.8,
        "preact_std_after": 1.3,
        "grad_norm_init": 0.5,
        "grad_norm_after": 0.02,
    },
    {
        "name": "tanh after model.fc2",
        "kind": "tanh",
        "units": 16,
        "dead_init": 0.1,
        "dead_after": None,
        "saturated_init": 0.9,
        "saturated_after": 1.0,
        "preact_std": 120.0,
        "preact_std_after": 150.0,
        "grad_norm_init": 0.001,
        "grad_norm_after": 0.0004,
    },
]
GRADIENTS = [
    {"name": "fc1", "init": 0.5, "after": 0.02},
    {"name": "fc2", "init": 0.001, "after": 0.0004},
    {"name": "head.0", "init": 2.0, "after": 0.1},
]


def with_training(training: TrainingSummary) -> Report:
    return Report(version="0", script="train.py", status="ok", training=training)


def layer_rows(layers: list[dict[str, object]], gradients: list[dict[str, object]]) -> tuple[LayerBar, ...]:
    """The layer figure of a report holding these ``training.layers`` and ``training.gradients``."""
    summary = TrainingSummary(
        layers=tuple(LayerRow.from_dict(a) for a in layers),
        gradients=tuple(GradientRow(str(g["name"]), g["init"], g["after"]) for g in gradients),  # type: ignore[arg-type]
    )
    return layer_figure(with_training(summary))


def sine_fit() -> FitFigure:
    xs = [-3.0 + 6.0 * i / 99 for i in range(100)]
    grid = [-3.0 + 6.0 * i / 59 for i in range(60)]
    fit = Fit(
        tuple(xs),
        tuple(math.sin(x) for x in xs),
        tuple(grid),
        {
            "init": tuple(0.01 * x for x in grid),
            "baseline": tuple(max(0.0, 0.6 * (x + 1.0)) - 0.7 for x in grid),  # one ReLU kink
            "he-init": tuple(math.sin(x) * 0.95 for x in grid),
        },
    )
    figure = fit_figure(with_training(TrainingSummary(fit=fit)))
    assert figure is not None
    return figure


# -- line charts ------------------------------------------------------------------------------------


def test_line_chart_falling_curve_uses_a_log_axis() -> None:
    text = render(line_chart({"falling": FALLING}, width=72, x_label="step", y_label="loss"))
    assert "loss (log scale)" in text
    assert widest(text) <= 72
    snapshot("line_falling", text)


def test_line_chart_linear_when_the_span_is_narrow_and_when_forced() -> None:
    linear = render(line_chart({"slow": SLOW}, width=72))
    assert "log scale" not in linear
    forced = render(line_chart({"falling": FALLING}, width=72, log_y=False))
    assert "log scale" not in forced
    assert render(line_chart({"slow": SLOW}, width=72, log_y=True)) != linear
    snapshot("line_linear", linear)


def test_line_chart_flat_series_draws_one_row() -> None:
    text = render(line_chart({"flat": FLAT}, width=60, height=8))
    rows_with_dots = [line for line in text.splitlines() if any(0x2800 < ord(ch) <= 0x28FF for ch in line)]
    assert len(rows_with_dots) == 1
    snapshot("line_flat", text)


def test_line_chart_none_values_leave_a_gap() -> None:
    text = render(line_chart({"gap": GAP}, width=72, height=8))
    plot_rows = [line for line in text.splitlines() if "┤" in line or "│" in line]
    start = plot_rows[0].index("┤") + 1
    columns = range(start, start + 62)
    empty = [c for c in columns if all(len(r) <= c or r[c] == " " for r in plot_rows)]
    assert len(empty) >= 8, "the 40 steps of None should leave blank columns"
    snapshot("line_gap", text)


def test_line_chart_several_series_share_axes_and_legend() -> None:
    series = {"your loop": FALLING[:100], "baseline": FLAT, "fix": FALLING}
    lines = line_chart(series, width=78, styles={"baseline": "red", "fix": "green"})
    text = render(lines)
    legend = text.splitlines()[-1]
    assert all(name in legend for name in series)
    assert widest(text) <= 78
    assert next(span.style for span in lines[-1].spans if lines[-1].plain[span.start : span.end] == "━━") == "blue"
    snapshot("line_three_series", text)


def test_line_chart_ascii_fallback() -> None:
    series = {"falling": FALLING, "flat": FLAT, "gap": GAP}
    text = render(line_chart(series, width=72, ascii_only=True))
    assert is_ascii(text)
    assert all(marker in text for marker in "*ox")
    snapshot("line_ascii", text)


def test_line_chart_without_finite_values() -> None:
    assert "nothing to draw" in render(line_chart({"diverged": [(0.0, None), (1.0, float("nan"))]}))


# -- layer bars -------------------------------------------------------------------------------------


def test_layer_bars_flag_the_broken_layer() -> None:
    lines = layer_bars(layer_rows(LAYERS, GRADIENTS), width=78)
    text = render(lines)
    assert widest(text) <= 78
    assert "75%!" in text  # dead after training
    assert "100%!" in text  # saturated
    assert "150!" in text  # pre-activation scale
    assert "model.head[0]" in text  # a parametrised layer without activation gets its own row
    red = {
        lines[i].plain[s.start : s.end].strip()
        for i in range(len(lines))
        for s in lines[i].spans
        if s.style == "bold red"
    }
    assert "75%" in red
    snapshot("layer_bars", text)


def test_layer_bars_ascii_and_missing_values() -> None:
    old_style = [{k: v for k, v in a.items() if not k.startswith("grad")} for a in LAYERS]  # no gradients known
    text = render(layer_bars(layer_rows(old_style, []), width=78, ascii_only=True))
    assert is_ascii(text)
    assert "#" in text and "." in text
    snapshot("layer_bars_ascii", text)
    assert layer_bars(layer_rows([], [])) == []


# -- fit chart --------------------------------------------------------------------------------------


def test_fit_chart() -> None:
    text = render(fit_chart(sine_fit(), width=78, height=14))
    assert widest(text) <= 78
    legend = text.splitlines()[-1]
    assert all(name in legend for name in ("data", "init", "baseline", "he-init"))
    snapshot("fit_chart", text)


def test_fit_chart_ascii() -> None:
    text = render(fit_chart(sine_fit(), width=78, height=14, ascii_only=True))
    assert is_ascii(text)
    snapshot("fit_chart_ascii", text)


# -- the report's pictures --------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_pictures_of_examples(name: str) -> None:
    report = load(name)
    text = render(pictures(report))
    assert widest(text) <= 80
    snapshot(f"pictures_{name}", text)
    ascii_text = render(pictures(report, ascii_only=True))
    assert is_ascii(ascii_text)


def test_every_replayed_fix_is_drawn_and_the_verified_ones_on_top() -> None:
    report = load("interpolation_unscaled")
    figure = loss_figure(report)
    assert figure is not None
    fixes = [(line.key, line.verified) for line in figure.lines if line.role == "fix"]
    assert fixes == [
        ("lr-suggested", False),
        ("xavier-layer-0", False),
        ("xavier-init", False),
        ("standardize-inputs", True),
    ]
    assert [line.role for line in figure.lines] == ["baseline", "fix", "fix", "fix", "fix", "user"]
    legend = render(pictures(report)).split("Layers at init", 1)[0]
    assert all(fix in legend for fix, _ in fixes)  # the terminal draws the same figure as the HTML report


def test_full_report_has_pictures_only_with_charts_and_explanations() -> None:
    report = load("interpolation_unscaled")
    quiet = render(full_renderables(report))
    assert "Pictures" not in quiet and "loss (log scale)" not in quiet
    assert "pictures of the loss curves, the layers and the fit: --charts, or --html FILE" in quiet
    text = render(full_renderables(report, charts=True))
    assert "Pictures" in text and "--charts" not in text
    assert "loss (log scale)" in text
    assert "standardize-inputs" in text.split("Pictures", 1)[1]
    assert "model[1] (Tanh)" in text.split("Pictures", 1)[1]
    assert text.index("Pictures") > text.index("FD502") and text.index("Pictures") < text.index(
        "1 error, 0 warnings, 5 info (4 explained by the alarms above)"
    )
    flat = " ".join(render(full_renderables(report, explain=True), width=100).split())
    for f in report.findings:
        assert " ".join(explain(f, rule_doc(f.code)).split()) in flat
    assert "Here: scale 1e+05 (threshold 10)" in flat  # 3 significant digits, as every number
    assert "Here: scale" not in " ".join(text.split())


def test_no_pictures_without_a_training_run_or_a_finding() -> None:
    crash = load("crash")
    assert "Pictures" not in render(full_renderables(crash, charts=True))
    healthy = load("gelu_healthy")
    assert not healthy.findings
    assert "pictures" not in render(full_renderables(healthy)).lower()  # no pointer where nothing is wrong


# -- explain ----------------------------------------------------------------------------------------


def test_explain_quotes_the_why_and_this_runs_numbers() -> None:
    report = load("sine_tiny_relu")
    dead = next(f for f in report.findings if f.rule == "dead-relu")
    text = explain(dead, rule_doc("dead-relu"))
    assert text.startswith("A ReLU passes gradient only where its input is positive.")
    assert "relu after model.hidden: 0% at init, 75% after training (threshold 50%)" in text
    assert "`" not in text and "\n" not in text


def test_numbers_follow_the_evidence_conventions() -> None:
    doc = rule_doc("output-range-mismatch")
    evidence = {"final_activation": "gelu", "target_min": -10.4, "outside_share": Measured(0.93, 0.01)}
    assert numbers_sentence(evidence, doc) == "Here: outside share 93% (threshold 1%), target min -10.4."
    doc = rule_doc("learning-rate-too-low")
    evidence = {"lr": 0.001, "update_ratio": Measured(3.8e-05, 0.0001), "lr_ratio": 10.0}
    assert (
        numbers_sentence(evidence, doc)
        == "Here: update ratio 3.8e-05 (threshold 0.0001), lr 0.001; threshold: lr ratio 10."
    )
    doc = rule_doc("loss-not-decreasing")
    evidence = {
        "user_relative_decrease": 0.002,
        "user_p_value": 0.5,
        "min_relative_decrease": 0.1,
        "trend_p_value": 0.05,
    }
    assert "user relative decrease 0.002 (threshold 0.1), user p value 0.5 (threshold 0.05)" in numbers_sentence(
        evidence, doc
    )
    assert numbers_sentence({"loss": "nll_loss"}, rule_doc("loss-activation-mismatch")) == ""


def test_measured_values_keep_the_json_shape_of_their_rule() -> None:
    evidence = {
        "scale": Measured(1e5, 10.0, threshold_key="threshold"),
        "features": 3,
        "first_layer_norm": Measured(2e-8, 1e-6),
        "share": Measured(0.4, 0.5, unit="of the units"),
    }
    written = evidence_to_json(evidence)
    assert written == {
        "scale": 1e5,
        "threshold": 10.0,
        "features": 3,
        "first_layer_norm": 2e-8,
        "first_layer_norm_threshold": 1e-6,
        "share": 0.4,
        "share_threshold": 0.5,
        "share_unit": "of the units",
    }
    assert list(written)[:2] == ["scale", "threshold"]
    assert evidence_from_json(written) == evidence
    plain = {"ratio": 2.0, "threshold_note": "none", "first_to_last_ratio": 0.01}
    assert evidence_from_json(plain) == plain  # no comparison stated: nothing paired


def test_plain_text_and_sentences() -> None:
    assert plain("Use `nn.Linear` and **He** init, see [docs](https://x.y).\n\n```python\nx = 1\n```\nDone.") == (
        "Use nn.Linear and He init, see docs. Done."
    )
    text = "He et al. (2015) show it. E.g. this one. A third sentence. A fourth."
    assert first_sentences(text) == ["He et al. (2015) show it.", "E.g. this one.", "A third sentence."]


def test_explain_of_a_finding_without_evidence() -> None:
    f = Finding(code="FD903", rule="unsupported-setup", severity="info", confidence="suspected", message="m")
    assert explain(f, rule_doc("FD903")).startswith("A diagnostic tool that silently skips")
