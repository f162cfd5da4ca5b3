"""Memory pressure seen from the shell: every GFP flag on a real, small mount.

Each test mounts a fresh 32 MiB machine (64 MiB for NUMA), drives it with dd and
cat in subprocesses, and reads the outcome from the tree: device sizes, proc/kmsg,
proc/zoneinfo, proc/vmstat, proc/slabinfo, numastat. After every failure the data
already stored must read back intact.

The only clock comparisons are against alloc_wait_ms itself: a GFP_KERNEL write
that fails has slept at least alloc_wait_ms; a __GFP_NORETRY write fails before
alloc_wait_ms (3 s) is up. Subprocess timeouts are hang guards, not assertions.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, is_mounted

MiB = 1 << 20
SRC_BYTES = 40 * MiB        # more than any of these machines can store
HANG = 120                  # seconds: a subprocess that takes longer is hung
WARNING = "page allocation failure"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    """40 MiB of random bytes every device is filled from."""
    path = tmp_path_factory.mktemp("pressure") / "src"
    path.write_bytes(os.urandom(SRC_BYTES))
    return path


def small(mount_scullcfs, **options):
    """A fresh small machine; fills sleep only 200 ms before failing."""
    m = mount_scullcfs(**{"mem": "32M", "background": 0, **options})
    set_alloc_wait(m, 200)
    return m


def dev(m, n: int) -> Path:
    return m.path / f"dev/scullc{n}"


def size(m, n: int) -> int:
    return int((m.path / f"sys/class/scullc/scullc{n}/size").read_text())


def set_gfp(m, n: int, text: str) -> None:
    (m.path / f"sys/class/scullc/scullc{n}/gfp").write_text(text + "\n")


def set_alloc_wait(m, ms: int) -> None:
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text(f"{ms}\n")


def fill(m, n: int, src: Path) -> subprocess.CompletedProcess:
    """dd the whole source into the device (a write-only open: scullc trims first)."""
    return subprocess.run(["dd", f"if={src}", f"of={dev(m, n)}", "bs=1M"],
                          capture_output=True, text=True, timeout=HANG)


def append(m, n: int, src: Path, nbytes: int) -> subprocess.CompletedProcess:
    """dd the next nbytes of the source to the device's end. The shell opens the device
    read-write (1<>): a write-only open would trim it."""
    off = size(m, n)
    script = ('exec dd if="$1" bs=64K iflag=skip_bytes,count_bytes oflag=seek_bytes'
              ' skip="$2" seek="$2" count="$3" status=none 1<>"$4"')
    return subprocess.run(["bash", "-c", script, "bash", str(src), str(off), str(nbytes),
                           str(dev(m, n))], capture_output=True, text=True, timeout=HANG)


def timed(fn, *args) -> tuple[subprocess.CompletedProcess, float]:
    t = time.monotonic()
    r = fn(*args)
    return r, time.monotonic() - t


def cat(path: Path) -> bytes:
    return subprocess.run(["cat", str(path)], capture_output=True, check=True,
                          timeout=HANG).stdout


def trim(m, n: int) -> None:
    """`: > MNT/dev/scullcN` - O_WRONLY|O_TRUNC: scullc_open trims the device."""
    subprocess.run(["sh", "-c", ': > "$1"', "sh", str(dev(m, n))], check=True, timeout=HANG)


def assert_intact(m, n: int, src: Path, offset: int = 0) -> int:
    """The device holds exactly bytes [offset, offset + size) of the source."""
    stored = size(m, n)
    with open(src, "rb") as f:
        f.seek(offset)
        want = f.read(stored)
    got = cat(dev(m, n))
    assert len(got) == stored, f"scullc{n}: size says {stored}, cat read {len(got)}"
    assert got == want, f"scullc{n}: stored data changed"
    return stored


def kmsg(m) -> list[str]:
    return (m.path / "proc/kmsg").read_text().splitlines()


def warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if WARNING in line]


def vmstat(m) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in cat(m.path / "proc/vmstat").decode().splitlines())}


def simstat(m) -> dict[str, int]:
    """The simulator's own counters, which 2.6.18's proc/vmstat does not have
    (allocator/procfs.py sim_vmstat, docs/deviations.md)."""
    return {k: int(v) for k, v in (line.split() for line in
                                   cat(m.path / "sys/kernel/debug/scullc/vmstat").decode().splitlines())}


def zoneinfo(m) -> dict[tuple[int, str], dict[str, int]]:
    """{(node, zone): {"free", "min", "low", "high", "spanned", "present"}}"""
    zones: dict = {}
    cur = None
    for line in cat(m.path / "proc/zoneinfo").decode().splitlines():
        f = line.split()
        if f and f[0] == "Node":
            cur = zones.setdefault((int(f[1].rstrip(",")), f[3]), {})
        elif cur is not None and f[:2] == ["pages", "free"]:
            cur["free"] = int(f[2])
        elif cur is not None and len(f) == 2 and f[0] in ("min", "low", "high", "spanned", "present"):
            cur[f[0]] = int(f[1])
    return zones


def slabinfo(m) -> dict[str, dict[str, int]]:
    out = {}
    for line in cat(m.path / "proc/slabinfo").decode().splitlines()[2:]:
        f = line.split()
        out[f[0]] = {"active_objs": int(f[1]), "num_objs": int(f[2]),
                      "active_slabs": int(f[13]), "num_slabs": int(f[14])}
    return out


def numastat(m, node: int) -> dict[str, int]:
    text = (m.path / f"sys/devices/system/node/node{node}/numastat").read_text()
    return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


BACKGROUND = ("dentry_cache", "inode_cache", "buffer_head")


def fill_until_enomem(m, n: int, src: Path) -> int:
    r = fill(m, n, src)
    assert r.returncode != 0 and "Cannot allocate memory" in r.stderr, r.stderr
    return assert_intact(m, n, src)


def start_sleeping_nofail_writer(m, n: int, src: Path) -> subprocess.Popen:
    """With memory exhausted, start a __GFP_NOFAIL dd of 1 MiB on device n and return
    once its direct reclaim is counted and it is still blocked three alloc_wait_ms
    later (a plain GFP_KERNEL writer would have failed by then)."""
    set_gfp(m, n, "GFP_KERNEL|__GFP_NOFAIL")
    stalls = vmstat(m)["allocstall"]
    p = subprocess.Popen(["dd", f"if={src}", f"of={dev(m, n)}", "bs=64K", "count=16", "status=none"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + HANG
    while vmstat(m)["allocstall"] == stalls and p.poll() is None:
        assert time.monotonic() < deadline, "the __GFP_NOFAIL writer never reached direct reclaim"
        time.sleep(0.05)
    wait_ms = int((m.path / "proc/sys/vm/alloc_wait_ms").read_text())
    time.sleep(3 * wait_ms / 1000)
    assert p.poll() is None, f"the __GFP_NOFAIL dd ended (exit {p.returncode}): {p.stderr.read()!r}"
    assert size(m, n) < MiB
    return p


def finish(m, p: subprocess.Popen) -> int:
    """Wait for a writer. If it hangs, abort the mount first: a request the daemon
    has read cannot be killed from the writer's side, only answered or aborted."""
    try:
        return p.wait(timeout=HANG)
    except subprocess.TimeoutExpired:
        abort(m, p)
        raise


