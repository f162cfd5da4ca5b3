"""scullcfs compare - the scull family side by side, on the same memory, in numbers.

    scullcfs compare [--mem 256M] [--quantum N ...] [--quick] [--memmap DIR]
    scullcfs compare --kernels 2.6.18,6.18 [--mem 256M] [--quick]
    tools/compare ...            (the same, from a checkout)

--kernels: the same scullc driver and the same three workloads on one mount per
kernel version (`--kernel V`), in one table: per workload and kernel the bytes
stored, the pages they cost, the scullc cache's slab geometry (objsize,
objperslab, pagesperslab from that kernel's proc/slabinfo), the waste (pages
beyond the bytes, in %), and the time.

Mounts scullcfs once with every driver (--family scullc,scull,scullp,scullv,scullm,
--background 0) and runs the same three workloads on each family in turn:
  stream  one 64 MiB write to <family>0 in 1 MiB blocks
  small   4 x 2048 appends of 64..4096 bytes, round robin over <family>0..3
  churn   30 rounds: append 64 KiB..1.5 MiB to every device, cut one device back to a
          random length, trim one every 5th round (the same random sequence for all)
--quick makes them smaller (a smoke test; its option help says how small); the headers of
the tables say what ran. A line per workload and family goes to stderr
as it finishes (the tables, on stdout, come at the end of each mount).
Before and after a workload the allocator is settled (proc/sys/vm/drop_caches, then
sys/kernel/slab/<cache>/shrink of every cache: its free slabs go back to the buddy
lists), so the delta is what the stored data costs. Per workload it prints one row per
family: bytes stored, pages used (free-page delta: MemFree, plus the per-CPU lists
where zoneinfo shows them, 6.18) and where they went (slab pages from proc/slabinfo,
vmalloc'd pages from proc/vmallocinfo, the rest: whole pages and page tables), overhead %, free blocks
per order of the Normal zone afterwards (proc/buddyinfo), and time. Then the family's
devices are trimmed and the next family runs.

Each --quantum Q (default: 4000, then 2000 and 2500) is one mount with scullc, scull
and scullm at quantum Q. It ends with the slab geometry behind the scullc/scull
difference (objsize, objperslab, pagesperslab of the `scullc` cache and of the
kmalloc class scull's quanta fall in) and a reading of the numbers.

--memmap DIR saves `scullcfs memmap MNT --text` of the first mount before anything and
after every workload (the family's data still stored).
Every mount is unmounted and its daemon waited for on the way out.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from allocator import Kernel
from allocator.slab import CFLGS_OFF_SLAB, SLAB_HWCACHE_ALIGN, KmemCache
from allocator.versions import VERSIONS

from .cli import _Parser
from .mount import Daemon, MountError, scullcfs_argv

FAMILIES = ("scullc", "scull", "scullp", "scullv", "scullm")
PAGE = 4096


# -- the mount ------------------------------------------------------------------------

class Mount:
    """One daemon on a temporary directory; always unmounted by close()."""

    def __init__(self, args: list[str], workdir: str):
        self.path = tempfile.mkdtemp(prefix="compare-mnt-", dir=workdir)
        self.log = os.path.join(workdir, f"daemon-{os.path.basename(self.path)}.log")
        self.daemon = Daemon(scullcfs_argv(self.path, "--log", self.log, *args), self.path,
                             output=self.log + ".out", logs=(self.log,))
        self.daemon.start()
        try:
            self.daemon.wait_ready(30)
        except MountError as e:
            self.close()
            sys.exit(f"compare: the daemon did not mount: {e} (see {self.log})")

    def p(self, rel: str) -> str:
        return os.path.join(self.path, rel)

    def read(self, rel: str) -> str:
        with open(self.p(rel)) as f:
            return f.read()

    def write(self, rel: str, text: str) -> None:
        with open(self.p(rel), "w") as f:
            f.write(text)

    def close(self) -> None:
        self.daemon.unmount(exit_timeout=30)

Workload = Callable[[Mount, str, dict[str, int]], None]


# -- snapshots --------------------------------------------------------------------------

def settle(m: Mount) -> None:
    """Give every free slab back to the page allocator, whatever the kernel: drop_caches
    runs only the shrinkers (2.6.18 fs/drop_caches.c drop_slab, 6.18 the same), so each
    cache is shrunk too, by its sys/kernel/slab/<cache>/shrink: kmem_cache_shrink
    (2.6.18 mm/slab.c: drain the per-CPU arrays, free the free slabs; 6.18 mm/slub.c
    shrink_store: flush the CPU slabs, free every empty slab). Then nothing the
    previous workload freed is left for the reaper to hand back during the next one."""
    m.write("proc/sys/vm/drop_caches", "3")
    slab_dir = m.p("sys/kernel/slab")
    last = -1
    for _ in range(4):
        # again while slabs went: a destroyed slab frees its off-slab descriptor (2.6.18's
        # size-32 of size-4096) after that cache's turn
        for name in sorted(os.listdir(slab_dir)):
            if os.path.islink(os.path.join(slab_dir, name)):
                continue                  # a merged cache's alias: its target directory is shrunk
            try:
                m.write(f"sys/kernel/slab/{name}/shrink", "1")
            except FileNotFoundError:
                pass                      # a cache destroyed meanwhile
        total = sum(int(f[14]) * int(f[5]) for f in (line.split() for line in
                                                      m.read("proc/slabinfo").splitlines()[2:]))
        if total == last:
            break
        last = total


def free_pages(m: Mount, meminfo: dict[str, str]) -> int:
    """Free pages: MemFree plus the pages on the per-CPU lists where zoneinfo shows
    them (6.x `count:`; they are free but not in MemFree, and a workload's first
    allocations take them without moving MemFree)."""
    pcp = sum(int(n) for n in re.findall(r"^\s+count:\s+(\d+)$", m.read("proc/zoneinfo"), re.M))
    return int(meminfo["MemFree"]) // 4 + pcp


def snapshot(m: Mount) -> dict[str, Any]:
    """Settle the allocator, then read what the workload will be measured by."""
    settle(m)
    meminfo = dict(re.findall(r"^(\w+):\s+(\d+) kB$", m.read("proc/meminfo"), re.M))
    slabs = {}
    for line in m.read("proc/slabinfo").splitlines()[2:]:
        f = line.split()
        # name active_objs num_objs objsize objperslab pagesperslab : tunables ... : slabdata active num
        slabs[f[0]] = {"active": int(f[1]), "objsize": int(f[3]), "perslab": int(f[4]),
                       "pps": int(f[5]), "pages": int(f[14]) * int(f[5])}
    vpages = sum(int(n) for n in re.findall(r" pages=(\d+)", m.read("proc/vmallocinfo")))
    buddy = {}
    for line in m.read("proc/buddyinfo").splitlines():
        g = re.match(r"Node (\d+), zone\s+(\S+)\s+(.*)", line)
        if g is None:
            continue
        buddy[g[2]] = [int(x) for x in g[3].split()]
    return {"free": free_pages(m, meminfo), "vmalloc_used": int(meminfo["VmallocUsed"]),
            "slabs": slabs, "vpages": vpages, "buddy": buddy}


def top_zone(buddy: dict[str, list[int]]) -> list[int]:
    """The free blocks of the highest populated zone buddyinfo lists (Normal; on
    a small x86_64 machine DMA32, where Normal is empty and not listed)."""
    for zone in ("Normal", "DMA32"):
        if zone in buddy:
            return buddy[zone]
    return next(iter(buddy.values()))


def stored(m: Mount, family: str, devs: int = 4) -> int:
    return sum(os.stat(m.p(f"dev/{family}{i}")).st_size for i in range(devs))


def trim_all(m: Mount, family: str, devs: int = 4) -> None:
    for i in range(devs):
        os.close(os.open(m.p(f"dev/{family}{i}"), os.O_WRONLY))


# -- workloads ----------------------------------------------------------------------------

BLOCK = os.urandom(1 << 20)


def append(fd: int, n: int) -> None:
    off = os.fstat(fd).st_size
    while n > 0:
        k = min(n, len(BLOCK))
        os.pwrite(fd, BLOCK[:k], off)
        off += k
        n -= k


# How big each workload is, in full and with --quick: the workloads and the headers
# of their tables (describe) both read these.
SIZES = {"stream_mib": 64, "small_appends": 4 * 2048, "churn_rounds": 30}
QUICK_SIZES = {"stream_mib": 16, "small_appends": 4 * 512, "churn_rounds": 10}


def workload_sizes(quick: bool) -> dict[str, int]:
    return QUICK_SIZES if quick else SIZES


def w_stream(m: Mount, family: str, sizes: dict[str, int]) -> None:
    fd = os.open(m.p(f"dev/{family}0"), os.O_WRONLY)
    try:
        for _ in range(sizes["stream_mib"]):
            os.write(fd, BLOCK)  # 1 MiB
    finally:
        os.close(fd)


def w_small(m: Mount, family: str, sizes: dict[str, int]) -> None:
    rng = random.Random(4)
    fds = [os.open(m.p(f"dev/{family}{i}"), os.O_RDWR) for i in range(4)]
    ends = [0] * 4
    try:
        for n in range(sizes["small_appends"]):
            i = n % 4
            size = rng.randint(64, 4096)
            os.pwrite(fds[i], BLOCK[:size], ends[i])
            ends[i] += size
    finally:
        for fd in fds:
            os.close(fd)


def w_churn(m: Mount, family: str, sizes: dict[str, int]) -> None:
    rng = random.Random(7)
    fds = [os.open(m.p(f"dev/{family}{i}"), os.O_RDWR) for i in range(4)]
    try:
        for r in range(sizes["churn_rounds"]):
            for fd in fds:
                append(fd, rng.randint(64 << 10, 1536 << 10))
            victim = fds[rng.randrange(4)]
            os.ftruncate(victim, int(os.fstat(victim).st_size * rng.random()))
            if r % 5 == 4:
                os.ftruncate(fds[rng.randrange(4)], 0)  # a trim
    finally:
        for fd in fds:
            os.close(fd)


WORKLOADS = (("stream", w_stream), ("small", w_small), ("churn", w_churn))


def describe(name: str, sizes: dict[str, int]) -> str:
    """The header of a workload's table: what it did with these sizes."""
    return {"stream": f"one streaming write to <family>0 ({sizes['stream_mib']} MiB in 1 MiB blocks)",
            "small": f"{sizes['small_appends']} appends of 64..4096 bytes, round robin over <family>0..3",
            "churn": f"{sizes['churn_rounds']} rounds: append 64K..1.5M to each device, cut one back,"
                     " trim one every 5th"}[name]


