"""The device model runs the same on the compiled build and on the pure one.

device_builds_workload.py (random writes, reads, truncates and trims on four
drivers, traced, untraced and with slab debugging, and a device written until
its allocations fail) runs once on each build; everything it prints must be
the same: stored and read bytes, sizes, the simulated RAM, slabinfo, the /proc
dumps, the trace's call sites and the driver lines of the kernel log (not the
allocation failures' stack dumps: device_builds_workload.py says why).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import allocator

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "device_builds_workload.py"


def _run(seed: int, ops: int, pure: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env.pop("SCULLCFS_PURE_PYTHON", None)
    if pure:
        env["SCULLCFS_PURE_PYTHON"] = "1"
    r = subprocess.run([sys.executable, str(WORKLOAD), str(seed), str(ops)], capture_output=True, text=True,
                       env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.skipif(not allocator.COMPILED, reason=f"no compiled build to compare ({allocator.BUILD})")
def test_the_device_model_runs_the_same_on_both_builds():
    compiled, pure = _run(7, 400, pure=False), _run(7, 400, pure=True)
    assert compiled.pop("build") == "compiled (mypyc)"
    assert pure.pop("build").startswith("pure Python")
    traced = compiled["traced"][-2]
    assert sum("call_site=scullc_write+0x" in e for e in traced) > 50
    assert compiled["filled"][-2] == ["error", 12]   # ENOMEM: the cache could not grow any more
    for phase, events in compiled.items():
        assert events == pure[phase], f"{phase}: the builds differ"
