"""The pre-commit entry point: ``fitdoctor check`` on each file pre-commit passes, one after another."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from fitdoctor.capture.runner import child_environment
from fitdoctor.capture.warm import Zygote


def main(argv: list[str] | None = None) -> int:
    """Check every script given; options (arguments starting with ``-``) apply to each.

    Returns:
        The worst exit status: 2 if a check could not run, else 1 if any had findings, else 0.
    """
    args = sys.argv[1:] if argv is None else argv
    options = [a for a in args if a.startswith("-")]
    scripts = [a for a in args if not a.startswith("-")]
    worst = 0
    seed = next((a.split("=", 1)[1] for a in options if a.startswith("--seed=")), "0")
    # Several scripts: their checks fork their child from one zygote that imported torch once.
    warm = Zygote(child_environment(os.environ, int(seed))) if len(scripts) > 1 and seed.isdigit() else None
    with warm if warm is not None else contextlib.nullcontext():
        for script in scripts:
            code = subprocess.call([sys.executable, "-m", "fitdoctor", "check", script, *options])
            worst = 2 if 2 in (code, worst) else max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main())
