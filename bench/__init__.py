"""fitdoctor's benchmarks: detection quality by fault injection (``bench.detection``) and cost (``bench.cost``).

Run everything with ``make bench`` (``python -m bench.run``); it writes BENCHMARKS.md at the repository root.
"""
