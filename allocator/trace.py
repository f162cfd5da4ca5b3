"""kmem trace events, recorded and printed as ftrace does (Linux 5.15).

The allocators are given a KmemTrace and call its `hook(event, cachep, objp,
flags, size)` only when one is set, so tracing that is off costs one attribute
test. A Tracer sets
the hook while `tracing_on` is 1 and at least one event is enabled, and keeps the
events in one ring per CPU (`buffer_size_kb` each, the oldest overwritten), as the
kernel's ring buffer does.

Formats: include/trace/events/kmem.h (5.15) for the event bodies,
kernel/trace/trace_output.c trace_print_context for the `comm-pid [cpu] flags
secs.usecs: ` prefix, and kernel/trace/trace.c print_func_help_header_irq for the
header of `trace`. Pointers print as i386 kernel virtual addresses, unhashed (as
with `no_hash_pointers`); `call_site=` names the Python function that stands for
the kernel function. Which Python functions those are is registered by the
caller (`register_call_sites`): a class whose methods stand for a driver's
functions (`ScullcDevice.write` prints as `scullc_write+0x7c/0x2a0 [scullc]`),
helpers the C driver does inline (looked through), renamed methods. The
allocator registers only its own entry points.

Another kernel version's formats: a Tracer given a TraceFormat (`Tracer(k, fmt)`,
e.g. allocator/linux618/trace_format.Kmem618Format) lists its events, prints its
header and has it print every event's body; the call-site walk and the rings are
the same. Without one (the default), the formats above, unchanged.
"""
from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from . import gfp as G
from ._pure import frame_lasti
from .physmem import PAGE_OFFSET

if TYPE_CHECKING:
    from .kernel import Kernel

KMEM_EVENTS = ("kmalloc", "kmem_cache_alloc", "kmem_cache_alloc_node", "kfree",
               "kmem_cache_free", "mm_page_alloc", "mm_page_free")
# kernel/trace/trace.c: TRACE_BUF_SIZE_DEFAULT 1441792 bytes per CPU = 1408 KiB.
BUFFER_SIZE_KB_DEFAULT = 1408
# One kmem event in the i386 ring: 4-byte ring_buffer_event header, 8-byte
# trace_entry (type, flags, preempt_count, pid), five 4-byte fields.
ENTRY_BYTES = 32
MIGRATE_UNMOVABLE = 0
TASK_COMM_LEN = 16
ADDRESS_MASK = 0xFFFFFFFF  # pointers print as 32-bit addresses

# print_func_help_header_irq with 5 latency columns (5.13+), no TGID column.
TRACE_HEADER = (
    "#                                _-----=> irqs-off\n"
    "#                               / _----=> need-resched\n"
    "#                              | / _---=> hardirq/softirq\n"
    "#                              || / _--=> preempt-depth\n"
    "#                              ||| / _-=> migrate-disable\n"
    "#                              |||| /     delay\n"
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
    "#              | |         |   |||||     |         |\n"
)

# The allocator's own entry points: a call site is never one of them; the walk
# up the Python stack passes them and stops at their caller.
ALLOCATOR_ENTRY_POINTS = frozenset((
    "kmem_cache_alloc", "__cache_alloc", "kmem_cache_free", "__cache_free", "kmalloc", "kzalloc",
    "kcalloc", "kfree", "alloc_pages", "__alloc_pages", "__get_free_pages", "get_zeroed_page",
    "free_pages", "__free_pages", "trace_hook", "cache_alloc_debugcheck_after",
    "cache_free_debugcheck"))
# kmalloc and kfree emit their own event; the kmem_cache_* event of the cache
# operation they are built on is not one the kernel prints.
_SUPPRESS = {"kmem_cache_alloc": frozenset(("kmalloc", "kzalloc", "kcalloc")),
             "kmem_cache_free": frozenset(("kfree",))}


class TracedCache(Protocol):
    name: str
    obj_size: int
    buffer_size: int


