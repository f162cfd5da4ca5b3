"""debugfs files: the page map, the extfrag index and kmem tracing.

    sys/kernel/debug/scullc/pagemap            who owns every frame (allocator/pagemap.py)
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
import stat

import pyfuse3
import trio

from allocator import pagemap as PM
from allocator.trace import KMEM_EVENTS, Tracer

from .devices import DeviceError
from .tree import EXTENSIONS, Node

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
                raise pyfuse3.FUSEError(errno.EINTR)

    def close(self) -> None:
        self.leftover = b""


def _switch(setter):
    """A writer for 0/1 files."""
    def write(data: bytes) -> None:
        text = data.strip()
        if text not in (b"0", b"1"):
            raise DeviceError(errno.EINVAL, "write 0 or 1")
        setter(text == b"1")
    return write


def _buffer_size_writer(tracer: Tracer):
    def write(data: bytes) -> None:
        try:
            kb = int(data.strip())
            tracer.set_buffer_size_kb(kb)
        except ValueError:
            raise DeviceError(errno.EINVAL, "buffer_size_kb takes a positive number of KiB") from None
    return write


def declare_files(tree) -> None:
    """Add the debugfs files of the page map, extfrag and tracing to a mount."""
    k = tree.k
    tracer = tree.tracer = Tracer(k)
    files = {
        "sys/kernel/debug/scullc/pagemap": (0o444, lambda: PM.pagemap(k), None),
        "sys/kernel/debug/extfrag/unusable_index": (0o444, lambda: PM.unusable_index(k), None),
        f"{TRACING}/tracing_on": (0o644, lambda: f"{int(tracer.tracing_on)}\n",
                                  _switch(tracer.set_tracing_on)),
        f"{TRACING}/buffer_size_kb": (0o644, lambda: f"{tracer.buffer_size_kb}\n",
                                      _buffer_size_writer(tracer)),
        f"{TRACING}/trace": (0o644, tracer.trace, lambda data: tracer.reset()),
        f"{TRACING}/available_events": (0o444, lambda: "".join(f"kmem:{e}\n" for e in KMEM_EVENTS),
                                        None),
        f"{TRACING}/events/enable": (0o644, lambda: tracer.all_state() + "\n",
                                     _switch(tracer.set_all)),
        f"{TRACING}/events/kmem/enable": (0o644, lambda: tracer.all_state() + "\n",
                                          _switch(tracer.set_all)),
    }
    for event in KMEM_EVENTS:
        files[f"{TRACING}/events/kmem/{event}/enable"] = (
            0o644, lambda e=event: f"{int(e in tracer.enabled)}\n",
            _switch(lambda on, e=event: tracer.set_enabled(e, on)))
    tree.declare(files)
    tree.add(f"{TRACING}/trace_pipe", Node("", stat.S_IFREG | 0o444,
                                           stream=lambda pid: TracePipe(tracer, pid)))


EXTENSIONS.append(declare_files)
