"""scullcfs stress - writers, readers and trimmers over every device, checking every byte.

    scullcfs stress [MNT] [-w WRITERS] [-r READERS] [-t TRIMMERS] [-d SECONDS] [--seed N]
                 [--span BYTES] [--max-io BYTES] [--force | --only-empty]
                 [--mem SIZE] [--family LIST] [--slab-debug] [--kernel V]
    tools/stress ...           (the same, from a checkout)

For SECONDS (default 10) WRITERS threads (default 4) pwrite random bytes at random
offsets and sizes, READERS (default 4) pread random ranges and compare them with what
the devices acknowledged, and TRIMMERS (default 1) trim devices (a write-only open,
as scullc_open does), truncate them or open them with O_TRUNC. Every device
MNT/dev/* has a model of its contents (a bytearray) and a read/write lock: a read
holds it shared, a write, trim or truncate exclusive, so the model always says
exactly what a read must return, whatever ran in between. A write that fails
(ENOMEM under memory pressure or fault injection) changes nothing; a short write
changes only the bytes it acknowledged.

It trims every device it uses first, so with MNT it refuses to start when a device
holds data (a non-zero size, or quanta in sys/class/FAMILY/DEV/quanta): one line
names them with their sizes, exit status 2. --force trims them anyway (and says
which); --only-empty leaves them alone and runs on the empty devices only.
At the end every device is read whole and compared with its model, `1` is written to
MNT/sys/kernel/debug/scullc/check (the allocator's invariant check), and the kernel
log (MNT/proc/kmsg) is searched for slab-debug reports that appeared during the run.
Prints operations, bytes, errors by errno and the results; ^C ends the run early
(the checks still run).

Without MNT it mounts a fresh scullcfs on a temporary directory (--mem SIZE, default
128M; every device family unless --family LIST says otherwise; --slab-debug passes
it on), and always unmounts it; the daemon's leak reports at unmount then count as
failures too.

Exit status: 0 every byte read back as written and every check passed; 1 a lost or
corrupted byte, a failed check, a slab report, a leak, or an error other than
ENOMEM; 2 bad arguments, the mount could not be set up, or (with MNT) devices
hold data and neither --force nor --only-empty was given.
"""
from __future__ import annotations

import argparse
import collections
import errno
import math
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from allocator.versions import DEFAULT_VERSION, VERSIONS

from .cli import _Parser
from .mount import Daemon, MountError, is_mounted, scullcfs_argv

READY_TIMEOUT = 20.0
CHECK_FILE = "sys/kernel/debug/scullc/check"
KMSG_FILE = "proc/kmsg"
# What CONFIG_DEBUG_SLAB (and kmem_cache_destroy's leak check) print when something
# is wrong; none of it may appear during a run that has no deliberate bug.
SLAB_REPORT = re.compile(r"slab error|Slab corruption|double free|redzone|BUG|Can't free all objects")
KMSG_LINE = re.compile(r"^<\d+>\[\s*(\d+\.\d+)\] ")
EXPECTED_ERRNOS = {errno.ENOMEM}  # memory pressure and fault injection
DEFAULT_MEM = "128M"
ALL_FAMILIES = "scullc,scull,scullp,scullv,scullm"
MAX_REPORTED = 10  # mismatches described in detail; the rest are only counted


# --------------------------------------------------------------------------- model


class RWLock:
    """Many readers or one writer; a waiting writer stops new readers (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def acquire_read(self) -> None:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self) -> None:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True

    def release_write(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()


class Device:
    """One device file and what it must contain: `model` is every acknowledged byte
    (holes as zeros), its length the device's size."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self.model = bytearray()
        self.lock = RWLock()

    def store(self, off: int, data: bytes) -> None:
        if off > len(self.model):
            self.model.extend(bytes(off - len(self.model)))
        self.model[off:off + len(data)] = data

    def truncate(self, length: int) -> None:
        if length < len(self.model):
            del self.model[length:]
        else:
            self.model.extend(bytes(length - len(self.model)))


