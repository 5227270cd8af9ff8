"""The pre-commit entry point: ``fitdoctor check`` on each file pre-commit passes, one after another."""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    """Check every script given; options (arguments starting with ``-``) apply to each.

    Returns:
        The worst exit status: 2 if a check could not run, else 1 if any had findings, else 0.
    """
    args = sys.argv[1:] if argv is None else argv
    options = [a for a in args if a.startswith("-")]
    scripts = [a for a in args if not a.startswith("-")]
    worst = 0
    for script in scripts:
        code = subprocess.call([sys.executable, "-m", "fitdoctor", "check", script, *options])
        worst = 2 if 2 in (code, worst) else max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main())