# hook(event, cachep, objp or pfn, gfp flags, size or order); the cache is
# whatever the version's slab allocator has (TracedCache for SLAB)
TraceHook = Callable[[str, Any, int, int, int | None], None]


class TraceFormat(Protocol):
    """A kernel version's kmem event formats (see Tracer)."""
    events: tuple[str, ...]        # available_events order
    header: str                    # the `trace` column header
    entry_points: frozenset[str]   # allocator functions the call-site walk passes
    site_events: frozenset[str]    # events that have a call_site (the walk is done for them)
    entry_bytes: int               # one event in the ring, its header included

    def body(self, event: str, site: str, cachep: Any, objp: int, flags: int,
             size: int | None) -> str | None: ...

    def format_file(self, event: str) -> str: ...


class KmemTrace:
    """The allocators' tracing hook and the call-site names callers registered."""

    def __init__(self) -> None:
        self.hook: TraceHook | None = None
        self.skip: set[str] = set(ALLOCATOR_ENTRY_POINTS)  # looked through by a call site
        self.inline: set[str] = set()                      # caller helpers done inline in C
        self.drivers: dict[type, str] = {}                 # class -> driver (module) name
        self.renames: dict[str, str] = {}                  # method -> driver function name


def register_entry_points(t: KmemTrace, names: Iterable[str]) -> None:
    """More allocator entry points (another version's) the call-site walk passes."""
    t.skip.update(names)


def register_call_sites(t: KmemTrace, cls: type, driver: str, inline: Iterable[str] = (),
                        renames: Mapping[str, str] | None = None) -> None:
    """Methods of `cls` instances stand for the functions of driver `driver`
    (`write` is `<driver>_write [<driver>]`); functions named in `inline` are
    looked through (their caller is the call site); `renames` maps a method
    name to the driver function's."""
    t.drivers[cls] = driver
    t.inline.update(inline)
    if renames:
        t.renames.update(renames)


def call_site(t: KmemTrace, frame: FrameType) -> str:
    """`%pS` of a Python frame: `function+0xoffset/0xsize [module]`.

    Methods of a registered class print as the driver's function; other
    functions by their name without leading underscores (`__alloc_pages` is
    `alloc_pages`)."""
    code = frame.f_code
    name = code.co_name.strip("_") or code.co_name
    module = ""
    if code.co_varnames[:1] == ("self",):
        driver = t.drivers.get(type(frame.f_locals.get("self")))
        if driver is not None:
            name = f"{driver}_{t.renames.get(name, name)}"
            module = f" [{driver}]"
    # the offset the interpreted build has, also where a compiled entry point was called
    return f"{name}+0x{frame_lasti(frame):x}/0x{len(code.co_code):x}{module}"


def caller_frame(t: KmemTrace, frame: FrameType | None,
                 suppress: frozenset[str] = frozenset()) -> tuple[FrameType | None, bool]:
    """The first frame from `frame` up that is neither an allocator entry point
    nor a registered inline helper; (None, True) if one of `suppress` is passed."""
    while frame is not None and frame.f_code.co_name in t.skip:
        if frame.f_code.co_name in suppress:
            return None, True
        frame = frame.f_back
    while frame is not None and frame.f_code.co_name in t.inline:
        frame = frame.f_back
    return frame, False


def caller_name(t: KmemTrace, depth: int) -> str:
    """The function name a "last user" record shows for the caller `depth`
    frames up (slab debugging's SLAB_STORE_USER)."""
    frame, _ = caller_frame(t, sys._getframe(depth + 1))
    if frame is None:
        return "?"
    return call_site(t, frame).split("+", 1)[0]


def _gfp(flags: int) -> str:
    # show_gfp_flags prints "none" for an empty mask
    return G.gfp_format(flags) if flags else "none"


# (seq, seconds, comm, pid, cpu, event, body)
Entry = tuple[int, float, str, int, int, str, str]


