"""Issue 12 through real files: what the mount does with 2.6.18's page allocator.

kswapd in the mount's background (proc/vmstat pageoutrun, proc/zoneinfo), the
OOM killer's report in proc/kmsg, the vm sysctls panic_on_oom (2.6.18
kernel/sysctl.c: 0644, proc_dointvec) and the simulator's own
scullcfs_retry_forever, and __GFP_NOFAIL's unbounded wait. Expected texts and
values are read off the 2.6.18 source (rocklee104/linux-2.6.18 at 4ba3a12d):
include/linux/gfp.h GFP_KERNEL = __GFP_WAIT | __GFP_IO | __GFP_FS = 0x10 | 0x40 |
0x80 = 0xd0; mm/oom_kill.c's printk formats.
"""
from __future__ import annotations

import errno
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

MiB = 1 << 20
HANG = 120
QUANTUM = 4000          # scullc's default quantum: one 4032-byte object per page


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("m2618") / "src"
    path.write_bytes(os.urandom(40 * MiB))
    return path


def vmstat(m) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in (m.path / "proc/vmstat").read_text().splitlines())}


def zones(m) -> dict[str, dict[str, int]]:
    """Node 0's populated zones: {"DMA": {"free", "min", "low", "high", "present"}, ...}"""
    out: dict[str, dict[str, int]] = {}
    cur: dict[str, int] | None = None
    for line in (m.path / "proc/zoneinfo").read_text().splitlines():
        f = line.split()
        if f[:1] == ["Node"]:
            cur = out.setdefault(f[3], {}) if f[1] == "0," else None
        elif cur is not None and f[:2] == ["pages", "free"]:
            cur["free"] = int(f[2])
        elif cur is not None and len(f) == 2 and f[0] in ("min", "low", "high", "present"):
            cur[f[0]] = int(f[1])
    return {name: z for name, z in out.items() if z.get("present")}


def slabs(m, cache: str) -> int:
    for line in (m.path / "proc/slabinfo").read_text().splitlines()[2:]:
        f = line.split()
        if f[0] == cache:
            return int(f[14])
    raise AssertionError(f"no {cache} in slabinfo")


def kmsg(m) -> list[str]:
    return (m.path / "proc/kmsg").read_text().splitlines()