def abort(m, p: subprocess.Popen) -> None:
    """Kill the daemon (its requests in flight fail), then the writer."""
    m.expected_returncode = None  # the test fails anyway; teardown need not add to it
    m.proc.kill()
    p.kill()
    p.wait(timeout=HANG)


# --------------------------------------------------------------------------- sleeping


def test_gfp_kernel_sleeps_alloc_wait_ms_then_fails_and_keeps_what_it_stored(mount_scullcfs, src):
    m = small(mount_scullcfs)
    stored = fill_until_enomem(m, 0, src)
    assert 20 * MiB < stored < 32 * MiB
    set_alloc_wait(m, 3000)
    before = len(kmsg(m))
    r, elapsed = timed(append, m, 0, src, 256 << 10)
    assert r.returncode != 0 and "Cannot allocate memory" in r.stderr
    assert elapsed >= 3.0, f"GFP_KERNEL failed after {elapsed:.2f} s, before alloc_wait_ms 3000"
    new = kmsg(m)[before:]
    assert any("dd: no memory freed within 3000 ms (vm.alloc_wait_ms)" in line for line in new)
    assert any("dd: page allocation failure. order:0, mode:0xd0" in line for line in new), new
    assert any("Mem-info:" in line for line in new)
    normal = zoneinfo(m)[(0, "Normal")]
    assert normal["free"] <= normal["min"]
    assert assert_intact(m, 0, src) == stored