class Stats:
    """Counters shared by the workers (one lock: updates are rare next to the I/O)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: collections.Counter[str] = collections.Counter()
        self.bytes: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[tuple[str, int]] = collections.Counter()  # (op, errno)
        self.short_writes = 0
        self.lost = 0                         # acknowledged bytes a read did not return
        self.corrupted = 0                    # bytes that read back different
        self.extra = 0                        # bytes returned past the device's size
        self.problems: list[str] = []

    def count(self, op: str, nbytes: int = 0) -> None:
        with self.lock:
            self.ops[op] += 1
            self.bytes[op] += nbytes

    def error(self, op: str, err: int | None) -> None:
        with self.lock:
            self.errors[(op, err or 0)] += 1  # an OSError without errno: 0

    def mismatch(self, lost: int, corrupted: int, extra: int, text: str) -> None:
        with self.lock:
            self.lost += lost
            self.corrupted += corrupted
            self.extra += extra
            if len(self.problems) < MAX_REPORTED:
                self.problems.append(text)

    @property
    def failed_data(self) -> bool:
        return bool(self.lost or self.corrupted or self.extra)


def pread_all(fd: int, size: int, off: int) -> bytes:
    """pread until `size` bytes or end of file (FUSE returns short reads only at EOF,
    but a reader must not count on it)."""
    parts = []
    while size > 0:
        chunk = os.pread(fd, min(size, 1 << 20), off)
        if not chunk:
            break
        parts.append(chunk)
        off += len(chunk)
        size -= len(chunk)
    return b"".join(parts)


def verify(stats: Stats, dev: Device, got: bytes, off: int, size: int, what: str) -> None:
    """Compare a read of `size` bytes at `off` with the model (lock held)."""
    want = bytes(dev.model[off:off + size])
    if got == want:
        return
    n = min(len(got), len(want))
    diff = [i for i in range(n) if got[i] != want[i]]
    lost = max(0, len(want) - len(got))
    extra = max(0, len(got) - len(want))
    where = f"first at {off + diff[0]}" if diff else ""
    stats.mismatch(lost, len(diff), extra,
                   f"{what} {dev.name} [{off}, {off + size}): {len(diff)} bytes differ {where}"
                   f" {lost} missing, {extra} past the end (read {len(got)}, model {len(want)},"
                   f" size {len(dev.model)})")


# --------------------------------------------------------------------------- workers


class Run:
    def __init__(self, args: argparse.Namespace, devices: list[Device]):
        self.args = args
        self.devices = devices
        self.stats = Stats()
        self.stop = threading.Event()
        self.crashed: list[str] = []

    def _sizes(self, rng: random.Random) -> int:
        # log-uniform: mostly small requests, some that span quanta and FUSE requests
        return max(1, int(2 ** rng.uniform(0, math.log2(self.args.max_io))))

    def _offset(self, rng: random.Random, dev: Device) -> int:
        r = rng.random()
        if r < 0.25:
            return len(dev.model)                                  # append
        if r < 0.5 and dev.model:
            return rng.randrange(len(dev.model))                    # overwrite
        return rng.randrange(self.args.span)                        # anywhere (holes)

    def writer(self, rng: random.Random) -> None:
        fds = {d.name: os.open(d.path, os.O_RDWR) for d in self.devices}
        try:
            while not self.stop.is_set():
                dev = rng.choice(self.devices)
                size = self._sizes(rng)
                data = rng.randbytes(size)
                dev.lock.acquire_write()
                try:
                    off = min(self._offset(rng, dev), self.args.span - 1)
                    fd = fds[dev.name]
                    try:
                        n = os.pwrite(fd, data, off)
                    except OSError as e:
                        self.stats.error("write", e.errno)
                        continue
                    dev.store(off, data[:n])
                    self.stats.count("write", n)
                    if n < size:
                        with self.stats.lock:
                            self.stats.short_writes += 1
                    if rng.random() < 0.25:  # read it straight back, then the size
                        verify(self.stats, dev, pread_all(fd, n, off), off, n, "read-back after write")
                        st_size = os.fstat(fd).st_size
                        if st_size != len(dev.model):
                            self.stats.mismatch(0, 0, 0, f"{dev.name}: st_size {st_size},"
                                                         f" acknowledged {len(dev.model)}")
                            with self.stats.lock:
                                self.stats.lost += abs(st_size - len(dev.model))
                finally:
                    dev.lock.release_write()
        finally:
            for fd in fds.values():
                os.close(fd)

    def reader(self, rng: random.Random) -> None:
        fds = {d.name: os.open(d.path, os.O_RDONLY) for d in self.devices}
        try:
            while not self.stop.is_set():
                dev = rng.choice(self.devices)
                size = self._sizes(rng)
                dev.lock.acquire_read()
                try:
                    # sometimes start past the end: that must read nothing
                    off = rng.randrange(len(dev.model) + 4096)
                    try:
                        got = pread_all(fds[dev.name], size, off)
                    except OSError as e:
                        self.stats.error("read", e.errno)
                        continue
                    self.stats.count("read", len(got))
                    verify(self.stats, dev, got, off, size, "read")
                finally:
                    dev.lock.release_read()
        finally:
            for fd in fds.values():
                os.close(fd)

    def trimmer(self, rng: random.Random) -> None:
        while not self.stop.wait(rng.uniform(0.01, 0.1)):
            dev = rng.choice(self.devices)
            kind = rng.choice(("trim", "trim", "truncate", "truncate", "o_trunc"))
            dev.lock.acquire_write()
            try:
                try:
                    if kind == "trim":      # scullc_open: a write-only open trims
                        os.close(os.open(dev.path, os.O_WRONLY))
                        length = 0
                    elif kind == "o_trunc":
                        os.close(os.open(dev.path, os.O_RDWR | os.O_TRUNC))
                        length = 0
                    else:                   # shrink (or now and then extend with a hole)
                        length = rng.randrange(len(dev.model) + 1)
                        if rng.random() < 0.2:
                            length = len(dev.model) + rng.randrange(1, 1 << 16)
                        os.truncate(dev.path, length)
                except OSError as e:
                    self.stats.error(kind, e.errno)
                    continue
                freed = max(0, len(dev.model) - length)
                dev.truncate(length)
                self.stats.count(kind, freed)
            finally:
                dev.lock.release_write()

    def _guard(self, fn: Callable[[random.Random], None], rng: random.Random) -> None:
        try:
            fn(rng)
        except Exception as e:  # a worker that dies is a failure, not a hang
            self.crashed.append(f"{fn.__name__}: {type(e).__name__}: {e}")
            self.stop.set()

    def run(self) -> None:
        a = self.args
        threads = []
        roles = [self.writer] * a.writers + [self.reader] * a.readers + [self.trimmer] * a.trimmers
        for i, fn in enumerate(roles):
            rng = random.Random(f"{a.seed}:{i}")
            threads.append(threading.Thread(target=self._guard, args=(fn, rng),
                                            name=f"{fn.__name__}-{i}", daemon=True))
        for t in threads:
            t.start()
        try:
            self.stop.wait(a.duration)
        except KeyboardInterrupt:
            print("stress: interrupted, finishing", flush=True)
        self.stop.set()
        for t in threads:
            t.join()

    def final_verify(self) -> None:
        """Read every device whole and compare it with its model."""
        for dev in self.devices:
            try:
                with open(dev.path, "rb", buffering=0) as f:
                    got = pread_all(f.fileno(), len(dev.model) + 4096, 0)
                    st_size = os.fstat(f.fileno()).st_size
            except OSError as e:
                self.stats.error("verify", e.errno)
                continue
            self.stats.count("verify", len(got))
            verify(self.stats, dev, got, 0, len(dev.model) + 4096, "final read")
            if st_size != len(dev.model):
                self.stats.mismatch(0, 0, 0, f"{dev.name}: st_size {st_size}, acknowledged {len(dev.model)}")


# --------------------------------------------------------------------------- the mount


class OwnMount:
    """A scullcfs this tool mounted; always unmounted by close()."""

    def __init__(self, mem: str, family: str, slab_debug: bool, kernel: str = DEFAULT_VERSION):
        self.dir = Path(tempfile.mkdtemp(prefix="scullcfs-stress-"))
        self.mnt = self.dir / "mnt"
        self.mnt.mkdir()
        self.log = self.dir / "scullcfs.log"
        argv = scullcfs_argv(self.mnt, "--mem", mem, "--family", family, "--log", str(self.log),
                             "--kernel", kernel, *(["--slab-debug"] if slab_debug else []))
        self.daemon = Daemon(argv, self.mnt, output=self.dir / "daemon.out", logs=(self.log,),
                             cwd=self.dir)

    def start(self) -> None:
        self.daemon.start()
        try:
            self.daemon.wait_ready(READY_TIMEOUT)
        except MountError as e:
            raise RuntimeError(f"{e}:\n{self.daemon.output_text()}") from None

    def close(self) -> list[str]:
        """Unmount, wait for the daemon, return problems (leaks, a stuck daemon)."""
        problems = self.daemon.unmount(busy_wait=5.0, remove=False)
        if self.daemon.returncode:
            problems.append(f"daemon exited with {self.daemon.returncode}")
        try:
            leaks = [line for line in self.log.read_text(errors="replace").splitlines()
                     if "kmem_cache_destroy" in line or "leak" in line]
        except OSError:
            leaks = []
        problems += [f"at unmount: {line}" for line in leaks]
        if not is_mounted(self.mnt):
            for f in (self.log, self.dir / "daemon.out"):
                if not problems:
                    f.unlink(missing_ok=True)
            try:
                self.mnt.rmdir()
                self.dir.rmdir()
            except OSError:
                pass
        return problems


# --------------------------------------------------------------------------- report


def kmsg_since(mnt: Path, since: float) -> list[str]:
    """Kernel log lines stamped after `since` (seconds since boot)."""
    try:
        text = (mnt / KMSG_FILE).read_text(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        m = KMSG_LINE.match(line)
        if m and float(m.group(1)) > since:
            out.append(line)
    return out


def kmsg_now(mnt: Path) -> float:
    lines = kmsg_since(mnt, -1.0)
    m = KMSG_LINE.match(lines[-1]) if lines else None
    return float(m.group(1)) if m else -1.0


def device_names(devices: list[Device]) -> str:
    """scull0, scull1, scull2, scullc0, scullc2, scullc3 -> "scull0-2, scullc0, scullc2-3"."""
    runs: list[list[Any]] = []  # [prefix, first, last]
    for d in devices:
        m = re.fullmatch(r"(.*?)(\d+)", d.name)
        if not m:
            runs.append([d.name, None, None])
        elif runs and runs[-1][0] == m[1] and runs[-1][2] is not None and runs[-1][2] + 1 == int(m[2]):
            runs[-1][2] = int(m[2])
        else:
            runs.append([m[1], int(m[2]), int(m[2])])
    return ", ".join(p if first is None else f"{p}{first}" if first == last else f"{p}{first}-{last}"
                     for p, first, last in runs)


def holders(mnt: Path, devices: list[Device]) -> dict[str, tuple[int, int]]:
    """The devices that hold data: name -> (size in bytes, quanta held). A device
    holds data if its size is not zero or if it holds a quantum (its driver's
    sys/class/FAMILY/DEV/quanta; a failed write can leave quanta behind size 0)."""
    out = {}
    for dev in devices:
        size = dev.path.stat().st_size
        family = re.sub(r"\d+$", "", dev.name)
        try:
            quanta = int((mnt / "sys/class" / family / dev.name / "quanta").read_text())
        except (OSError, ValueError):
            quanta = 0
        if size or quanta:
            out[dev.name] = (size, quanta)
    return out


def describe_holders(holding: dict[str, tuple[int, int]]) -> str:
    """{"scullc0": (4, 1)} -> "scullc0 (4 bytes in 1 quantum)"."""
    return ", ".join(f"{name} ({size} byte{'s' * (size != 1)} in {q} quant{'a' if q != 1 else 'um'})"
                     for name, (size, q) in holding.items())


ROW_LABEL = 13  # "worker died: ", the longest label, sets where every row's text starts


def row(label: str, text: str) -> str:
    """One line of the summary below the table: every row's text in one column."""
    return f"{label + ':':<{ROW_LABEL}}{text}"


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def invariant_check(mnt: Path) -> tuple[bool, str]:
    path = mnt / CHECK_FILE
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        return False, f"cannot open {CHECK_FILE}: {e.strerror}"
    try:
        os.write(fd, b"1\n")
        return True, "consistent"
    except OSError as e:
        return False, f"FAILED ({errno.errorcode.get(e.errno or 0, e.errno)}: see the check: lines below)"
    finally:
        os.close(fd)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(prog="scullcfs stress", description=__doc__.split("\n\n")[1],
               epilog="\n\n".join(__doc__.split("\n\n")[2:]),
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mnt", nargs="?", help="a mounted scullcfs (default: mount a fresh one)")
    p.add_argument("-w", "--writers", type=int, default=4)
    p.add_argument("-r", "--readers", type=int, default=4)
    p.add_argument("-t", "--trimmers", type=int, default=1)
    p.add_argument("-d", "--duration", type=float, default=10.0, metavar="SECONDS")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: time-based, printed)")
    p.add_argument("--span", type=int, default=4 << 20, metavar="BYTES",
                   help="writes land below this offset (default 4 MiB)")
    p.add_argument("--max-io", type=int, default=256 << 10, metavar="BYTES",
                   help="largest read or write (default 256 KiB)")
    p.add_argument("--mem", default=DEFAULT_MEM,
                   help=f"--mem of the scullcfs this tool mounts (default {DEFAULT_MEM})")
    p.add_argument("--family", default=ALL_FAMILIES,
                   help=f"--family of the scullcfs this tool mounts (default {ALL_FAMILIES})")
    p.add_argument("--slab-debug", action="store_true", help="mount with --slab-debug")
    p.add_argument("--kernel", default=DEFAULT_VERSION, choices=list(VERSIONS),
                   help=f"--kernel of the scullcfs this tool mounts (default {DEFAULT_VERSION})")
    held = p.add_mutually_exclusive_group()
    held.add_argument("--force", action="store_true",
                      help="with MNT: trim and overwrite devices that hold data too")
    held.add_argument("--only-empty", action="store_true",
                      help="with MNT: run on the devices found empty, leave the others alone")
    args = p.parse_args(argv)
    if min(args.writers, args.readers, args.trimmers) < 0 or args.writers + args.readers < 1:
        p.error("need at least one writer or reader, and no negative counts")
    if args.duration <= 0 or args.span < 1 or args.max_io < 1:
        p.error("duration, span and max-io must be positive")
    if args.mnt and (args.slab_debug or args.mem != DEFAULT_MEM or args.family != ALL_FAMILIES
                     or args.kernel != DEFAULT_VERSION):
        p.error("--mem, --family, --slab-debug and --kernel are for the mount stress makes itself (no MNT)")
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1_000_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM ends a run like ^C: the checks still run and the mount is unmounted
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.mnt is not None:
        rc = stress(Path(args.mnt), args, None)
    else:
        own = OwnMount(args.mem, args.family, args.slab_debug, args.kernel)
        rc = 1
        try:
            try:
                own.start()
            except (RuntimeError, OSError) as e:
                print(f"stress: {e}", file=sys.stderr)
                rc = 2
            else:
                rc = stress(own.mnt, args, own)
        finally:
            problems = own.close()
            for p in problems:
                print(row("unmount", p))
            if rc != 2:
                if problems:
                    rc = 1
                else:
                    print(row("unmount", "clean (no leak reported)"))
    if rc == 0:
        print("stress: PASS")
    elif rc == 1:
        print("stress: FAIL")
    return rc