class Tracer:
    """The kmem events of one kernel: enable switches, tracing_on, the rings."""

    def __init__(self, k: Kernel, fmt: TraceFormat | None = None):
        self.k = k
        # the version's formats; None: the ones of this module (2.6.18's mount)
        self.fmt = fmt
        self.events: tuple[str, ...] = fmt.events if fmt is not None else KMEM_EVENTS
        self.header = fmt.header if fmt is not None else TRACE_HEADER
        if fmt is not None:
            register_entry_points(k.trace, fmt.entry_points)
        self.enabled: set[str] = set()
        self.tracing_on = True
        self.buffer_size_kb = BUFFER_SIZE_KB_DEFAULT
        self.rings: list[deque[Entry]] = [deque(maxlen=self._capacity()) for _ in range(k.cpus)]
        self.written = [0] * k.cpus      # entries-written, overwritten ones included
        self._seq = 0
        # Called after every recorded event (trace_pipe readers waiting for data).
        self.waiters: set[Callable[[], None]] = set()
        self.closing = False  # unmount: readers stop waiting (see shutdown)

    def _capacity(self) -> int:
        entry = self.fmt.entry_bytes if self.fmt is not None else ENTRY_BYTES
        return max(1, self.buffer_size_kb * 1024 // entry)

    def _update_hook(self) -> None:
        hook = self.trace_hook if self.fmt is None else self.format_hook
        self.k.trace.hook = hook if self.tracing_on and self.enabled else None
        self.k.update_fault_injection()

    # -- control files ----------------------------------------------------------

    def set_enabled(self, event: str, on: bool) -> None:
        """events/kmem/<event>/enable. KeyError for an unknown event."""
        if event not in self.events:
            raise KeyError(event)
        (self.enabled.add if on else self.enabled.discard)(event)
        self._update_hook()

    def set_all(self, on: bool) -> None:
        """events/kmem/enable: every kmem event at once."""
        self.enabled = set(self.events) if on else set()
        self._update_hook()

    def all_state(self) -> str:
        """events/kmem/enable reads 0, 1, or X when the events disagree."""
        if not self.enabled:
            return "0"
        return "1" if len(self.enabled) == len(self.events) else "X"

    def set_tracing_on(self, on: bool) -> None:
        self.tracing_on = on
        self._update_hook()

    def set_buffer_size_kb(self, kb: int) -> None:
        """Resize every CPU's ring; shrinking drops the oldest entries."""
        if not 1 <= kb < 1 << 32:
            # unsigned long on i386; past it deque(maxlen=) overflows and the
            # OverflowError would take the daemon down
            raise ValueError("buffer_size_kb must be 1..4294967295")
        self.buffer_size_kb = kb
        cap = self._capacity()
        self.rings = [deque(ring, maxlen=cap) for ring in self.rings]

    def shutdown(self) -> None:
        """Unmount: wake every trace_pipe reader for good; they read end-of-file
        instead of waiting (the FUSE main loop waits for them to return)."""
        self.closing = True
        for wake in list(self.waiters):
            wake()

    def reset(self) -> None:
        """`echo > trace`: empty the rings and the written counters."""
        for ring in self.rings:
            ring.clear()
        self.written = [0] * len(self.rings)

    # -- recording ----------------------------------------------------------

    def trace_hook(self, event: str, cachep: TracedCache | None, objp: int, flags: int,
                   size: int | None = None) -> None:
        """The allocators' hook: record one event if it is enabled (see the module doc)."""
        if event in ("mm_page_alloc", "mm_page_free"):
            if event not in self.enabled:
                return
            page = self.k.struct_page_address(objp)
            body = f"page={page:08x} pfn=0x{objp:x} order={size}"
            if event == "mm_page_alloc":
                body += f" migratetype={MIGRATE_UNMOVABLE} gfp_flags={_gfp(flags)}"
            self._record(event, body)
            return
        assert cachep is not None
        calls = self.k.trace
        frame, suppressed = caller_frame(calls, sys._getframe(1), _SUPPRESS.get(event, frozenset()))
        if suppressed:
            return
        site = call_site(calls, frame) if frame is not None else "0x0"
        if event == "kmem_cache_alloc" and frame is not None and frame.f_code.co_name == "cache_grow":
            # slab management from alloc_slabmgmt: kmem_cache_alloc_node in SLAB
            event = "kmem_cache_alloc_node"
        if event not in self.enabled:
            return
        ptr = (PAGE_OFFSET + objp) & ADDRESS_MASK
        if event in ("kmalloc", "kmem_cache_alloc", "kmem_cache_alloc_node"):
            req = size if event == "kmalloc" else cachep.obj_size
            body = (f"call_site={site} ptr={ptr:08x} bytes_req={req}"
                    f" bytes_alloc={cachep.buffer_size} gfp_flags={_gfp(flags)}")
            if event == "kmem_cache_alloc_node":
                body += f" node={self.k.slab_node_of(objp)}"
        elif event == "kmem_cache_free":
            body = f"call_site={site} ptr={ptr:08x} name={cachep.name}"
        else:
            body = f"call_site={site} ptr={ptr:08x}"
        self._record(event, body)

    def format_hook(self, event: str, cachep: Any, objp: int, flags: int,
                    size: int | None = None) -> None:
        """The hook with a version's formats: the call site (for the events
        that have one, found as trace_hook finds it), then the format's body."""
        fmt = self.fmt
        assert fmt is not None
        site = ""
        if event in fmt.site_events:
            calls = self.k.trace
            frame, suppressed = caller_frame(calls, sys._getframe(1), _SUPPRESS.get(event, frozenset()))
            if suppressed:
                return
            site = call_site(calls, frame) if frame is not None else "0x0"
        if event not in self.enabled:
            return
        body = fmt.body(event, site, cachep, objp, flags, size)
        if body is not None:
            self._record(event, body)

    def _record(self, event: str, body: str) -> None:
        task = self.k.current
        cpu = task.cpu
        self._seq += 1
        self.rings[cpu].append((self._seq, self.k.log.uptime(), task.comm[:TASK_COMM_LEN - 1],
                                task.pid, cpu, event, body))
        self.written[cpu] += 1
        if self.waiters:
            for wake in list(self.waiters):
                wake()

    # -- reading ------------------------------------------------------------

    @staticmethod
    def format_entry(entry: Entry) -> str:
        """One line as trace_print_context + the event's TP_printk."""
        _, ts, comm, pid, cpu, event, body = entry
        usecs = int(ts * 1_000_000)
        return (f"{comm:>16}-{pid:<7} [{cpu:03d}] ..... {usecs // 1_000_000:5d}.{usecs % 1_000_000:06d}:"
                f" {event}: {body}\n")

    def entries(self) -> list[Entry]:
        """Every entry in the rings, oldest first (the rings are not emptied)."""
        merged = [e for ring in self.rings for e in ring]
        merged.sort(key=lambda e: e[0])
        return merged

    def trace(self) -> str:
        """The `trace` file: a snapshot with the `# tracer: nop` header."""
        entries = self.entries()
        head = ("# tracer: nop\n#\n"
                f"# entries-in-buffer/entries-written: {len(entries)}/{sum(self.written)}"
                f"   #P:{len(self.rings)}\n#\n" + self.header)
        return head + "".join(self.format_entry(e) for e in entries)

    def consume(self, size: int) -> bytes:
        """trace_pipe: take the oldest entries, as whole lines, up to `size` bytes
        (at least one line if any is there). b"" when the rings are empty."""
        out: list[bytes] = []
        total = 0
        rings = self.rings
        while True:
            oldest: deque[Entry] | None = None
            for ring in rings:
                if ring and (oldest is None or ring[0][0] < oldest[0][0]):
                    oldest = ring
            if oldest is None:
                break
            line = self.format_entry(oldest[0]).encode()
            if out and total + len(line) > size:
                break
            oldest.popleft()
            out.append(line)
            total += len(line)
        return b"".join(out)