def test_gfp_noretry_fails_before_alloc_wait_ms_where_gfp_kernel_waits(mount_scullcfs, src):
    m = small(mount_scullcfs)
    stored = fill_until_enomem(m, 0, src)
    set_alloc_wait(m, 3000)
    set_gfp(m, 1, "GFP_KERNEL|__GFP_NORETRY")
    before = len(kmsg(m))
    noretry, noretry_s = timed(append, m, 1, src, 256 << 10)
    assert noretry.returncode != 0 and "Cannot allocate memory" in noretry.stderr
    assert any("page allocation failure. order:0, mode:0x10d0" in line for line in kmsg(m)[before:])
    kernel, kernel_s = timed(append, m, 0, src, 256 << 10)
    assert kernel.returncode != 0
    assert noretry_s < 3.0 <= kernel_s, (noretry_s, kernel_s)
    assert size(m, 1) == 0
    assert assert_intact(m, 0, src) == stored


def test_gfp_nofail_sleeps_until_another_device_is_trimmed_then_completes_intact(mount_scullcfs, src):
    m = small(mount_scullcfs)
    stored = fill_until_enomem(m, 0, src)
    before = len(kmsg(m))
    p = start_sleeping_nofail_writer(m, 3, src)
    assert assert_intact(m, 0, src) == stored  # untouched while it sleeps
    trim(m, 0)
    assert finish(m, p) == 0, p.stderr.read()
    assert size(m, 3) == MiB
    assert_intact(m, 3, src)
    assert size(m, 0) == 0
    assert warnings(kmsg(m)[before:]) == []


def test_a_sleeping_writer_does_not_stall_other_devices_or_proc_files(mount_scullcfs, src):
    m = small(mount_scullcfs)
    stored = fill_until_enomem(m, 0, src)
    p = start_sleeping_nofail_writer(m, 3, src)
    try:
        assert b"MemFree:" in cat(m.path / "proc/meminfo")
        assert b"pages free" in cat(m.path / "proc/zoneinfo")
        assert_intact(m, 0, src)
        # overwrite scullc0 in place (its quanta exist: no allocation) from the 20 MiB mark
        other = subprocess.run(["bash", "-c", 'exec dd if="$1" bs=1M skip=20 count=1 status=none 1<>"$2"',
                                "bash", str(src), str(dev(m, 0))], capture_output=True, timeout=HANG)
        assert other.returncode == 0, other.stderr
        data = cat(dev(m, 0))
        with open(src, "rb") as f:
            whole = f.read(stored)
        assert data[:MiB] == whole[20 * MiB:21 * MiB] and data[MiB:] == whole[MiB:]
        set_gfp(m, 1, "GFP_ATOMIC")
        assert (m.path / "sys/class/scullc/scullc1/gfp").read_text() == "GFP_ATOMIC\n"
        # all of that happened while the __GFP_NOFAIL writer was still asleep
        assert p.poll() is None
    finally:
        trim(m, 0)
        assert finish(m, p) == 0
    assert_intact(m, 3, src)


