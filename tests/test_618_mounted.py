"""A mounted --kernel 6.18 read by the real clients: the kernel's own
tools/mm/slabinfo (built from linux-source-6.12 by tools/build_slabinfo) on the
mount's sys/kernel/slab bind-mounted over /sys/kernel/slab in a private mount
namespace, and procps slabtop on the mount's SLUB /proc/slabinfo (`scullcfs
slabtop`). Expected values: LDD3's scullc cache on a 2-CPU 6.18 SLUB kernel is
4032-byte objects, 8 per order-3 slab (reference/linux-6.18.md §4.6:
calculate_order's 12 minimum objects on 2 CPUs), 64-byte aligned
(SLAB_HWCACHE_ALIGN, cache_line_size 64), and 32 bytes of each slot are
alignment (4032 - 4000).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.fuse

QUANTA = 13          # 13 quanta of 4000 bytes: two slabs (8 + 5 objects, the second the CPU slab)


def build_slabinfo() -> str:
    r = subprocess.run([str(REPO_ROOT / "tools/build_slabinfo")], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def in_namespace(mnt, command: str) -> subprocess.CompletedProcess:
    """`command` with mnt/sys/kernel/slab over /sys/kernel/slab, seen by nobody else."""
    assert os.getuid() == 0, "a bind mount over /sys/kernel/slab needs root (unshare -m)"
    inner = f'mount --bind "$1/sys/kernel/slab" /sys/kernel/slab && {command}'
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", inner, "sh", str(mnt)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def fill(m, quanta: int) -> None:
    with open(m.path / "dev/scullc0", "wb") as f:
        f.write(os.urandom(quanta * 4000))


def test_tools_mm_slabinfo_reports_the_scullc_cache_of_the_mount(mount_scullcfs):
    slabinfo = build_slabinfo()
    m = mount_scullcfs(kernel="6.18", mem="256M", background="0")
    fill(m, QUANTA)
    r = in_namespace(m.path, f"{slabinfo} scullc")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    # tools/mm/slabinfo.c report(): the header line and the Sizes/Slabs columns
    assert re.search(r"^Slabcache: scullc +Aliases: +0 Order : +3 Objects: +16$", out, re.M), out
    assert "** Hardware cacheline aligned" in out
    assert re.search(r"^Object : +4000 +Total +: +2 ", out, re.M), out
    assert re.search(r"^SlabObj: +4032 ", out, re.M) and re.search(r"^SlabSiz: +32768 ", out, re.M), out
    assert re.search(r"^Loss +: +32 ", out, re.M) and re.search(r"^Align +: +64 +.*Objects: +8 ", out, re.M), out
    # the one-line list: the scullc cache among the others, with its slab count
    r = in_namespace(m.path, slabinfo)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("scullc "))
    # `objects` counts the CPU slab's free objects as in use (mm/slub.c
    # show_slab_objects): 8 + 8, not the 13 quanta
    assert row.split()[1:3] == ["16", "4000"], row
    assert "kmalloc-64 " in r.stdout and "dentry " not in r.stdout   # --background 0: no dentries


def test_tools_mm_slabinfo_follows_the_alias_symlinks_of_a_merged_cache(mount_scullcfs):
    """scullm creates a cache of scullc's size and flags: SLUB merges it into scullc's
    (mm/slab_common.c find_mergeable), sysfs shows :0004032 with two symlinks, and
    slabinfo -a lists the alias."""
    slabinfo = build_slabinfo()
    m = mount_scullcfs(kernel="6.18", mem="256M", background="0", family="scullc,scullm")
    slab = m.path / "sys/kernel/slab"
    assert os.readlink(slab / "scullc") == ":0004032" and os.readlink(slab / "scullm") == ":0004032"
    assert (slab / ":0004032/aliases").read_text() == "1\n"
    r = in_namespace(m.path, f"{slabinfo} -a")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^:0004032 +<- +scullc +scullm$|^:0004032 +<- +scullm +scullc$", r.stdout, re.M), r.stdout


def test_procps_slabtop_reads_the_slub_slabinfo_of_the_mount(mount_scullcfs):
    if shutil.which("slabtop") is None:
        pytest.fail("procps slabtop is not installed (tools/quickstart setup installs procps)")
    m = mount_scullcfs(kernel="6.18", mem="256M", background="0")
    fill(m, QUANTA)
    r = subprocess.run([sys.executable, "-m", "scullcfs", "slabtop", str(m.path), "-o", "-s", "c"],
                       capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stderr
    # procps print_details: OBJS ACTIVE USE OBJ-SIZE SLABS OBJ/SLAB CACHE-SIZE NAME; 3.94K = 4032/1024;
    # 2 slabs of 32 KiB = 64K
    row = next(line for line in r.stdout.splitlines() if line.rstrip().endswith(" scullc"))
    assert row.split() == ["16", "16", "100%", "3.94K", "2", "8", "64K", "scullc"], row
