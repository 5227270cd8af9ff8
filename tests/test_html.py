"""The shareable report files: the self-contained HTML report (``--html``) and the SVG picture (``--svg``).

The HTML is checked as a document (balanced tags, nothing loaded from outside), for its plots (one line per loss
curve, the per-layer charts, the fit of a 1-D regression), and in a real headless browser: Debian's chromium
takes a screenshot that must show the red and green plot lines. The reports rendered are the saved ones of
``saved_reports.py`` (checked against what the check writes today); sine_tiny_relu's has the ``fit`` of a 1-D
regression.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, run_cli
from fitdoctor.catalog import load_catalog
from fitdoctor.findings import Finding, Fix, Report
from fitdoctor.location import Location
from fitdoctor.report import html, svg
from fitdoctor.report.html import svg as palette
from fitdoctor.summary import TrainingSummary
from saved_reports import load

FIXTURES = ("sine_tiny_relu", "interpolation_unscaled", "gelu_healthy", "crash")
FAST = ["--steps", "60", "--replay-steps", "120"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def chromium() -> str | None:
    """The chromium binary, or None where none is installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@dataclass
class Tag:
    """A start tag: its name, attributes and the id of the ``<svg>`` it sits in (None outside one)."""

    name: str
    attrs: dict[str, str]
    svg: str | None


@dataclass
class Page(HTMLParser):
    """The page's tags, the nesting mistakes found and the text of each ``<svg>``, read with html.parser."""

    tags: list[Tag] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    svgs: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def _open(self, tag: str, attrs: list[tuple[str, str | None]], closed: bool) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(Tag(tag, values, self.svgs[-1] if self.svgs else None))
        if tag == "svg" and not closed:
            self.svgs.append(values.get("id", ""))
        if tag not in VOID and not closed:
            self.stack.append(tag)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, attrs, closed=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if tag == "svg":
            self.svgs.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def within(self, svg_id: str, name: str, **attrs: str) -> list[Tag]:
        """The ``name`` tags inside ``<svg id=svg_id>`` whose attributes include ``attrs``."""
        return [
            t
            for t in self.tags
            if t.svg == svg_id and t.name == name and all(t.attrs.get(k) == v for k, v in attrs.items())
        ]

    def ids(self) -> set[str]:
        return {t.attrs["id"] for t in self.tags if "id" in t.attrs}


def parse(document: str) -> Page:
    page = Page()
    page.feed(document)
    page.close()
    return page


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return load_catalog()


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("explain", [False, True])
def test_html_is_well_formed_and_self_contained(name: str, explain: bool, catalog: dict[str, Any]) -> None:
    document = html.render(load(name), catalog, explain=explain)
    assert document.startswith("<!DOCTYPE html>")
    page = parse(document)
    assert page.errors == []
    assert page.stack == [], f"unclosed tags: {page.stack}"
    names = [t.name for t in page.tags]
    assert names[:1] == ["html"] and {"head", "body", "title", "style", "main"} <= set(names)
    # Nothing is fetched: no scripts, no stylesheets, no frames or images, links only within the page.
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(names)
    for tag in page.tags:
        for attr in ("src", "href", "xlink:href", "action", "data"):
            value = tag.attrs.get(attr)
            assert value is None or value.startswith("#"), f"<{tag.name} {attr}={value!r}>"
    assert "http://" not in document and "https://" not in document
    assert "@import" not in document and not re.search(r"url\(\s*['\"]?(?!#)", document)


