"""A self-contained HTML report to share in a course or a pull request.

One file with no external CSS, JavaScript or fonts, viewable offline: a header with the script and the timings,
the captured setup, plots drawn here as inline SVG (loss curves of the user's loop, the replay baseline and each
fix's replay; the network's fit for 1-D regression; dead and saturated units and gradient norms per layer) and
each finding with its evidence, fix and verification. Everything drawn comes from ``report.training``; nothing here
touches a model. Every piece of text from the report is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import math
from typing import Any

from fitdoctor.catalog import RuleDoc
from fitdoctor.findings import Finding, Fix, Report
from fitdoctor.location import Location
from fitdoctor.measured import evidence_to_json
from fitdoctor.report.concise import (
    clean_sentence_tail,
    confirmation_tail,
    counts,
    data_line,
    failure_reason,
    number,
    one_line,
    stopped_at,
    summary,
)
from fitdoctor.report.html.figures import (
    fit_chart,
    fix_chart,
    gradient_chart,
    loss_chart,
    share_chart,
)
from fitdoctor.report.html.style import CSS
from fitdoctor.report.html.svg import (
    EVIDENCE_LIMIT,
    SEVERITY_ICON,
    _e,
    _finite,
)
from fitdoctor.report.patch import patch_line


def _where(location: Location | None) -> str:
    if location is None:
        return ""
    out = f"<code>{_e(location.path)}:{_e(str(location.line))}</code>"
    if location.source:
        out += f"<br><code>{_e(location.source)}</code>"
    return out


def _setup(report: Report) -> str:
    """The captured setup as a table: model, optimizer, loss, data and final activation."""
    s = report.setup
    if s is None:
        return ""
    model, opt, loss = s.model, s.optimizer, s.loss
    rows: list[tuple[str, str, Location | None]] = [
        ("model", f"{model.cls} · {model.parameters:,} parameters · {len(model.layers)} layers", model.location)
    ]
    hyper = opt.hyperparameters
    shown = [f"lr={hyper['lr']:g}"] if _finite(hyper.get("lr")) else []
    for key in ("momentum", "weight_decay"):
        if _finite(hyper.get(key)) and hyper[key]:
            shown.append(f"{key}={hyper[key]:g}")
    rows.append(("optimizer", f"{opt.cls}({', '.join(shown)})", opt.location))
    text = loss.name
    if loss.transform != "identity":
        text += f" (on {loss.transform} of the output)"
    rows.append(("loss", text, loss.location))
    rows.append(("data", data_line(s.data), s.data.location))
    final = s.final_activation
    if final:
        lo, hi = final.low, final.high
        rng = f"{'(-∞' if lo is None else f'[{lo:.3g}'}, {'∞)' if hi is None else f'{hi:.3g}]'}"
        rows.append(("output", f"{final.kind} → range {rng}", final.location))
    body = "".join(
        f'<tr><th>{_e(name)}</th><td>{_e(text)}</td><td class="where">{_where(loc)}</td></tr>'
        for name, text, loc in rows
    )
    return f'<h2>Setup</h2>\n<table class="setup"><tbody>{body}</tbody></table>'


def _header(report: Report) -> str:
    training = report.training
    meta = [f"fitdoctor {report.version}", f"status {report.status}"]
    if training is not None and training.loop.steps_captured:
        meta.append(f"{training.loop.steps_captured} steps captured")
    if training is not None and training.replay is not None and training.replay.steps:
        meta.append(f"{training.replay.steps} replay steps")
    meta.append(f"seed {report.seed}")
    timing = ""
    total = report.timings.get("total_s")
    if _finite(total):
        phases = [
            f"{k.removesuffix('_s')} {v:.1f} s" for k, v in report.timings.items() if k != "total_s" and _finite(v)
        ]
        timing = f"checked in {total:.1f} s" + (f" ({', '.join(phases)})" if phases else "")
    spans = "".join(f"<span>{_e(m)}</span>" for m in meta)
    out = f'<header>\n<h1>fitdoctor report: <code>{_e(report.script)}</code></h1>\n<p class="meta">{spans}</p>'
    if timing:
        out += f'\n<p class="meta"><span>{_e(timing)}</span></p>'
    if training is not None and training.loop.stop_reason:
        out += f'\n<p class="meta"><span>{_e(training.loop.stop_reason)}</span></p>'
    return out + "\n</header>"


def _verdict(report: Report) -> str:
    if report.status != "ok":
        return (
            f'<p class="verdict bad">The check could not run ({_e(report.status)}). '
            f'<span class="sub">{_e(one_line(failure_reason(report)))}</span></p>'
        )
    if not report.findings:
        return (
            f'<p class="verdict ok">✔ No problems found<span class="sub">{_e(clean_sentence_tail(report))}.</span></p>'
        )
    css = "bad" if counts(report)["error"] else "warn"
    tail = confirmation_tail(report)
    return f'<p class="verdict {css}">{_e(summary(report))} <span class="sub">· {_e(tail)}.</span></p>'


def _evidence(evidence: dict[str, Any]) -> str:
    """Evidence values as a definition list: numbers and short texts, nested tables flattened with dotted keys."""
    items: list[tuple[str, str]] = []

    def add(key: str, value: Any, depth: int) -> None:
        if isinstance(value, bool):
            items.append((key, "yes" if value else "no"))
        elif isinstance(value, int):
            items.append((key, str(value)))
        elif isinstance(value, float):
            items.append((key, number(value) if math.isfinite(value) else str(value)))
        elif isinstance(value, str) and len(value) <= 80 and "\n" not in value:
            items.append((key, value))
        elif isinstance(value, dict) and depth < 2:
            for k, v in value.items():
                add(f"{key}.{k}", v, depth + 1)
        elif isinstance(value, (list, tuple)) and 0 < len(value) <= 6 and all(_finite(v) for v in value):
            items.append((key, "[" + ", ".join(number(float(v)) for v in value) + "]"))

    for key, value in evidence.items():
        add(str(key), value, 0)
    if not items:
        return ""
    more = len(items) - EVIDENCE_LIMIT
    rows = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items[:EVIDENCE_LIMIT])
    if more > 0:
        rows += f"<div><dt>… {more} more in the JSON report</dt><dd></dd></div>"
    return f'<dl class="evidence">{rows}</dl>'


def _verification(fix: Fix) -> str:
    measure = fix.measure
    text = f"{measure} {number(fix.before)} → {number(fix.after)} after {fix.steps} replay steps"
    if fix.before and fix.after is not None and fix.before > 0 and math.isfinite(fix.before):
        text += f" ({fix.after / fix.before:.2g}× the baseline)"
    check = (
        '<span class="check yes">✔ verified</span>' if fix.verified else '<span class="check no">not verified</span>'
    )
    return f'<p class="verification">{check} {_e(text)}</p>'


def _fix(report: Report, finding: Finding, index: int) -> str:
    fix = finding.fix
    if fix is None:
        return ""
    where = ""
    if fix.location and fix.location.path and (not finding.location or fix.location.line != finding.location.line):
        where = f' <span class="meta">at <code>{_e(fix.location.path)}:{fix.location.line}</code></span>'
    parts = [
        f"<h4>Fix: {_e(fix.title)}{where}</h4>",
        f'<pre class="snippet"><code>{_e(fix.snippet.rstrip())}</code></pre>',
        _verification(fix),
    ]
    if fix.metric:
        parts.append(f'<p class="meta">measured as {_e(fix.metric)}</p>')
    if fix.note:
        parts.append(f'<p class="meta">note: {_e(fix.note)}</p>')
    if finding.alternatives:
        tried = "; ".join(
            f"{a.title} ({'verified' if a.verified else 'not verified'}: {number(a.before)} → {number(a.after)}"
            f"{stopped_at(a)})"
            for a in finding.alternatives
        )
        parts.append(f'<p class="meta">also tried: {_e(tried)}</p>')
    chart = fix_chart(report, fix, f"fix-{index}")
    body = "\n".join(parts)
    if chart:
        body = f'<div class="fixrow"><div>{body}</div>\n{chart}</div>'
    return f'<div class="fix{" verified" if fix.verified else ""}">\n{body}\n</div>'


def _finding(report: Report, f: Finding, index: int, catalog: dict[str, RuleDoc], explain: bool) -> str:
    doc = catalog.get(f.code)
    title = f' <span class="rtitle">· {_e(doc.title)}</span>' if doc else ""
    parts = [
        f'<article class="finding {_e(f.severity)}" id="finding-{index}">',
        f'<h3><span class="badge {_e(f.severity)}">{SEVERITY_ICON.get(f.severity, "")} {_e(f.severity)}</span>'
        f'<span class="code">{_e(f.code)}</span><span class="slug">{_e(f.rule)}</span>{title}'
        f'<span class="conf {_e(f.confidence)}">{_e(f.confidence)}</span></h3>',
    ]
    if f.location:
        parts.append(f'<p class="loc"><code>{_e(f.location.path)}:{f.location.line}</code></p>')
        if f.location.source:
            parts.append(f'<pre class="source"><code>{f.location.line:>4} │ {_e(f.location.source)}</code></pre>')
    parts.append(f'<p class="message">{_e(one_line(f.message).rstrip("."))}.</p>')
    extra = []
    if f.module:
        extra.append(f"<span>module <code>{_e(f.module)}</code></span>")
    if f.caused_by:
        links = ", ".join(
            f'<a href="#finding-{i}">{_e(c)}</a>' if (i := _index_of(report, c)) is not None else _e(c)
            for c in f.caused_by
        )
        extra.append(f"<span>caused by {links}</span>")
    if extra:
        parts.append(f'<p class="meta">{"".join(extra)}</p>')
    evidence = {k: v for k, v in evidence_to_json(f.evidence).items() if k != "traceback"}
    parts.append(_evidence(evidence))
    parts.append(_fix(report, f, index))
    if explain and doc is not None:
        why = doc.why.strip().split("\n\n")[0]
        parts.append(f'<div class="explain"><h4>Why it matters</h4><p>{_e(one_line(why))}</p></div>')
    parts.append("</article>")
    return "\n".join(p for p in parts if p)


def _index_of(report: Report, code: str) -> int | None:
    return next((i for i, f in enumerate(report.findings) if f.code == code), None)


def _figure(svg: str, caption: str, hint: str, wide: bool = False) -> str:
    if not svg:
        return ""
    cls = ' class="wide"' if wide else ""
    hint_html = f' <span class="hint">{_e(hint)}</span>' if hint else ""
    return f"<figure{cls}><figcaption>{_e(caption)}{hint_html}</figcaption>\n{svg}\n</figure>"


def _plots(report: Report) -> str:
    replay = report.training.replay if report.training is not None else None
    steps = replay.steps if replay is not None else None
    hint = "each fix replayed from the same initial weights and batches" + (f" for {steps} steps" if steps else "")
    fit_hint = "grey dashed: at init · red: your setup after training · green: verified fixes"
    figures = [
        _figure(loss_chart(report), "Loss curves", hint, wide=True),
        _figure(fit_chart(report), "Fit", fit_hint, wide=True),
    ]
    layers = [
        _figure(share_chart(report, "dead"), "Dead units", "share of units that never activate"),
        _figure(share_chart(report, "saturated"), "Saturated units", "share of units stuck in a flat region"),
        _figure(gradient_chart(report), "Gradient norms", "weight-gradient norm per layer, forward order"),
    ]
    out = []
    if any(figures):
        out.append('<h2>Training</h2>\n<div class="plots">' + "\n".join(f for f in figures if f) + "</div>")
    if any(layers):
        out.append('<h2>Layers</h2>\n<div class="plots">' + "\n".join(f for f in layers if f) + "</div>")
    return "\n".join(out)


def _suppressed(report: Report) -> str:
    if not report.suppressed:
        return ""
    items = "".join(
        f"<li><b>{_e(f.code)}</b> {_e(f.rule)}"
        + (f" at <code>{_e(f.location.path)}:{f.location.line}</code>" if f.location else "")
        + "</li>"
        for f in report.suppressed
    )
    return f'<h2>Suppressed</h2>\n<ul class="meta">{items}</ul>'


def _patch(report: Report) -> str:
    """The patch: its proof line and the diff, added and removed lines coloured."""
    patch = report.patch
    if patch is None:
        return ""
    lines = []
    for line in patch.diff.splitlines():
        kind = "add" if line.startswith("+") and not line.startswith("+++") else ""
        kind = "del" if line.startswith("-") and not line.startswith("---") else kind
        kind = "hunk" if line.startswith("@@") else kind
        lines.append(f'<span class="{kind}">{_e(line)}</span>' if kind else _e(line))
    diff = f'\n<pre class="diff"><code>{chr(10).join(lines)}</code></pre>' if patch.diff else ""
    return f"<h2>Patch</h2>\n<p>{_e(patch_line(patch))}</p>{diff}"


def render(report: Report, catalog: dict[str, RuleDoc], explain: bool = False) -> str:
    """The report as one self-contained HTML page.

    Args:
        report: The report to render.
        catalog: The rule catalog by code, for the rules' titles and explanations.
        explain: Whether to add each rule's explanation (the first paragraph of its ``why``).

    Returns:
        The HTML document, ending with a line break.
    """
    body = [_header(report), _verdict(report)]
    if report.status != "ok":
        body.append("<h2>Findings</h2>")
        body += [_finding(report, f, i, catalog, explain) for i, f in enumerate(report.findings)]
        traceback = (report.error or {}).get("traceback")
        if traceback:
            body.append(f'<h2>Traceback</h2>\n<pre class="traceback"><code>{_e(str(traceback).rstrip())}</code></pre>')
        body.append(_plots(report))
    else:
        body += [_setup(report), _plots(report)]
        if report.findings:
            body.append("<h2>Findings</h2>")
            body += [_finding(report, f, i, catalog, explain) for i, f in enumerate(report.findings)]
        body.append(_suppressed(report))
        body.append(_patch(report))
    body.append(
        f"<footer>Generated by fitdoctor {_e(report.version)} · {_e(summary(report))} "
        "· self-contained: no scripts, no external resources.</footer>"
    )
    main = "\n".join(part for part in body if part)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>fitdoctor: {_e(report.script)}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{main}\n</main>\n</body>\n</html>\n"
    )
