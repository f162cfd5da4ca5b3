"""The live views: `scullcfs top` and `scullcfs slabtop` (the real procps slabtop)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from allocator import Kernel, procfs
from allocator import gfp as G
from conftest import tools_env
from scullcfs import top

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(REPO)) if p)
    return env


def test_top_reads_zones_buddy_orders_and_caches_from_the_proc_texts():
    k = Kernel(mem=64 << 20)
    demo = k.kmem_cache_create("demo", 3000, 0, 0)
    for _ in range(10):
        k.kmem_cache_alloc(demo, G.GFP_KERNEL)
    zones = top.parse_zoneinfo(procfs.zoneinfo(k))
    assert [(z["node"], z["zone"]) for z in zones] == [(0, "DMA"), (0, "Normal")]
    for z, zone in zip(zones, k.zones):
        assert (z["free"], z["min"], z["low"], z["high"], z["spanned"], z["present"]) == \
            (zone.free_pages, zone.pages_min, zone.pages_low, zone.pages_high, zone.spanned, zone.present)
    buddy = top.parse_buddyinfo(procfs.buddyinfo(k))
    assert buddy[(0, "Normal")] == [len(a) for a in k.zones[1].free_area]
    caches = {c["name"]: c for c in top.parse_slabinfo(procfs.slabinfo(k))}
    # 3000-byte objects: two per order-1 slab
    assert caches["demo"]["num_slabs"] == demo.slab_counts()[0] == 5
    assert caches["demo"]["kb"] == 5 * 2 * 4


def test_top_once_prints_zones_caches_and_devices(mnt):
    with open(mnt.path / "dev/scullc2", "wb") as f:
        f.write(b"z" * 10_000)
    r = subprocess.run([sys.executable, "-m", "scullcfs", "top", str(mnt.path), "--once"],
                       capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for section in ("Zones", "Caches", "Devices"):
        assert any(line.startswith(section) for line in lines), section
    assert any(line.split()[:3] == ["Node", "0", "DMA"] and len(line.split()) == 7 + 11 for line in lines)
    assert any(line.split()[:3] == ["Node", "0", "Normal"] for line in lines)
    assert any(line.split()[0] == "scullc" for line in lines if line.startswith("  ")), "the scullc cache"
    devices = {line.split()[0]: line.split()[1:] for line in lines[lines.index(next(
        line for line in lines if line.startswith("Devices"))) + 2:] if line.strip()}
    assert devices["scullc2"] == ["10000", "3"]
    assert devices["scullc0"] == ["0", "0"]


def test_top_as_a_module_says_when_nothing_is_mounted(tmp_path):
    r = subprocess.run([sys.executable, "-m", "scullcfs.top", str(tmp_path), "--once"],
                       capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 1
    assert "is not a mounted scullcfs" in r.stderr


def test_scullcfs_still_mounts_with_a_mountpoint_argument_after_the_top_subcommand():
    r = subprocess.run([sys.executable, "-m", "scullcfs", "--help"], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert r.returncode == 0 and "mountpoint" in r.stdout


def test_slabtop_once_shows_the_mounts_caches(mnt):
    with open(mnt.path / "dev/scullc0", "wb") as f:
        f.write(b"q" * 40_000)
    r = subprocess.run([sys.executable, "-m", "scullcfs", "slabtop", str(mnt.path), "-o", "-s", "c"],
                       capture_output=True, text=True, env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Active / Total Objects (% used)" in r.stdout
    names = [line.split()[-1] for line in r.stdout.splitlines() if line.strip()]
    assert "scullc" in names and "size-2048" in names
    # the bind mount lived in a private namespace only
    assert "scullc" not in Path("/proc/slabinfo").read_text(errors="replace").split()[:1]
    with open("/proc/self/mountinfo") as f:
        assert " /proc/slabinfo " not in f.read()


def test_slabtop_says_when_nothing_is_mounted(tmp_path):
    """Through the tools/slabtop wrapper, with MNT from SCULLC_MNT."""
    env = tools_env(SCULLC_MNT=str(tmp_path))
    r = subprocess.run([str(REPO / "tools/slabtop"), "-o"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 1
    assert f"no scullcfs mounted at {tmp_path}" in r.stderr


def _mount_dir(tmp_path: Path, zoneinfo: str, buddyinfo: str, slabinfo: str) -> str:
    """A directory with the three proc files top reads (no devices)."""
    (tmp_path / "proc").mkdir(parents=True)
    for name, text in (("zoneinfo", zoneinfo), ("buddyinfo", buddyinfo), ("slabinfo", slabinfo)):
        (tmp_path / "proc" / name).write_text(text)
    return str(tmp_path)


def _zone_rows(view: str) -> dict[str, str]:
    return {line.split()[2]: line for line in view.splitlines() if line.startswith("  Node ")}


def test_top_flags_no_empty_zone_on_6_18(tmp_path):
    """A 32 MiB x86_64 machine: DMA holds every page; DMA32 is present (16-32 MiB)
    but the boot reservations (the kernel image at 16 MiB, the memmap) leave it no
    managed page; Normal, Movable and Device are empty, Movable with min/low/high 32
    (6.18 __setup_per_zone_wmarks: clamp(managed/1024, 32, 128) for Movable). Only DMA
    can run short, and once it does it is flagged."""
    from allocator.linux618 import gfp as G618
    from allocator.linux618 import procfs as P618
    from allocator.linux618 import sysfs as S618
    k = Kernel(version="6.18", mem=32 << 20)
    try:
        pa = k.page_alloc
        zones = {z["zone"]: z for z in top.parse_zoneinfo(P618.zoneinfo(pa))}
        assert list(zones) == ["DMA", "DMA32", "Normal", "Movable", "Device"]
        assert zones["DMA32"]["present"] == 4096 and zones["DMA32"]["managed"] == 0
        assert zones["Movable"]["free"] == 0 and zones["Movable"]["min"] == 32   # the live host's empty Movable
        mnt = _mount_dir(tmp_path / "idle", P618.zoneinfo(pa), P618.buddyinfo(pa), S618.slabinfo_show(k.slab))
        rows = _zone_rows(top.snapshot(mnt))
        assert set(rows) == {"DMA", "DMA32", "Normal", "Movable", "Device"}
        assert not any(row.endswith(("<min", "<low")) for row in rows.values()), rows
        # now DMA, the one zone with pages, runs short: GFP_ATOMIC goes below min
        while k.alloc_pages(G618.GFP_ATOMIC | G618.__GFP_NOWARN, 0) is not None:
            pass
        zones = {z["zone"]: z for z in top.parse_zoneinfo(P618.zoneinfo(pa))}
        assert zones["DMA"]["free"] < zones["DMA"]["min"]
        mnt = _mount_dir(tmp_path / "full", P618.zoneinfo(pa), P618.buddyinfo(pa), S618.slabinfo_show(k.slab))
        rows = _zone_rows(top.snapshot(mnt))
        assert rows["DMA"].endswith(" <min"), rows["DMA"]
        assert [name for name, row in rows.items() if row.endswith(("<min", "<low"))] == ["DMA"], rows
    finally:
        k.close()


def test_top_zone_mark_on_2_6_18_lists_populated_zones_only():
    k = Kernel(mem=64 << 20)
    try:
        zones = top.parse_zoneinfo(procfs.zoneinfo(k))
        assert [z["zone"] for z in zones] == ["DMA", "Normal"] and all("managed" not in z for z in zones)
        assert [top.zone_mark(z) for z in zones] == ["", ""]          # a fresh machine: plenty free
        while k.alloc_pages(G.GFP_ATOMIC | G.__GFP_NOWARN, 0) is not None:
            pass
        zones = {z["zone"]: z for z in top.parse_zoneinfo(procfs.zoneinfo(k))}
        assert zones["Normal"]["free"] < zones["Normal"]["min"] and top.zone_mark(zones["Normal"]) == " <min"
    finally:
        k.close()