def test_loss_curves_have_one_line_per_series(catalog: dict[str, Any]) -> None:
    report = load("sine_tiny_relu")
    page = parse(html.render(report, catalog))
    paths = page.within("loss-curves", "path")
    keys = [p.attrs.get("data-series") for p in paths if p.attrs.get("class") == "series"]
    assert report.training is not None and report.training.replay is not None
    expected = ["your loop", "baseline", *report.training.replay.fixes]
    assert sorted(keys) == sorted(expected)
    assert all(p.attrs["d"].startswith("M") for p in paths)
    # The losses span 0.0016 to 4.9, so the y axis is logarithmic and says so; axes are labelled, with a legend.
    labels = [t for t in page.tags if t.svg == "loss-curves" and t.name == "text"]
    assert {"xlabel", "ylabel"} <= {t.attrs.get("class") for t in labels}
    assert "loss (log scale)" in "".join(page.text)
    assert len(page.within("loss-curves", "g", **{"class": "legend"})) == 1
    # Verified fixes are green, the baseline red.
    colours = {p.attrs["data-series"]: p.attrs["stroke"] for p in paths}
    assert colours["baseline"] == palette.RED
    assert colours["widen-he-init"] in palette.GREENS and colours["he-init"] in palette.GREENS


def test_per_layer_charts(catalog: dict[str, Any]) -> None:
    report = load("sine_tiny_relu")
    page = parse(html.render(report, catalog))
    assert report.training is not None
    layers = report.training.layers
    # One bar per layer and state where the share is measured: ReLU layers have a dead share, and no
    # saturated one (a ReLU has no flat tail).
    for kind in ("dead", "saturated"):
        bars = page.within(f"layers-{kind}", "rect")
        measured = [
            state for row in layers for state in ("init", "after") if getattr(row.shares[kind], state) is not None
        ]
        assert sorted(b.attrs["class"] for b in bars if "bar" in b.attrs.get("class", "")) == sorted(
            f"bar {state}" for state in measured
        )
    assert {row.kind for row in layers} == {"relu"}
    assert all(row.shares["dead"].after is not None for row in layers)
    gradients = page.within("gradients", "path", **{"class": "series"})
    assert [g.attrs["data-series"] for g in gradients] == ["init", "after"]
    # Two parametrised layers: one marker per layer and series.
    assert len(page.within("gradients", "circle")) == 2 * len(report.training.gradients)


def test_fit_plot_for_a_1d_regression(catalog: dict[str, Any]) -> None:
    report = load("sine_tiny_relu")
    fit = report.training.fit if report.training is not None else None
    assert fit is not None
    page = parse(html.render(report, catalog))
    assert len(page.within("fit", "circle")) == len(fit.x) + 1  # the data, and the legend's dot
    series = {p.attrs["data-series"]: p.attrs for p in page.within("fit", "path", **{"class": "series"})}
    assert set(series) == set(fit.curves)
    assert series["baseline"]["stroke"] == palette.RED
    assert series["init"]["stroke"] == palette.GREY
    assert {series[k]["stroke"] for k in fit.curves if k not in ("init", "baseline")} <= set(palette.GREENS)
    # Without a fit (more than one input feature) there is no fit plot.
    assert "fit" not in parse(html.render(load("interpolation_unscaled"), catalog)).ids()


def test_healthy_and_crashed_reports(catalog: dict[str, Any]) -> None:
    healthy = html.render(load("gelu_healthy"), catalog)
    assert "No problems found" in healthy and "<h2>Findings</h2>" not in healthy
    assert "loss-curves" in parse(healthy).ids()
    crashed = html.render(load("crash"), catalog)
    page = parse(crashed)
    assert "FD901" in crashed and "could not run (crashed)" in crashed
    # The user's raising line, then the traceback trimmed to the user's frames.
    assert [t.attrs.get("class") for t in page.tags if t.name == "pre"] == ["source", "traceback"]
    assert 'raise ValueError("corrupt batch 4")' in "".join(page.text)
    assert "loss-curves" not in page.ids()