def test_unmount_while_a_nofail_writer_sleeps_does_not_hang(mount_scullcfs, src):
    m = small(mount_scullcfs)
    fill_until_enomem(m, 0, src)
    p = start_sleeping_nofail_writer(m, 3, src)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        x for x in (os.environ.get("PYTHONPATH", ""), str(REPO_ROOT)) if x))
    try:
        r = subprocess.run([sys.executable, "-m", "scullcfs", "--unmount", "--force", str(m.path)],
                           capture_output=True, text=True, timeout=HANG, env=env)
        assert r.returncode == 0, r.stderr
        assert finish(m, p) != 0  # the writer gives up: memory never came back
    finally:
        if p.poll() is None:
            abort(m, p)
    assert not is_mounted(m.path)
    assert m.proc.wait(timeout=HANG) == 0


def test_a_write_that_runs_while_another_waits_for_the_device_lock_does_not_cut_its_sleep_short():
    """The filesystem's write handler, without FUSE, on trio's virtual clock: a write
    whose allocation must sleep yields once to take the device lock; an overwrite of
    another device that runs right then (no allocation) must not make it fail at once.
    trio runs each batch of ready tasks in a random order, so 20 rounds try both."""
    import types

    import pyfuse3
    import trio
    import trio.testing

    from scullcfs import cli
    from scullcfs.fs import ScullcOperations
    from scullcfs.tree import Tree

    kernel, driver = cli.boot(cli.build_parser().parse_args(["MNT", "--mem", "32M", "--background", "0"]))
    for pid in (100, 101):  # /proc/PID/oom_adj -17: the OOM killer spares them, both sleep
        kernel.set_current(pid).oomkilladj = -17
    settings = cli.Settings()
    settings.alloc_wait_ms = 300
    ops = ScullcOperations(kernel, Tree(kernel, driver, settings))
    inode = {n.device.name: n.inode for n in ops.tree.inodes.values() if n.device is not None}
    short = []

    async def main():
        fh0 = (await ops.open(inode["scullc0"], os.O_RDWR, types.SimpleNamespace(pid=100))).fh
        fh1 = (await ops.open(inode["scullc1"], os.O_RDWR, types.SimpleNamespace(pid=101))).fh
        off = 0
        while True:  # fill memory through scullc0
            try:
                off += await ops.write(fh0, off, b"a" * 65536)
            except pyfuse3.FUSEError:
                break

        async def sleeper():
            start = trio.current_time()
            with pytest.raises(pyfuse3.FUSEError):
                await ops.write(fh1, 0, b"x" * 4000)
            slept = trio.current_time() - start  # virtual seconds: 0 if cut short
            if slept < settings.alloc_wait_ms / 1000 / 2:
                short.append(slept)

        for _ in range(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sleeper)
                nursery.start_soon(ops.write, fh0, 0, b"b" * 4000)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    kernel.close()
    assert short == [], f"{len(short)} of 20 writes failed without sleeping alloc_wait_ms"


# --------------------------------------------------------------------------- atomic, warnings


def test_gfp_atomic_stores_more_than_gfp_kernel_from_the_same_state(mount_scullcfs, src):
    kernel = small(mount_scullcfs)
    stored_kernel = fill_until_enomem(kernel, 0, src)
    z = zoneinfo(kernel)[(0, "Normal")]
    assert z["free"] <= z["min"]

    atomic = small(mount_scullcfs)
    set_gfp(atomic, 0, "GFP_ATOMIC")
    before = len(kmsg(atomic))
    stored_atomic = fill_until_enomem(atomic, 0, src)
    assert stored_atomic > stored_kernel
    normal = zoneinfo(atomic)[(0, "Normal")]
    # ALLOC_HIGH|ALLOC_HARDER: min - min/2 - (min - min/2)/4, about 3/8 of min
    assert normal["free"] < normal["min"]
    assert normal["free"] <= normal["min"] * 3 // 8 + 1
    new = kmsg(atomic)[before:]
    assert any("page allocation failure. order:0, mode:0x20" in line for line in new)
    assert not any("no memory freed" in line for line in new)  # it never slept


