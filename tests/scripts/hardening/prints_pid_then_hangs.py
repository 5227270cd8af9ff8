"""Prints its pid, then busy-loops before training (no hook ever runs)."""

import os
import sys

print(f"pid {os.getpid()}", file=sys.stderr, flush=True)
while True:
    pass