def save_memmap(m: Mount, directory: str, name: str) -> None:
    """`scullcfs memmap MNT --text` of the mount, into directory/name.txt."""
    from . import memmap_cmd
    with open(os.path.join(directory, f"{name}.txt"), "w") as out:
        saved, sys.stdout = sys.stdout, out
        try:
            memmap_cmd.main([m.path, "--text"])
        finally:
            sys.stdout = saved


def measure(m: Mount, family: str, fn: Workload, sizes: dict[str, int], memmap_to: str | None,
            tag: str) -> dict[str, Any]:
    before = snapshot(m)
    t = time.perf_counter()
    fn(m, family, sizes)
    elapsed = time.perf_counter() - t
    after = snapshot(m)
    nbytes = stored(m, family)
    used = before["free"] - after["free"]
    slab = sum(a["pages"] - before["slabs"].get(name, {"pages": 0})["pages"]
               for name, a in after["slabs"].items())
    caches = []
    for name, a in after["slabs"].items():
        b = before["slabs"].get(name, {"pages": 0, "active": 0})
        if a["pages"] != b["pages"]:
            caches.append((name, a["objsize"], a["perslab"], a["pps"],
                           a["active"] - b["active"], a["pages"] - b["pages"]))
    vpages = after["vpages"] - before["vpages"]
    if memmap_to:
        save_memmap(m, memmap_to, f"{tag}-{family}")
    row = {"family": family, "bytes": nbytes, "used": used, "slab": slab, "vmalloc": vpages,
           "other": used - slab - vpages, "time": elapsed,
           "overhead": (used * PAGE - nbytes) / nbytes * 100 if nbytes else float("nan"),
           "buddy": top_zone(after["buddy"]),
           "caches": sorted(caches, key=lambda c: -c[5]),
           "vmalloc_used_kb": after["vmalloc_used"] - before["vmalloc_used"]}
    trim_all(m, family)
    return row


