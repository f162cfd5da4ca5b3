"""kmem trace events, recorded and printed as ftrace does (Linux 5.15).

The allocator calls `k.trace_hook(event, cachep, objp, flags[, size])` only when
the hook is set, so tracing that is off costs one attribute test. A Tracer sets
the hook while `tracing_on` is 1 and at least one event is enabled, and keeps the
events in one ring per CPU (`buffer_size_kb` each, the oldest overwritten), as the
kernel's ring buffer does.

Formats: include/trace/events/kmem.h (5.15) for the event bodies,
kernel/trace/trace_output.c trace_print_context for the `comm-pid [cpu] flags
secs.usecs: ` prefix, and kernel/trace/trace.c print_func_help_header_irq for the
header of `trace`. Pointers print as i386 kernel virtual addresses, unhashed (as
with `no_hash_pointers`); `call_site=` names the Python function that stands for
the kernel function (`scullc_write+0x7c/0x2a0 [scullc]`).
"""
from __future__ import annotations

import sys
from collections import deque
from typing import Callable, Optional

from . import gfp as G
from .physmem import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE

KMEM_EVENTS = ("kmalloc", "kmem_cache_alloc", "kmem_cache_alloc_node", "kfree",
               "kmem_cache_free", "mm_page_alloc", "mm_page_free")
# kernel/trace/trace.c: TRACE_BUF_SIZE_DEFAULT 1441792 bytes per CPU = 1408 KiB.
BUFFER_SIZE_KB_DEFAULT = 1408
# One kmem event in the i386 ring: 4-byte ring_buffer_event header, 8-byte
# trace_entry (type, flags, preempt_count, pid), five 4-byte fields.
ENTRY_BYTES = 32
SIZEOF_STRUCT_PAGE = 32
MIGRATE_UNMOVABLE = 0
TASK_COMM_LEN = 16

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

# Allocator entry points a call site is never attributed to: the walk up the
# Python stack passes them and stops at their caller, the "call site".
_API = frozenset(("kmem_cache_alloc", "_kmem_cache_alloc_slow", "kmem_cache_free", "kmalloc", "kzalloc", "kcalloc",
                  "kfree", "alloc_pages", "alloc_pages_node", "get_free_pages",
                  "get_zeroed_page", "free_pages", "free_pages_pfn", "trace_hook"))
# kmalloc and kfree emit their own event; the kmem_cache_* event of the cache
# operation they are built on is not one the kernel prints.
_SUPPRESS = {"kmem_cache_alloc": frozenset(("kmalloc", "kzalloc", "kcalloc")),
             "kmem_cache_free": frozenset(("kfree",))}
# Helpers of the device models whose work the C drivers do inline: the call site
# is their caller (scullc_write, scullc_trim, ...).
_INLINE = frozenset(("_alloc_quantum", "_quantum_alloc", "_free_quantum", "_alloc_data", "_zero_quantum"))
# Python methods of a device model that stand for a driver function of another name.
_DRIVER_FUNCS = {"read_ldd3": "read"}


