"""scullcfs bench - how fast scullcfs is, against the ceiling of its stack, in one run.

    scullcfs bench [--quick] [--json FILE] [--max-tasks N] [--only SECTION,...] [--kernel VERSION]
    tools/bench ...            (the same, from a checkout)

Every comparable figure is a ratio against a baseline measured in the same run:
  throughput  dd through MNT/dev/scullc0 vs scullcfs/baselinefs.py (one direct_io file in
              a bytearray: the ceiling of pyfuse3 + trio) and vs a tmpfs file (the
              kernel's own limit), 256 MiB per dd (quick: 64), median of 3 (quick: 1)
  latency     us per 64-byte pread / pwrite on a device vs the baseline file
  allocator   kmem_cache, kmalloc and page pairs/s vs the thinnest Python free list
  scaling     pair cost with 10^3..10^6 live objects; proc/slabinfo rendering cost
  memory      daemon RSS with --mem 4G after storing 1 GiB (quick: 256 MiB)
--kernel VERSION runs every section on that kernel (the mounts with --kernel, the
in-process machines with Kernel(version=...)); default 2.6.18.
Daemons and clients are pinned to CPU 0 (`taskset -c 0`): a round trip between CPUs
costs ~40 us more and makes small-request figures swing 4x between runs
(../shared/reference/fuse-performance.md). MB/s are 10^6 bytes per second.

Prints a table with PASS/MISS per target; exits 0 even when targets are missed (it is
a report), 1 if something could not be measured, 2 on bad arguments. Every mount is
unmounted and every daemon it started is waited for (or killed by PID) on the way out.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from importlib import metadata
from types import FrameType
from typing import TYPE_CHECKING, Any

from allocator.versions import DEFAULT_VERSION as DEFAULT_KERNEL
from allocator.versions import VERSIONS

from . import mount
from .cli import _Parser

if TYPE_CHECKING:
    from allocator import Kernel
    from allocator.parts import CachePart

MiB = 1 << 20
PIN = ["taskset", "-c", "0"]
READY_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0
SECTIONS = ("throughput", "latency", "allocator", "scaling", "memory")


class BenchError(Exception):
    """Something could not be measured (a mount, a dd, a client failed)."""


def _cache_create(k: Kernel, name: str, size: int, flags: int) -> CachePart:
    """k.kmem_cache_create on a fresh machine, which cannot fail: if it does, say so."""
    cache = k.kmem_cache_create(name, size, 0, flags)
    if cache is None:
        raise BenchError(f"kmem_cache_create({name!r}, {size}) failed on a fresh machine")
    return cache


def _out_of_memory(objects: int) -> BenchError:
    return BenchError(f"the simulated machine ran out of memory at {objects} objects")


# --------------------------------------------------------------------------- results


class Report:
    """Rows as they are measured: printed at once, kept for --json."""

    COLUMNS = ("{:<38}", "{:>13}", "{:>13}", "{:>7}", "{:>10}", "{:<6}")

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Any]] = {}
        self.current: dict[str, Any] | None = None

    def section(self, name: str, title: str) -> None:
        self.current = self.sections.setdefault(name, {"rows": [], "error": None})
        print(f"\n== {name}: {title}", flush=True)
        header = ("measure", "value", "baseline", "ratio", "target", "result")
        print(self._line(header) + "  note", flush=True)

    def _line(self, cells: Iterable[object]) -> str:
        return " ".join(f.format(c) for f, c in zip(self.COLUMNS, cells))

    def row(self, name: str, value: float, unit: str, baseline: float | None = None,
            baseline_name: str = "", op: str | None = None, limit: float | None = None,
            ratio: float | None = None, target_text: str | None = None,
            note: str = "", passed: bool | None = None, **extra: Any) -> dict[str, Any]:
        """One measurement. `ratio` defaults to value / baseline; with `op` ('>=' or
        '<=') and `limit` the ratio (or the value, without a baseline) is checked
        against the target; a caller with its own check passes `passed`; neither:
        report only."""
        if ratio is None and baseline:
            ratio = value / baseline
        if passed is None and op is not None and limit is not None:
            checked = ratio if ratio is not None else value
            passed = checked >= limit if op == ">=" else checked <= limit
        target = target_text or (f"{op}{limit:g}" if op else "report")
        row = {"name": name, "value": value, "unit": unit, "baseline": baseline,
               "baseline_name": baseline_name, "ratio": ratio, "target": target,
               "pass": passed, "note": note, **extra}
        assert self.current is not None, "row() before section()"
        self.current["rows"].append(row)
        result = "-" if passed is None else ("PASS" if passed else "MISS")
        print(self._line((name, _fmt(value, unit), _fmt(baseline, unit) if baseline is not None else "-",
                          f"{ratio:.2f}" if ratio is not None else "-", target, result))
              + (f"  {note}" if note else ""), flush=True)
        return row

    def error(self, name: str, text: str) -> None:
        self.sections.setdefault(name, {"rows": [], "error": None})["error"] = text
        print(f"   ERROR in {name}: {text}", flush=True)

    def counts(self) -> dict[str, int]:
        rows = [r for s in self.sections.values() for r in s["rows"]]
        return {"pass": sum(r["pass"] is True for r in rows),
                "miss": sum(r["pass"] is False for r in rows),
                "report": sum(r["pass"] is None for r in rows),
                "errors": sum(1 for s in self.sections.values() if s["error"])}


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "MB/s":
        return f"{v:.0f} MB/s" if v >= 100 else f"{v:.1f} MB/s"
    if unit == "us":
        return f"{v:.2f} us" if v < 10 else f"{v:.1f} us"
    if unit == "pairs/s":
        return f"{v / 1e6:.2f} M/s"
    if unit == "MiB":
        return f"{v:.0f} MiB"
    return f"{v:.3g} {unit}"


# --------------------------------------------------------------------------- machine


def machine_info(max_tasks: int) -> dict[str, Any]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"
    fusermount = subprocess.run(["fusermount3", "-V"], capture_output=True, text=True)
    libfuse = (fusermount.stdout + fusermount.stderr).strip().rsplit(" ", 1)[-1] or "?"
    return {"nproc": os.cpu_count(), "model_name": model, "kernel": platform.release(),
            "python": platform.python_version(), "pyfuse3": version("pyfuse3"),
            "trio": version("trio"), "libfuse": libfuse, "max_tasks": max_tasks,
            "pinned_cpu": 0, "loadavg_start": os.getloadavg()}


# --------------------------------------------------------------------------- mounts


class Daemon(mount.Daemon):
    """A FUSE daemon this run started, pinned to CPU 0, on its own mount point."""

    def __init__(self, name: str, argv: list[str], mnt: str, ready: str, workdir: str):
        # taskset execs the daemon: proc.pid is the daemon's own PID.
        super().__init__(PIN + argv, mnt, ready=ready, output=os.path.join(workdir, f"{name}.out"),
                         name=name)

    def start(self) -> Daemon:
        super().start()
        try:
            self.wait_ready(READY_TIMEOUT)
        except mount.MountError as e:
            raise BenchError(f"{e}:\n{self.output_text(2000)}") from None
        return self

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise BenchError(f"no VmRSS for {self.name} (PID {self.pid})")

    def stop(self) -> list[str]:
        """Unmount (-u, retried, then -uz) and wait for the daemon; SIGKILL it by
        PID if it outlives EXIT_TIMEOUT. Returns the problems met."""
        gc.collect()
        return self.unmount(exit_timeout=EXIT_TIMEOUT, busy_wait=2.0)


class Mounts:
    """Owns every mount and daemon of the run; close() tears them all down."""

    def __init__(self, workdir: str, max_tasks: int, kernel: str = DEFAULT_KERNEL):
        self.workdir = workdir
        self.max_tasks = max_tasks
        self.kernel = kernel        # every section's kernel version (--kernel)
        self.daemons: list[Daemon] = []
        self.tmpfs_dir: str | None = None
        self.own_tmpfs: str | None = None

    def _mkmnt(self, name: str) -> str:
        return os.path.realpath(tempfile.mkdtemp(prefix=f"bench-{name}-"))

    def scullcfs(self, *extra: str) -> Daemon:
        mnt = self._mkmnt("scullcfs")
        d = Daemon("scullcfs", mount.scullcfs_argv(mnt, "--mem", "4G", "--max-tasks", str(self.max_tasks),
                                                   "--log", os.path.join(self.workdir, "scullcfs.log"),
                                                   "--kernel", self.kernel, *extra),
                   mnt, "proc/meminfo", self.workdir)
        self.daemons.append(d)
        return d.start()

    def baseline(self) -> Daemon:
        mnt = self._mkmnt("baselinefs")
        d = Daemon("baselinefs", [sys.executable, "-m", "scullcfs.baselinefs", mnt,
                                  "--max-tasks", str(self.max_tasks)], mnt, "data", self.workdir)
        self.daemons.append(d)
        return d.start()

    def tmpfs_file(self) -> str:
        """A file on tmpfs: /dev/shm if it is tmpfs, else a tmpfs we mount."""
        if self.tmpfs_dir is None:
            if mount.fstype("/dev/shm") == "tmpfs":
                self.tmpfs_dir = tempfile.mkdtemp(prefix="bench-", dir="/dev/shm")
            else:
                mnt = self._mkmnt("tmpfs")
                r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1G", "bench-tmpfs", mnt],
                                   capture_output=True, text=True)
                if r.returncode:
                    os.rmdir(mnt)
                    raise BenchError(f"no tmpfs: /dev/shm is not tmpfs and mount failed: {r.stderr.strip()}")
                self.own_tmpfs = self.tmpfs_dir = mnt
        return os.path.join(self.tmpfs_dir, "data")

    def stop(self, d: Daemon) -> list[str]:
        if d in self.daemons:
            self.daemons.remove(d)
        return d.stop()

    def close(self) -> list[str]:
        problems = []
        for d in reversed(self.daemons):
            problems += d.stop()
        self.daemons = []
        if self.own_tmpfs:
            subprocess.run(["umount", self.own_tmpfs], capture_output=True)
            try:
                os.rmdir(self.own_tmpfs)
            except OSError:
                pass
        elif self.tmpfs_dir:
            shutil.rmtree(self.tmpfs_dir, ignore_errors=True)
        self.tmpfs_dir = self.own_tmpfs = None
        return problems


# --------------------------------------------------------------------------- clients


def dd(*args: str) -> tuple[int, float]:
    """Run a pinned dd; (bytes copied, seconds) as dd itself measured them."""
    r = subprocess.run(PIN + ["dd", *args], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"), stdin=subprocess.DEVNULL)
    m = re.search(r"^(\d+) bytes .* copied, ([0-9.e+-]+) s", r.stderr, re.M)
    if r.returncode or not m:
        raise BenchError(f"dd {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return int(m.group(1)), float(m.group(2))


# Run by a pinned interpreter: the same client code for every target, so the ratio
# compares the filesystems, not the loops. The targets take turns block by block, so
# a burst of other work on the machine lands on neighbouring blocks of both.
LATENCY_CLIENT = r"""
import json, os, sys, time
n, blocks, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
buf = b"x" * 64
fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o644) for p in paths]
offs = [(i % 32) * 64 for i in range(n // blocks)]
pread, pwrite, clock = os.pread, os.pwrite, time.perf_counter
for fd in fds:
    os.pwrite(fd, bytes(4096), 0)
    for off in offs[:500]:
        pwrite(fd, buf, off); pread(fd, 64, off)
result = {}
for name in ("pread", "pwrite"):
    times = [[] for _ in fds]
    for _ in range(blocks):
        for i, fd in enumerate(fds):
            t = clock()
            if name == "pread":
                for off in offs:
                    pread(fd, 64, off)
            else:
                for off in offs:
                    pwrite(fd, buf, off)
            times[i].append((clock() - t) / len(offs) * 1e6)
    result[name] = dict(zip(paths, times))
for fd in fds:
    os.close(fd)
print(json.dumps(result))
"""


def latency_client(paths: list[str], n: int, blocks: int) -> dict[str, Any]:
    """{call: {path: [us per call of each block]}} from one pinned client."""
    r = subprocess.run(PIN + [sys.executable, "-c", LATENCY_CLIENT, str(n), str(blocks), *paths],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode:
        raise BenchError(f"latency client on {paths} failed: {r.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def paired_ratio(values: list[float], baselines: list[float]) -> float:
    """Median of run-by-run ratios: runs next to each other in time share the
    machine's mood, so their ratio is steadier than a ratio of medians."""
    return statistics.median(v / b for v, b in zip(values, baselines))


# --------------------------------------------------------------------------- sections

THROUGHPUT_TARGETS = {  # block size -> (write >=, read >=) as fractions of the baseline
    "4k": (0.80, 0.80), "64k": (0.75, 0.75), "1M": (0.70, 0.55),
}
BLOCK_BYTES = {"4k": 4096, "64k": 65536, "1M": MiB}


def bench_throughput(rep: Report, mounts: Mounts, quick: bool) -> None:
    total = (64 if quick else 256) * MiB
    runs = 1 if quick else 3
    rep.section("throughput", f"dd {total // MiB} MiB write then read, median of {runs}"
                              f" interleaved runs; ratio = median of paired runs vs baselinefs")
    sc = mounts.scullcfs()
    bl = mounts.baseline()
    targets = {"scullcfs": os.path.join(sc.mnt, "dev", "scullc0"),
               "baselinefs": os.path.join(bl.mnt, "data"),
               "tmpfs": mounts.tmpfs_file()}
    got: dict[tuple[str, str, str], list[float]] = {(t, bs, d): [] for t in targets for bs in BLOCK_BYTES
                                                    for d in ("write", "read")}
    # Interleaved, so that a slow spell of the machine hits every target alike.
    for _ in range(runs):
        for bs, nbytes in BLOCK_BYTES.items():
            for t, path in targets.items():
                n, sec = dd("if=/dev/zero", f"of={path}", f"bs={bs}", f"count={total // nbytes}")
                got[(t, bs, "write")].append(n / sec / 1e6)
                n, sec = dd(f"if={path}", "of=/dev/null", f"bs={bs}")
                if n != total:
                    raise BenchError(f"read back {n} bytes from {path}, wrote {total}")
                got[(t, bs, "read")].append(n / sec / 1e6)
    for bs in BLOCK_BYTES:
        for i, d in enumerate(("write", "read")):
            med = {t: statistics.median(got[(t, bs, d)]) for t in targets}
            tm = med["tmpfs"]
            rep.row(f"dd {d} bs={bs}", med["scullcfs"], "MB/s", med["baselinefs"], "baselinefs",
                    ">=", THROUGHPUT_TARGETS[bs][i],
                    ratio=paired_ratio(got[("scullcfs", bs, d)], got[("baselinefs", bs, d)]),
                    note=f"tmpfs {_fmt(tm, 'MB/s')} (scullcfs {med['scullcfs'] / tm:.0%} of it)",
                    tmpfs=tm, ratio_tmpfs=med["scullcfs"] / tm,
                    runs={t: got[(t, bs, d)] for t in targets})
    for daemon in (sc, bl):
        mounts.stop(daemon)
    os.unlink(targets["tmpfs"])


def bench_latency(rep: Report, mounts: Mounts, quick: bool) -> None:
    n = 5000 if quick else 20000
    blocks = 5 if quick else 15
    rep.section("latency", f"us per 64-byte call, {n} each, pinned Python client,"
                           f" {blocks} interleaved blocks; ratio = median of paired blocks")
    sc = mounts.scullcfs()
    bl = mounts.baseline()
    paths = {"scullcfs": os.path.join(sc.mnt, "dev", "scullc0"),
             "baselinefs": os.path.join(bl.mnt, "data"), "tmpfs": mounts.tmpfs_file()}
    got = latency_client(list(paths.values()), n, blocks)
    for call in ("pread", "pwrite"):
        blk = {t: got[call][path] for t, path in paths.items()}
        med = {t: statistics.median(v) for t, v in blk.items()}
        rep.row(f"{call} 64 B", med["scullcfs"], "us", med["baselinefs"], "baselinefs", "<=", 1.3,
                ratio=paired_ratio(blk["scullcfs"], blk["baselinefs"]),
                note=f"tmpfs {_fmt(med['tmpfs'], 'us')}", tmpfs=med["tmpfs"], runs=blk)
    for d in (sc, bl):
        mounts.stop(d)


def _best(fn: Callable[[int], None], n: int, repeat: int = 3) -> float:
    """CPU seconds per iteration of fn(n), best of `repeat`. CPU time, not wall
    time: on a shared machine other processes would otherwise be measured too."""
    return _best_pair(fn, None, n, repeat)[0]


def _best_pair(fn: Callable[[int], None], floor: Callable[[int], None] | None, n: int,
               repeat: int = 5) -> tuple[float, float]:
    """(fn, floor) CPU seconds per iteration, each the best of `repeat` runs taken
    in turns, so that both see the same spells of a busy machine."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, f in enumerate((fn, floor)):
            if f is not None:
                t = time.process_time()
                f(n)
                best[i] = min(best[i], time.process_time() - t)
    return best[0] / n, best[1] / n


class FreeList:
    """The floor: the thinnest Python allocator with the same shape."""
    __slots__ = ("objs",)

    def __init__(self, objs: Iterable[int]) -> None:
        self.objs = list(objs)

    def alloc(self) -> int:
        return self.objs.pop()

    def free(self, x: int) -> None:
        self.objs.append(x)


class SizeClassFreeLists:
    """The kmalloc floor: size -> its class's free list; object -> its list."""

    def __init__(self, sizes: Iterable[int], per_class: int) -> None:
        self.by_size: dict[int, list[int]] = {}
        self.by_obj: dict[int, list[int]] = {}
        classes = {}
        for s in sizes:
            cls = 1 << max(5, (s - 1).bit_length())
            if cls not in classes:
                base = len(self.by_obj) * 1000
                classes[cls] = [base + i for i in range(per_class)]
                for x in classes[cls]:
                    self.by_obj[x] = classes[cls]
            self.by_size[s] = classes[cls]

    def alloc(self, size: int) -> int:
        return self.by_size[size].pop()

    def free(self, x: int) -> None:
        self.by_obj[x].append(x)


KMALLOC_MIX = (24, 100, 200, 600, 1500, 3000, 64, 5000, 40, 300, 900, 16000)


def _gfp_kernel(k: Kernel) -> int:
    """GFP_KERNEL in the kernel's own bits: 2.6.18's 0xd0 is, in 6.18's,
    __GFP_RECLAIMABLE|__GFP_IO|__GFP_FS (kmalloc-rcl-*, no direct reclaim)."""
    flag: int = k.gfp.GFP_KERNEL
    return flag


def _hwcache_align(k: Kernel) -> int:
    """SLAB_HWCACHE_ALIGN in the kernel's own slab allocator's flag bits."""
    flag: int = k.version.slab.SLAB_HWCACHE_ALIGN
    return flag


def _slabinfo(k: Kernel) -> str:
    """/proc/slabinfo as the kernel's version renders it (2.6.18: procfs;
    6.18: SLUB's slabinfo_show, which /proc/slabinfo and sysfs share)."""
    v = k.version
    if hasattr(v.procfs, "slabinfo"):
        text: str = v.procfs.slabinfo(k)
        return text
    assert v.sysfs is not None
    shown: str = v.sysfs.slabinfo_show(k.slab)
    return shown


def bench_allocator(rep: Report, mounts: Mounts, quick: bool) -> None:
    from allocator import Kernel

    n = 50_000 if quick else 200_000
    rep.section("allocator", f"in-process, no FUSE; Linux {mounts.kernel}; {n} pairs, best of 5 in turns"
                             f" (CPU time), vs a Python free list (baseline)")
    k = Kernel(version=mounts.kernel, mem=256 * MiB)
    GFP_KERNEL = _gfp_kernel(k)
    SLAB_HWCACHE_ALIGN = _hwcache_align(k)
    k.set_current(0, "bench")
    cache = _cache_create(k, "bench-scullc", 4000, SLAB_HWCACHE_ALIGN)
    alloc, free = k.kmem_cache_alloc, k.kmem_cache_free
    floor = FreeList(range(1000))
    f_alloc, f_free = floor.alloc, floor.free

    def cache_pairs(n: int) -> None:
        for _ in range(n):
            x = alloc(cache, GFP_KERNEL)
            if x is None:  # one object live in 256 MiB: cannot happen
                raise _out_of_memory(1)
            free(cache, x)

    def floor_pairs(n: int) -> None:
        for _ in range(n):
            f_free(f_alloc())
    cache_pairs(100)
    t, f = _best_pair(cache_pairs, floor_pairs, n)
    rep.row("kmem_cache alloc+free (scullc-like)", 1 / t, "pairs/s", 1 / f, "free list",
            "<=", 4, ratio=t / f, target_text="<=4x", note="ratio = time per pair / floor's")

    burst = 100  # beyond the per-CPU array: refills, flushes, slab growth and shrinking

    def cache_bursts(n: int) -> None:
        for _ in range(n // burst):
            objs = [alloc(cache, GFP_KERNEL) for _ in range(burst)]
            for x in objs:
                if x is None:  # 100 objects live in 256 MiB: cannot happen
                    raise _out_of_memory(burst)
                free(cache, x)

    def floor_bursts(n: int) -> None:
        for _ in range(n // burst):
            objs = [f_alloc() for _ in range(burst)]
            for x in objs:
                f_free(x)
    t, f = _best_pair(cache_bursts, floor_bursts, n)
    array_limit = k.geometry(cache).tunables[0]
    rep.row(f"kmem_cache bursts of {burst} (scullc-like)", 1 / t, "pairs/s", 1 / f, "free list",
            ratio=t / f, note=f"past the per-CPU array (limit {array_limit}): refills and flushes" if array_limit else
            "past the CPU slab: new slabs, CPU-partial and node-partial lists")

    sizes = [KMALLOC_MIX[i % len(KMALLOC_MIX)] for i in range(n)]
    kmalloc, kfree = k.kmalloc, k.kfree
    kfloor = SizeClassFreeLists(KMALLOC_MIX, 100)
    k_alloc, k_free = kfloor.alloc, kfloor.free

    def kmalloc_pairs(n: int) -> None:
        for s in sizes[:n]:
            kfree(kmalloc(s, GFP_KERNEL))

    def kfloor_pairs(n: int) -> None:
        for s in sizes[:n]:
            k_free(k_alloc(s))
    kmalloc_pairs(1000)
    t, f = _best_pair(kmalloc_pairs, kfloor_pairs, n)
    rep.row("kmalloc+kfree mixed sizes", 1 / t, "pairs/s", 1 / f, "size-class lists",
            "<=", 5, ratio=t / f, target_text="<=5x",
            note=f"sizes {min(KMALLOC_MIX)}..{max(KMALLOC_MIX)}")

    alloc_pages, free_pages_pfn = k.alloc_pages, k.free_pages_pfn
    for order, op, limit in ((0, "<=", 5), (3, None, None)):
        pfloor = FreeList(range(0, 1000 << order, 1 << order))
        p_alloc, p_free = pfloor.alloc, pfloor.free

        def page_pairs(n: int, order: int = order) -> None:
            for _ in range(n):
                free_pages_pfn(alloc_pages(GFP_KERNEL, order), order)

        def pfloor_pairs(n: int, p_alloc: Callable[[], int] = p_alloc,
                         p_free: Callable[[int], None] = p_free) -> None:
            for _ in range(n):
                p_free(p_alloc())
        page_pairs(100)
        t, f = _best_pair(page_pairs, pfloor_pairs, n)
        rep.row(f"alloc_pages+free_pages order {order}", 1 / t, "pairs/s", 1 / f, "free list",
                op, limit, ratio=t / f, target_text=f"<={limit}x" if op else "report",
                note="per-CPU hot list" if order == 0 else "buddy split and merge")
    k.close()
    bench_growth(rep, mounts.kernel, 5_000 if quick else 20_000)


def bench_growth(rep: Report, version: str, n: int) -> None:
    """scullc's write path without FUSE: n kmem_cache_allocs of the 4000-byte
    cache on a fresh machine, each growing the cache when its slabs are full (on
    2.6.18 every one: a 4032-byte object per one-page slab). Median of 5 machines,
    CPU time per quantum."""
    from allocator import Kernel

    times = []
    for _ in range(5):
        k = Kernel(version=version, mem=256 * MiB)
        k.set_current(0, "bench")
        cache = _cache_create(k, "bench-scullc", 4000, _hwcache_align(k))
        alloc, gfp = k.kmem_cache_alloc, _gfp_kernel(k)
        gc.collect()
        t = time.process_time()
        objs = [alloc(cache, gfp) for _ in range(n)]
        times.append((time.process_time() - t) / n)
        if None in objs:
            raise _out_of_memory(objs.index(None))
        per_slab = k.geometry(cache).objs_per_slab
        k.close()
    rep.row("scullc-like growth per quantum", statistics.median(times) * 1e6, "us", None, "",
            "<=", 1.5, target_text="<=1.5us",
            note=f"{n} allocs, {per_slab} per slab: every {per_slab}th grows the cache" if per_slab > 1
            else f"{n} allocs, 1 per slab: every one grows the cache")


def bench_scaling(rep: Report, mounts: Mounts, quick: bool) -> None:
    from allocator import Kernel

    levels = [10 ** e for e in range(3, 6 if quick else 7)]
    pairs = 20_000 if quick else 100_000
    burst = 100
    rep.section("scaling", f"pair cost (bursts of {burst}) with live objects held;"
                           f" proc/slabinfo rendering")
    k = Kernel(version=mounts.kernel, mem=512 * MiB)
    GFP_KERNEL = _gfp_kernel(k)
    k.set_current(0, "bench")
    cache = _cache_create(k, "bench-obj", 64, _hwcache_align(k))
    alloc, free = k.kmem_cache_alloc, k.kmem_cache_free

    def bursts(n: int) -> None:
        for _ in range(n // burst):
            objs = [alloc(cache, GFP_KERNEL) for _ in range(burst)]
            for x in objs:
                if x is None:
                    raise _out_of_memory(len(held) + burst)
                free(cache, x)
    held: list[int] = []
    cost = {}
    for level in levels:
        while len(held) < level:
            x = alloc(cache, GFP_KERNEL)
            if x is None:
                raise _out_of_memory(len(held))
            held.append(x)
        gc.collect()
        cost[level] = _best(bursts, pairs, repeat=5)
        rep.row(f"pair cost, {level:,} live", cost[level] * 1e6, "us",
                note=f"{1 / cost[level] / 1e6:.2f} M pairs/s")
    lo, hi = levels[0], levels[-1]
    # The smallest level once more, after freeing back down to it: a slow spell of
    # the machine during the first measurement must not flatter the ratio.
    while len(held) > lo:
        free(cache, held.pop())
    gc.collect()
    cost[lo] = min(cost[lo], _best(bursts, pairs, repeat=5))
    rep.row(f"pair cost 10^{len(str(hi)) - 1} / 10^{len(str(lo)) - 1} live",
            cost[hi] * 1e6, "us", cost[lo] * 1e6,
            f"{lo} live", "<=", 1.3, target_text="<=1.3",
            note="baseline: best of before and after the largest level")
    for x in held:
        free(cache, x)
    held.clear()
    k.close()

    def render_time(kernel: Any) -> float:
        reps = 20
        best = float("inf")
        for _ in range(5):
            t = time.process_time()
            for _ in range(reps):
                _slabinfo(kernel)
            best = min(best, (time.process_time() - t) / reps)
        return best

    k = Kernel(version=mounts.kernel, mem=512 * MiB)
    k.set_current(0, "bench")
    alloc, free = k.kmem_cache_alloc, k.kmem_cache_free     # this machine's (the first one is closed)
    extra = [_cache_create(k, f"bench-{i}", 32 + 8 * i, 0) for i in range(10)]
    few_caches = len(k.caches())  # the general caches come with the kernel
    t10 = render_time(k)
    extra += [_cache_create(k, f"bench-{i}", 32 + 8 * i, 0) for i in range(10, 200)]
    t200 = render_time(k)
    rep.row(f"slabinfo, {len(k.caches())} vs {few_caches} caches", t200 * 1e6, "us", t10 * 1e6,
            f"{few_caches} caches", note="grows with caches (expected)")
    for c in extra[10:]:
        k.kmem_cache_destroy(c)

    many = 10 ** 5
    few = 100
    objs: list[int] = []

    def allocate(count: int) -> None:
        for _ in range(count):
            x = alloc(extra[0], GFP_KERNEL)
            if x is None:
                raise _out_of_memory(len(objs))
            objs.append(x)
    allocate(few)
    t_few = render_time(k)
    allocate(many - few)
    t_many = render_time(k)
    rep.row(f"slabinfo, {many:,} vs {few} objects", t_many * 1e6, "us", t_few * 1e6,
            f"{few} objects", "<=", 1.3, target_text="<=1.3", note=f"{few_caches} caches")
    for x in objs[::2]:  # every slab half empty: all of them on the partial list
        free(extra[0], x)
    t_frag = render_time(k)
    rep.row(f"slabinfo, {many // 2:,} objects, all partial", t_frag * 1e6, "us", t_few * 1e6,
            f"{few} objects", note="report only: partial slabs are summed")
    for x in objs[1::2]:
        free(extra[0], x)
    k.close()


def _store(mounts: Mounts, want: int, extra: list[str]) -> dict[str, Any]:
    """Mount, write `want` bytes spread over the devices (dd bs=1M), and read the
    daemon's RSS before and after. A device refused with ENOMEM keeps what it got:
    slab memory is lowmem only (896 MiB on i386), so 1 GiB does not fit."""
    sc = mounts.scullcfs(*extra)
    idle = sc.rss_bytes()
    devs = sorted(p for p in os.listdir(os.path.join(sc.mnt, "dev")) if p.startswith("scullc"))
    refused = []
    for name in devs:
        try:
            dd("if=/dev/zero", f"of={os.path.join(sc.mnt, 'dev', name)}", "bs=1M",
               f"count={want // len(devs) // MiB}")
        except BenchError as e:
            if "Cannot allocate memory" not in str(e):
                raise
            refused.append(name)
    stored = 0
    for name in devs:
        with open(os.path.join(sc.mnt, "sys", "class", "scullc", name, "size")) as f:
            stored += int(f.read())
    rss = sc.rss_bytes()
    mounts.stop(sc)
    return {"idle": idle, "rss": rss, "stored": stored, "refused": refused}


def bench_memory(rep: Report, mounts: Mounts, quick: bool) -> None:
    want = (256 if quick else 1024) * MiB
    # The boot-time fill of dentry/inode/buffer_head (--background, 5% of lowmem by
    # default) is simulated memory that is not stored data: the checked row stores
    # on an empty machine; the default configuration is reported beside it.
    empty = ["--background", "0"] if _scullcfs_has_option("--background") else []
    rep.section("memory", f"daemon RSS, --mem 4G, after storing {want // MiB} MiB (dd bs=1M);"
                          f" target RSS <= 1.1 x stored + 64 MiB")
    configs = ([([], "default --background", False), (empty, "--background 0", True)] if empty
               else [([], "default", True)])
    for extra, label, checked in configs:
        m = _store(mounts, want, extra)
        stored, rss = m["stored"], m["rss"]
        limit = 1.1 * stored + 64 * MiB
        note = f"idle {m['idle'] / MiB:.0f} MiB; {stored / MiB:.0f} of {want // MiB} MiB stored"
        if m["refused"]:
            note += f" ({', '.join(m['refused'])}: ENOMEM, lowmem full)"
        rep.row(f"daemon RSS, {label}", rss / MiB, "MiB", stored / MiB,
                "stored", ratio=rss / stored if stored else None,
                target_text=f"<={limit / MiB:.0f}MiB" if checked else "report",
                passed=(rss <= limit) if checked else None, note=note, stored_bytes=stored,
                rss_bytes=rss, idle_rss_bytes=m["idle"], limit_bytes=limit,
                limit_rule="1.1 x stored + 64 MiB")


def _scullcfs_has_option(option: str) -> bool:
    r = subprocess.run([sys.executable, "-m", "scullcfs", "--help"], capture_output=True, text=True,
                       env=mount.daemon_env())
    return option in r.stdout


BENCHES = {"throughput": bench_throughput, "latency": bench_latency,
           "allocator": bench_allocator, "scaling": bench_scaling, "memory": bench_memory}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="scullcfs bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="under a minute: less data, one run")
    p.add_argument("--json", metavar="FILE", help="write every result here as JSON")
    p.add_argument("--max-tasks", type=int, default=32,
                   help="pyfuse3 max_tasks of both daemons (default 32, scullcfs's default)")
    p.add_argument("--only", metavar="SECTIONS", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--kernel", metavar="VERSION", default=DEFAULT_KERNEL,
                   help=f"the kernel every section runs on: {', '.join(VERSIONS)} (default {DEFAULT_KERNEL})")
    args = p.parse_args(argv)
    if args.kernel not in VERSIONS:
        p.error(f"unknown kernel version {args.kernel!r} (known: {', '.join(VERSIONS)})")
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in BENCHES]
    if bad:
        p.error(f"unknown section(s): {', '.join(bad)}")
    for tool in ("taskset", "dd", "fusermount3"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not on PATH", file=sys.stderr)
            return 1

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    started = time.time()
    info = machine_info(args.max_tasks)
    print(f"machine: {info['nproc']} CPUs, {info['model_name']}, kernel {info['kernel']}")
    print(f"python {info['python']}, pyfuse3 {info['pyfuse3']}, trio {info['trio']},"
          f" fusermount3 {info['libfuse']}; daemons and clients pinned to CPU 0,"
          f" max_tasks {args.max_tasks}; {'quick' if args.quick else 'full'} run;"
          f" load average {info['loadavg_start'][0]:.2f} (other work on the machine makes"
          f" every figure noisier)")
    rep = Report()
    workdir = tempfile.mkdtemp(prefix="bench-")
    mounts = Mounts(workdir, args.max_tasks, args.kernel)
    cleanup_problems: list[str] = []
    try:
        for name in only:
            try:
                BENCHES[name](rep, mounts, args.quick)
            except Exception as e:  # one section failing must not stop the others
                rep.error(name, str(e) if isinstance(e, BenchError) else traceback.format_exc())
            finally:
                cleanup_problems += mounts.close()
    finally:
        cleanup_problems += mounts.close()
        shutil.rmtree(workdir, ignore_errors=True)
    counts = rep.counts()
    elapsed = time.time() - started
    info["loadavg_end"] = os.getloadavg()
    print(f"\n{counts['pass']} PASS, {counts['miss']} MISS, {counts['report']} report-only,"
          f" {counts['errors']} section error(s); {elapsed:.0f} s;"
          f" load average {info['loadavg_end'][0]:.2f}")
    for problem in cleanup_problems:
        print(f"bench: cleanup: {problem}", file=sys.stderr)
    if args.json:
        result = {"machine": info, "quick": args.quick, "started": started,
                  "duration_s": elapsed, "sections": rep.sections, "summary": counts,
                  "cleanup_problems": cleanup_problems}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    return 1 if counts["errors"] or cleanup_problems else 0


if __name__ == "__main__":
    sys.exit(main())
