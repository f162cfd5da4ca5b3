"""The compiled allocator and its source agree on every observable.

builds_workload.py (a long random workload: caches, kmalloc, pages, reaping,
shrinking, tracing switched on and off) runs once on this build and once on the
pure one (SCULLCFS_PURE_PYTHON=1, a subprocess of each); every address, /proc
snapshot, log line and the trace must be the same. The Linux 6.18 workload runs
near the machine's limits: its log holds warn_alloc's, SLUB's and the OOM
killer's call traces, which the compiled entry points get from the pure twin.
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
WORKLOAD = HERE / "builds_workload.py"


def _run(seed: int, ops: int, pure: bool, kernel: str = "2.6.18") -> dict:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env.pop("SCULLCFS_PURE_PYTHON", None)
    if pure:
        env["SCULLCFS_PURE_PYTHON"] = "1"
    r = subprocess.run([sys.executable, str(WORKLOAD), str(seed), str(ops), kernel], capture_output=True, text=True,
                       env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.skipif(not allocator.COMPILED, reason=f"no compiled build to compare ({allocator.BUILD})")
@pytest.mark.parametrize("seed", [1, 2])
def test_the_compiled_build_and_the_pure_one_agree_on_a_long_random_workload(seed):
    compiled, pure = _run(seed, 30000, pure=False), _run(seed, 30000, pure=True)
    assert compiled.pop("build") == "compiled (mypyc)"
    assert pure.pop("build").startswith("pure Python")
    assert len(compiled["addresses"]) > 15000 and compiled["trace"].count("call_site=") > 1000
    for key in ("addresses", "snapshots", "log", "trace"):
        a, b = compiled[key], pure[key]
        if key == "trace":
            a, b = a.splitlines(), b.splitlines()
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        assert a == b, f"{key} differ from item {first}: {a[first:first + 1]} != {b[first:first + 1]}"


@pytest.mark.skipif(not allocator.COMPILED, reason=f"no compiled build to compare ({allocator.BUILD})")
@pytest.mark.parametrize("seed", [1, 2])
def test_the_builds_agree_on_a_long_random_workload_on_linux_6_18(seed):
    compiled, pure = _run(seed, 30000, pure=False, kernel="6.18"), _run(seed, 30000, pure=True, kernel="6.18")
    assert compiled.pop("build") == "compiled (mypyc)"
    assert pure.pop("build").startswith("pure Python")
    log = "\n".join(compiled["log"])
    # the reports whose call traces come from Python frames are there
    assert len(compiled["addresses"]) > 15000 and compiled["addresses"].count(None) > 100
    assert log.count("Call Trace:") > 50 and " warn_alloc+" in log and "Out of memory: Killed process" in log
    assert "alloc_pages_noprof+" in log and "kernel BUG at mm/slub.c" in log and "cache_from_obj" in log
    assert compiled["trace"].count("call_site=") > 1000
    for key in ("addresses", "snapshots", "log", "trace"):
        a, b = compiled[key], pure[key]
        if key == "trace":
            a, b = a.splitlines(), b.splitlines()
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        assert a == b, f"{key} differ from item {first}: {a[first:first + 1]} != {b[first:first + 1]}"