def struct_page_address(k, pfn: int) -> int:
    """The i386 virtual address of pfn's struct page: each node's mem_map array
    sits where boot reserved it (allocator.page_alloc._reserve_boot_memory)."""
    node = k.nodes[0]
    for n in k.nodes:
        if n.start_pfn <= pfn < n.start_pfn + n.spanned:
            node = n
            break
    base = node.start_pfn
    if node.id == 0:
        map_pages = -(-node.spanned * SIZEOF_STRUCT_PAGE // PAGE_SIZE)
        dma_end = (16 << 20) >> PAGE_SHIFT
        base = dma_end if node.spanned > dma_end + map_pages else (0x100000 >> PAGE_SHIFT)
    return (PAGE_OFFSET + (base << PAGE_SHIFT) + (pfn - node.start_pfn) * SIZEOF_STRUCT_PAGE) & 0xFFFFFFFF


def _gfp(flags: int) -> str:
    # show_gfp_flags prints "none" for an empty mask
    return G.gfp_format(flags) if flags else "none"


def call_site(frame) -> str:
    """`%pS` of a Python frame: `function+0xoffset/0xsize [module]`.

    Methods of a device model (`ScullcDevice.write`) print as the driver's
    function (`scullc_write ... [scullc]`); allocator internals as the kernel
    function (`_cache_grow` is `cache_grow`)."""
    code = frame.f_code
    name = code.co_name.strip("_") or code.co_name
    module = ""
    if code.co_varnames[:1] == ("self",):
        cls = type(frame.f_locals.get("self"))
        if cls.__module__.startswith("scullcfs."):
            prefix = cls.__name__.lower()
            for suffix in ("device", "driver", "dev"):
                if prefix.endswith(suffix) and len(prefix) > len(suffix):
                    prefix = prefix[:-len(suffix)]
                    break
            name = f"{prefix}_{_DRIVER_FUNCS.get(name, name)}"
            module = f" [{prefix}]"
    return f"{name}+0x{frame.f_lasti:x}/0x{len(code.co_code):x}{module}"


class Tracer:
    """The kmem events of one kernel: enable switches, tracing_on, the rings."""

    def __init__(self, k):
        self.k = k
        self.enabled: set[str] = set()
        self.tracing_on = True
        self.buffer_size_kb = BUFFER_SIZE_KB_DEFAULT
        self.rings = [deque(maxlen=self._capacity()) for _ in range(k.cpus)]
        self.written = [0] * k.cpus      # entries-written, overwritten ones included
        self._seq = 0
        # Called after every recorded event (trace_pipe readers waiting for data).
        self.waiters: set[Callable[[], None]] = set()
        self.closing = False  # unmount: readers stop waiting (see shutdown)

    def _capacity(self) -> int:
        return max(1, self.buffer_size_kb * 1024 // ENTRY_BYTES)

    def _update_hook(self) -> None:
        self.k.trace_hook = self.trace_hook if self.tracing_on and self.enabled else None
        self.k.update_slow_paths()

    # -- control files ----------------------------------------------------------

    def set_enabled(self, event: str, on: bool) -> None:
        """events/kmem/<event>/enable. KeyError for an unknown event."""
        if event not in KMEM_EVENTS:
            raise KeyError(event)
        (self.enabled.add if on else self.enabled.discard)(event)
        self._update_hook()

    def set_all(self, on: bool) -> None:
        """events/kmem/enable: every kmem event at once."""
        self.enabled = set(KMEM_EVENTS) if on else set()
        self._update_hook()

    def all_state(self) -> str:
        """events/kmem/enable reads 0, 1, or X when the events disagree."""
        if not self.enabled:
            return "0"
        return "1" if len(self.enabled) == len(KMEM_EVENTS) else "X"

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

    def trace_hook(self, event: str, cachep, objp: int, flags: int, size=None) -> None:
        """k.trace_hook: record one event if it is enabled (see the module doc)."""
        if event in ("mm_page_alloc", "mm_page_free"):
            if event not in self.enabled:
                return
            page = struct_page_address(self.k, objp)
            body = f"page={page:08x} pfn=0x{objp:x} order={size}"
            if event == "mm_page_alloc":
                body += f" migratetype={MIGRATE_UNMOVABLE} gfp_flags={_gfp(flags)}"
            self._record(event, body)
            return
        frame = sys._getframe(1)
        suppress = _SUPPRESS.get(event, ())
        while frame is not None and frame.f_code.co_name in _API:
            if frame.f_code.co_name in suppress:
                return
            frame = frame.f_back
        while frame is not None and frame.f_code.co_name in _INLINE:
            frame = frame.f_back
        site = call_site(frame) if frame is not None else "0x0"
        if event == "kmem_cache_alloc" and frame is not None and frame.f_code.co_name == "_cache_grow":
            # slab management from alloc_slabmgmt: kmem_cache_alloc_node in SLAB
            event = "kmem_cache_alloc_node"
        if event not in self.enabled:
            return
        ptr = (PAGE_OFFSET + objp) & 0xFFFFFFFF
        if event in ("kmalloc", "kmem_cache_alloc", "kmem_cache_alloc_node"):
            req = size if event == "kmalloc" else cachep.obj_size
            body = (f"call_site={site} ptr={ptr:08x} bytes_req={req}"
                    f" bytes_alloc={cachep.buffer_size} gfp_flags={_gfp(flags)}")
            if event == "kmem_cache_alloc_node":
                owner = self.k.mem_map[objp >> PAGE_SHIFT]
                body += f" node={getattr(owner, 'node', 0)}"
        elif event == "kmem_cache_free":
            body = f"call_site={site} ptr={ptr:08x} name={cachep.name}"
        else:
            body = f"call_site={site} ptr={ptr:08x}"
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
    def format_entry(entry) -> str:
        """One line as trace_print_context + the event's TP_printk."""
        _, ts, comm, pid, cpu, event, body = entry
        usecs = int(ts * 1_000_000)
        return f"{comm:>16}-{pid:<7} [{cpu:03d}] ..... {usecs // 1_000_000:5d}.{usecs % 1_000_000:06d}: {event}: {body}\n"

    def entries(self) -> list:
        """Every entry in the rings, oldest first (the rings are not emptied)."""
        merged = [e for ring in self.rings for e in ring]
        merged.sort(key=lambda e: e[0])
        return merged

    def trace(self) -> str:
        """The `trace` file: a snapshot with the `# tracer: nop` header."""
        entries = self.entries()
        head = ("# tracer: nop\n#\n"
                f"# entries-in-buffer/entries-written: {len(entries)}/{sum(self.written)}"
                f"   #P:{len(self.rings)}\n#\n" + TRACE_HEADER)
        return head + "".join(self.format_entry(e) for e in entries)

    def consume(self, size: int) -> bytes:
        """trace_pipe: take the oldest entries, as whole lines, up to `size` bytes
        (at least one line if any is there). b"" when the rings are empty."""
        out = []
        total = 0
        rings = self.rings
        while True:
            oldest: Optional[deque] = None
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