def stress(mnt: Path, args: argparse.Namespace, own: OwnMount | None) -> int:
    """One run on the devices under mnt/dev; prints the report, returns the exit status."""
    dev_dir = mnt / "dev"
    try:
        paths = sorted((p for p in dev_dir.iterdir() if p.is_file()),  # scullc2 before scullc10
                       key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
    except OSError as e:
        print(f"stress: {dev_dir}: {e.strerror}", file=sys.stderr)
        return 2
    if not paths:
        print(f"stress: no devices in {dev_dir}", file=sys.stderr)
        return 2
    devices = [Device(p) for p in paths]
    if own is None:  # the user's devices: do not destroy data without being told to
        holding = holders(mnt, devices)
        if holding and args.only_empty:
            print(f"stress: --only-empty: leaving {describe_holders(holding)} alone", flush=True)
            devices = [d for d in devices if d.name not in holding]
            if not devices:
                print(f"stress: --only-empty: no device in {dev_dir} is empty", file=sys.stderr)
                return 2
        elif holding and args.force:
            print(f"stress: --force: trimming {describe_holders(holding)}", flush=True)
        elif holding:
            print(f"stress: devices in {dev_dir} hold data: {describe_holders(holding)}; stress"
                  f" trims and overwrites them: --force to do it anyway, --only-empty to leave them"
                  f" alone", file=sys.stderr)
            return 2
    for dev in devices:  # start from known (empty) contents: a write-only open trims
        try:
            os.close(os.open(dev.path, os.O_WRONLY))
        except OSError as e:
            print(f"stress: cannot trim {dev.path}: {e.strerror}", file=sys.stderr)
            return 2
    since = kmsg_now(mnt)
    where = f"{mnt} (mounted by stress: --mem {args.mem} --family {args.family}" \
            f"{' --slab-debug' if args.slab_debug else ''})" if own else str(mnt)
    print(f"stress: {where}, {len(devices)} devices ({device_names(devices)})")
    print(f"stress: {args.writers} writers, {args.readers} readers, {args.trimmers} trimmers,"
          f" {args.duration:g} s, seed {args.seed}, offsets < {human(args.span)},"
          f" I/O 1 B..{human(args.max_io)}", flush=True)
    run = Run(args, devices)
    started = time.monotonic()
    run.run()
    elapsed = time.monotonic() - started
    run.final_verify()
    ok_check, check_text = invariant_check(mnt)
    new_log = kmsg_since(mnt, since)
    reports = [line for line in new_log if SLAB_REPORT.search(line)]
    check_lines = [line for line in new_log if "] check: " in line and "consistent" not in line]

    st = run.stats
    print(f"\n{'operation':<12}{'count':>10}{'bytes':>14}{'per second':>14}")
    for op in ("write", "read", "trim", "truncate", "o_trunc", "verify"):
        if st.ops[op] or op in ("write", "read"):
            note = "(freed)" if op in ("trim", "truncate", "o_trunc") else ""
            print(f"{op:<12}{st.ops[op]:>10}{human(st.bytes[op]):>14}"
                  f"{st.ops[op] / elapsed:>12.0f}/s {note}".rstrip())
    print(row("elapsed", f"{elapsed:.1f} s; short writes {st.short_writes}"))
    unexpected = {k: v for k, v in st.errors.items() if k[1] not in EXPECTED_ERRNOS}
    if st.errors:
        parts = [f"{op} {errno.errorcode.get(e, e)} x{n}" for (op, e), n in sorted(st.errors.items())]
        print(row("errors", ", ".join(parts)))
    else:
        print(row("errors", "none"))
    print(row("data", f"{st.lost} lost, {st.corrupted} corrupted, {st.extra} past the end"))
    for text in st.problems:
        print(f"   {text}")
    print(row("check", check_text))
    for line in check_lines[:20]:
        print(f"   {line}")
    print(row("slab log", f"{len(reports)} reports" + (":" if reports else "")))
    for line in reports[:20]:
        print(f"   {line}")
    for text in run.crashed:
        print(row("worker died", text))
    failed = st.failed_data or not ok_check or reports or unexpected or run.crashed
    if unexpected:
        print("stress: errors other than ENOMEM are failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