def test_everything_from_the_report_is_escaped(catalog: dict[str, Any]) -> None:
    place = Location("<dir>/train&.py", 3, "if a < b and c > d: x = '\"'")
    fix = Fix(
        "lower-lr",
        "Use lr < 0.1 & </pre> <b>",
        "opt = SGD(lr=0.01)  # </code></pre><script>",
        True,
        "loss",
        2.0,
        1.0,
        10,
    )
    finding = Finding(
        code="FD501",
        rule="learning-rate-too-high",
        severity="warning",
        confidence="confirmed",
        message="<script>alert(1)</script> loss > 10 & rising",
        location=place,
        module="<model>",
        evidence={"<key>": "<value>", "ratio": float("inf"), "layers": {"a<b": {"std": 0.5}}},
        fix=fix,
    )
    report = Report(version="0.1.0", script="<img src=x>.py", status="ok", findings=(finding,))
    document = html.render(report, catalog, explain=True)
    page = parse(document)
    assert page.errors == [] and page.stack == []
    assert not {"script", "img", "b"} & {t.name for t in page.tags}
    text = "".join(page.text)
    for value in ("<script>alert(1)</script>", "<img src=x>.py", "if a < b and c > d", "</code></pre><script>", "a<b"):
        assert value in text


def test_log_axis_only_for_a_wide_span(catalog: dict[str, Any]) -> None:
    narrow = Report(
        version="0.1.0",
        script="train.py",
        status="ok",
        training=TrainingSummary.from_dict(
            {
                "user_loss": [1.0, 0.8, None, 0.6, 0.5],
                "replay": {
                    "steps": 4,
                    "eval_batches": 1,
                    "baseline": {"final": 0.4, "curve": [[0, 1.0], [2, 0.6], [4, 0.4]]},
                    "fixes": {},
                },
            }
        ),
    )
    page = parse(html.render(narrow, catalog))
    text = "".join(page.text)
    assert "loss (log scale)" not in text and "No problems found" in text
    user = next(p for p in page.within("loss-curves", "path") if p.attrs.get("data-series") == "your loop")
    assert user.attrs["d"].count("M") == 2  # the NaN step breaks the line


def test_svg_picture_parses_and_names_the_findings(catalog: dict[str, Any]) -> None:
    for name in FIXTURES:
        report = load(name)
        picture = svg.render(report, catalog)
        root = ET.fromstring(picture)
        assert root.tag.endswith("svg")
        text = "".join(root.itertext())
        assert all(f.code in text for f in report.findings)
        assert 'url("http' not in picture  # no web fonts fetched when the picture is opened


@pytest.mark.slow
def test_browser_shows_the_plots(tmp_path: Path, catalog: dict[str, Any]) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("no chromium binary to take the screenshot (Debian: apt-get install chromium)")
    import matplotlib.image

    page = tmp_path / "report.html"
    page.write_text(html.render(load("sine_tiny_relu"), catalog), encoding="utf-8")
    shot = tmp_path / "shot.png"
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2400",
        "--hide-scrollbars",
        # Paint the whole page before the picture is taken.
        "--run-all-compositor-stages-before-draw",
        "--virtual-time-budget=2000",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
    assert shot.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    image = matplotlib.image.imread(str(shot))[..., :3]
    assert image.shape[:2] == (2400, 1200)
    assert image.std() > 0.05, "the screenshot is blank"
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    red = (r > 0.6) & (g < 0.35) & (b < 0.35)
    green = (g > 0.45) & (g - r > 0.2) & (g - b > 0.2)
    assert red.sum() > 500, "no red plot lines (the baseline) in the screenshot"
    assert green.sum() > 500, "no green plot lines (the verified fixes) in the screenshot"


@pytest.mark.slow
def test_cli_writes_html_and_svg(tmp_path: Path) -> None:
    page, picture = tmp_path / "report.html", tmp_path / "report.svg"
    script = EXAMPLES / "gelu_final_activation" / "broken.py"
    run = run_cli("check", str(script), "--html", str(page), "--svg", str(picture), "--format", "json", *FAST)
    assert run.code == 1, run.stderr
    assert run.report is not None and "FD201" in [f["code"] for f in run.report["findings"]]
    document = page.read_text(encoding="utf-8")
    parsed = parse(document)
    assert parsed.errors == [] and {"loss-curves", "fit"} <= parsed.ids()
    assert "FD201" in document
    assert "FD201" in "".join(ET.fromstring(picture.read_text(encoding="utf-8")).itertext())
