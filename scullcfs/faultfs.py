"""debugfs files for breaking things on purpose and checking nothing broke:

  sys/kernel/debug/failslab/*, sys/kernel/debug/fail_page_alloc/*
      the kernel's fault-injection knobs (Documentation/fault-injection): the
      ones of the mounted version (6.18: allocator/linux618/fault_inject.py's
      tables, with debugfs's formats and errnos)
  sys/kernel/debug/scullc/check
      write 1: a full consistency check of the kernel and every loaded driver;
      problems go to the log and the write fails with EIO
  sys/kernel/debug/scullc/misbehave
      `overrun N [scullcX]`, `use-after-free [scullcX]`, `double-free [scullcX]`:
      a scullc device commits that bug once (needs --slab-debug, which reports it)
"""
from __future__ import annotations

import errno
from collections.abc import Callable

from allocator.fault_inject import FaultAttr
from allocator.linux618 import fault_inject as FI618
from allocator.printk import KERN_ERR, KERN_INFO, KERN_WARNING

from .drivers import ScullcDriver
from .errors import DeviceError
from .tree import File, Tree, decode, int_writer

Knob = Callable[[FaultAttr, str], tuple[Callable[[], str], Callable[[bytes], None]]]


def _int_knob(lo: int, hi: int) -> Knob:
    """A debugfs integer: `%llu` knobs take 0..2**64-1, atomic_t ones a signed int."""
    def knob(attr: FaultAttr, name: str) -> tuple[Callable[[], str], Callable[[bytes], None]]:
        def read() -> str:
            return f"{getattr(attr, name)}\n"
        return read, int_writer(lambda value: setattr(attr, name, value), lo, hi)
    return knob


_u64 = _int_knob(0, (1 << 64) - 1)
_atomic = _int_knob(-(1 << 31), (1 << 31) - 1)


def _bool(attr: FaultAttr, name: str) -> tuple[Callable[[], str], Callable[[bytes], None]]:
    def read() -> str:
        return "Y\n" if getattr(attr, name) else "N\n"

    def write(data: bytes) -> None:
        text = decode(data).strip().lower()
        if text in ("y", "yes", "1", "on"):
            setattr(attr, name, True)
        elif text in ("n", "no", "0", "off"):
            setattr(attr, name, False)
        else:
            raise DeviceError(errno.EINVAL, "expected Y or N")
    return read, write


# The knobs of both attributes (lib/fault-inject.c), and each one's own.
KNOBS: dict[str, Knob] = {"probability": _u64, "interval": _u64, "times": _atomic, "space": _atomic,
                          "verbose": _u64, "stacktrace-depth": _u64, "ignore-gfp-wait": _bool}
FAILSLAB_KNOBS: dict[str, Knob] = {"cache-filter": _bool}
FAIL_PAGE_ALLOC_KNOBS: dict[str, Knob] = {"ignore-gfp-highmem": _bool, "min-order": _u64}


def _knob_618(attr: FaultAttr, knob: FI618.Knob) -> tuple[Callable[[], str], Callable[[bytes], None]]:
    """A 6.18 debugfs knob: read and written as its kind says (read_knob, write_knob)."""
    def read() -> str:
        return FI618.read_knob(knob.kind, getattr(attr, knob.field))

    def write(data: bytes) -> None:
        # What the handler parses is a C string in a small buffer: fs/libfs.c
        # simple_attr_write copies at most 23 bytes (set_buf[24]), lib/kstrtox.c
        # kstrtobool_from_user 3 (buf[4]); it ends at the first NUL.
        if knob.kind == "bool":
            text = data[:3].split(b"\0", 1)[0].decode("latin-1")
            try:
                value = FI618.write_knob(knob.kind, text)
            except FI618.KnobError:
                return  # fs/debugfs/file.c debugfs_write_file_bool returns count even then
            setattr(attr, knob.field, bool(value))
            return
        try:
            value = FI618.write_knob(knob.kind, decode(data[:23].split(b"\0", 1)[0]))
        except FI618.KnobError as e:
            raise DeviceError(e.errno, str(e)) from None
        setattr(attr, knob.field, value)
    return read, write


def declare_files(tree: Tree) -> None:
    k, drivers = tree.k, tree.drivers
    scullc = next(d for d in drivers if isinstance(d, ScullcDriver))

    def declare(attr: FaultAttr, knobs: dict[str, tuple[Callable[[], str], Callable[[bytes], None]]],
                mode: int) -> None:
        files = {}
        for knob, (read, write) in knobs.items():

            def armed_write(data: bytes, write: Callable[[bytes], None] = write) -> None:
                write(data)
                k.update_fault_injection()
            files[f"sys/kernel/debug/{attr.name}/{knob}"] = File(mode, read, armed_write)
        tree.declare(files)

    for attr in (k.failslab, k.fail_page_alloc):
        if k.version.fault_inject is FI618:
            declare(attr, {kn.name: _knob_618(attr, kn) for kn in FI618.ATTR_KNOBS[attr.name]},
                    FI618.FAULT_DEBUGFS_MODE)
        else:
            extra = FAILSLAB_KNOBS if attr.name == "failslab" else FAIL_PAGE_ALLOC_KNOBS
            declare(attr, {kn: kind(attr, kn.replace("-", "_")) for kn, kind in {**KNOBS, **extra}.items()},
                    0o600)

    def check(data: bytes) -> None:
        if decode(data).strip() != "1":
            raise DeviceError(errno.EINVAL, "write 1 to check")
        problems = k.version.check(k) + [p for drv in drivers for p in drv.check()]
        for p in problems:
            k.log.printk(KERN_ERR, f"check: {p}")
        if problems:
            raise DeviceError(errno.EIO, f"{len(problems)} problems")
        k.log.printk(KERN_INFO, "check: zones, buddy lists, slabs and devices are consistent")

    def misbehave(data: bytes) -> None:
        words = decode(data).split()
        if not words:
            raise DeviceError(errno.EINVAL, "empty")
        bug, args = words[0], words[1:]
        n = 1
        if bug == "overrun":
            if not args or not args[0].isdigit() or not 1 <= int(args[0]) <= 64:
                raise DeviceError(errno.EINVAL, "overrun N: N in 1..64")
            n = int(args.pop(0))
        elif bug not in ("use-after-free", "double-free"):
            raise DeviceError(errno.EINVAL, f"unknown bug {bug!r}")
        names = {d.name: d for d in scullc.scullc_devices()}
        dev = names.get(args[0]) if args else scullc.scullc_devices()[0]
        if dev is None or len(args) > 1:
            raise DeviceError(errno.EINVAL, "no such device")
        if not k.slab_debug:
            k.log.printk(KERN_WARNING, "scullc: misbehave needs --slab-debug: without red zones and"
                                       " poisoning the bug would silently corrupt other objects")
            raise DeviceError(errno.EINVAL, "needs --slab-debug")
        if not dev.quanta():
            k.log.printk(KERN_WARNING, f"scullc: misbehave {bug}: {dev.name} holds no quantum:"
                                       " write to it first (nothing done)")
            raise DeviceError(errno.ENODATA, f"{dev.name} holds no quantum")
        k.log.printk(KERN_WARNING, f"scullc: {dev.name} commits a bug on purpose: {bug}"
                                   + (f" by {n} bytes" if bug == "overrun" else ""))
        dev.misbehave(bug, n)

    tree.declare({
        "sys/kernel/debug/scullc/check": File(0o200, None, check),
        "sys/kernel/debug/scullc/misbehave": File(0o200, None, misbehave),
    })
