"""The HTML report's stylesheet, inlined in the page (no external CSS)."""

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: #222831;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #dde1e6; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 13px; }
pre { background: #1e2329; color: #e6e6e6; padding: 10px 12px; border-radius: 6px; overflow-x: auto;
  margin: 6px 0; white-space: pre-wrap; word-break: break-word; }
pre.source { background: #eef0f3; color: #39414d; }
pre.traceback { background: #2b1d1d; color: #ffd9d9; }
pre.diff .add { color: #7ee787; } pre.diff .del { color: #ff9492; } pre.diff .hunk { color: #a5d6ff; }
.meta { color: #5c6470; font-size: 13px; }
.meta span + span::before { content: " · "; }
.verdict { margin: 16px 0 0; padding: 12px 16px; border-radius: 8px; font-weight: 600; }
.verdict.ok { background: #e3f4e5; color: #155d27; border: 1px solid #a8dbb1; }
.verdict.bad { background: #fdecec; color: #8a1c1c; border: 1px solid #f1b5b5; }
.verdict.warn { background: #fff6e0; color: #7a5200; border: 1px solid #f0d48a; }
.verdict .sub { font-weight: 400; }
table.setup { border-collapse: collapse; background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
  width: 100%; }
table.setup th, table.setup td { text-align: left; vertical-align: top; padding: 6px 12px;
  border-bottom: 1px solid #eef0f3; }
table.setup th { width: 110px; }
table.setup td.where { color: #5c6470; font-size: 13px; width: 40%; }
table.setup td.where code { color: #39414d; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 12px; }
figure.wide { flex: 1 1 100%; }
figcaption { font-weight: 600; font-size: 14px; margin-bottom: 4px; width: 0; min-width: 100%; }
figcaption .hint { font-weight: 400; color: #5c6470; }
svg.chart { display: block; max-width: 100%; height: auto; }
article.finding { background: #fff; border: 1px solid #dde1e6; border-left: 5px solid #8a8f98;
  border-radius: 8px; padding: 12px 16px; margin: 0 0 14px; }
article.finding.error { border-left-color: #d62728; }
article.finding.warning { border-left-color: #e0a000; }
article.finding.info { border-left-color: #1f77b4; }
.badge { display: inline-block; border-radius: 4px; padding: 0 7px; font-size: 12px; font-weight: 700;
  text-transform: uppercase; letter-spacing: .03em; color: #fff; vertical-align: 1px; }
.badge.error { background: #d62728; }
.badge.warning { background: #d99400; }
.badge.info { background: #1f77b4; }
.code { font-weight: 700; margin-left: 6px; }
.slug { font-family: ui-monospace, Menlo, Consolas, monospace; margin-left: 6px; }
.rtitle { color: #5c6470; }
.conf { font-size: 12px; border: 1px solid #c9ced6; border-radius: 10px; padding: 0 7px; margin-left: 6px; }
.conf.confirmed { border-color: #6cbf7a; color: #155d27; }
.loc { margin: 6px 0 0; }
.message { margin: 8px 0; }
dl.evidence { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 2px 18px;
  margin: 6px 0; font-size: 13px; }
dl.evidence div { display: flex; gap: 6px; border-bottom: 1px dotted #e3e6ea; }
dl.evidence dt { color: #5c6470; }
dl.evidence dd { margin: 0 0 0 auto; font-family: ui-monospace, Menlo, Consolas, monospace; }
.fix { margin-top: 10px; padding: 8px 12px; border-radius: 6px; background: #f6f8fa; }
.fix.verified { background: #eef8ef; }
.fix h4 { margin: 0; font-size: 14px; }
.check { font-weight: 700; }
.check.yes { color: #1d7a32; }
.check.no { color: #9a6700; }
.fixrow { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.fixrow > div { flex: 1 1 420px; min-width: 0; }
.fixrow svg.chart { max-width: 380px; }
.explain { margin-top: 10px; padding: 8px 12px; border-left: 3px solid #c9ced6; color: #39414d; }
.explain h4 { margin: 0 0 4px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #5c6470; }
footer { margin-top: 30px; color: #5c6470; font-size: 12px; }
"""