def test_gfp_nowarn_fails_without_a_warning(mount_scullcfs, src):
    m = small(mount_scullcfs)
    stored = fill_until_enomem(m, 0, src)
    set_gfp(m, 1, "GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN")
    before, fails = len(kmsg(m)), simstat(m)["pgalloc_fail"]
    r = append(m, 1, src, 256 << 10)
    assert r.returncode != 0 and "Cannot allocate memory" in r.stderr
    assert simstat(m)["pgalloc_fail"] > fails
    assert warnings(kmsg(m)[before:]) == []
    # the same failure without __GFP_NOWARN is logged
    set_gfp(m, 1, "GFP_KERNEL|__GFP_NORETRY")
    before = len(kmsg(m))
    assert append(m, 1, src, 256 << 10).returncode != 0
    assert len(warnings(kmsg(m)[before:])) == 1
    assert assert_intact(m, 0, src) == stored


# --------------------------------------------------------------------------- zones, caches


def test_a_slab_cache_dma_cache_fails_at_the_dma_zone_size(mount_scullcfs, src):
    m = small(mount_scullcfs, cache_flags="SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA")
    assert (m.path / "sys/kernel/slab/scullc/cache_dma").read_text() == "1\n"
    set_gfp(m, 0, "GFP_KERNEL|__GFP_DMA")     # a DMA cache takes GFP_DMA (2.6.18 kmem_flagcheck)
    before = len(kmsg(m))
    stored = fill_until_enomem(m, 0, src)
    assert 12 * MiB < stored < 16 * MiB
    zones = zoneinfo(m)
    dma, normal = zones[(0, "DMA")], zones[(0, "Normal")]
    assert dma["free"] <= dma["min"]
    assert normal["free"] > normal["present"] // 2
    # 2.6.18 __alloc_pages: GFP_KERNEL|__GFP_DMA without reclaim progress calls the OOM killer
    assert any("oom-killer: gfp_mask=0xd1, order=0" in line for line in kmsg(m)[before:])
    stat = vmstat(m)
    assert stat["pgalloc_dma"] > stored // 4096 > stat["pgalloc_normal"]


def test_kswapd_reclaims_fs_and_io_backed_caches_whatever_the_writers_mask(mount_scullcfs, src):
    """2.6.18: a GFP_NOIO or GFP_NOFS writer's direct reclaim cannot run the
    dcache/icache shrinkers (no __GFP_FS) or free buffer heads (no __GFP_IO),
    but the allocation that fails its low watermark wakes kswapd, whose
    balance_pgdat runs shrink_slab with GFP_KERNEL: every background cache is
    reclaimed whatever the writer's mask, and the three writers store the same
    (within a qset array's page or so; direct reclaim's gating is tested without
    kswapd in test_parts.py: shrink_slab with GFP_NOIO and GFP_NOFS)."""
    stored, slabs, runs = {}, {}, {}
    for mode in ("GFP_NOIO", "GFP_NOFS", "GFP_KERNEL"):
        m = small(mount_scullcfs, background=40, devs=1)
        boot = slabinfo(m)
        before = vmstat(m)["pageoutrun"]
        set_gfp(m, 0, mode)
        stored[mode] = fill_until_enomem(m, 0, src)
        after = slabinfo(m)
        runs[mode] = vmstat(m)["pageoutrun"] - before
        slabs[mode] = {c: (boot[c]["num_slabs"], after[c]["num_slabs"]) for c in BACKGROUND}
        assert m.unmount() == 0
    assert all(n > 0 for n in runs.values()), runs
    for mode in stored:
        assert all(a < b for b, a in slabs[mode].values()), (mode, slabs)
    assert max(stored.values()) - min(stored.values()) <= 4 * 4000, stored


