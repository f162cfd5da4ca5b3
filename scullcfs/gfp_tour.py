"""scullcfs gfp-tour - watch every GFP flag at work on a fresh, small scullcfs.

    scullcfs gfp-tour [--kernel 2.6.18|6.18]   (tools/gfp_tour from a checkout does the same)

Mounts a few small simulated machines (32-64 MiB) on temporary mount points, one
after the other, and on each shows what the allocator does when memory runs out:
GFP_KERNEL runs the OOM killer (2.6.18's report), then sleeps for alloc_wait_ms
and fails, __GFP_NORETRY fails at once, __GFP_NOFAIL waits until another device
is trimmed, GFP_ATOMIC dips below the min watermark, __GFP_NOWARN keeps the log
quiet, a SLAB_CACHE_DMA cache fails at the size of ZONE_DMA, kswapd reclaims the
fs/io-backed caches whatever a GFP_NOFS/GFP_NOIO writer's mask, drop_caches runs
the shrinkers, min_free_kbytes moves the watermarks, __GFP_COLD is counted,
and on two NUMA nodes a full node spills to the other. With --kernel 6.18 it tours
6.18's flags on a 48 MiB x86_64 machine (DMA and DMA32): GFP_KERNEL (0xcc0) and the
OOM killer's 6.18 report, __GFP_NORETRY, __GFP_NOWARN, the reserves __GFP_HIGH,
GFP_ATOMIC and GFP_NOWAIT may take below min, __GFP_RETRY_MAYFAIL (no OOM kill),
__GFP_NOFAIL, the gfp file refusing __GFP_REPEAT/__GFP_COLD/__GFP_WAIT with their
successors, __GFP_ZERO/__GFP_ACCOUNT/__GFP_DMA32 as %pGg prints them, the
watermarks from min_free_kbytes and watermark_scale_factor, a SLAB_CACHE_DMA
cache (no OOM kill for lowmem), drop_caches against sys/kernel/slab/scullc/shrink,
and a full node spilling to the other;
it reads /proc/vmstat, zoneinfo and the kmem trace events (every failed attempt is an
mm_page_alloc with page=NULL). For each it prints what it
did, what it expected, the kernel log and zoneinfo lines that show it, and
PASS/FAIL. Data stored before every failure is read back and compared.

The writers are dd and head processes, as a user at a shell would run them (their
PID picks their CPU, as in the simulated kernel). The daemons are `python -m
scullcfs` of this interpreter (scullcfs/mount.py); every mount is unmounted on exit.
Exit status: 0 every outcome as expected, 1 some differed, 2 could not run.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from allocator.versions import DEFAULT_VERSION, VERSIONS

from .cli import _Parser
from .mount import Daemon, MountError, read_with_timeout, scullcfs_argv

SOURCE_BYTES = 40 << 20  # random bytes every device is filled from


class TourError(Exception):
    """The tour could not run (exit 2)."""


def now_ms() -> int:
    return int(time.monotonic() * 1000)


class Tour:
    kernel = "2.6.18"

    def __init__(self, work: Path):
        self.work = work
        self.src_path = work / "src"
        self.src = os.urandom(SOURCE_BYTES)
        self.src_path.write_bytes(self.src)
        self.passes = self.fails = 0
        self.n = 0
        self.daemon: Daemon | None = None
        self.mnt = Path()
        self.background: list[subprocess.Popen[bytes]] = []
        self.dd_err = ""

    # ---- mounting ---------------------------------------------------------------

    def mount(self, *options: str) -> None:
        """A fresh machine at a new mount point."""
        self.unmount()
        self.n += 1
        self.mnt = self.work / f"mnt{self.n}"
        self.mnt.mkdir()
        if self.kernel != DEFAULT_VERSION:
            options = ("--kernel", self.kernel, *options)
        print(f"$ scullcfs MNT {' '.join(options)}", flush=True)
        log = self.work / f"log{self.n}"
        self.daemon = Daemon(scullcfs_argv(self.mnt, *options, "--log", str(log)), self.mnt,
                             output=self.work / f"out{self.n}", logs=(log,))
        try:
            self.daemon.start().wait_ready(60)
        except MountError as e:
            tail = "\n".join(f"  | {line}" for line in self.daemon.output_text().splitlines()[-20:])
            print(tail, file=sys.stderr)
            raise TourError(f"could not mount scullcfs {' '.join(options)}: {e}") from None

    def unmount(self) -> None:
        if self.daemon is None:
            return
        for proc in self.background:
            proc.kill()
            proc.wait()
        self.background = []
        for problem in self.daemon.unmount(exit_timeout=20, busy_wait=5):
            print(f"gfp_tour: {problem}", file=sys.stderr)
            if "killed" in problem:
                self.fails += 1
        self.daemon = None

    # ---- looking at the machine -------------------------------------------------

    def p(self, rel: str) -> Path:
        return self.mnt / rel

    def read(self, rel: str) -> str:
        return self.p(rel).read_text()

    def write(self, rel: str, text: str) -> None:
        with open(self.p(rel), "w") as f:
            f.write(f"{text}\n")

    def dev(self, i: int) -> Path:
        return self.p(f"dev/scullc{i}")

    def size(self, i: int) -> int:
        return int(self.read(f"sys/class/scullc/scullc{i}/size"))

    def gfp(self, i: int) -> str:
        return self.read(f"sys/class/scullc/scullc{i}/gfp").strip()

    def set_gfp(self, i: int, mode: str) -> None:
        self.write(f"sys/class/scullc/scullc{i}/gfp", mode)

    def set_wait(self, ms: int) -> None:
        self.write("proc/sys/vm/alloc_wait_ms", str(ms))

    def vmstat(self, key: str) -> int:
        """A counter of proc/vmstat, or of the simulator's own counters that
        2.6.18's vmstat does not have (nr_free_pages, pgalloc_cold, pgalloc_fail,
        ...: sys/kernel/debug/scullc/vmstat, when the mount has it)."""
        for rel in ("proc/vmstat", "sys/kernel/debug/scullc/vmstat"):
            if not self.p(rel).exists():
                continue
            for line in self.read(rel).splitlines():
                words = line.split()
                if words[:1] == [key]:
                    return int(words[1])
        raise TourError(f"no {key} in proc/vmstat")

    def simstat(self, key: str) -> int:
        """The simulator's own counters (sys/kernel/debug/scullc/vmstat)."""
        return self.vmstat(key)

    def kmsg_mark(self) -> int:
        return len(self.read("proc/kmsg").splitlines())

    def kmsg_since(self, mark: int) -> list[str]:
        return self.read("proc/kmsg").splitlines()[mark:]

    def logged(self, mark: int, text: str) -> bool:
        return any(text in line for line in self.kmsg_since(mark))

    def warnings_since(self, mark: int) -> int:
        return sum("page allocation failure" in line for line in self.kmsg_since(mark))

    def _zone_lines(self, node: int, zone: str) -> list[list[str]]:
        """The words of every line of zoneinfo's section for node, zone."""
        out, cur = [], False
        for line in self.read("proc/zoneinfo").splitlines():
            words = line.split()
            if words[:1] == ["Node"]:
                cur = words[1:2] == [f"{node},"] and words[3:4] == [zone]
            elif cur:
                out.append(words)
        return out

    def zone(self, node: int, zone: str, field: str) -> int:
        """free min low high present spanned of a zone, from proc/zoneinfo."""
        for words in self._zone_lines(node, zone):
            if field == "free" and words[:2] == ["pages", "free"]:
                return int(words[2])
            if len(words) == 2 and words[0] == field:
                return int(words[1])
        raise TourError(f"no {field} for node {node} zone {zone} in proc/zoneinfo")

    def zone_line(self, node: int, zone: str) -> str:
        """What zoneinfo says about a zone's free pages and watermarks, in one line."""
        protection = next((" ".join(w[1:]) for w in self._zone_lines(node, zone)
                           if w[:1] == ["protection:"]), "")
        z = {f: self.zone(node, zone, f) for f in ("free", "min", "low", "high")}
        return (f"node{node} {zone:<7} free {z['free']:6d}  min {z['min']:5d}  low {z['low']:5d}"
                f"  high {z['high']:5d}  protection {protection}")

    def slab(self, cache: str, field: str) -> int:
        """active_objs num_objs active_slabs num_slabs of a cache, from proc/slabinfo."""
        column = {"active_objs": 1, "num_objs": 2, "active_slabs": 13, "num_slabs": 14}[field]
        for line in self.read("proc/slabinfo").splitlines():
            words = line.split()
            if words[:1] == [cache]:
                return int(words[column])
        raise TourError(f"no cache {cache} in proc/slabinfo")

    def bg_line(self) -> str:
        return (f"dentry_cache {self.slab('dentry_cache', 'num_slabs')} slabs, inode_cache"
                f" {self.slab('inode_cache', 'num_slabs')}, buffer_head {self.slab('buffer_head', 'num_slabs')}")

    def numastat(self, node: int, key: str) -> int:
        for line in self.read(f"sys/devices/system/node/node{node}/numastat").splitlines():
            words = line.split()
            if words[:1] == [key]:
                return int(words[1])
        raise TourError(f"no {key} in node{node}/numastat")

    def numa_line(self, node: int) -> str:
        return f"node{node} " + " ".join(f"{k} {self.numastat(node, k)}" for k in (
            "numa_hit", "numa_miss", "numa_foreign", "local_node", "other_node"))

    # ---- writing ------------------------------------------------------------------

    def _dd(self, args: list[str], rdwr: Path | None = None) -> int:
        """Run dd; with rdwr, dd's stdout is that file opened read-write, by the dd
        process itself (a shell's `1<>` before exec: the task that opens the device
        is the one that writes it, as at a shell)."""
        argv = ["dd", *args] if rdwr is None else \
            ["sh", "-c", 'f="$1"; shift; exec "$@" 1<>"$f"', "sh", str(rdwr), "dd", *args]
        r = subprocess.run(argv, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL, env=dict(os.environ, LC_ALL="C"))
        self.dd_err = r.stderr
        return r.returncode

    def fill(self, i: int) -> int:
        """dd the source into the device (O_WRONLY: scullc trims it first)."""
        return self._dd([f"if={self.src_path}", f"of={self.dev(i)}", "bs=1M"])

    def append(self, i: int, nbytes: int) -> int:
        """Write the next nbytes of the source at the device's end. Opened read-write:
        a write-only open would trim the device."""
        off = self.size(i)
        return self._dd([f"if={self.src_path}", "bs=64K", "iflag=skip_bytes,count_bytes",
                         "oflag=seek_bytes", f"skip={off}", f"seek={off}", f"count={nbytes}",
                         "status=none"], rdwr=self.dev(i))

    def trim(self, i: int) -> None:
        """`: > MNT/dev/scullcI`: scullc_open with O_WRONLY|O_TRUNC frees every quantum."""
        os.close(os.open(self.dev(i), os.O_WRONLY | os.O_TRUNC))

    def intact(self, i: int, timeout: float = 10) -> bool:
        """The device holds exactly the first size bytes of the source."""
        data, _ = read_with_timeout(self.dev(i), timeout)
        return data is not None and data == self.src[:self.size(i)]

    def nofail_writer(self, stall_counter: str, why: str) -> None:
        """The __GFP_NOFAIL section's body, the same on both kernels: a GFP_NOFS|__GFP_NOFAIL
        dd into scullc3 sleeps past alloc_wait_ms (vmstat's stall_counter shows its direct
        reclaim) and completes, intact and without a warning, once scullc0 is trimmed."""
        self.set_gfp(3, "GFP_NOFS|__GFP_NOFAIL")
        mark = self.kmsg_mark()
        stalls = self.vmstat(stall_counter)
        nofail = subprocess.Popen(["dd", f"if={self.src_path}", f"of={self.dev(3)}", "bs=64K", "count=16",
                                   "status=none"], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.background.append(nofail)
        for _ in range(100):  # until its direct reclaim shows in vmstat
            if self.vmstat(stall_counter) > stalls:
                break
            time.sleep(0.05)
        time.sleep(1.5)  # three times alloc_wait_ms
        sleeping = "yes" if nofail.poll() is None else "no"
        self.say("did:", "scullc3 gfp = GFP_NOFS|__GFP_NOFAIL; dd 1 MiB into it in the background"
                         " (alloc_wait_ms=500)")
        self.say("expected:", f"dd sleeps past alloc_wait_ms ({why}); the rest of the tree still answers")
        self.say("got:", f"after 1.5 s dd is still writing: {sleeping}; scullc3 size {self.size(3)}")
        self.check("the __GFP_NOFAIL writer is still asleep after 3x alloc_wait_ms", sleeping == "yes")
        self.check("meanwhile cat proc/meminfo answers",
                   read_with_timeout(self.p("proc/meminfo"), 10)[0] is not None)
        self.check("meanwhile scullc0 reads back intact", self.intact(0, timeout=10))
        self.trim(0)
        t = now_ms()
        try:
            rc = nofail.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = -1
        elapsed = now_ms() - t
        self.say("did:", "trimmed scullc0 (: > MNT/dev/scullc0)")
        self.say("expected:", "the sleeping dd wakes, completes, and its data is intact; no warning")
        self.say("got:", f"dd exit {rc} {elapsed} ms after the trim; scullc3 size {self.size(3)}")
        self.show_kmsg(mark)
        self.check("the __GFP_NOFAIL dd completed (exit 0)", rc == 0)
        self.check("scullc3 holds the whole 1 MiB, intact", self.size(3) == 1048576)
        self.check("scullc3 reads back intact (cmp)", self.intact(3))
        self.check("no 'page allocation failure' for it", self.warnings_since(mark) == 0)

    # ---- reporting ----------------------------------------------------------------

    @staticmethod
    def section(title: str) -> None:
        print(f"\n== {title} ==", flush=True)

    @staticmethod
    def say(label: str, text: str) -> None:
        print(f"  {label:<9} {text}", flush=True)

    def show_kmsg(self, mark: int) -> None:
        keys = ("page allocation failure", "no memory freed", "messages suppressed",
                "callbacks suppressed", "allocating with", "refused", "oom-killer", "Kill process",
                "Killed process", "Kernel panic", "Unable to allocate", "Unexpected gfp")
        lines = [line for line in self.kmsg_since(mark) if any(k in line for k in keys)][-6:]
        if not lines:
            self.say("kmsg:", "(nothing new)")
        for n, line in enumerate(lines):
            self.say("kmsg:" if n == 0 else "", line)

    def check(self, what: str, ok: bool) -> None:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}", flush=True)
        if ok:
            self.passes += 1
        else:
            self.fails += 1

    def dd_error(self) -> str:
        line = next((line for line in self.dd_err.splitlines() if "error writing" in line), "")
        return line.rsplit(": ", 1)[-1]

    # ---- the tour -----------------------------------------------------------------

    def run(self) -> None:
        print(f"gfp_tour: scullcfs is {sys.executable} -m scullcfs")
        self.machine_small()
        self.machine_dma()
        self.machine_background()
        self.machine_drop_caches()
        self.machine_numa()
        self.unmount()

    def machine_small(self) -> None:
        """Machine 1: 32 MiB, no background caches."""
        print()
        self.mount("--mem", "32M", "--devs", "4", "--background", "0")
        wait_fill = 200   # ms: short while filling, so the tour stays quick
        wait = 1500       # ms: the wait that is measured
        self.set_wait(wait_fill)

        self.section("1. GFP_KERNEL: the OOM killer runs, then the mount's bounded sleep (alloc_wait_ms)")
        mark = self.kmsg_mark()
        rc = self.fill(0)
        fill_err = self.dd_err
        stored0 = self.size(0)
        self.say("did:", "dd a 40 MiB file into scullc0 (GFP_KERNEL, a 32 MiB machine)")
        self.say("expected:", "reclaim finds nothing: 2.6.18 calls out_of_memory, which chooses the dd"
                              " (it holds the most pages);")
        self.say("", "the simulated kill sends no signal: dd's allocations fail, it stops with ENOMEM")
        self.say("got:", f"dd exit {rc} ({self.dd_error()}), {stored0} bytes stored")
        self.show_kmsg(mark)
        self.check("the log has 2.6.18's 'oom-killer: gfp_mask=0xd0, order=0'",
                   self.logged(mark, "oom-killer: gfp_mask=0xd0, order=0"))
        self.check("the OOM killer chose the dd: 'Out of Memory: Kill process N (dd) score N and children.'",
                   any("Out of Memory: Kill process " in line and " (dd) score " in line
                       and line.endswith(" and children.") for line in self.kmsg_since(mark)))
        self.check("the fill failed with ENOMEM (dd was not signalled)", "Cannot allocate memory" in fill_err)
        self.check(f"scullc0's {stored0} bytes read back intact (cmp)", self.intact(0))
        self.set_wait(wait)
        mark = self.kmsg_mark()
        t = now_ms()
        rc = self.append(0, 262144)
        elapsed = now_ms() - t
        self.say("did:", f"one more 256 KiB write to scullc0 with alloc_wait_ms={wait}")
        self.say("expected:", f"the OOM killer runs again (2.6.18 would retry for ever); the mount sleeps"
                              f" {wait} ms for a free, then fails; the log says why")
        self.say("got:", f"dd exit {rc} after {elapsed} ms")
        self.show_kmsg(mark)
        self.say("zoneinfo:", self.zone_line(0, "Normal"))
        self.say("", self.zone_line(0, "DMA"))
        self.check("the write failed", rc != 0)
        self.check(f"it waited {elapsed} ms >= alloc_wait_ms {wait}", elapsed >= wait)
        self.check("the log has 'dd: page allocation failure. order:0, mode:0xd0'",
                   self.logged(mark, "dd: page allocation failure. order:0, mode:0xd0"))
        free, low_min = self.zone(0, "Normal", "free"), self.zone(0, "Normal", "min")
        self.check(f"Normal free ({free}) is down to its min watermark ({low_min})", free <= low_min)
        self.check("scullc0 still reads back intact", self.intact(0))

        self.section("2. __GFP_NORETRY: one reclaim pass, then fails without sleeping")
        self.set_gfp(1, "GFP_KERNEL|__GFP_NORETRY")
        mark = self.kmsg_mark()
        t = now_ms()
        rc = self.append(1, 262144)
        elapsed = now_ms() - t
        self.say("did:", f"scullc1 gfp = {self.gfp(1)}; a 256 KiB write (alloc_wait_ms={wait})")
        self.say("expected:", "ENOMEM well before alloc_wait_ms, with the warning (mode 0x10d0)")
        self.say("got:", f"dd exit {rc} after {elapsed} ms")
        self.show_kmsg(mark)
        self.check("the write failed", rc != 0)
        self.check(f"it failed after {elapsed} ms < alloc_wait_ms {wait}", elapsed < wait)
        self.check("the log has 'page allocation failure. order:0, mode:0x10d0'",
                   self.logged(mark, "page allocation failure. order:0, mode:0x10d0"))
        self.check("scullc0 still reads back intact", self.intact(0))

        self.section("3. __GFP_NOWARN: the same failure, no warning")
        self.set_gfp(1, "GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN")
        mark = self.kmsg_mark()
        fails_before = self.simstat("pgalloc_fail")
        rc = self.append(1, 262144)
        fails_after = self.simstat("pgalloc_fail")
        warnings = self.warnings_since(mark)
        self.say("did:", f"scullc1 gfp = {self.gfp(1)}; a 256 KiB write")
        self.say("expected:", "ENOMEM, counted in vmstat pgalloc_fail, but no 'page allocation failure' line")
        self.say("got:", f"dd exit {rc}; pgalloc_fail {fails_before} -> {fails_after}; {warnings} new warnings")
        self.show_kmsg(mark)
        self.check("the write failed", rc != 0)
        self.check(f"the failure was counted (pgalloc_fail {fails_before} -> {fails_after})",
                   fails_after > fails_before)
        self.check("no new 'page allocation failure' line", warnings == 0)
        self.check("scullc0 still reads back intact", self.intact(0))

        self.section("4. GFP_ATOMIC: never sleeps, and may dip below min")
        normal_min = self.zone(0, "Normal", "min")
        self.say("before:", self.zone_line(0, "Normal"))
        self.say("", self.zone_line(0, "DMA"))
        self.set_gfp(2, "GFP_ATOMIC")
        mark = self.kmsg_mark()
        t = now_ms()
        rc = self.append(2, 2097152)
        elapsed = now_ms() - t
        stored2 = self.size(2)
        self.say("did:", "scullc2 gfp = GFP_ATOMIC; a 2 MiB write where GFP_KERNEL just failed")
        self.say("expected:", "it stores something (ALLOC_HIGH|ALLOC_HARDER: down to ~3/8 of min),"
                              " then ENOMEM at once")
        self.say("got:", f"dd exit {rc} after {elapsed} ms; {stored2} bytes stored")
        self.show_kmsg(mark)
        self.say("after:", self.zone_line(0, "Normal"))
        self.say("", self.zone_line(0, "DMA"))
        free = self.zone(0, "Normal", "free")
        self.check(f"GFP_ATOMIC stored {stored2} bytes where GFP_KERNEL could not", stored2 > 0)
        self.check(f"Normal free ({free}) went below min ({normal_min})", free < normal_min)
        self.check(f"it did not sleep ({elapsed} ms < alloc_wait_ms {wait})", elapsed < wait)
        self.check("the log has 'page allocation failure. order:0, mode:0x20'",
                   self.logged(mark, "page allocation failure. order:0, mode:0x20"))
        self.check(f"scullc2's {stored2} bytes read back intact", self.intact(2))
        self.check("scullc0 still reads back intact", self.intact(0))

        self.section("5. __GFP_NOFAIL: sleeps until memory comes back, however long")
        self.set_wait(500)
        # GFP_NOFS: without __GFP_FS __alloc_pages never calls out_of_memory; with
        # GFP_KERNEL the OOM killer would choose this writer, the only live task left
        self.nofail_writer("allocstall", "no __GFP_FS: no OOM killer, which would choose the writer")

        self.section("6. __GFP_COLD: pages from the cold end of the per-CPU lists, counted")
        self.set_gfp(1, "GFP_KERNEL|__GFP_COLD")
        cold, hot = self.simstat("pgalloc_cold"), self.simstat("pgalloc_hot")
        rc = self.append(1, 1048576)
        cold2, hot2 = self.simstat("pgalloc_cold"), self.simstat("pgalloc_hot")
        self.say("did:", "scullc1 gfp = GFP_KERNEL|__GFP_COLD; a 1 MiB write (memory is free again)")
        self.say("expected:", "vmstat pgalloc_cold rises by the scullc slabs' pages")
        self.say("got:", f"dd exit {rc}; pgalloc_cold {cold} -> {cold2}, pgalloc_hot {hot} -> {hot2}")
        self.check("the write succeeded", rc == 0)
        self.check(f"pgalloc_cold rose ({cold} -> {cold2})", cold2 > cold)
        self.check("scullc1 reads back intact", self.intact(1))

        self.section("7. min_free_kbytes moves the watermarks")
        mfk = int(self.read("proc/sys/vm/min_free_kbytes"))
        before_n, before_d = self.zone_line(0, "Normal"), self.zone_line(0, "DMA")
        new = mfk * 4
        self.write("proc/sys/vm/min_free_kbytes", str(new))
        self.say("did:", f"min_free_kbytes {mfk} -> {self.read('proc/sys/vm/min_free_kbytes').strip()}")
        self.say("before:", before_n)
        self.say("", before_d)
        self.say("after:", self.zone_line(0, "Normal"))
        self.say("", self.zone_line(0, "DMA"))
        # 2.6 setup_per_zone_pages_min: pages_min split over the lowmem zones by present pages
        pages_min = new >> 2
        lowmem = self.zone(0, "DMA", "present") + self.zone(0, "Normal", "present")
        for z in ("DMA", "Normal"):
            present = self.zone(0, z, "present")
            tmp = pages_min * present // lowmem
            want = f"{tmp} {tmp + tmp // 4} {tmp + tmp // 2}"
            got = " ".join(str(self.zone(0, z, f)) for f in ("min", "low", "high"))
            self.say("expected:", f"{z} min/low/high = {want} (tmp = pages_min {pages_min} * present"
                                  f" {present} / lowmem {lowmem})")
            self.check(f"{z} watermarks are now {got}", got == want)
        self.write("proc/sys/vm/min_free_kbytes", str(mfk))

    def machine_dma(self) -> None:
        """Machine 2: 32 MiB with a SLAB_CACHE_DMA scullc cache."""
        print()
        self.mount("--mem", "32M", "--devs", "2", "--background", "0",
                   "--cache-flags", "SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA")
        self.set_wait(200)
        self.section("8. SLAB_CACHE_DMA: the scullc cache takes its slabs from ZONE_DMA (16 MiB)")
        # 2.6.18 kmem_flagcheck: a DMA cache is allocated from with GFP_DMA (else BUG)
        self.set_gfp(0, "GFP_KERNEL|__GFP_DMA")
        mark = self.kmsg_mark()
        rc = self.fill(0)
        stored = self.size(0)
        cache_dma = self.read("sys/kernel/slab/scullc/cache_dma").strip()
        self.say("did:", f"dd a 40 MiB file into scullc0 (cache_dma = {cache_dma}, gfp = {self.gfp(0)})")
        self.say("expected:", "ENOMEM below 16 MiB stored, with ZONE_DMA at its min and Normal still free")
        self.say("got:", f"dd exit {rc}, {stored} bytes stored; vmstat pgalloc_dma {self.vmstat('pgalloc_dma')},"
                         f" pgalloc_normal {self.vmstat('pgalloc_normal')}")
        self.show_kmsg(mark)
        self.say("zoneinfo:", self.zone_line(0, "DMA"))
        self.say("", self.zone_line(0, "Normal"))
        dma_free, dma_min = self.zone(0, "DMA", "free"), self.zone(0, "DMA", "min")
        normal_free, normal_present = self.zone(0, "Normal", "free"), self.zone(0, "Normal", "present")
        self.check("the fill failed", "Cannot allocate memory" in self.dd_err)
        self.check(f"it stored {stored} bytes < 16 MiB", stored < 16 << 20)
        self.check("it stored more than 12 MiB: it failed at the zone's end, not earlier", stored > 12 << 20)
        self.check(f"DMA free ({dma_free}) is at its min ({dma_min})", dma_free <= dma_min)
        self.check(f"Normal still has {normal_free} of {normal_present} pages free",
                   normal_free > normal_present // 2)
        self.check("the OOM killer's report has __GFP_DMA (2.6.18: 'oom-killer: gfp_mask=0xd1, order=0')",
                   self.logged(mark, "oom-killer: gfp_mask=0xd1, order=0"))
        self.check("scullc0 reads back intact", self.intact(0))

    def machine_background(self) -> None:
        """Machine 3: 32 MiB, 40% of lowmem in dentry/inode/buffer_head caches."""
        print()
        self.mount("--mem", "32M", "--devs", "2", "--background", "40")
        self.set_wait(200)
        self.section("9. GFP_NOIO / GFP_NOFS: their direct reclaim cannot free fs/io caches, kswapd can")
        self.say("boot:", self.bg_line())
        stored = {}
        runs = {}
        for mode in ("GFP_NOIO", "GFP_NOFS", "GFP_KERNEL"):
            self.set_gfp(0, mode)
            self.trim(0)
            before = self.vmstat("pageoutrun")
            self.fill(0)
            stored[mode] = self.size(0)
            runs[mode] = self.vmstat("pageoutrun") - before
            self.say(f"{mode}:", f"stored {stored[mode]} bytes; kswapd ran {runs[mode]} times (pageoutrun);"
                                 f" then {self.bg_line()}")
            self.check(f"scullc0's {stored[mode]} bytes ({mode}) read back intact", self.intact(0))
            if mode != "GFP_KERNEL":  # a fresh machine, its background caches full again
                self.mount("--mem", "32M", "--devs", "2", "--background", "40")
                self.set_wait(200)
        self.say("expected:", "2.6.18: direct reclaim without __GFP_FS skips dentries and inodes, without")
        self.say("", "__GFP_IO buffer heads; but the writer wakes kswapd below the low watermark, and kswapd")
        self.say("", "shrinks every cache with GFP_KERNEL: all three store about the same")
        self.check(f"kswapd ran in every case ({runs})", all(n > 0 for n in runs.values()))
        spread = max(stored.values()) - min(stored.values())
        self.check(f"GFP_NOIO, GFP_NOFS and GFP_KERNEL stored the same within 4 quanta ({spread} bytes apart)",
                   spread <= 4 * 4000)
        left = [self.slab(c, "num_slabs") for c in ("dentry_cache", "inode_cache", "buffer_head")]
        self.check(f"the background caches were reclaimed (slabs now {left})", sum(left) < 100)

    def machine_drop_caches(self) -> None:
        """Machine 4: drop_caches."""
        print()
        self.mount("--mem", "32M", "--devs", "2", "--background", "20")
        self.section("10. drop_caches: the shrinkers run; free slabs wait for cache_reap")
        with open(self.dev(0), "wb") as f:
            f.write(self.src[:4 << 20])
        self.trim(0)

        def scullc_line() -> str:
            return (f"scullc {self.slab('scullc', 'active_slabs')}/{self.slab('scullc', 'num_slabs')}"
                    f" active/total slabs, {self.bg_line()}")
        before = scullc_line()
        scullc_before = self.slab("scullc", "num_slabs")
        bg_before = [self.slab(c, "num_slabs") for c in ("dentry_cache", "inode_cache", "buffer_head")]
        free_before = self.vmstat("nr_free_pages")
        self.write("proc/sys/vm/drop_caches", "3")
        self.say("did:", "wrote 4 MiB to scullc0 and trimmed it, then echo 3 > proc/sys/vm/drop_caches")
        self.say("expected:", "2.6.18 drop_slab: shrink_slab only; dentry_cache, inode_cache, buffer_head shrink;")
        self.say("", "scullc has no shrinker: its free slabs stay until cache_reap gives them back")
        self.say("before:", before)
        self.say("after:", scullc_line())
        self.say("", f"nr_free_pages {free_before} -> {self.vmstat('nr_free_pages')}")
        bg_after = [self.slab(c, "num_slabs") for c in ("dentry_cache", "inode_cache", "buffer_head")]
        scullc_after = self.slab("scullc", "num_slabs")
        self.check(f"scullc keeps its free slabs ({scullc_before} -> {scullc_after}): no shrinker, cache_reap's job",
                   scullc_after > 0 and scullc_after >= scullc_before - 64)
        self.check(f"every background cache shrank ({bg_before} -> {bg_after} slabs)",
                   all(a < b for a, b in zip(bg_after, bg_before)))
        self.check("nr_free_pages rose", self.vmstat("nr_free_pages") > free_before)

    def machine_numa(self) -> None:
        """Machine 5: two NUMA nodes."""
        print()
        self.mount("--mem", "64M", "--nodes", "2", "--cpus", "2", "--devs", "2", "--background", "0")
        self.section("11. NUMA: a full node spills to the other (numa_miss, numa_foreign, other_node)")

        def total(key: str) -> int:
            return self.numastat(0, key) + self.numastat(1, key)
        miss0, other0 = total("numa_miss"), total("other_node")
        # head opens and writes the device itself (its PID picks its CPU and so its node)
        writer = subprocess.Popen(["sh", "-c", 'exec head -c "$0" "$1" > "$2"', str(40 << 20),
                                   str(self.src_path), str(self.dev(0))], stdin=subprocess.DEVNULL)
        rc = writer.wait()
        cpu = writer.pid % 2
        local_node = next((nid for nid in (0, 1) if str(cpu) in self.read(
            f"sys/devices/system/node/node{nid}/cpulist").strip().split(",")), None)
        if local_node is None:
            raise TourError(f"no node's cpulist has CPU {cpu}")
        self.say("did:", f"wrote 40 MiB to scullc0 from PID {writer.pid} (CPU {cpu}, node {local_node});"
                         " each node has 32 MiB")
        self.say("expected:", "the local node fills first, the rest comes from the other node")
        self.say("numastat:", self.numa_line(0))
        self.say("", self.numa_line(1))
        self.say("zoneinfo:", self.zone_line(0, "Normal"))
        self.say("", self.zone_line(1, "Normal"))
        miss1, other1 = total("numa_miss"), total("other_node")
        self.check("the write succeeded", rc == 0)
        self.check(f"numa_miss rose ({miss0} -> {miss1})", miss1 > miss0)
        self.check(f"other_node rose ({other0} -> {other1})", other1 > other0)
        self.check(f"the misses are on the node that is not local (node{1 - local_node})",
                   self.numastat(1 - local_node, "numa_miss") > 0)
        self.check("the local node's numa_foreign counts them", self.numastat(local_node, "numa_foreign") > 0)
        self.check("scullc0 reads back intact", self.intact(0))



class Tour618(Tour):
    """The tour on `--kernel 6.18`: 6.18's flags (allocator/linux618/gfp.py), as
    6.18's mm/page_alloc.c treats them (allocator/linux618/page_alloc.py), read
    from the files a 6.18 machine has: /proc/vmstat and zoneinfo (no 2.6.18-only
    sys/kernel/debug/scullc/vmstat), the kmem trace events for every failed
    attempt (mm_page_alloc with page=NULL), sys/kernel/slab/<cache>/shrink."""

    kernel = "6.18"
    MEM = "48M"        # DMA 3840 pages managed, DMA32 3584: about 29 MiB for the 40 MiB source
    WARN_INTERVAL = 10.2  # s: warn_alloc's nopage_rs allows one report per 10 s

    def __init__(self, work: Path):
        super().__init__(work)
        self.clock = (0.0, 0.0)     # (host monotonic, kernel uptime) at the last log line read

    def mount(self, *options: str) -> None:
        super().mount(*options)
        self.clock = (0.0, 0.0)

    # ---- 6.18's files ------------------------------------------------------------

    def vmstat(self, key: str) -> int:
        """A counter of proc/vmstat (6.18's names: allocstall_normal, oom_kill, ...)."""
        for line in self.read("proc/vmstat").splitlines():
            words = line.split()
            if words[:1] == [key]:
                return int(words[1])
        raise TourError(f"no {key} in proc/vmstat")

    def zone_line(self, node: int, zone: str) -> str:
        protection = next((" ".join(w[1:]) for w in self._zone_lines(node, zone)
                           if w[:1] == ["protection:"]), "")
        z = {f: self.zone(node, zone, f) for f in ("free", "boost", "min", "low", "high")}
        return (f"node{node} {zone:<6} free {z['free']:5d}  boost {z['boost']:3d}  min {z['min']:4d}"
                f"  low {z['low']:4d}  high {z['high']:4d}  protection {protection}")

    def bg_line(self) -> str:
        return (f"dentry {self.slab('dentry', 'num_slabs')} slabs, inode_cache"
                f" {self.slab('inode_cache', 'num_slabs')}, buffer_head {self.slab('buffer_head', 'num_slabs')}")

    def trace_on(self, *events: str) -> None:
        for ev in events:
            self.write(f"sys/kernel/debug/tracing/events/kmem/{ev}/enable", "1")

    def trace_clear(self) -> None:
        self.write("sys/kernel/debug/tracing/trace", "")

    def trace(self, event: str) -> list[str]:
        """The trace lines of one event, since the last trace_clear."""
        return [line for line in self.read("sys/kernel/debug/tracing/trace").splitlines()
                if f" {event}: " in line]

    def failed(self) -> list[str]:
        """mm_page_alloc lines of failed attempts (6.18 traces every attempt in
        __alloc_pages: page=NULL pfn=0x0 on failure): 'order=N gfp_flags=...'."""
        return [line.split(" migratetype=")[0].split()[-1] + " " + line.split()[-1]
                for line in self.trace("mm_page_alloc") if " pfn=0x0 " in line]

    def uptime(self) -> float:
        """The kernel's uptime now: the timestamp of a log line, advanced by the host's clock."""
        mono, up = self.clock
        return up + (time.monotonic() - mono) if mono else 0.0

    def set_gfp(self, i: int, mode: str) -> None:
        super().set_gfp(i, mode)
        last = self.read("proc/kmsg").splitlines()[-1]
        if "allocating with" in last and last.startswith("<"):
            self.clock = (time.monotonic(), float(last.split("[", 1)[1].split("]", 1)[0]))

    def warn_window(self) -> None:
        """Wait until warn_alloc may print again: nopage_rs (10 s, burst 1) counts
        from the last printed 'page allocation failure' line."""
        stamps = [float(line.split("[", 1)[1].split("]", 1)[0]) for line in self.kmsg_since(0)
                  if "page allocation failure" in line and line.startswith("<")]
        if not stamps or not self.clock[0]:
            return
        left = stamps[-1] + self.WARN_INTERVAL - self.uptime()
        if left > 0:
            self.say("(wait)", f"{left:.1f} s: warn_alloc prints one report per 10 s (nopage_rs)")
            time.sleep(left)

    def refuse(self, i: int, mode: str) -> str:
        """Write a gfp the 6.18 mount must refuse, in one write(2) as echo does (a
        buffered file would write again at close); returns the errno's text, or 'accepted'."""
        fd = os.open(self.p(f"sys/class/scullc/scullc{i}/gfp"), os.O_WRONLY)
        try:
            os.write(fd, f"{mode}\n".encode())
        except OSError as e:
            return os.strerror(e.errno or 0)
        finally:
            os.close(fd)
        return "accepted"

    @staticmethod
    def reserve_min(mark: int, alloc_flags: str) -> int:
        """mm/page_alloc.c __zone_watermark_ok: what is left of the min mark a
        request may not take, for ALLOC_MIN_RESERVE (__GFP_HIGH) and with
        ALLOC_NON_BLOCK (no __GFP_DIRECT_RECLAIM)."""
        m = mark
        if "MIN_RESERVE" in alloc_flags:
            m -= m // 2
            if "NON_BLOCK" in alloc_flags:
                m -= m // 4
        return m

    # ---- the tour -----------------------------------------------------------------

    def run(self) -> None:
        print(f"gfp_tour: scullcfs is {sys.executable} -m scullcfs, --kernel 6.18")
        self.machine_small()
        self.machine_dma()
        self.machine_drop_caches()
        self.machine_numa()
        self.unmount()

    def machine_small(self) -> None:
        """Machine 1: 48 MiB x86_64 (DMA and DMA32, no Normal), no background caches."""
        print()
        self.mount("--mem", self.MEM, "--devs", "4", "--background", "0")
        wait_fill, wait = 200, 1500
        self.set_wait(wait_fill)
        self.set_gfp(0, "GFP_KERNEL")
        self.trace_on("mm_page_alloc", "kmalloc", "kmem_cache_alloc")
        Z = "DMA32"  # GFP_KERNEL's zonelist is Normal (empty), DMA32, DMA

        self.section("1. GFP_KERNEL (0xcc0): reclaim finds nothing, the OOM killer kills the writer")
        mark = self.kmsg_mark()
        rc = self.fill(0)
        fill_err = self.dd_err
        stored0 = self.size(0)
        self.say("did:", f"dd a 40 MiB file into scullc0 (GFP_KERNEL, a {self.MEM} machine)")
        self.say("expected:", "allocate_slab tries order 3 with __GFP_NORETRY|__GFP_NOWARN, then order 0 with the"
                              " caller's GFP_KERNEL|__GFP_COMP;")
        self.say("", "reclaim finds nothing, __alloc_pages_may_oom calls out_of_memory: it kills the dd"
                     " (the most pages); the simulated kill sends no signal, dd stops with ENOMEM")
        self.say("got:", f"dd exit {rc} ({self.dd_error()}), {stored0} bytes stored")
        self.show_kmsg(mark)
        self.check("the log has 6.18's 'dd invoked oom-killer: gfp_mask=0x40cc0(GFP_KERNEL|__GFP_COMP), order=0'",
                   self.logged(mark, "dd invoked oom-killer: gfp_mask=0x40cc0(GFP_KERNEL|__GFP_COMP), order=0,"
                                     " oom_score_adj=0"))
        self.check("the OOM killer chose the dd: 'Out of memory: Killed process N (dd) total-vm:...'",
                   any("Out of memory: Killed process " in line and " (dd) total-vm:" in line
                       for line in self.kmsg_since(mark)))
        self.check("SLUB says which cache failed: 'cache: scullc, object size: 4000, buffer size: 4032,"
                   " default order: 3, min order: 0'",
                   self.logged(mark, "SLUB: Unable to allocate memory on CPU ")
                   and self.logged(mark, "  cache: scullc, object size: 4000, buffer size: 4032, default order: 3,"
                                         " min order: 0"))
        self.check("the fill failed with ENOMEM", "Cannot allocate memory" in fill_err)
        self.check(f"scullc0's {stored0} bytes read back intact (cmp)", self.intact(0))
        self.set_wait(wait)
        mark = self.kmsg_mark()
        kills = self.vmstat("oom_kill")
        t = now_ms()
        rc = self.append(0, 262144)
        elapsed = now_ms() - t
        self.say("did:", f"one more 256 KiB write to scullc0 with alloc_wait_ms={wait}")
        self.say("expected:", "the first dd is gone; the OOM killer runs again and kills this dd, the task with"
                              " pages; the killed task's allocations fail (6.18 would SIGKILL it)")
        self.say("got:", f"dd exit {rc} after {elapsed} ms; vmstat oom_kill {kills} -> {self.vmstat('oom_kill')}")
        self.show_kmsg(mark)
        self.say("zoneinfo:", self.zone_line(0, Z))
        self.say("", self.zone_line(0, "DMA"))
        self.check("the write failed", rc != 0)
        self.check(f"the OOM killer killed once more (oom_kill {kills} -> {self.vmstat('oom_kill')}), a dd",
                   self.vmstat("oom_kill") == kills + 1 and any(
                       "Out of memory: Killed process " in line and " (dd) total-vm:" in line
                       for line in self.kmsg_since(mark)))
        self.check(f"no wait for a free: the victim fails at once ({elapsed} ms < alloc_wait_ms {wait})",
                   elapsed < wait)
        free, zmin = self.zone(0, Z, "free"), self.zone(0, Z, "min")
        self.check(f"{Z} free ({free}) is down to its min watermark ({zmin})", free <= zmin)
        self.check("scullc0 still reads back intact", self.intact(0))

        self.section("2. __GFP_NORETRY (0x10000): one reclaim pass, no OOM killer, fails without sleeping")
        self.set_gfp(1, "GFP_KERNEL|__GFP_NORETRY")
        self.warn_window()
        mark = self.kmsg_mark()
        kills = self.vmstat("oom_kill")
        self.trace_clear()
        t = now_ms()
        rc = self.append(1, 262144)
        elapsed = now_ms() - t
        self.say("did:", f"scullc1 gfp = {self.gfp(1)}; a 256 KiB write (alloc_wait_ms={wait})")
        self.say("expected:", "__alloc_pages_slowpath: direct reclaim, then 'if (gfp_mask & __GFP_NORETRY)"
                              " goto nopage': ENOMEM at once, warn_alloc (mode 0x50cc0)")
        self.say("got:", f"dd exit {rc} after {elapsed} ms; failed attempts {sorted(set(self.failed()))}")
        self.show_kmsg(mark)
        self.check("the write failed", rc != 0)
        self.check(f"it failed after {elapsed} ms < alloc_wait_ms {wait}", elapsed < wait)
        self.check("the log has 'page allocation failure: order:0, mode:0x50cc0(GFP_KERNEL|__GFP_NORETRY|__GFP_COMP)'",
                   self.logged(mark, "page allocation failure: order:0,"
                                     " mode:0x50cc0(GFP_KERNEL|__GFP_NORETRY|__GFP_COMP)"))
        self.check("no OOM killer (no 'invoked oom-killer', vmstat oom_kill unchanged)",
                   not self.logged(mark, "invoked oom-killer") and self.vmstat("oom_kill") == kills)
        self.check("scullc0 still reads back intact", self.intact(0))

        self.section("3. __GFP_NOWARN (0x2000): the same failure, no warning")
        self.set_gfp(1, "GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN")
        self.warn_window()      # so that only __GFP_NOWARN can keep warn_alloc quiet
        mark = self.kmsg_mark()
        self.trace_clear()
        rc = self.append(1, 262144)
        failed = self.failed()
        self.say("did:", f"scullc1 gfp = {self.gfp(1)}; a 256 KiB write (warn_alloc's 10 s window is open)")
        self.say("expected:", "ENOMEM; the trace shows the failed attempts; warn_alloc returns at __GFP_NOWARN and"
                              " ___slab_alloc skips slab_out_of_memory")
        self.say("got:", f"dd exit {rc}; {len(failed)} failed attempts traced {sorted(set(failed))}")
        self.show_kmsg(mark)
        self.check("the write failed", rc != 0)
        self.check("the trace has the failed order-0 attempt with GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP",
                   "order=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP" in failed)
        self.check("no new 'page allocation failure' line", self.warnings_since(mark) == 0)
        self.check("no new 'SLUB: Unable to allocate memory' line", not self.logged(mark, "SLUB: Unable to allocate"))
        self.check("scullc0 still reads back intact", self.intact(0))

        self.section("4. the reserves below min: __GFP_HIGH 1/2, GFP_ATOMIC 5/8, GFP_NOWAIT none")
        zones = ("DMA32", "DMA")

        def floors(flags: str) -> dict[str, int]:
            """Per zone, the free pages an order-0 request with these alloc flags
            leaves: zone_watermark_fast ignores the boost for ALLOC_MIN_RESERVE at
            WMARK_MIN; __zone_watermark_ok's cuts; + lowmem_reserve[ZONE_NORMAL]."""
            out = {}
            for z in zones:
                mark = self.zone(0, z, "min") - (self.zone(0, z, "boost") if "MIN_RESERVE" in flags else 0)
                protection = next(w for w in self._zone_lines(0, z) if w[:1] == ["protection:"])
                out[z] = self.reserve_min(mark, flags) + int(protection[3].strip("(),"))
            return out
        self.say("before:", self.zone_line(0, Z))
        self.say("", self.zone_line(0, "DMA"))
        high_floor = floors("ALLOC_MIN_RESERVE")
        atomic_floor = floors("ALLOC_MIN_RESERVE|ALLOC_NON_BLOCK")
        nowait_floor = floors("")
        self.say("expected:", "__zone_watermark_ok: ALLOC_MIN_RESERVE (__GFP_HIGH) may take half of min, with"
                              " ALLOC_NON_BLOCK (GFP_ATOMIC) a quarter of the rest too;")
        self.say("", "zone_watermark_fast ignores the boost for them; GFP_NOWAIT (0x2800) gets no reserve;"
                     " + lowmem_reserve: floors")
        self.say("", f"__GFP_HIGH {high_floor}, GFP_ATOMIC {atomic_floor}, GFP_NOWAIT {nowait_floor}")

        def frees() -> dict[str, int]:
            return {z: self.zone(0, z, "free") for z in zones}
        free0 = frees()
        self.set_gfp(1, "GFP_KERNEL|__GFP_HIGH|__GFP_NORETRY")
        size1 = self.size(1)
        rc = self.append(1, 1048576)
        stored_high, free_high = self.size(1) - size1, frees()
        self.say("__GFP_HIGH:", f"scullc1 gfp = {self.gfp(1)}: dd exit {rc}, {stored_high} bytes more;"
                                f" free {free0} -> {free_high}")
        self.set_gfp(2, "GFP_ATOMIC")
        t = now_ms()
        rc = self.append(2, 1048576)
        elapsed = now_ms() - t
        stored_atomic, free_atomic = self.size(2), frees()
        self.say("ATOMIC:", f"scullc2 gfp = {self.gfp(2)}: dd exit {rc} after {elapsed} ms, {stored_atomic} bytes;"
                            f" free -> {free_atomic}")
        self.set_gfp(3, "GFP_NOWAIT")
        mark = self.kmsg_mark()
        self.trace_clear()
        rc_nowait = self.append(3, 262144)
        stored_nowait = self.size(3)
        self.say("NOWAIT:", f"scullc3 gfp = {self.gfp(3)}: dd exit {rc_nowait}, {stored_nowait} bytes;"
                            f" failed attempts {sorted(set(self.failed()))}")
        self.say("after:", self.zone_line(0, Z))
        self.say("", self.zone_line(0, "DMA"))
        self.check(f"__GFP_HIGH stored {stored_high} bytes where GFP_KERNEL could not", stored_high > 0)
        self.check(f"and stopped with every zone at or below its __GFP_HIGH floor ({free_high} <= {high_floor})",
                   all(free_high[z] <= high_floor[z] for z in zones))
        self.check(f"GFP_ATOMIC stored {stored_atomic} bytes more, without sleeping ({elapsed} ms < {wait})",
                   stored_atomic > 0 and elapsed < wait)
        self.check(f"and stopped with every zone at or below its GFP_ATOMIC floor ({free_atomic} <= {atomic_floor})",
                   all(free_atomic[z] <= atomic_floor[z] for z in zones)
                   and sum(free_atomic.values()) < sum(free_high.values()))
        self.check("GFP_NOWAIT stored nothing, failed at once", rc_nowait != 0 and stored_nowait == 0)
        self.check("GFP_NOWAIT includes __GFP_NOWARN in 6.18: no warning",
                   self.warnings_since(mark) == 0 and not self.logged(mark, "SLUB: Unable to allocate"))
        self.check("scullc1 and scullc2 read back intact", self.intact(1) and self.intact(2))

        self.section("5. __GFP_RETRY_MAYFAIL (0x4000, __GFP_REPEAT's successor): tries hard, no OOM killer, fails")
        self.set_gfp(1, "GFP_KERNEL|__GFP_RETRY_MAYFAIL")
        mark = self.kmsg_mark()
        kills, stalls = self.vmstat("oom_kill"), self.vmstat("allocstall_normal")
        self.trace_clear()
        t = now_ms()
        rc = self.append(1, 262144)
        elapsed = now_ms() - t
        failed = self.failed()
        self.say("did:", f"scullc1 gfp = {self.gfp(1)}; a 256 KiB write")
        self.say("expected:", "direct reclaim (allocstall_normal), should_reclaim_retry while reclaim may help;"
                              " __alloc_pages_may_oom: 'if (gfp_mask & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE))")
        self.say("", "goto out': no kill, no endless loop: ENOMEM without the mount's sleep")
        self.say("got:", f"dd exit {rc} after {elapsed} ms; allocstall_normal {stalls} ->"
                         f" {self.vmstat('allocstall_normal')}; oom_kill {kills} -> {self.vmstat('oom_kill')}")
        self.show_kmsg(mark)
        self.check("the write failed", rc != 0)
        self.check("the OOM killer did not run (no 'invoked oom-killer', oom_kill unchanged)",
                   not self.logged(mark, "invoked oom-killer") and self.vmstat("oom_kill") == kills)
        self.check(f"it did reclaim directly (allocstall_normal {stalls} -> {self.vmstat('allocstall_normal')})",
                   self.vmstat("allocstall_normal") > stalls)
        self.check(f"it did not sleep for a free ({elapsed} ms < alloc_wait_ms {wait})", elapsed < wait)
        self.check("the trace has the failed attempt with GFP_KERNEL|__GFP_RETRY_MAYFAIL|__GFP_COMP",
                   "order=0 gfp_flags=GFP_KERNEL|__GFP_RETRY_MAYFAIL|__GFP_COMP" in failed)

        self.section("6. __GFP_NOFAIL (0x8000): sleeps until memory comes back, however long")
        self.set_wait(500)
        # GFP_NOFS: out_of_memory returns true without a kill when !__GFP_FS, and
        # the slow path goes round again; with GFP_KERNEL the writer would be killed
        self.trim(3)
        self.nofail_writer("allocstall_normal", "no __GFP_FS: out_of_memory kills nobody and the slow path loops")

        self.section("7. __GFP_REPEAT, __GFP_COLD, __GFP_WAIT: gone in 6.18; the gfp file refuses them")
        self.set_gfp(1, "GFP_KERNEL")
        gone = {"__GFP_REPEAT": "__GFP_REPEAT is gone since 4.13: use __GFP_RETRY_MAYFAIL",
                "__GFP_COLD": "__GFP_COLD is gone since 4.15",
                "__GFP_WAIT": "__GFP_WAIT is gone since 4.4: use __GFP_DIRECT_RECLAIM"}
        for name, says in gone.items():
            mark = self.kmsg_mark()
            err = self.refuse(1, f"GFP_KERNEL|{name}")
            self.say(f"{name}:", f"echo 'GFP_KERNEL|{name}' > sys/class/scullc/scullc1/gfp: {err};"
                                 f" gfp now {self.gfp(1)}")
            self.show_kmsg(mark)
            self.check("refused with EINVAL, the gfp unchanged", err == os.strerror(errno.EINVAL)
                       and self.gfp(1) == "GFP_KERNEL")
            self.check(f"the log names why: '{says}'",
                       self.logged(mark, f"scullc1: gfp 'GFP_KERNEL|{name}' refused: {says}"))
        self.set_gfp(1, "GFP_KERNEL|__GFP_RETRY_MAYFAIL")
        self.check(f"the successor is taken: gfp now {self.gfp(1)}", self.gfp(1) == "GFP_KERNEL|__GFP_RETRY_MAYFAIL")

        self.section("8. %pGg names: __GFP_ZERO (0x100), __GFP_ACCOUNT (0x400000), __GFP_DMA32 (0x4)")
        self.trim(1)
        self.set_gfp(1, "GFP_KERNEL|__GFP_ZERO")
        self.trace_clear()
        self.append(1, 4000)
        zero = [line for line in self.trace("kmem_cache_alloc") if " name=scullc " in line]
        self.say("__GFP_ZERO:", (zero[-1].split("kmem_cache_alloc: ")[-1] if zero else "(no scullc kmem_cache_alloc)"))
        self.check("kmem_cache_alloc of scullc has gfp_flags=GFP_KERNEL|__GFP_ZERO (0xdc0)",
                   any("gfp_flags=GFP_KERNEL|__GFP_ZERO " in line for line in zero))
        self.trim(2)
        self.set_gfp(2, "GFP_KERNEL_ACCOUNT")
        cg_before = self.slab("kmalloc-cg-4k", "num_objs")
        self.trace_clear()
        self.append(2, 4000)
        qset = [line for line in self.trace("kmalloc") if " bytes_req=4000 " in line]
        self.say("ACCOUNT:", (qset[-1].split("kmalloc: ")[-1] if qset else "(no kmalloc of the qset array)"))
        self.say("", f"kmalloc-cg-4k num_objs {cg_before} -> {self.slab('kmalloc-cg-4k', 'num_objs')}")
        self.check("the qset array (500 * 8 bytes) is kmalloc'ed GFP_KERNEL_ACCOUNT, accounted=true",
                   any("gfp_flags=GFP_KERNEL_ACCOUNT " in line and line.endswith("accounted=true") for line in qset))
        self.check("it comes from kmalloc-cg-4k (kmalloc_type: __GFP_ACCOUNT -> KMALLOC_CGROUP)",
                   any(" bytes_alloc=4096 " in line for line in qset)
                   and self.slab("kmalloc-cg-4k", "num_objs") > cg_before)
        self.set_gfp(3, "GFP_KERNEL|__GFP_DMA32")
        mark = self.kmsg_mark()
        rc = self.append(3, 1048576)
        self.say("DMA32:", f"scullc3 gfp = {self.gfp(3)}; a 1 MiB write: dd exit {rc}")
        self.show_kmsg(mark)
        self.check("new slabs strip it: 'Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL)."
                   " Fix your code!' (kmalloc_fix_flags)",
                   self.logged(mark, "Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL)."
                                     " Fix your code!"))
        self.check("the write succeeded, intact", rc == 0 and self.intact(3))

        self.section("9. min_free_kbytes and watermark_scale_factor move the watermarks")
        mfk = int(self.read("proc/sys/vm/min_free_kbytes"))
        wsf = int(self.read("proc/sys/vm/watermark_scale_factor"))
        for knob, value in (("min_free_kbytes", mfk * 4), ("watermark_scale_factor", 1000)):
            before = [self.zone_line(0, z) for z in ("DMA", Z)]
            self.write(f"proc/sys/vm/{knob}", str(value))
            self.say("did:", f"{knob} -> {self.read(f'proc/sys/vm/{knob}').strip()}")
            self.say("before:", before[0])
            self.say("", before[1])
            self.say("after:", self.zone_line(0, "DMA"))
            self.say("", self.zone_line(0, Z))
            # __setup_per_zone_wmarks: pages_min split over the !highmem zones by managed pages
            pages_min = int(self.read("proc/sys/vm/min_free_kbytes")) >> 2
            scale = int(self.read("proc/sys/vm/watermark_scale_factor"))
            lowmem = sum(self.zone(0, z, "managed") for z in ("DMA", Z, "Normal"))
            for z in ("DMA", Z):
                managed, boost = self.zone(0, z, "managed"), self.zone(0, z, "boost")
                tmp = pages_min * managed // lowmem
                step = max(tmp >> 2, managed * scale // 10000)
                want = f"{tmp + boost} {tmp + step + boost} {tmp + 2 * step + boost}"
                got = " ".join(str(self.zone(0, z, f)) for f in ("min", "low", "high"))
                self.say("expected:", f"{z} min/low/high = {want} (tmp = {pages_min} * managed {managed} / {lowmem};"
                                      f" step = max(tmp/4, managed * {scale} / 10000) = {step}; + boost {boost})")
                self.check(f"{z} watermarks are now {got}", got == want)
        self.write("proc/sys/vm/watermark_scale_factor", str(wsf))
        self.write("proc/sys/vm/min_free_kbytes", str(mfk))

    def machine_dma(self) -> None:
        """Machine 2: a SLAB_CACHE_DMA scullc cache."""
        print()
        self.mount("--mem", self.MEM, "--devs", "2", "--background", "0",
                   "--cache-flags", "SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA")
        self.set_wait(1500)
        self.set_gfp(0, "GFP_KERNEL")
        self.section("10. SLAB_CACHE_DMA: the scullc cache takes its slabs from ZONE_DMA (16 MiB), and no OOM kill")
        mark = self.kmsg_mark()
        t = now_ms()
        rc = self.fill(0)
        elapsed = now_ms() - t
        stored = self.size(0)
        cache_dma = self.read("sys/kernel/slab/scullc/cache_dma").strip()
        self.say("did:", f"dd a 40 MiB file into scullc0 (cache_dma = {cache_dma}, gfp = {self.gfp(0)})")
        self.say("expected:", "the cache's allocflags add __GFP_DMA (no GFP_DMA from the caller in 6.18):"
                              " ENOMEM below 16 MiB, DMA32 still free;")
        self.say("", "__alloc_pages_may_oom: 'The OOM killer does not needlessly kill tasks for lowmem'"
                     " (highest_zoneidx < ZONE_NORMAL): no kill, no sleep")
        self.say("got:", f"dd exit {rc} after {elapsed} ms, {stored} bytes stored; vmstat pgalloc_dma"
                         f" {self.vmstat('pgalloc_dma')}, pgalloc_dma32 {self.vmstat('pgalloc_dma32')}")
        self.show_kmsg(mark)
        self.say("zoneinfo:", self.zone_line(0, "DMA"))
        self.say("", self.zone_line(0, "DMA32"))
        # the DMA zone at the failure: warn_alloc's show_mem (kswapd may drop a boost later)
        report = next((line.split("] ", 1)[-1] for line in self.kmsg_since(mark) if "Node 0 DMA free:" in line), "")
        kb = {w.split(":")[0]: int(w.split(":")[1][:-2]) for w in report.split()[2:7] if w.endswith("kB")}
        self.say("show_mem:", report[:100])
        d32_free, d32_managed = self.zone(0, "DMA32", "free"), self.zone(0, "DMA32", "managed")
        self.check("the fill failed with ENOMEM", "Cannot allocate memory" in self.dd_err)
        self.check(f"it stored {stored} bytes: between 12 MiB and 16 MiB", 12 << 20 < stored < 16 << 20)
        self.check(f"at the failure DMA free ({kb.get('free')} kB) was at its min ({kb.get('min')} kB, boost included)",
                   "free" in kb and "min" in kb and kb["free"] <= kb["min"])
        self.check(f"DMA32 still has {d32_free} of {d32_managed} pages free", d32_free > d32_managed // 2)
        self.check("no OOM kill (no 'invoked oom-killer', vmstat oom_kill 0)",
                   not self.logged(mark, "invoked oom-killer") and self.vmstat("oom_kill") == 0)
        self.check(f"no sleep for a free ({elapsed} ms < alloc_wait_ms 1500)", elapsed < 1500)
        self.check("warn_alloc has the cache's __GFP_DMA: 'mode:0x40cc1(GFP_KERNEL|GFP_DMA|__GFP_COMP)'",
                   self.logged(mark, "page allocation failure: order:0, mode:0x40cc1(GFP_KERNEL|GFP_DMA|__GFP_COMP)"))
        self.check("scullc0 reads back intact", self.intact(0))

    def machine_drop_caches(self) -> None:
        """Machine 3: drop_caches and sys/kernel/slab/<cache>/shrink."""
        print()
        self.mount("--mem", self.MEM, "--devs", "2", "--background", "20")
        self.section("11. drop_caches runs the shrinkers; SLUB's empty slabs go with sys/kernel/slab/scullc/shrink")
        with open(self.dev(0), "wb") as f:
            f.write(self.src[:4 << 20])
        self.trim(0)
        min_partial = int(self.read("sys/kernel/slab/scullc/min_partial"))

        def scullc_line() -> str:
            return (f"scullc {self.slab('scullc', 'num_slabs')} slabs (partial"
                    f" {self.read('sys/kernel/slab/scullc/partial').strip()},"
                    f" cpu {self.read('sys/kernel/slab/scullc/cpu_slabs').strip()}), {self.bg_line()}")
        before = scullc_line()
        scullc_before = self.slab("scullc", "num_slabs")
        bg_before = [self.slab(c, "num_slabs") for c in ("dentry", "inode_cache", "buffer_head")]
        free_before = self.vmstat("nr_free_pages")
        self.write("proc/sys/vm/drop_caches", "3")
        after = scullc_line()
        scullc_dropped = self.slab("scullc", "num_slabs")
        bg_after = [self.slab(c, "num_slabs") for c in ("dentry", "inode_cache", "buffer_head")]
        free_dropped = self.vmstat("nr_free_pages")
        self.write("sys/kernel/slab/scullc/shrink", "1")
        shrunk = scullc_line()
        self.say("did:", "wrote 4 MiB to scullc0 and trimmed it; echo 3 > proc/sys/vm/drop_caches;"
                         " echo 1 > sys/kernel/slab/scullc/shrink")
        self.say("expected:", f"SLUB keeps the CPU slab, the CPU partial slabs and up to min_partial ({min_partial})"
                              " empty node slabs; drop_slab runs the shrinkers only;")
        self.say("", "kmem_cache_shrink (shrink_store) flushes the CPU slabs and frees every empty slab")
        self.say("before:", before)
        self.say("dropped:", after)
        self.say("shrunk:", shrunk)
        self.say("", f"nr_free_pages {free_before} -> {free_dropped} -> {self.vmstat('nr_free_pages')}")
        self.check(f"after the trim scullc still has {scullc_before} empty slabs", scullc_before > 0)
        self.check(f"drop_caches left them ({scullc_before} -> {scullc_dropped})", scullc_dropped == scullc_before)
        self.check(f"every background cache shrank ({bg_before} -> {bg_after} slabs)",
                   all(a < b for a, b in zip(bg_after, bg_before)))
        self.check("nr_free_pages rose with drop_caches", free_dropped > free_before)
        self.check(f"shrink freed every scullc slab ({scullc_dropped} -> {self.slab('scullc', 'num_slabs')})",
                   self.slab("scullc", "num_slabs") == 0)
        self.check("and gave the pages back (nr_free_pages rose by 8 per slab at least)",
                   self.vmstat("nr_free_pages") >= free_dropped + 8 * scullc_dropped)

    def numastat(self, node: int, key: str) -> int:
        """A NUMA event of a node: the sum over its zones in proc/zoneinfo (6.18
        prints numa_hit ... numa_other per populated zone)."""
        total, cur = 0, False
        for line in self.read("proc/zoneinfo").splitlines():
            words = line.split()
            if words[:1] == ["Node"]:
                cur = words[1:2] == [f"{node},"]
            elif cur and words[:1] == [key] and len(words) == 2:
                total += int(words[1])
        return total

    def numa_line(self, node: int) -> str:
        return f"node{node} " + " ".join(f"{k} {self.numastat(node, k)}" for k in (
            "numa_hit", "numa_miss", "numa_foreign", "numa_local", "numa_other"))

    def machine_numa(self) -> None:
        """Machine 4: two NUMA nodes (64 MiB: node 0 is DMA, node 1 DMA32)."""
        print()
        self.mount("--mem", "64M", "--nodes", "2", "--cpus", "2", "--devs", "2", "--background", "0")
        self.section("12. NUMA: a full node spills to the other (numa_miss, numa_foreign, numa_other)")

        def total(key: str) -> int:
            return self.numastat(0, key) + self.numastat(1, key)
        miss0, other0 = total("numa_miss"), total("numa_other")
        nbytes = 30 << 20
        writer = subprocess.Popen(["sh", "-c", 'exec head -c "$0" "$1" > "$2"', str(nbytes),
                                   str(self.src_path), str(self.dev(0))], stdin=subprocess.DEVNULL)
        rc = writer.wait()
        cpu = writer.pid % 2
        local_node = next((nid for nid in (0, 1) if str(cpu) in self.read(
            f"sys/devices/system/node/node{nid}/cpulist").strip().split(",")), None)
        if local_node is None:
            raise TourError(f"no node's cpulist has CPU {cpu}")
        managed = [sum(self.zone(n, z, "managed") for z in ("DMA", "DMA32") if self._zone_lines(n, z))
                   for n in (0, 1)]
        self.say("did:", f"wrote 30 MiB to scullc0 from PID {writer.pid} (CPU {cpu}, node {local_node});"
                         f" the nodes manage {managed[0]} and {managed[1]} pages")
        self.say("expected:", "the local node fills first, the rest comes from the other node (zone_statistics:"
                              " numa_miss and numa_other on the zone used, numa_foreign on the preferred one)")
        self.say("zoneinfo:", self.numa_line(0))
        self.say("", self.numa_line(1))
        miss1, other1 = total("numa_miss"), total("numa_other")
        self.check("the write succeeded", rc == 0 and self.size(0) == nbytes)
        self.check(f"numa_miss rose ({miss0} -> {miss1}), and proc/vmstat's is the zones' sum",
                   miss1 > miss0 and self.vmstat("numa_miss") == miss1)
        self.check(f"numa_other rose ({other0} -> {other1})", other1 > other0)
        self.check(f"the misses are on the node that is not local (node{1 - local_node})",
                   self.numastat(1 - local_node, "numa_miss") > 0)
        self.check("the local node's numa_foreign counts them",
                   self.numastat(local_node, "numa_foreign") == self.numastat(1 - local_node, "numa_miss"))
        self.check("scullc0 reads back intact", self.intact(0))

def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="scullcfs gfp-tour", description=__doc__.split("\n\n")[2],
                epilog="\n\n".join(__doc__.split("\n\n")[3:]))
    p.add_argument("--kernel", default=DEFAULT_VERSION, choices=list(VERSIONS),
                   help=f"--kernel of the machines the tour mounts (default {DEFAULT_VERSION})")
    args = p.parse_args(argv)
    for tool in ("dd", "head", "sh", "fusermount3"):
        if shutil.which(tool) is None:
            print(f"gfp_tour: {tool} not found", file=sys.stderr)
            return 2
    if not os.path.exists("/dev/fuse"):
        print("gfp_tour: /dev/fuse is missing: FUSE is not available here", file=sys.stderr)
        return 2
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gfp_tour."))
    tour = (Tour618 if args.kernel == "6.18" else Tour)(work)
    try:
        tour.run()
    except TourError as e:
        print(f"gfp_tour: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        tour.unmount()
        shutil.rmtree(work, ignore_errors=True)
    checks = tour.passes + tour.fails
    print(f"\ngfp_tour: {checks} checks, {tour.passes} passed, {tour.fails} failed"
          f" ({time.monotonic() - started:.0f} s)")
    return 0 if tour.fails == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