def write_ctl(path: Path, text: str) -> int:
    """One write(2) of text to a control file: 0, or the errno."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def dd_fill(m, n: int, src: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(["dd", f"if={src}", f"of={m.path}/dev/scullc{n}", "bs=1M", *kw.get("extra", [])],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def intact(m, n: int, src: Path) -> bool:
    size = int((m.path / f"sys/class/scullc/scullc{n}/size").read_text())
    got = (m.path / f"dev/scullc{n}").read_bytes()
    return len(got) == size and got == src.read_bytes()[:size]


# ------------------------------------------------------------------------ kswapd


def test_kswapd_runs_below_the_low_watermark_and_reclaims_a_zone_back_above_high(mount_scullcfs, src):
    """mm/vmscan.c (2.6.18): __alloc_pages wakes kswapd when every zone of the
    zonelist fails its low watermark; kswapd's balance_pgdat counts pageoutrun
    and shrinks the slab caches (the shrinkers: dentry_cache, inode_cache,
    buffer_head) until the zones are above pages_high."""
    m = mount_scullcfs(mem="32M", background=20)
    z = zones(m)
    before = vmstat(m)
    bg = {c: slabs(m, c) for c in ("dentry_cache", "inode_cache", "buffer_head")}
    # fill to 40 pages below the sum of the low watermarks: both lowmem zones
    # fail the first (ALLOC_WMARK_LOW) pass, the second (min) pass succeeds
    pages = sum(v["free"] for v in z.values()) - sum(v["low"] for v in z.values()) + 40
    r = subprocess.run(["dd", f"if={src}", f"of={m.path}/dev/scullc0", f"bs={QUANTUM}", f"count={pages}"],
                       capture_output=True, text=True, timeout=HANG)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        after, z2 = vmstat(m), zones(m)
        if after["pageoutrun"] > before["pageoutrun"] and z2["Normal"]["free"] > z2["Normal"]["high"]:
            break
        time.sleep(0.1)
    assert after["pageoutrun"] > before["pageoutrun"], "kswapd never ran"
    assert after["slabs_scanned"] > before["slabs_scanned"]
    # the background caches live in Normal: kswapd freed their slabs and
    # brought Normal back above pages_high (DMA holds only scullc's quanta,
    # which no shrinker frees: it stays below and kswapd gives up on it)
    assert z2["Normal"]["free"] > z2["Normal"]["high"], z2
    assert sum(slabs(m, c) for c in bg) < sum(bg.values())
    assert intact(m, 0, src)


# ------------------------------------------------------------------------ OOM


def test_gfp_kernel_exhaustion_prints_the_oom_report_and_only_marks_the_victim(mount_scullcfs, src):
    """mm/oom_kill.c (2.6.18) out_of_memory: `oom-killer: gfp_mask=0x%x, order=%d`,
    dump_stack and show_mem, then oom_kill_process's `Out of Memory: Kill
    process %d (%s) score %li and children.` and __oom_kill_task's `%s: Killed
    process %d (%s).`. The victim is the dd that took the memory; the mount sends
    it no signal: dd ends with ENOMEM (exit 1), not SIGKILL."""
    m = mount_scullcfs(mem="32M", background=0)
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text("200\n")
    mark = len(kmsg(m))
    p = dd_fill(m, 0, src)
    _, err = p.communicate(timeout=HANG)
    assert p.returncode == 1 and "Cannot allocate memory" in err   # not -9: no signal
    new = kmsg(m)[mark:]
    text = [line.split("] ", 1)[1] for line in new if "] " in line]
    assert "oom-killer: gfp_mask=0xd0, order=0" in text
    kill = [t for t in text if t.startswith(f"Out of Memory: Kill process {p.pid} (dd) score ")]
    assert kill and kill[0].endswith(" and children."), text[-5:]
    assert f"Out of memory: Killed process {p.pid} (dd)." in text
    i = text.index("oom-killer: gfp_mask=0xd0, order=0")
    assert "Mem-info:" in text[i:text.index(kill[0])]   # show_mem between them
    assert intact(m, 0, src)
    # the simulated kill ends with the process: a new writer allocates again
    subprocess.run(["sh", "-c", ': > "$1"', "sh", f"{m.path}/dev/scullc0"], check=True, timeout=HANG)
    r = subprocess.run(["dd", f"if={src}", f"of={m.path}/dev/scullc1", "bs=1M", "count=1"],
                       capture_output=True, text=True, timeout=HANG)
    assert r.returncode == 0, r.stderr


def test_panic_on_oom_logs_the_panic_instead_of_killing(mount_scullcfs, src):
    """mm/oom_kill.c: `if (sysctl_panic_on_oom) panic("out of memory.
    panic_on_oom is selected\\n")`; kernel/panic.c prints `Kernel panic - not
    syncing: %s`. The simulator logs it and goes on (docs/deviations.md)."""
    m = mount_scullcfs(mem="32M", background=0)
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text("200\n")
    (m.path / "proc/sys/vm/panic_on_oom").write_text("1\n")
    mark = len(kmsg(m))
    p = dd_fill(m, 0, src)
    p.communicate(timeout=HANG)
    assert p.returncode == 1
    text = "\n".join(kmsg(m)[mark:])
    assert "Kernel panic - not syncing: out of memory. panic_on_oom is selected" in text
    assert "Killed process" not in text


# ------------------------------------------------------------------------ sysctls


def test_panic_on_oom_is_2618s_proc_dointvec_file(mnt):
    """kernel/sysctl.c (2.6.18): panic_on_oom, mode 0644, proc_dointvec: any
    int (simple_strtoul base 0, an optional '-'), printed back with %d;
    anything else is EINVAL and changes nothing."""
    f = mnt.path / "proc/sys/vm/panic_on_oom"
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert f.read_text() == "0\n"
    for text, back in (("1\n", "1\n"), ("2\n", "2\n"), ("-1\n", "-1\n"), ("0x10\n", "16\n"),
                       ("010\n", "8\n"), ("  3  \n", "3\n"), ("0\n", "0\n")):
        assert write_ctl(f, text) == 0, text
        assert f.read_text() == back, text
    for bad in ("abc\n", "1x\n", "-\n", "08\n", "\n"):
        assert write_ctl(f, bad) == errno.EINVAL, bad
        assert f.read_text() == "0\n", bad


def test_scullcfs_retry_forever_is_a_0_or_1_switch(mnt):
    f = mnt.path / "proc/sys/vm/scullcfs_retry_forever"
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert f.read_text() == "0\n"
    assert write_ctl(f, "1\n") == 0 and f.read_text() == "1\n"
    for bad in ("2\n", "yes\n", "-1\n"):
        assert write_ctl(f, bad) == errno.EINVAL, bad
        assert f.read_text() == "1\n"
    assert write_ctl(f, "0\n") == 0 and f.read_text() == "0\n"


# ------------------------------------------------------------------------ unbounded waits


def blocked_writer(m, n: int, src: Path, gfp: str, wait_ms: int) -> subprocess.Popen:
    """With memory exhausted, a dd of 1 MiB into device n with mode gfp; returns once
    it has slept three times alloc_wait_ms and is still blocked."""
    (m.path / f"sys/class/scullc/scullc{n}/gfp").write_text(gfp + "\n")
    p = subprocess.Popen(["dd", f"if={src}", f"of={m.path}/dev/scullc{n}", "bs=64K", "count=16", "status=none"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(3 * wait_ms / 1000)
    assert p.poll() is None, f"{gfp}: the writer ended: {p.stderr.read() if p.stderr else ''}"
    return p


def exhaust(m, src: Path) -> None:
    p = dd_fill(m, 0, src)
    p.communicate(timeout=HANG)
    assert p.returncode == 1


@pytest.mark.parametrize("gfp, knob", [("GFP_KERNEL|__GFP_NOFAIL", "0"), ("GFP_NOFS", "1")])
def test_an_unbounded_wait_blocks_until_another_device_is_trimmed(mount_scullcfs, src, gfp, knob):
    """__GFP_NOFAIL retries for ever (mm/page_alloc.c __alloc_pages do_retry);
    with scullcfs_retry_forever=1 any retried allocation does, as in 2.6.18 (here
    GFP_NOFS: no __GFP_FS, so no OOM kill, only `goto rebalance`). The writer
    sleeps past alloc_wait_ms and completes when a trim frees memory."""
    m = mount_scullcfs(mem="32M", background=0)
    wait_ms = 300
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text(f"{wait_ms}\n")
    (m.path / "proc/sys/vm/scullcfs_retry_forever").write_text(f"{knob}\n")
    exhaust(m, src)
    p = blocked_writer(m, 1, src, gfp, wait_ms)
    assert (m.path / "proc/meminfo").read_text()          # the tree still answers
    subprocess.run(["sh", "-c", ': > "$1"', "sh", f"{m.path}/dev/scullc0"], check=True, timeout=HANG)
    _, err = p.communicate(timeout=HANG)
    assert p.returncode == 0, err
    assert int((m.path / "sys/class/scullc/scullc1/size").read_text()) == MiB
    assert intact(m, 1, src)


def test_without_the_knob_gfp_nofs_gives_up_after_alloc_wait_ms(mount_scullcfs, src):
    m = mount_scullcfs(mem="32M", background=0)
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text("300\n")
    exhaust(m, src)
    (m.path / "sys/class/scullc/scullc1/gfp").write_text("GFP_NOFS\n")
    mark = len(kmsg(m))
    t = time.monotonic()
    r = subprocess.run(["dd", f"if={src}", f"of={m.path}/dev/scullc1", "bs=64K", "count=16", "status=none"],
                       capture_output=True, text=True, timeout=HANG)
    assert r.returncode == 1 and "Cannot allocate memory" in r.stderr
    assert time.monotonic() - t >= 0.3
    text = "\n".join(kmsg(m)[mark:])
    assert "dd: no memory freed within 300 ms (vm.alloc_wait_ms); 2.6.18 would retry" in text
    assert "dd: page allocation failure. order:0, mode:0x50" in text       # GFP_NOFS = 0x10 | 0x40


# ------------------------------------------------------------------------ exited tasks


def test_the_oom_killer_does_not_choose_a_process_that_has_exited(mount_scullcfs, src):
    """2.6.18 select_bad_process walks only live tasks (do_each_thread): a dd
    that took 16 MiB and exited is not chosen; the one filling memory now is,
    though it holds less."""
    m = mount_scullcfs(mem="32M", background=0)
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text("200\n")
    big = subprocess.Popen(["dd", f"if={src}", f"of={m.path}/dev/scullc1", "bs=1M", "count=16", "status=none"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = big.communicate(timeout=HANG)
    assert big.returncode == 0, err
    time.sleep(2.5)                        # the mount's sweep of exited tasks runs every second
    mark = len(kmsg(m))
    p = dd_fill(m, 0, src)
    p.communicate(timeout=HANG)
    assert p.returncode == 1
    text = [line.split("] ", 1)[1] for line in kmsg(m)[mark:] if "] " in line]
    kills = [t for t in text if t.startswith("Out of Memory: Kill process ")]
    assert kills and kills[0].startswith(f"Out of Memory: Kill process {p.pid} (dd) score "), kills
    assert not any(f"process {big.pid} " in t for t in text)


# ------------------------------------------------------------------------ gfp __GFP_DMA


# 2.6.18 mm/slab.c line 2519, in kmem_flagcheck: `BUG_ON(!(cachep->gfpflags & GFP_DMA));`
FLAGCHECK_DMA_LINE = 2519


@pytest.mark.parametrize("family, dev, rc", [("scullc", "scullc0", 1), ("scullc,scullm", "scullm0", 0)])
def test_a_dma_gfp_for_a_non_dma_cache_warns_at_the_write_of_the_gfp_file(mount_scullcfs, src, family, dev, rc):
    """The device's slab cache was created without SLAB_CACHE_DMA: writing a
    __GFP_DMA mask to its gfp file logs, at KERN_WARNING, that its allocations
    will hit kmem_flagcheck's BUG; the next write that grows the cache does
    (one 4000-byte object per slab: every allocation grows it). scullc's write
    fails; scullm's 8 quanta come from the mempool's reserve of 16."""
    m = mount_scullcfs(mem="32M", background=0, family=family)
    drv = dev[:-1]
    mark = len(kmsg(m))
    (m.path / f"sys/class/{drv}/{dev}/gfp").write_text("GFP_KERNEL|__GFP_DMA\n")
    new = kmsg(m)[mark:]
    warn = [line for line in new if "kmem_flagcheck" in line]
    assert len(warn) == 1, new
    assert warn[0].startswith("<4>"), warn                           # KERN_WARNING
    assert f"{drv}: {dev}: gfp GFP_KERNEL|__GFP_DMA: the {drv} cache is not a DMA cache" in warn[0]
    assert f"kernel BUG at mm/slab.c:{FLAGCHECK_DMA_LINE}" in warn[0]
    r = subprocess.run(["dd", f"if={src}", f"of={m.path}/dev/{dev}", "bs=4000", "count=8", "status=none"],
                       capture_output=True, text=True, timeout=HANG)
    assert r.returncode == rc, r.stderr
    assert any(f"kernel BUG at mm/slab.c:{FLAGCHECK_DMA_LINE}!" in line for line in kmsg(m)[mark:])


def test_a_dma_gfp_for_a_dma_cache_does_not_warn(mount_scullcfs, src):
    m = mount_scullcfs(mem="32M", background=0, cache_flags="SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA")
    mark = len(kmsg(m))
    (m.path / "sys/class/scullc/scullc0/gfp").write_text("GFP_KERNEL|__GFP_DMA\n")
    assert not any("kmem_flagcheck" in line for line in kmsg(m)[mark:])
    r = subprocess.run(["dd", f"if={src}", f"of={m.path}/dev/scullc0", "bs=1M", "count=1", "status=none"],
                       capture_output=True, text=True, timeout=HANG)
    assert r.returncode == 0, r.stderr
    assert not any("kernel BUG" in line for line in kmsg(m)[mark:])