def test_drop_caches_runs_the_shrinkers_only(mount_scullcfs, src):
    m = small(mount_scullcfs, background=20)
    assert append(m, 0, src, 4 * MiB).returncode == 0
    trim(m, 0)
    before = slabinfo(m)
    assert before["scullc"]["num_slabs"] > 0
    assert all(before[c]["num_slabs"] > 0 for c in BACKGROUND)
    free_before = simstat(m)["nr_free_pages"]
    (m.path / "proc/sys/vm/drop_caches").write_text("3\n")
    after = slabinfo(m)
    # 2.6.18 fs/drop_caches.c drop_slab: shrink_slab only. The background caches'
    # objects go (their slabs beyond the free limit at once, the rest with
    # cache_reap); scullc has no shrinker: its free slabs wait for cache_reap,
    # which gives back a few every REAPTIMEOUT_CPUC
    assert after["scullc"]["num_slabs"] > 0
    assert all(after[c]["num_slabs"] < before[c]["num_slabs"] for c in BACKGROUND), (before, after)
    stat = simstat(m)
    assert stat["nr_free_pages"] > free_before
    assert stat["drop_slab"] == 1


def test_min_free_kbytes_moves_the_watermarks_in_zoneinfo(mount_scullcfs):
    m = small(mount_scullcfs)
    path = m.path / "proc/sys/vm/min_free_kbytes"
    boot = int(path.read_text())
    before = zoneinfo(m)
    new = boot * 4
    path.write_text(f"{new}\n")
    after = zoneinfo(m)
    # 2.6 setup_per_zone_pages_min: pages_min (kB >> 2) shared by the lowmem zones by
    # present pages (a HighMem zone would get its own small min; 32M has none)
    pages_min = new >> 2
    lowmem = sum(z["present"] for (_, name), z in after.items() if name != "HighMem")
    for key, z in after.items():
        tmp = pages_min * z["present"] // lowmem
        assert (z["min"], z["low"], z["high"]) == (tmp, tmp + tmp // 4, tmp + tmp // 2), key
        assert z["min"] > before[key]["min"] and z["high"] > before[key]["high"]
    path.write_text(f"{boot}\n")
    watermarks = lambda zones: {k: (z["min"], z["low"], z["high"]) for k, z in zones.items()}  # noqa: E731
    assert watermarks(zoneinfo(m)) == watermarks(before)


def test_gfp_cold_allocations_are_counted_in_pgalloc_cold(mount_scullcfs, src):
    m = small(mount_scullcfs)
    set_gfp(m, 0, "GFP_KERNEL|__GFP_COLD")
    before = simstat(m)
    assert append(m, 0, src, MiB).returncode == 0
    after = simstat(m)
    quanta = int((m.path / "sys/class/scullc/scullc0/quanta").read_text())
    # each 4000-byte quantum is a one-page slab of the scullc cache, taken cold
    assert quanta == 263  # 1 MiB / 4000, rounded up
    assert after["pgalloc_cold"] - before["pgalloc_cold"] >= quanta
    assert_intact(m, 0, src)


def test_numa_a_full_node_spills_to_the_other_node(mount_scullcfs, src):
    m = mount_scullcfs(mem="64M", nodes=2, cpus=2, background=0)
    before = [numastat(m, n) for n in (0, 1)]
    p = subprocess.Popen(["dd", f"if={src}", f"of={dev(m, 0)}", "bs=1M", "count=40", "status=none"],
                         stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cpu = p.pid % 2  # a request runs on CPU pid % cpus
    assert finish(m, p) == 0, p.stderr.read()
    local = next(n for n in (0, 1)
                 if str(cpu) in (m.path / f"sys/devices/system/node/node{n}/cpulist").read_text().strip().split(","))
    remote = 1 - local
    after = [numastat(m, n) for n in (0, 1)]
    assert after[remote]["numa_miss"] > before[remote]["numa_miss"]
    assert after[local]["numa_foreign"] > before[local]["numa_foreign"]
    assert after[remote]["other_node"] > before[remote]["other_node"]
    assert after[local]["numa_hit"] > before[local]["numa_hit"]
    assert_intact(m, 0, src)


# --------------------------------------------------------------------------- the tour


# the sections each kernel's tour must show (their titles begin with these)
TOUR_SECTIONS = {
    "2.6.18": ("GFP_KERNEL:", "__GFP_NORETRY:", "__GFP_NOWARN:", "GFP_ATOMIC:", "__GFP_NOFAIL:", "__GFP_COLD:",
               "min_free_kbytes", "SLAB_CACHE_DMA:", "GFP_NOIO / GFP_NOFS:", "drop_caches:", "NUMA:"),
    "6.18": ("GFP_KERNEL (0xcc0):", "__GFP_NORETRY (0x10000):", "__GFP_NOWARN (0x2000):", "the reserves below min:",
             "__GFP_RETRY_MAYFAIL (0x4000,", "__GFP_NOFAIL (0x8000):", "__GFP_REPEAT, __GFP_COLD, __GFP_WAIT:",
             "%pGg names:", "min_free_kbytes and watermark_scale_factor", "SLAB_CACHE_DMA:", "drop_caches",
             "NUMA:"),
}


@pytest.mark.fuse
@pytest.mark.parametrize("kernel", ["2.6.18", "6.18"])
def test_gfp_tour_passes(fuse_environment, tmp_path, kernel):
    wrapper = tmp_path / "scullcfs"
    wrapper.write_text("#!/bin/sh\n"
                       f'PYTHONPATH="{REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"'
                       f' exec "{sys.executable}" -m scullcfs "$@"\n')
    wrapper.chmod(0o755)
    r = subprocess.run([str(REPO_ROOT / "tools/gfp_tour"), "--kernel", kernel], capture_output=True, text=True,
                       timeout=600, env=dict(os.environ, SCULLCFS=str(wrapper)))
    assert r.returncode == 0, f"gfp_tour exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert re.search(r"gfp_tour: (\d+) checks, \1 passed, 0 failed", r.stdout), r.stdout
    assert not re.search(r"^\s+FAIL\s", r.stdout, re.M), r.stdout
    # every section ran, each with its checks passing
    sections = re.split(r"^== \d+\. ", r.stdout, flags=re.M)[1:]
    assert len(sections) == len(TOUR_SECTIONS[kernel]), r.stdout
    for body, title in zip(sections, TOUR_SECTIONS[kernel]):
        assert body.startswith(title), (title, body[:200])
        assert re.search(r"^  PASS  ", body, re.M), body
    mounts = re.findall(r"^\$ scullcfs MNT (.*)$", r.stdout, re.M)
    assert mounts and all(("--kernel 6.18" in m) == (kernel == "6.18") for m in mounts), mounts
    if kernel == "6.18":
        # 6.18's own reports, as mm/oom_kill.c dump_header and warn_alloc print them
        assert "invoked oom-killer: gfp_mask=0x40cc0(GFP_KERNEL|__GFP_COMP), order=0, oom_score_adj=0" in r.stdout
        assert "page allocation failure: order:0, mode:0x50cc0(GFP_KERNEL|__GFP_NORETRY|__GFP_COMP)" in r.stdout
        # one write(2), one refusal, one log line
        assert r.stdout.count("refused: __GFP_REPEAT is gone since 4.13: use __GFP_RETRY_MAYFAIL") == 1, r.stdout
        assert "sys/kernel/debug/scullc/vmstat" not in r.stdout and "pgalloc_cold" not in r.stdout
