"""The benchmark scripts (``make bench``) run as scripts: their directory is first on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_no_bench_script_shadows_a_standard_module() -> None:
    """A script named like a standard module (bench/statistics.py) would be imported instead of
    it by every other script, which then fails."""
    names = {path.stem for path in BENCH.glob("*.py")}
    assert names, BENCH
    assert not names & set(sys.stdlib_module_names), sorted(names & set(sys.stdlib_module_names))
