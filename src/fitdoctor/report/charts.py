"""Small text charts for the terminal: sparklines and bars, with an ASCII fallback."""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_BLOCKS = "_.-=+*#@"


def sparkline(
    values: Sequence[float | None], low: float, high: float, width: int = 24, ascii_only: bool = False
) -> str:
    """A one-line chart of ``values`` scaled to [low, high] (log scale when the span is wide).

    None (a diverged loss) is drawn as ``×`` (``x`` in ASCII).
    """
    chars = ASCII_BLOCKS if ascii_only else BLOCKS
    pts = _resample(list(values), width)
    use_log = low > 0 and high / low > 50
    lo, hi = (math.log10(low), math.log10(high)) if use_log else (low, high)
    out = []
    for v in pts:
        if v is None or not math.isfinite(v):
            out.append("x" if ascii_only else "×")
            continue
        x = math.log10(v) if use_log and v > 0 else (lo if use_log else v)
        t = 0.0 if hi <= lo else (x - lo) / (hi - lo)
        out.append(chars[min(len(chars) - 1, max(0, round(t * (len(chars) - 1))))])
    return "".join(out)


def _resample(values: list[float | None], width: int) -> list[float | None]:
    if len(values) <= width:
        return values
    step = len(values) / width
    return [values[min(len(values) - 1, int(i * step))] for i in range(width)]


def bar(share: float, width: int = 10, ascii_only: bool = False) -> str:
    """A horizontal bar for a share in [0, 1]."""
    filled = round(max(0.0, min(1.0, share)) * width)
    full, empty = ("#", ".") if ascii_only else ("█", "░")
    return full * filled + empty * (width - filled)