def table(title: str, rows: list[dict[str, Any]]) -> str:
    head = (f"{'family':<7} {'bytes stored':>12} {'pages':>6} {'slab':>6} {'vmalloc':>7} {'other':>6}"
            f" {'overhead':>8} {'time s':>6}  free blocks per order 0..10 (Normal, afterwards)")
    out = [title, head, "-" * len(head)]
    for r in rows:
        out.append(f"{r['family']:<7} {r['bytes']:12d} {r['used']:6d} {r['slab']:6d} {r['vmalloc']:7d}"
                   f" {r['other']:6d} {r['overhead']:7.2f}% {r['time']:6.2f}  "
                   + " ".join(f"{n:4d}" for n in r["buddy"]))
    out.append("  where the pages went (caches that grew: name objsize objperslab pagesperslab"
               " +objects +pages):")
    for r in rows:
        parts = [f"{c[0]} {c[1]}/{c[2]}/{c[3]} {c[4]:+d} {c[5]:+d}" for c in r["caches"][:4]]
        extra = f"; vmalloc areas +{r['vmalloc_used_kb']} kB of address space" if r["vmalloc"] else ""
        out.append(f"    {r['family']:<7} " + ("; ".join(parts) or "no slab growth") + extra)
    return "\n".join(out)


# -- slab geometry -------------------------------------------------------------------------

