"""Regenerate the report pictures in ``docs/`` from real runs of the five founding examples.

For each example this runs ``fitdoctor check EXAMPLE --svg ... --html ...`` and takes two pictures in headless
chromium (Debian: ``apt-get install chromium``): ``docs/terminal_<name>.png``, the terminal report's SVG at its
own size, and ``docs/html_<name>.png``, the top 1200×2400 of the HTML report. ``examples/README.md`` shows
them. Usage: ``python scripts/screenshots.py [NAME ...]`` (all five without names).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FOUNDING = ("sine_elu_lr", "interpolation_unscaled", "gelu_final_activation", "quadratic_dying_relu", "sine_tiny_relu")
HTML_SIZE = (1200, 2400)


def chromium() -> str:
    """The chromium binary (exits with a message when there is none)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no chromium binary to take the screenshots (Debian: apt-get install chromium)")


def shoot(binary: str, page: Path, out: Path, size: tuple[int, int], scratch: Path) -> None:
    """A screenshot of ``page`` at ``size`` (width, height) into ``out``."""
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={scratch / 'profile'}",
        f"--window-size={size[0]},{size[1]}",
        "--hide-scrollbars",
        "--run-all-compositor-stages-before-draw",
        "--virtual-time-budget=2000",
        f"--screenshot={out}",
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(scratch)}
    subprocess.run(command, capture_output=True, timeout=180, env=env, stdin=subprocess.DEVNULL, check=False)
    if not out.is_file():
        raise SystemExit(f"chromium wrote no screenshot of {page}")


def svg_size(svg: Path) -> tuple[int, int]:
    """The SVG's width and height in pixels, from its root element."""
    head = svg.read_text(encoding="utf-8")[:2000]
    view = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ([\d.]+)"', head)
    if view:
        return round(float(view.group(1))), round(float(view.group(2)))
    width = re.search(r'width="([\d.]+)', head)
    height = re.search(r'height="([\d.]+)', head)
    assert width and height, f"{svg} has no size"
    return round(float(width.group(1))), round(float(height.group(1)))


def main() -> int:
    names = sys.argv[1:] or list(FOUNDING)
    binary = chromium()
    with tempfile.TemporaryDirectory(prefix="fitdoctor-shots-") as tmp:
        scratch = Path(tmp)
        for name in names:
            svg, page = scratch / f"{name}.svg", scratch / f"{name}.html"
            script = ROOT / "examples" / name / "broken.py"
            command = [sys.executable, "-m", "fitdoctor", "check", str(script.relative_to(ROOT)), "--quiet"]
            subprocess.run(
                [*command, "--svg", str(svg), "--html", str(page)],
                cwd=ROOT,
                capture_output=True,
                check=False,
            )
            shoot(binary, svg, DOCS / f"terminal_{name}.png", svg_size(svg), scratch)
            shoot(binary, page, DOCS / f"html_{name}.png", HTML_SIZE, scratch)
            print(f"docs/terminal_{name}.png, docs/html_{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
