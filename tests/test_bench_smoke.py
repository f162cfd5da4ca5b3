"""tools/bench --quick runs end to end: every section measured, valid JSON, no mount
left behind. Nothing here looks at the figures themselves (no timed assertions)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("throughput", "latency", "allocator", "scaling", "memory")
ROW_KEYS = {"name", "value", "unit", "baseline", "ratio", "target", "pass"}


def _bench_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if "/bench-" in line.split()[4]]


@pytest.mark.fuse
def test_bench_quick_reports_every_section_as_json(fuse_environment, tmp_path):
    before = _bench_mounts()
    out = tmp_path / "bench.json"
    # The timeout only guards against a hang; --quick takes well under a minute.
    r = subprocess.run([sys.executable, str(REPO / "tools" / "bench"), "--quick", "--json", str(out)],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
                       cwd=tmp_path)
    assert r.returncode == 0, f"stdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}"
    result = json.loads(out.read_text())

    assert result["quick"] is True
    for key in ("nproc", "model_name", "kernel", "python", "pyfuse3"):
        assert result["machine"][key], key
    assert set(result["sections"]) == set(SECTIONS)
    for name in SECTIONS:
        section = result["sections"][name]
        assert section["error"] is None, f"{name}: {section['error']}"
        assert section["rows"], f"{name}: no rows"
        for row in section["rows"]:
            assert ROW_KEYS <= set(row), row
            assert isinstance(row["value"], (int, float)) and math.isfinite(row["value"]), row
            assert row["pass"] in (True, False, None), row
    checked = [row for s in result["sections"].values() for row in s["rows"] if row["pass"] is not None]
    assert checked, "no row was checked against a target"
    assert result["summary"]["errors"] == 0
    assert result["cleanup_problems"] == []
    assert _bench_mounts() == before, "tools/bench left a mount behind"
