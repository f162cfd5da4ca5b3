"""debugfs files: the page map, the extfrag index and kmem tracing.

    sys/kernel/debug/scullc/pagemap            who owns every frame (allocator/pagemap.py)
    sys/kernel/debug/scullc/daemon_pid         the daemon (`scullcfs --unmount` waits for it)
    sys/kernel/debug/extfrag/unusable_index    mm/vmstat.c unusable_show
    sys/kernel/debug/tracing/                  ftrace's kmem events (allocator/trace.py):
        tracing_on  buffer_size_kb  trace  trace_pipe  available_events
        events/enable  events/kmem/enable  events/kmem/<event>/enable

`trace` is a snapshot taken at open (`echo > trace` empties the rings);
`trace_pipe` consumes: a read returns the oldest events, and with none it sleeps
until one is recorded.
"""
from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable

import trio

from allocator import pagemap as PM
from allocator import procfs
from allocator.linux618.sysfs import kstrtoul
from allocator.trace import Tracer

from .errors import DeviceError
from .tree import File, Tree

TRACING = "sys/kernel/debug/tracing"
# pyfuse3 does not pass FUSE_INTERRUPT on, so a reader killed while it sleeps in
# trace_pipe would hang until the next event. A sleeping read looks this often
# (seconds) whether its process has a signal pending, and then fails with EINTR
# so that the signal is delivered.
SIGNAL_CHECK_INTERVAL = 0.25


def _signal_pending(pid: int) -> bool:
    """True if `pid` has a signal pending (or is gone): /proc/PID/status SigPnd/ShdPnd."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16):
                    return True
    except (OSError, ValueError, IndexError):
        return True
    return False


class TracePipe:
    """One open trace_pipe: reads consume events, sleeping while there are none."""

    def __init__(self, tracer: Tracer, pid: int):
        self.tracer = tracer
        self.pid = pid
        self.leftover = b""  # the rest of a line longer than the caller's buffer

    async def read(self, size: int) -> bytes:
        """Up to `size` bytes of whole event lines; sleeps until there is one.
        Fails with EINTR when the reader gets a signal while it sleeps; reads
        end-of-file once the mount is going away."""
        while True:
            data = self.leftover or self.tracer.consume(size)
            if data:
                self.leftover = data[size:]
                return data[:size]
            if self.tracer.closing:
                return b""
            woken = trio.Event()
            self.tracer.waiters.add(woken.set)
            try:
                with trio.move_on_after(SIGNAL_CHECK_INTERVAL):
                    await woken.wait()
            finally:
                self.tracer.waiters.discard(woken.set)
            if not woken.is_set() and _signal_pending(self.pid):
                raise DeviceError(errno.EINTR, "interrupted by a signal")

    def close(self) -> None:
        self.leftover = b""


def kstrtoul_from_user(data: bytes) -> int:
    """lib/kstrtox.c kstrtoul_from_user, base 10, as every tracing file parses a
    write (kernel/trace/trace.c, trace_events.c; the same from 5.15 to 6.18):
    the first 66 bytes (buf[1 + 64 + 1 + 1]) as a C string, then kstrtoul:
    digits and one optional newline, EINVAL for anything else, ERANGE past
    unsigned long."""
    try:
        return kstrtoul(data[:66])
    except OSError as e:
        raise DeviceError(e.errno or errno.EINVAL, str(e)) from None


def _ul_writer(setter: Callable[[int], None], values: tuple[int, ...] | None = None) -> Callable[[bytes], None]:
    """A tracing file's write: kstrtoul_from_user, then EINVAL unless the value
    is one of `values` (None: any)."""
    def write(data: bytes) -> None:
        val = kstrtoul_from_user(data)
        if values is not None and val not in values:
            raise DeviceError(errno.EINVAL, f"write one of {values}")
        setter(val)
    return write


def _buffer_size_writer(tracer: Tracer) -> Callable[[bytes], None]:
    """trace.c tracing_entries_write: kstrtoul_from_user; 0 is EINVAL."""
    def write(data: bytes) -> None:
        kb = kstrtoul_from_user(data)
        try:
            if not kb:
                raise ValueError("0")
            tracer.set_buffer_size_kb(kb)
        except ValueError:
            raise DeviceError(errno.EINVAL, "buffer_size_kb takes a positive number of KiB") from None
    return write


def _switch(setter: Callable[[bool], None]) -> Callable[[bytes], None]:
    """events/enable, events/<system>/enable (trace_events.c system_enable_write)
    and events/<system>/<event>/enable (event_enable_write): 0 or 1."""
    return _ul_writer(lambda val: setter(bool(val)), (0, 1))


def declare_files(tree: Tree) -> None:
    """Add the debugfs files of the page map, extfrag and tracing to a mount."""
    k = tree.k
    # the version's event formats (6.18: linux618/trace_format.Kmem618Format);
    # 2.6.18 has no kmem tracepoints: the mount shows 5.15's (docs/deviations.md)
    fmt_class = getattr(k.version.trace, "Kmem618Format", None)
    tracer = tree.tracer = Tracer(k, fmt_class() if fmt_class is not None else None)
    files = {
        "sys/kernel/debug/scullc/daemon_pid": File(0o444, lambda: f"{os.getpid()}\n"),
        "sys/kernel/debug/scullc/pagemap": File(0o444, lambda: PM.pagemap(k)),
        "sys/kernel/debug/extfrag/unusable_index": File(0o444, lambda: PM.unusable_index(k)),
        f"{TRACING}/tracing_on": File(0o644, lambda: f"{int(tracer.tracing_on)}\n",
                                      # trace.c rb_simple_write: any non-zero value is on
                                      _ul_writer(lambda val: tracer.set_tracing_on(bool(val)))),
        f"{TRACING}/buffer_size_kb": File(0o644, lambda: f"{tracer.buffer_size_kb}\n",
                                          _buffer_size_writer(tracer)),
        f"{TRACING}/trace": File(0o644, tracer.trace, lambda data: tracer.reset()),
        f"{TRACING}/trace_pipe": File(0o444, stream=lambda pid: TracePipe(tracer, pid)),
        f"{TRACING}/available_events": File(0o444, lambda: "".join(f"kmem:{e}\n" for e in tracer.events)),
        f"{TRACING}/events/enable": File(0o644, lambda: tracer.all_state() + "\n",
                                         _switch(tracer.set_all)),
        f"{TRACING}/events/kmem/enable": File(0o644, lambda: tracer.all_state() + "\n",
                                              _switch(tracer.set_all)),
    }
    if k.version.release == "2.6.18":
        # the simulator's own counters, not in 2.6.18's proc/vmstat (docs/deviations.md)
        files["sys/kernel/debug/scullc/vmstat"] = File(0o444, lambda: procfs.sim_vmstat(k))
    for event in tracer.events:
        files[f"{TRACING}/events/kmem/{event}/enable"] = _event_enable(tracer, event)
        if tracer.fmt is not None:
            files[f"{TRACING}/events/kmem/{event}/format"] = File(
                0o444, functools.partial(tracer.fmt.format_file, event))
    tree.declare(files)


def _event_enable(tracer: Tracer, event: str) -> File:
    def read() -> str:
        return f"{int(event in tracer.enabled)}\n"

    def enable(on: bool) -> None:
        tracer.set_enabled(event, on)
    return File(0o644, read, _switch(enable))