def geometry(quanta: Iterable[int]) -> tuple[str, dict[int, tuple[float, float]], dict[int, str]]:
    """The `scullc` cache (kmem_cache_create(quantum, SLAB_HWCACHE_ALIGN)) against the
    kmalloc class scull's quanta come from, as the simulator (2.6 SLAB) builds them."""
    k = Kernel(mem=64 << 20, background=0)
    lines = ["quantum | scullc cache: objsize objperslab pagesperslab mgmt | scull kmalloc:"
             " cache objsize objperslab pagesperslab mgmt | pages per 1000 quanta scullc / scull",
             "-" * 118]
    per = {}
    shape = {}
    for q in quanta:
        c = k.kmem_cache_create(f"geom{q}", q, 0, SLAB_HWCACHE_ALIGN)
        if c is None:
            reason = k.log.records[-1].text if k.log.records else "nothing logged"
            sys.exit(f"compare: kmem_cache_create(geom{q}, {q}, SLAB_HWCACHE_ALIGN) failed: {reason}")
        g = k.kmalloc_cache_for(q, 0)
        assert isinstance(c, KmemCache) and isinstance(g, KmemCache), f"no SLAB cache for {q} bytes"

        def cost(cache: Any) -> float:
            # pages per quantum, counting an off-slab descriptor's share of its own cache
            pages: float = (1 << cache.gfporder) / cache.num
            if cache.flags & CFLGS_OFF_SLAB:
                d = cache.slabp_cache
                pages += (1 << d.gfporder) / d.num / cache.num
            return pages

        def mgmt(cache: Any) -> str:
            return f"off-slab({cache.slabp_cache.name})" if cache.flags & CFLGS_OFF_SLAB else "on-slab"
        per[q] = (cost(c), cost(g))
        shape[q] = (f"scullc's objects are {c.buffer_size} bytes (the quantum rounded to a 64-byte line),"
                    f" {c.num} per {1 << c.gfporder}-page slab, {mgmt(c)}; scull's kmalloc({q}) takes"
                    f" a {g.name} object, {g.num} per {1 << g.gfporder}-page slab, {mgmt(g)}")
        lines.append(f"{q:7d} | {c.buffer_size:7d} {c.num:4d} {1 << c.gfporder:4d} {mgmt(c):<19} |"
                     f" {g.name:<10} {g.buffer_size:6d} {g.num:4d} {1 << g.gfporder:4d} {mgmt(g):<19} |"
                     f" {1000 * per[q][0]:7.1f} / {1000 * per[q][1]:7.1f}")
        k.kmem_cache_destroy(c)
    k.close()
    return "\n".join(lines), per, shape


# -- main -------------------------------------------------------------------------------------

def progress(text: str) -> None:
    print(f"compare: {text}", file=sys.stderr, flush=True)


