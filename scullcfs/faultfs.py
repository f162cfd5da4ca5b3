"""debugfs files for breaking things on purpose and checking nothing broke:

  sys/kernel/debug/failslab/*, sys/kernel/debug/fail_page_alloc/*
      the kernel's fault-injection knobs (Documentation/fault-injection)
  sys/kernel/debug/scullc/check
      write 1: a full consistency check; problems go to the log and the write
      fails with EIO
  sys/kernel/debug/scullc/misbehave
      `overrun N [scullcX]`, `use-after-free [scullcX]`, `double-free [scullcX]`:
      a device commits that bug once (needs --slab-debug, which reports it)
"""
from __future__ import annotations

import errno

from allocator.check import check_kernel
from allocator.printk import KERN_ERR, KERN_INFO, KERN_WARNING

from .devices import DeviceError
from .tree import EXTENSIONS, _decode, _int_writer


def _int_knob(lo: int, hi: int):
    """A debugfs integer: `%llu` knobs take 0..2**64-1, atomic_t ones a signed int."""
    def knob(attr, name):
        def read():
            return f"{getattr(attr, name)}\n"
        return read, _int_writer(lambda value: setattr(attr, name, value), lo, hi)
    return knob


_u64 = _int_knob(0, (1 << 64) - 1)
_atomic = _int_knob(-(1 << 31), (1 << 31) - 1)


def _bool(attr, name):
    def read():
        return "Y\n" if getattr(attr, name) else "N\n"

    def write(data: bytes):
        text = _decode(data).strip().lower()
        if text in ("y", "yes", "1", "on"):
            setattr(attr, name, True)
        elif text in ("n", "no", "0", "off"):
            setattr(attr, name, False)
        else:
            raise DeviceError(errno.EINVAL, "expected Y or N")
    return read, write


def declare_files(tree) -> None:
    k, driver = tree.k, tree.driver

    def knobs(attr, extra):
        table = {"probability": _u64, "interval": _u64, "times": _atomic, "space": _atomic,
                 "verbose": _u64, "stacktrace-depth": _u64,
                 "ignore-gfp-wait": _bool, **extra}
        files = {}
        for knob, kind in table.items():
            read, write = kind(attr, knob.replace("-", "_"))

            def armed_write(data, write=write):
                write(data)
                k.update_fault_injection()
            files[f"sys/kernel/debug/{attr.name}/{knob}"] = (0o600, read, armed_write)
        tree.declare(files)

    knobs(k.failslab, {"cache-filter": _bool})
    knobs(k.fail_page_alloc, {"ignore-gfp-highmem": _bool, "min-order": _u64})

    def check(data: bytes) -> None:
        if _decode(data).strip() != "1":
            raise DeviceError(errno.EINVAL, "write 1 to check")
        problems = check_kernel(k) + driver.check()
        problems += [p for family in getattr(driver, "families", ()) for p in family.check()]
        for p in problems:
            k.log.printk(KERN_ERR, f"check: {p}")
        if problems:
            raise DeviceError(errno.EIO, f"{len(problems)} problems")
        k.log.printk(KERN_INFO, "check: zones, buddy lists, slabs and devices are consistent")

    def misbehave(data: bytes) -> None:
        words = _decode(data).split()
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
        names = {d.name: d for d in driver.devices}
        dev = names.get(args[0]) if args else driver.devices[0]
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
        "sys/kernel/debug/scullc/check": (0o200, None, check),
        "sys/kernel/debug/scullc/misbehave": (0o200, None, misbehave),
    })


EXTENSIONS.append(declare_files)
