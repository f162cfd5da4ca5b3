"""`scullcfs bench --quick` runs end to end: every section measured, valid JSON, no
mount or daemon of its own left behind. Nothing here looks at the figures themselves
(no timed assertions). Only what this run made is looked at: its mount points are
under this test's TMPDIR, so other users' mounts coming and going meanwhile do not
matter."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scullcfs.mount import mounts

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("throughput", "latency", "allocator", "scaling", "memory")
ROW_KEYS = {"name", "value", "unit", "baseline", "ratio", "target", "pass"}


def mounts_under(top: Path) -> list[str]:
    return [point for point, _ in mounts() if point == str(top) or point.startswith(f"{top}/")]


def processes_naming(text: str) -> list[str]:
    """`pid: cmdline` of every process whose command line names text (its mount points)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.mark.fuse
def test_bench_quick_reports_every_section_as_json(fuse_environment, tmp_path):
    tmp = (tmp_path / "tmp").resolve()
    tmp.mkdir()
    out = tmp_path / "bench.json"
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(REPO))
    # The timeout only guards against a hang; --quick takes well under a minute.
    r = subprocess.run([sys.executable, "-m", "scullcfs", "bench", "--quick", "--json", str(out)],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
                       cwd=tmp_path, env=env)
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
    assert mounts_under(tmp) == [], "scullcfs bench left a mount behind"
    assert processes_naming(str(tmp)) == [], "scullcfs bench left a daemon behind"
    assert list(tmp.iterdir()) == [], "scullcfs bench left its mount points or logs behind"


def test_bench_runs_its_in_process_sections_on_the_kernel_asked_for(tmp_path):
    """--kernel 6.18: the allocator section's machine is a 6.18 one (its
    title says so, its rows are there); a version that does not exist is one
    line and exit 2."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "scullcfs", "bench", "--quick", "--only", "allocator",
                        "--kernel", "6.18", "--json", str(out)], capture_output=True, text=True, env=env,
                       timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Linux 6.18" in r.stdout
    section = json.loads(out.read_text())["sections"]["allocator"]
    names = [row["name"] for row in section["rows"]]
    assert "kmem_cache alloc+free (scullc-like)" in names and "alloc_pages+free_pages order 3" in names
    growth = next(row for row in section["rows"] if row["name"] == "scullc-like growth per quantum")
    assert growth["value"] > 0 and "8 per slab" in growth["note"]   # SLUB: 4032-byte objects, 8 per order-3 slab
    bad = subprocess.run([sys.executable, "-m", "scullcfs", "bench", "--kernel", "5.4"], capture_output=True,
                         text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "5.4" in bad.stderr


def test_bench_allocates_with_the_kernels_own_gfp_kernel(monkeypatch):
    """The allocator section's calls on 6.18 pass 6.18's GFP_KERNEL, 0xcc0
    (include/linux/gfp_types.h: __GFP_RECLAIM|__GFP_IO|__GFP_FS), not
    2.6.18's 0xd0, which in 6.18's bits is __GFP_RECLAIMABLE|__GFP_IO|__GFP_FS:
    kmalloc-rcl-* caches, reclaimable pageblocks and no direct reclaim."""
    import allocator
    from scullcfs import bench

    seen: dict[str, set[int]] = {}

    class Recording(allocator.Kernel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name, gfp_arg in (("kmem_cache_alloc", 1), ("kmalloc", 1), ("alloc_pages", 0)):
                call = getattr(self, name)

                def record(*a, _call=call, _name=name, _i=gfp_arg):
                    seen.setdefault(_name, set()).add(a[_i])
                    return _call(*a)
                setattr(self, name, record)

    monkeypatch.setattr(allocator, "Kernel", Recording)
    rep = bench.Report()
    bench.bench_allocator(rep, bench.Mounts("/tmp", 32, kernel="6.18"), quick=True)
    assert rep.sections["allocator"]["error"] is None
    assert seen == {"kmem_cache_alloc": {0xCC0}, "kmalloc": {0xCC0}, "alloc_pages": {0xCC0}}