def run_mount(mem: str, quantum: int, families: Sequence[str], sizes: dict[str, int], memmap: str | None,
              workdir: str) -> dict[str, Any]:
    args = ["--mem", mem, "--background", "0", "--family", ",".join(families),
            "--quantum", str(quantum)]
    if quantum != 4000:
        args += ["--param", f"scull_quantum={quantum}", "--param", f"scullm_quantum={quantum}"]
    progress(f"mounting --mem {mem}, quantum {quantum} ({', '.join(families)})")
    m = Mount(args, workdir)
    results: dict[str, Any] = {}
    try:
        if memmap:
            snapshot(m)
            save_memmap(m, memmap, f"q{quantum}-before")
        if "scullm" in families:
            pool = dict(line.split() for line in m.read("sys/module/scullm/mempool").splitlines())
            results["reserve"] = (f"{pool['min_nr']} objects of the scullm cache (quantum {quantum}),"
                                  f" {pool['curr_nr']} of them in the reserve at load")
        for name, fn in WORKLOADS:
            results[name] = []
            for f in families:
                row = measure(m, f, fn, sizes, memmap, f"q{quantum}-{name}")
                results[name].append(row)
                progress(f"quantum {quantum}, {name}, {f}: {row['bytes']} bytes in {row['used']} pages,"
                         f" {row['time']:.2f} s")
    finally:
        m.close()
    with open(m.log) as log:
        problems = [line for line in log if "slab error" in line or "leak" in line or "BUG" in line]
    if problems:
        print("compare: the daemon reported problems:\n" + "".join(problems), file=sys.stderr)
        results["problems"] = True
    return results


def reading(by_q: dict[int, dict[str, Any]], per: dict[int, tuple[float, float]], shape: dict[int, str],
            reserve: str) -> str:
    """What the numbers say about the seed's claim, computed from them."""
    out = ["Reading (the seed: scullc uses memory better than scull, its quanta packed densely)"]
    for q, results in by_q.items():
        for name in ("stream", "small", "churn"):
            s = {r["family"]: r for r in results[name]}
            c, sc = s["scullc"], s["scull"]
            diff = (sc["used"] - c["used"]) / c["used"] * 100
            verdict = ("scullc uses less memory" if diff > 2 else
                       "scull uses less memory" if diff < -2 else "no real difference")
            out.append(f"- quantum {q}, {name}: scullc {c['used']} pages, scull {sc['used']} pages"
                       f" for the same {c['bytes']} bytes ({diff:+.1f}% for scull): {verdict}.")
        out.append(f"  Geometry: {shape[q]}: {per[q][0] * 1000:.1f} vs {per[q][1] * 1000:.1f}"
                   f" pages per 1000 quanta ({(per[q][1] / per[q][0] - 1) * 100:+.1f}% for scull).")
        churn = {r["family"]: r["buddy"] for r in results["churn"]}
        small = {f: sum(b[:4]) for f, b in churn.items()}
        out.append("  After the churn, free blocks of order 0..3 in Normal: "
                   + ", ".join(f"{f} {n}" for f, n in small.items())
                   + " (more small blocks = more fragmented free memory).")
    out.append(f"- scullm costs what scullc costs per quantum, plus its reserve, taken at load and"
               f" not in the deltas above: {reserve}.")
    return "\n".join(out)


