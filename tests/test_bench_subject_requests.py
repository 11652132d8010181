"""bench/subject_requests.py (issue 13's figures) runs: built at 1/50 on SQLite, the person's search
finds the contact, both groups, the block entry and every SMS; the export and the erasure run, and
the erasure leaves none of the person's SMS (the script asserts all of it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_subject_requests_bench_runs_small() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "subject_requests.py"), "--small"],
        cwd=ROOT, env={**os.environ, "SUBJECT_BENCH_BACKENDS": "sqlite"}, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "20,000 sent SMS, 2,000 contacts" in result.stdout and "with 200 SMS" in result.stdout
    assert re.search(r"sqlite +search of the person median [\d.]+ ms", result.stdout), result.stdout
    assert re.search(r"export [\d.]+ s .*erasure [\d.]+ s .*0 of the person's SMS left, 19,800 SMS in all", result.stdout), result.stdout