def run_kernels(kernels: Sequence[str], mem: str, sizes: dict[str, int], workdir: str) -> str:
    """--kernels: scullc only; every workload on a fresh mount of every version
    (what one allocator kept from the workload before does not count); one table."""
    rows: list[tuple[str, str, dict[str, Any], str]] = []
    for name, fn in WORKLOADS:
        for release in kernels:
            m = Mount(["--kernel", release, "--mem", mem, "--background", "0"], workdir)
            try:
                line = next(x for x in m.read("proc/slabinfo").splitlines() if x.startswith("scullc "))
                f = line.split()
                geometry = f"{f[3]} {f[4]} {f[5]}"
                row = measure(m, "scullc", fn, sizes, None, f"{release}-{name}")
                rows.append((name, release, row, geometry))
                progress(f"{release}, {name}: {row['bytes']} bytes in {row['used']} pages, {row['time']:.2f} s")
            finally:
                m.close()
    head = (f"{'workload':<8} {'kernel':<7} {'bytes stored':>12} {'pages':>6} {'slab':>6} {'other':>6}"
            f" {'scullc objsize/perslab/pages':>28} {'waste':>7} {'time s':>6} {'MB/s':>7}")
    out = [head, "-" * len(head)]
    for name, release, r, geometry in rows:
        mbs = r["bytes"] / r["time"] / 1e6 if r["time"] else float("nan")
        out.append(f"{name:<8} {release:<7} {r['bytes']:12d} {r['used']:6d} {r['slab']:6d} {r['other']:6d}"
                   f" {geometry:>28} {r['overhead']:6.2f}% {r['time']:6.2f} {mbs:7.1f}")
    out.append("  pages: free-page delta (MemFree + per-CPU lists, 4 KiB pages); slab: slab pages of caches"
               " that grew; waste: pages beyond the bytes stored, in % of them")
    out.append("  where the pages went (caches that grew: name objsize/objperslab/pagesperslab"
               " +objects +pages):")
    for name, release, r, _ in rows:
        parts = [f"{c[0]} {c[1]}/{c[2]}/{c[3]} {c[4]:+d} {c[5]:+d}" for c in r["caches"][:3]]
        out.append(f"    {name:<8} {release:<7} " + ("; ".join(parts) or "no slab growth"))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="scullcfs compare", description=__doc__.split("\n\n")[0],
               epilog="\n\n".join(__doc__.split("\n\n")[2:]),
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mem", default="256M")
    p.add_argument("--quantum", type=int, action="append",
                   help="scullc/scull/scullm quantum; repeat for more mounts (default 4000 2000 2500)")
    p.add_argument("--quick", action="store_true",
                   help=f"smaller workloads, a smoke test: {QUICK_SIZES['stream_mib']} MiB streamed,"
                        f" {QUICK_SIZES['small_appends']} small appends, {QUICK_SIZES['churn_rounds']}"
                        " churn rounds")
    p.add_argument("--memmap", metavar="DIR", help="save scullcfs memmap MNT --text after every workload")
    p.add_argument("--kernels", metavar="LIST",
                   help=f"compare kernel versions instead of families: a comma-separated list of"
                        f" {', '.join(VERSIONS)} (scullc on each, one table)")
    args = p.parse_args(argv)
    if args.kernels is not None:
        kernels = [x.strip() for x in args.kernels.split(",") if x.strip()]
        bad = [x for x in kernels if x not in VERSIONS]
        if bad or not kernels:
            p.error(f"--kernels: unknown kernel version {bad[0] if bad else args.kernels!r}"
                    f" (known: {', '.join(VERSIONS)})")
        if args.quantum or args.memmap:
            p.error("--kernels: compares the default scullc (quantum 4000); without --quantum or --memmap")
        workdir = tempfile.mkdtemp(prefix="compare-")
        try:
            sizes = workload_sizes(args.quick)
            print(f"=== scullc on {', '.join(kernels)}, --mem {args.mem}, quantum 4000, qset 500")
            for name, _ in WORKLOADS:
                print(f"  [{name}] {describe(name, sizes)}")
            print()
            print(run_kernels(kernels, args.mem, sizes, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    quanta = args.quantum or [4000, 2000, 2500]
    if args.memmap:
        os.makedirs(args.memmap, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="compare-")  # the daemons' logs
    keep = False
    by_q = {}
    sizes = workload_sizes(args.quick)
    try:
        for i, q in enumerate(quanta):
            families = FAMILIES if i == 0 else ("scullc", "scull", "scullm")
            by_q[q] = run_mount(args.mem, q, families, sizes, args.memmap if i == 0 else None, workdir)
            keep |= by_q[q].pop("problems", False)
            print(f"=== --mem {args.mem}, quantum {q} (scullc, scull, scullm); scullp order 0, scullv order 4"
                  if i == 0 else f"=== --mem {args.mem}, quantum {q}: scullc, scull, scullm only")
            for name, _ in WORKLOADS:
                print()
                print(table(f"[{name}] {describe(name, sizes)}", by_q[q][name]))
            print()
    except BaseException:
        keep = True
        raise
    finally:
        if keep:
            progress(f"the daemons' logs are kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    geo, per, shape = geometry(sorted(set(quanta) | {1000, 1500, 2000, 2500, 3000, 4000, 6000}))
    print("Slab geometry (2.6 SLAB on i386, as the simulator builds it)")
    print(geo)
    print()
    reserve = by_q[quanta[0]].pop("reserve", "none")
    for results in by_q.values():
        results.pop("reserve", None)
    print(reading(by_q, per, shape, reserve))
    return 0


if __name__ == "__main__":
    sys.exit(main())
