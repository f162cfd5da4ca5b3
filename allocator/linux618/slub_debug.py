"""slab_debug=FZPU as Linux 6.12 mm/slub.c has it (CONFIG_SLUB_DEBUG, the checks
6.18 still makes): red zones, poisoning, alloc/free tracking, consistency checks,
and the reports they print.

Object layout of a debug cache (mm/slub.c's comment before check_pad_bytes; the
sizes are slub.py's calculate_sizes):

  [left red zone: red_left_pad][object: object_size][right red zone to inuse]
  [free pointer, outside the object][track alloc 32][track free 32]
  [orig_size 8: kmalloc caches][padding 0x5a to size]

A free object is POISON_FREE (0x6b) with POISON_END (0xa5) as its last byte,
its red zones SLUB_RED_INACTIVE (0xbb); an allocated one keeps its bytes and
has red zones SLUB_RED_ACTIVE (0xcc), for a kmalloc object also over the bytes
between the request (orig_size) and object_size. A struct track (STACKDEPOT:
addr, handle, cpu, pid, when) is kept in the object's metadata, in simulated
memory; the depot's stacks (the frames of the handle) are kept here, one entry
per distinct stack, as lib/stackdepot.c does. The "stack" is the simulated
caller path: the Python frames from the allocator's caller up, each named as
allocator/trace.py names a call site (a driver's registered methods print as
`scullc_write+0x7c/0x2a0 [scullc]`).

Reports go to the kernel log at KERN_ERR in 6.12's words (check_bytes_and_report
prints the broken bytes first, then object_err's `BUG <cache> (<taint>): ...`
header, the trailer with hexdumps as print_hex_dump prints them, the WARN_ON(1)
and the FIX line). Pointers print unhashed (`0x%p` as 0xffff888...): SLUB
debugging turns on no_hash_pointers (kmem_cache_init). The first report taints
the kernel with 'B' (and its WARN with 'W'). Nothing raises.

slub.py calls the hooks (setup_slab_debug, setup_object_debug,
alloc_debug_processing and set_track, free_debug_processing, free_slab_checks,
init_object) only for caches with SLAB_DEBUG_FLAGS, and shares the report
helpers (print_tainted, add_taint, simulated_stack, dump_stack_print_info, the
utsname) for its own WARNs and BUGs; sysfs's `validate` calls
validate_slab_cache. The taint mask is kept per SlabAllocator here.
"""
from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, cast

from .._pure import frame_lasti
from ..printk import KERN_ERR, KERN_INFO, KERN_WARNING, KernelLog
from ..trace import call_site
from . import slub as S
from .page_alloc import page_zone, struct_page_address

if TYPE_CHECKING:
    from .slub import KmemCache, KmemCacheNode, Slab, SlabAllocator

# include/linux/poison.h
POISON_INUSE = 0x5A
POISON_FREE = 0x6B
POISON_END = 0xA5
SLUB_RED_INACTIVE = 0xBB
SLUB_RED_ACTIVE = 0xCC

TRACK_ALLOC, TRACK_FREE = 0, 1
TRACK_ADDRS_COUNT = 16           # mm/slub.c: the frames a track's stack keeps
SIZEOF_TRACK = 32                # addr 8, handle 4, cpu 4, pid 4 (+4), when 8
SIZEOF_POINTER = 8
MAX_OBJS_PER_PAGE = 32767
_track = struct.Struct("<QIii4xQ")
_u64 = struct.Struct("<Q")

# kernel/panic.c taint_flags: the 19 letters print_tainted() prints
TAINT_FLAGS = (("P", "G", "PROPRIETARY_MODULE"), ("F", " ", "FORCED_MODULE"),
               ("S", " ", "CPU_OUT_OF_SPEC"), ("R", " ", "FORCED_RMMOD"),
               ("M", " ", "MACHINE_CHECK"), ("B", " ", "BAD_PAGE"), ("U", " ", "USER"),
               ("D", " ", "DIE"), ("A", " ", "OVERRIDDEN_ACPI_TABLE"), ("W", " ", "WARN"),
               ("C", " ", "CRAP"), ("I", " ", "FIRMWARE_WORKAROUND"), ("O", " ", "OOT_MODULE"),
               ("E", " ", "UNSIGNED_MODULE"), ("L", " ", "SOFTLOCKUP"), ("K", " ", "LIVEPATCH"),
               ("X", " ", "AUX"), ("T", " ", "RANDSTRUCT"), ("N", " ", "TEST"))
TAINT_BAD_PAGE = 5
TAINT_WARN = 9

# Lines of the WARN_ON(1)s in the 6.12.117 mm/slub.c
WARN_OBJECT_ERR = 1127
WARN_SLAB_ERR = 1152

# Kernel text addresses standing for the call sites a track records: built-in
# functions from _stext, a module's from the module area (MODULES_VADDR).
KERNEL_TEXT = 0xFFFFFFFF81000000
MODULE_TEXT = 0xFFFFFFFFC0000000
SITE_STRIDE = 0x40

# include/linux/page-flags-layout.h on this x86_64 config: SPARSEMEM_VMEMMAP (no
# section field), NODES_SHIFT 10, 5 zones (3 bits), LAST_CPUPID 16 bits (NR_CPUS 256)
NODES_PGSHIFT = 54
ZONES_PGSHIFT = 51
LAST_CPUPID_PGSHIFT = 35
LAST_CPUPID_MASK = 0xFFFF
PG_head = 6

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
_ALLOCATOR_DIR = os.path.join(_PACKAGE_ROOT, "allocator") + os.sep
UTS_RELEASE = "6.18.44-fc-v857"     # the host's `uname -r` (dmesg-boot capture)
UTS_VERSION = "#1"                  # `uname -v` up to its first space, as dump_stack prints it
PREEMPT_MODEL = "PREEMPT(none)"     # preempt_model_str(): "Dynamic Preempt: none" (dmesg-boot)


@dataclass
class SlubDebugState:
    """What SLUB debugging keeps beside the objects: the call-site table (text
    addresses for %pS), the stack depot, the kernel's taint mask."""
    sites: list[str] = field(default_factory=list)
    site_index: dict[str, int] = field(default_factory=dict)
    depot: list[tuple[str, ...]] = field(default_factory=list)
    depot_index: dict[tuple[str, ...], int] = field(default_factory=dict)
    tainted_mask: int = 0
    reports: int = 0


def debug_state(sl: SlabAllocator) -> SlubDebugState:
    """sl's slab_debug state (made on first use, kept in sl.debug_state)."""
    st = sl.debug_state
    if st is None:
        st = sl.debug_state = SlubDebugState()
    return cast(SlubDebugState, st)


# -- printing helpers -----------------------------------------------------------


def ptr(sl: SlabAllocator, phys: int | None) -> str:
    """`%p` with no_hash_pointers: the direct-map address, 16 hex digits (NULL: zeros)."""
    if not phys:
        return "0000000000000000"
    return f"{sl.arch.page_offset + phys:016x}"


def print_tainted(sl: SlabAllocator) -> str:
    """kernel/panic.c print_tainted()."""
    mask = debug_state(sl).tainted_mask
    if not mask:
        return "Not tainted"
    return "Tainted: " + "".join(t if mask >> i & 1 else f for i, (t, f, _) in enumerate(TAINT_FLAGS))


def print_tainted_verbose(sl: SlabAllocator) -> str:
    mask = debug_state(sl).tainted_mask
    return "Tainted: " + ", ".join(f"[{t}]={name}" for i, (t, _, name) in enumerate(TAINT_FLAGS)
                                   if mask >> i & 1)


def add_taint(sl: SlabAllocator, flag: int) -> None:
    debug_state(sl).tainted_mask |= 1 << flag


def no_hash_pointers_enable(log: KernelLog) -> None:
    """lib/vsprintf.c no_hash_pointers_enable: kmem_cache_init calls it when
    SLUB debugging is on, and it says so."""
    for line in ("**********************************************************",
                 "**   NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE   **",
                 "**                                                      **",
                 "** This system shows unhashed kernel memory addresses   **",
                 "** via the console, logs, and other interfaces. This    **",
                 "** might reduce the security of your system.            **",
                 "**                                                      **",
                 "** If you see this message and you are not debugging    **",
                 "** the kernel, report this immediately to your system   **",
                 "** administrator!                                       **",
                 "**                                                      **",
                 "**   NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE   **",
                 "**********************************************************"):
        log.printk(KERN_WARNING, line)


def pr_err(sl: SlabAllocator, text: str) -> None:
    sl.log.printk(KERN_ERR, text)


def hex_dump_line(data: bytes) -> str:
    """lib/hexdump.c hex_dump_to_buffer, rowsize 16, groupsize 1, ascii."""
    hexpart = " ".join(f"{b:02x}" for b in data)
    ascii_column = 16 * 2 + 16 + 1
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)
    return hexpart.ljust(ascii_column) + text


def print_hex_dump(sl: SlabAllocator, level: int, prefix: str, addr: int, length: int) -> None:
    """print_hex_dump(level, prefix, DUMP_PREFIX_ADDRESS, 16, 1, addr, length, true)."""
    data = bytes(sl.mem.read(addr, length))
    for i in range(0, length, 16):
        sl.log.printk(level, f"{prefix}{ptr(sl, addr + i)}: {hex_dump_line(data[i:i + 16])}")


def print_section(sl: SlabAllocator, level: int, text: str, addr: int, length: int) -> None:
    """mm/slub.c print_section."""
    print_hex_dump(sl, level, text, addr, length)


def _frames_from(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


_where: dict[str, int] = {}   # a code file: 0 elsewhere, 1 this checkout, 2 its allocator/


def _place(filename: str) -> int:
    where = _where.get(filename)
    if where is None:
        path = os.path.realpath(filename)
        where = 2 if path.startswith(_ALLOCATOR_DIR) else 1 if path.startswith(_PACKAGE_ROOT + os.sep) else 0
        _where[filename] = where
    return where


def _in_repo(frame: FrameType) -> bool:
    return _place(frame.f_code.co_filename) > 0


def _in_allocator(frame: FrameType) -> bool:
    return _place(frame.f_code.co_filename) == 2


def _frame_name(sl: SlabAllocator, frame: FrameType) -> str:
    """%pS of a frame: an allocator function by its own name (the kernel's),
    anything else as trace.py names call sites (a driver's methods as its
    functions, `[module]` after them)."""
    if _in_allocator(frame):
        code = frame.f_code
        return f"{code.co_name}+0x{frame_lasti(frame):x}/0x{len(code.co_code):x}"
    return call_site(sl.trace, frame)


def simulated_stack(sl: SlabAllocator, frame: FrameType | None, own: bool = False,
                    limit: int = TRACK_ADDRS_COUNT) -> tuple[list[str], str | None]:
    """The stack from `frame` out, as stack_trace_save records it: the frames
    up to the allocator's caller and then those of this checkout (registered
    inline helpers looked through; this module's own frames only if `own`), at
    most `limit`; and the call site, the first frame outside allocator/
    (_RET_IP_ of the allocator's entry point)."""
    t = sl.trace
    entries: list[str] = []
    site: str | None = None
    for f in _frames_from(frame):
        if (f.f_code.co_filename == __file__ and not own) or f.f_code.co_name in t.inline:
            continue
        name = _frame_name(sl, f)
        if site is None and not _in_allocator(f) and f.f_code.co_name not in t.skip:
            site = name
        elif not _in_repo(f):
            break               # past the caller and out of this checkout: the harness
        entries.append(name)
    return entries[:limit], site


def site_address(sl: SlabAllocator, symbol: str) -> int:
    """The text address that stands for a call site (the track's addr)."""
    st = debug_state(sl)
    idx = st.site_index.get(symbol)
    if idx is None:
        idx = st.site_index[symbol] = len(st.sites)
        st.sites.append(symbol)
    base = MODULE_TEXT if symbol.endswith("]") else KERNEL_TEXT
    return base + SITE_STRIDE * idx


def site_symbol(sl: SlabAllocator, addr: int) -> str:
    """%pS of a track's addr: the call site it stands for, else the raw address."""
    st = debug_state(sl)
    for base in (KERNEL_TEXT, MODULE_TEXT):
        idx, rest = divmod(addr - base, SITE_STRIDE)
        if not rest and 0 <= idx < len(st.sites) and st.sites[idx].endswith("]") == (base == MODULE_TEXT):
            return st.sites[idx]
    return f"0x{addr:x}"


def dump_stack_print_info(sl: SlabAllocator) -> list[str]:
    """lib/dump_stack.c dump_stack_print_info (6.16+ adds the preempt model):
    the CPU line with print_tainted(), then print_tainted_verbose() when
    tainted (the host has no DMI: no `Hardware name:` line)."""
    cur = sl.current
    uid = cur.uid if cur.uid is not None else 0
    lines = [f"CPU: {cur.cpu} UID: {uid} PID: {cur.pid} Comm: {cur.comm[:20]} {print_tainted(sl)}"
             f" {UTS_RELEASE} {UTS_VERSION} {PREEMPT_MODEL} "]
    if debug_state(sl).tainted_mask:
        lines.append(print_tainted_verbose(sl))
    return lines


def __warn(sl: SlabAllocator, line: int, caller: str, trace: list[str]) -> None:
    """WARN_ON(1) in mm/slub.c: report_bug's cut-here line, kernel/panic.c __warn,
    print_modules, the CPU line of dump_stack_print_info, the call trace, the end
    marker; then TAINT_WARN. (The registers of show_regs are not simulated.)"""
    cur = sl.current
    log = sl.log
    log.printk(KERN_WARNING, "------------[ cut here ]------------")
    log.printk(KERN_WARNING, f"WARNING: CPU: {cur.cpu} PID: {cur.pid} at mm/slub.c:{line} {caller}")
    modules = sorted(set(sl.trace.drivers.values()))
    log.printk(KERN_WARNING, "Modules linked in:" + "".join(f" {m}" for m in modules))
    for text in dump_stack_print_info(sl):
        log.printk(KERN_WARNING, text)
    log.printk(KERN_WARNING, "Call Trace:")
    log.printk(KERN_WARNING, " <TASK>")
    for frame in trace:
        log.printk(KERN_WARNING, f" {frame}")
    log.printk(KERN_WARNING, " </TASK>")
    log.printk(KERN_WARNING, "---[ end trace 0000000000000000 ]---")
    add_taint(sl, TAINT_WARN)


def WARN_ON_1(sl: SlabAllocator, line: int) -> None:
    """WARN_ON(1) in the caller: the WARNING line names it, the call trace
    starts at its caller (the RIP line of show_regs would show the caller)."""
    path, _ = simulated_stack(sl, sys._getframe(1), own=True, limit=64)
    __warn(sl, line, path[0] if path else "?", path[1:])


# -- layout (mm/slub.c) -----------------------------------------------------------


def kmem_cache_debug_flags(s: KmemCache, flags: int) -> bool:
    return bool(s.flags & flags)


def slub_debug_orig_size(s: KmemCache) -> bool:
    return bool(s.flags & S.SLAB_STORE_USER) and bool(s.flags & S.SLAB_KMALLOC)


def fixup_red_left(s: KmemCache, p: int) -> int:
    return p + s.red_left_pad if s.flags & S.SLAB_RED_ZONE else p


def restore_red_left(s: KmemCache, p: int) -> int:
    return p - s.red_left_pad if s.flags & S.SLAB_RED_ZONE else p


def size_from_object(s: KmemCache) -> int:
    return s.size - s.red_left_pad if s.flags & S.SLAB_RED_ZONE else s.size


def freeptr_outside_object(s: KmemCache) -> bool:
    return s.offset >= s.inuse


def get_info_end(s: KmemCache) -> int:
    return s.inuse + SIZEOF_POINTER if freeptr_outside_object(s) else s.inuse


def slab_address(slab: Slab) -> int:
    return slab.addr


def slab_size(slab: Slab) -> int:
    return 4096 << slab.order


def slab_is_slab_page(sl: SlabAllocator, slab: Slab) -> bool:
    """folio_test_slab(slab_folio(slab)): the slab still owns its pages."""
    return 0 <= slab.pfn < len(sl.mem_map) and sl.mem_map[slab.pfn] is slab


def order_objects(order: int, size: int) -> int:
    return (4096 << order) // size


def for_each_object(s: KmemCache, slab: Slab) -> Iterator[int]:
    addr = slab_address(slab)
    p = fixup_red_left(s, addr)
    while p < addr + slab.objects * s.size:
        yield p
        p += s.size


def obj_to_index(s: KmemCache, slab: Slab, obj: int) -> int:
    return (obj - fixup_red_left(s, slab_address(slab))) // s.size


def get_freepointer(sl: SlabAllocator, s: KmemCache, obj: int) -> int:
    return S.get_freepointer(sl, s, obj)


def set_freepointer(sl: SlabAllocator, s: KmemCache, obj: int, fp: int) -> None:
    S.set_freepointer(sl, s, obj, fp)


def set_orig_size(sl: SlabAllocator, s: KmemCache, obj: int, orig_size: int) -> None:
    if not slub_debug_orig_size(s):
        return
    _u64.pack_into(sl.mem.view, obj + get_info_end(s) + 2 * SIZEOF_TRACK, orig_size)


def get_orig_size(sl: SlabAllocator, s: KmemCache, obj: int) -> int:
    if not slub_debug_orig_size(s):
        return s.object_size
    value: int = _u64.unpack_from(sl.mem.view, obj + get_info_end(s) + 2 * SIZEOF_TRACK)[0]
    return value


def check_valid_pointer(s: KmemCache, slab: Slab, obj: int) -> bool:
    """Is obj (0: NULL, valid) the start of an object of this slab?"""
    if not obj:
        return True
    base = slab_address(slab)
    obj = restore_red_left(s, obj)
    return not (obj < base or obj >= base + slab.objects * s.size or (obj - base) % s.size)


# -- tracking ------------------------------------------------------------------------


def get_track(s: KmemCache, obj: int, alloc: int) -> int:
    return obj + get_info_end(s) + alloc * SIZEOF_TRACK


def set_track_prepare(sl: SlabAllocator) -> tuple[int, str | None]:
    """stack_depot_save of the simulated stack: (handle, 0 if no stack; the call site)."""
    entries, site = simulated_stack(sl, sys._getframe(1))
    if not entries:
        return 0, site
    stack = tuple(entries)
    st = debug_state(sl)
    handle = st.depot_index.get(stack)
    if handle is None:
        st.depot.append(stack)
        handle = st.depot_index[stack] = len(st.depot)
    return handle, site


def set_track_update(sl: SlabAllocator, s: KmemCache, obj: int, alloc: int, addr: int, handle: int) -> None:
    cur = sl.current
    _track.pack_into(sl.mem.view, get_track(s, obj, alloc), addr, handle, cur.cpu, cur.pid,
                     sl.log.jiffies())


def set_track(sl: SlabAllocator, s: KmemCache, obj: int, alloc: int, addr: int | None = None) -> None:
    """Record who allocates or frees obj now: `addr` is the call site's text
    address (None: the caller found on the simulated stack)."""
    handle, site = set_track_prepare(sl)
    if addr is None:
        addr = site_address(sl, site) if site is not None else 0
    set_track_update(sl, s, obj, alloc, addr, handle)


def init_tracking(sl: SlabAllocator, s: KmemCache, obj: int) -> None:
    if not s.flags & S.SLAB_STORE_USER:
        return
    sl.mem.fill(get_track(s, obj, TRACK_ALLOC), 2 * SIZEOF_TRACK, 0)


def print_track(sl: SlabAllocator, what: str, track: int, pr_time: int) -> None:
    addr, handle, cpu, pid, when = _track.unpack_from(sl.mem.view, track)
    if not addr:
        return
    pr_err(sl, f"{what} in {site_symbol(sl, addr)} age={(pr_time - when) % (1 << 64)} cpu={cpu & 0xFFFFFFFF}"
               f" pid={pid}")
    depot = debug_state(sl).depot
    if handle and 0 < handle <= len(depot):
        for frame in depot[handle - 1]:      # stack_trace_print(entries, nr, 0)
            pr_err(sl, f" {frame}")
    else:
        pr_err(sl, "object allocation/free stack trace missing")


def print_tracking(sl: SlabAllocator, s: KmemCache, obj: int) -> None:
    pr_time = sl.log.jiffies()
    if not s.flags & S.SLAB_STORE_USER:
        return
    print_track(sl, "Allocated", get_track(s, obj, TRACK_ALLOC), pr_time)
    print_track(sl, "Freed", get_track(s, obj, TRACK_FREE), pr_time)


# -- reports -------------------------------------------------------------------------


def page_flags(sl: SlabAllocator, slab: Slab) -> tuple[int, str]:
    """slab->__page_flags and %pGp of them: head for a compound slab, then the
    fields node, zone, lastcpupid (reset to all ones on a page's free)."""
    zone = page_zone(sl.pa, slab.pfn).idx
    flags = (slab.node << NODES_PGSHIFT) | (zone << ZONES_PGSHIFT) | (LAST_CPUPID_MASK << LAST_CPUPID_PGSHIFT)
    names = []
    if slab.order:
        flags |= 1 << PG_head
        names.append("head")
    names += [f"node={slab.node}", f"zone={zone}", f"lastcpupid=0x{LAST_CPUPID_MASK:x}"]
    return flags, "|".join(names)


def print_slab_info(sl: SlabAllocator, slab: Slab) -> None:
    flags, text = page_flags(sl, slab)
    pr_err(sl, f"Slab 0x{struct_page_address(sl.pa, slab.pfn):016x} objects={slab.objects} used={slab.inuse}"
               f" fp=0x{ptr(sl, slab.freelist)} flags=0x{flags:x}({text})")


def __slab_bug(sl: SlabAllocator, s: KmemCache | None, text: str) -> None:
    debug_state(sl).reports += 1
    pr_err(sl, "=============================================================================")
    pr_err(sl, f"BUG {s.name if s is not None else '<unknown>'} ({print_tainted(sl)}): {text.rstrip(chr(10))}")
    if text.endswith("\n"):        # a format's own newline before the header's: an empty line
        pr_err(sl, "")
    pr_err(sl, "-----------------------------------------------------------------------------")
    pr_err(sl, "")


def slab_bug(sl: SlabAllocator, s: KmemCache | None, text: str) -> None:
    __slab_bug(sl, s, text)


def slab_fix(sl: SlabAllocator, s: KmemCache, text: str) -> None:
    pr_err(sl, f"FIX {s.name}: {text}")


def print_trailer(sl: SlabAllocator, s: KmemCache, slab: Slab, p: int) -> None:
    addr = slab_address(slab)
    print_tracking(sl, s, p)
    print_slab_info(sl, slab)
    pr_err(sl, f"Object 0x{ptr(sl, p)} @offset={p - addr} fp=0x{ptr(sl, get_freepointer(sl, s, p))}")
    pr_err(sl, "")
    if s.flags & S.SLAB_RED_ZONE:
        print_section(sl, KERN_ERR, "Redzone  ", p - s.red_left_pad, s.red_left_pad)
    elif p > addr + 16:
        print_section(sl, KERN_ERR, "Bytes b4 ", p - 16, 16)
    print_section(sl, KERN_ERR, "Object   ", p, min(s.object_size, 4096))
    if s.flags & S.SLAB_RED_ZONE:
        print_section(sl, KERN_ERR, "Redzone  ", p + s.object_size, s.inuse - s.object_size)
    off = get_info_end(s)
    if s.flags & S.SLAB_STORE_USER:
        off += 2 * SIZEOF_TRACK
    if slub_debug_orig_size(s):
        off += SIZEOF_POINTER
    if off != size_from_object(s):
        print_section(sl, KERN_ERR, "Padding  ", p + off, size_from_object(s) - off)


def object_err(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int, reason: str) -> None:
    slab_bug(sl, s, reason)
    if not obj or not check_valid_pointer(s, slab, obj):
        print_slab_info(sl, slab)
        pr_err(sl, f"Invalid pointer 0x{ptr(sl, obj)}")
    else:
        print_trailer(sl, s, slab, obj)
    add_taint(sl, TAINT_BAD_PAGE)
    WARN_ON_1(sl, WARN_OBJECT_ERR)


def freelist_corrupted(sl: SlabAllocator, s: KmemCache, slab: Slab, freelist: int, nextfree: int) -> bool:
    """True (after the report) if nextfree, read from `freelist`'s object, is no object of the slab."""
    if s.flags & S.SLAB_CONSISTENCY_CHECKS and not check_valid_pointer(s, slab, nextfree) and freelist:
        object_err(sl, s, slab, freelist, "Freechain corrupt")
        slab_fix(sl, s, "Isolate corrupted freechain")
        return True
    return False


def __slab_err(sl: SlabAllocator, slab: Slab) -> None:
    print_slab_info(sl, slab)
    add_taint(sl, TAINT_BAD_PAGE)
    WARN_ON_1(sl, WARN_SLAB_ERR)


def slab_err(sl: SlabAllocator, s: KmemCache | None, slab: Slab, text: str) -> None:
    __slab_bug(sl, s, text)
    __slab_err(sl, slab)


def init_object(sl: SlabAllocator, s: KmemCache, obj: int, val: int) -> None:
    """Red zones to `val` (SLUB_RED_ACTIVE or _INACTIVE), the object poisoned
    (__OBJECT_POISON: POISON_FREE, POISON_END last) up to the kmalloc request."""
    mem = sl.mem
    poison_size = s.object_size
    if s.flags & S.SLAB_RED_ZONE:
        mem.fill(obj - s.red_left_pad, s.red_left_pad, val)
        if slub_debug_orig_size(s) and val == SLUB_RED_ACTIVE:
            poison_size = get_orig_size(sl, s, obj)
    if s.flags & S.__OBJECT_POISON:
        mem.fill(obj, poison_size - 1, POISON_FREE)
        mem.fill(obj + poison_size - 1, 1, POISON_END)
    if s.flags & S.SLAB_RED_ZONE:
        mem.fill(obj + poison_size, s.inuse - poison_size, val)


def restore_bytes(sl: SlabAllocator, s: KmemCache, message: str, data: int, start: int, end: int) -> None:
    slab_fix(sl, s, f"Restoring {message} 0x{ptr(sl, start)}-0x{ptr(sl, end - 1)}=0x{data:x}")
    sl.mem.fill(start, end - start, data)


def memchr_inv(data: bytes, value: int) -> int:
    """The index of the first byte that is not `value`, or -1."""
    stripped = data.lstrip(bytes([value]))
    return len(data) - len(stripped) if stripped else -1


def check_bytes_and_report(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int, what: str,
                           start: int, value: int, nbytes: int, slab_obj_print: bool) -> bool:
    data = bytes(sl.mem.read(start, nbytes))
    i = memchr_inv(data, value)
    if i < 0:
        return True
    fault = start + i
    end = start + len(data.rstrip(bytes([value])))
    addr = slab_address(slab)
    pr_err(sl, f"[{what} overwritten] 0x{ptr(sl, fault)}-0x{ptr(sl, end - 1)} @offset={fault - addr}."
               f" First byte 0x{data[i]:x} instead of 0x{value:x}")
    if slab_obj_print:
        object_err(sl, s, slab, obj, "Object corrupt")
    restore_bytes(sl, s, what, value, fault, end)
    return False


def check_pad_bytes(sl: SlabAllocator, s: KmemCache, slab: Slab, p: int) -> bool:
    off = get_info_end(s)
    if s.flags & S.SLAB_STORE_USER:
        off += 2 * SIZEOF_TRACK
        if s.flags & S.SLAB_KMALLOC:
            off += SIZEOF_POINTER
    if size_from_object(s) == off:
        return True
    return check_bytes_and_report(sl, s, slab, p, "Object padding", p + off, POISON_INUSE,
                                  size_from_object(s) - off, True)


def slab_pad_check(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    """The bytes after the last object of a POISON slab must be POISON_INUSE."""
    if not s.flags & S.SLAB_POISON:
        return
    start = slab_address(slab)
    length = slab_size(slab)
    remainder = length % s.size
    if not remainder:
        return
    pad = start + length - remainder
    data = bytes(sl.mem.read(pad, remainder))
    i = memchr_inv(data, POISON_INUSE)
    if i < 0:
        return
    fault = pad + i
    end = pad + len(data.rstrip(bytes([POISON_INUSE])))
    slab_bug(sl, s, f"Padding overwritten. 0x{ptr(sl, fault)}-0x{ptr(sl, end - 1)} @offset={fault - start}")
    print_section(sl, KERN_ERR, "Padding ", pad, remainder)
    __slab_err(sl, slab)
    restore_bytes(sl, s, "slab padding", POISON_INUSE, fault, end)


def check_object(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int, val: int) -> bool:
    p = obj
    endobject = obj + s.object_size
    ret = True
    if s.flags & S.SLAB_RED_ZONE:
        if not check_bytes_and_report(sl, s, slab, obj, "Left Redzone", obj - s.red_left_pad, val,
                                      s.red_left_pad, ret):
            ret = False
        if not check_bytes_and_report(sl, s, slab, obj, "Right Redzone", endobject, val,
                                      s.inuse - s.object_size, ret):
            ret = False
        if slub_debug_orig_size(s) and val == SLUB_RED_ACTIVE:
            orig_size = get_orig_size(sl, s, obj)
            if s.object_size > orig_size and not check_bytes_and_report(
                    sl, s, slab, obj, "kmalloc Redzone", p + orig_size, val, s.object_size - orig_size, ret):
                ret = False
    elif s.flags & S.SLAB_POISON and s.object_size < s.inuse:
        if not check_bytes_and_report(sl, s, slab, p, "Alignment padding", endobject, POISON_INUSE,
                                      s.inuse - s.object_size, ret):
            ret = False
    if s.flags & S.SLAB_POISON:
        if val != SLUB_RED_ACTIVE and s.flags & S.__OBJECT_POISON:
            if s.object_size > 1 and not check_bytes_and_report(
                    sl, s, slab, p, "Poison", p, POISON_FREE, s.object_size - 1, ret):
                ret = False
            if not check_bytes_and_report(sl, s, slab, p, "End Poison", p + s.object_size - 1, POISON_END, 1,
                                          ret):
                ret = False
        if not check_pad_bytes(sl, s, slab, p):
            ret = False
    if (freeptr_outside_object(s) or val != SLUB_RED_ACTIVE) and \
            not check_valid_pointer(s, slab, get_freepointer(sl, s, p)):
        object_err(sl, s, slab, p, "Freepointer corrupt")
        set_freepointer(sl, s, p, 0)
        ret = False
    return ret


def check_slab(sl: SlabAllocator, s: KmemCache, slab: Slab) -> bool:
    if not slab_is_slab_page(sl, slab):
        slab_err(sl, s, slab, "Not a valid slab page")
        return False
    maxobj = order_objects(slab.order, s.size)
    if slab.objects > maxobj:
        slab_err(sl, s, slab, f"objects {slab.objects} > max {maxobj}")
        return False
    if slab.inuse > slab.objects:
        slab_err(sl, s, slab, f"inuse {slab.inuse} > max {slab.objects}")
        return False
    if slab.frozen:
        slab_err(sl, s, slab, "Slab disabled since SLUB metadata consistency check failed")
        return False
    slab_pad_check(sl, s, slab)
    return True


def on_freelist(sl: SlabAllocator, s: KmemCache, slab: Slab, search: int) -> bool:
    """Is `search` (0: none) on the slab's freelist? Also checks the freelist
    and the slab's object counters, fixing them."""
    nr = 0
    fp = slab.freelist
    obj = 0
    while fp and nr <= slab.objects:
        if fp == search:
            return True
        if not check_valid_pointer(s, slab, fp):
            if obj:
                object_err(sl, s, slab, obj, "Freechain corrupt")
                set_freepointer(sl, s, obj, 0)
            else:
                slab_err(sl, s, slab, "Freepointer corrupt")
                slab.freelist = 0
                slab.inuse = slab.objects
                slab_fix(sl, s, "Freelist cleared")
                return False
            break
        obj = fp
        fp = get_freepointer(sl, s, obj)
        nr += 1
    max_objects = min(order_objects(slab.order, s.size), MAX_OBJS_PER_PAGE)
    if slab.objects != max_objects:
        slab_err(sl, s, slab, f"Wrong number of objects. Found {slab.objects} but should be {max_objects}")
        slab.objects = max_objects
        slab_fix(sl, s, "Number of objects adjusted")
    if slab.inuse != slab.objects - nr:
        slab_err(sl, s, slab, f"Wrong object count. Counter is {slab.inuse} but counted were {slab.objects - nr}")
        slab.inuse = slab.objects - nr
        slab_fix(sl, s, "Object count adjusted")
    return search == 0


def trace(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int, alloc: bool) -> None:
    """SLAB_TRACE (slab_debug=T): one line per operation, a free's object dumped."""
    if not s.flags & S.SLAB_TRACE:
        return
    sl.log.printk(KERN_INFO, f"TRACE {s.name} {'alloc' if alloc else 'free'} 0x{ptr(sl, obj)}"
                             f" inuse={slab.inuse} fp=0x{ptr(sl, slab.freelist)}")
    if not alloc:
        print_section(sl, KERN_INFO, "Object ", obj, s.object_size)


# -- the hooks slub.py calls for debug caches ---------------------------------------


def setup_object_debug(sl: SlabAllocator, s: KmemCache, obj: int) -> None:
    """A new slab's object: inactive red zones, poison, empty tracks."""
    if not s.flags & (S.SLAB_STORE_USER | S.SLAB_RED_ZONE | S.__OBJECT_POISON):
        return
    init_object(sl, s, obj, SLUB_RED_INACTIVE)
    init_tracking(sl, s, obj)


def setup_slab_debug(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    """A new POISON slab is filled with POISON_INUSE first (allocate_slab)."""
    if not s.flags & S.SLAB_POISON:
        return
    sl.mem.fill(slab_address(slab), slab_size(slab), POISON_INUSE)


def alloc_consistency_checks(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int) -> bool:
    if not check_slab(sl, s, slab):
        return False
    if not check_valid_pointer(s, slab, obj):
        object_err(sl, s, slab, obj, "Freelist Pointer check fails")
        return False
    return check_object(sl, s, slab, obj, SLUB_RED_INACTIVE)


def alloc_debug_processing(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int,
                           orig_size: int | None = None) -> bool:
    """obj was just taken off slab's freelist (inuse counted): check it (F) and
    arm it (active red zones, orig_size). False: the slab is bad and now marked
    all used and frozen; the caller must not hand obj out. The caller records
    the TRACK_ALLOC (set_track) on success, as ___slab_alloc does."""
    if s.flags & S.SLAB_CONSISTENCY_CHECKS and not alloc_consistency_checks(sl, s, slab, obj):
        if slab_is_slab_page(sl, slab):
            slab_fix(sl, s, "Marking all objects used")
            slab.inuse = slab.objects
            slab.freelist = 0
            slab.frozen = True
        return False
    trace(sl, s, slab, obj, True)
    set_orig_size(sl, s, obj, s.object_size if orig_size is None else orig_size)
    init_object(sl, s, obj, SLUB_RED_ACTIVE)
    return True


def free_consistency_checks(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int) -> bool:
    if not check_valid_pointer(s, slab, obj):
        slab_err(sl, s, slab, f"Invalid object pointer 0x{ptr(sl, obj)}")
        return False
    if on_freelist(sl, s, slab, obj):
        object_err(sl, s, slab, obj, "Object already free")
        return False
    if not check_object(sl, s, slab, obj, SLUB_RED_ACTIVE):
        return False
    if s is not slab.cache:
        if not slab_is_slab_page(sl, slab):
            slab_err(sl, s, slab, f"Attempt to free object(0x{ptr(sl, obj)}) outside of slab")
        elif slab.cache is None:
            slab_err(sl, None, slab, f"No slab cache for object 0x{ptr(sl, obj)}")
        else:
            object_err(sl, s, slab, obj, "page slab pointer corrupt.")
        return False
    return True


def free_debug_processing(sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int,
                          addr: int | None = None) -> bool:
    """obj is being freed into slab (under list_lock, free_to_partial_list): check
    it (F), record TRACK_FREE (U), disarm it (inactive red zones, poison). False:
    the free must not happen (reported, `FIX ...: Object at ... not freed`).
    addr: the caller's text address, None to take it from the simulated stack."""
    handle, site = set_track_prepare(sl) if s.flags & S.SLAB_STORE_USER else (0, None)
    if addr is None:
        addr = site_address(sl, site) if site is not None else 0
    checks_ok = False
    if s.flags & S.SLAB_CONSISTENCY_CHECKS and not check_slab(sl, s, slab):
        pass
    elif slab.inuse < 1:
        slab_err(sl, s, slab, f"Slab has {slab.inuse} allocated objects but 1 are to be freed\n")
    elif s.flags & S.SLAB_CONSISTENCY_CHECKS and not free_consistency_checks(sl, s, slab, obj):
        pass
    else:
        if s.flags & S.SLAB_STORE_USER:
            set_track_update(sl, s, obj, TRACK_FREE, addr, handle)
        trace(sl, s, slab, obj, False)
        init_object(sl, s, obj, SLUB_RED_INACTIVE)
        checks_ok = True
    if not checks_ok:
        slab_fix(sl, s, f"Object at 0x{ptr(sl, obj)} not freed")
    return checks_ok


def free_slab_checks(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    """mm/slub.c free_slab with SLAB_CONSISTENCY_CHECKS: the slab's padding and
    each of its objects (all free) are checked before the pages go back."""
    slab_pad_check(sl, s, slab)
    for p in for_each_object(s, slab):
        check_object(sl, s, slab, p, SLUB_RED_INACTIVE)


# -- validate (sysfs `validate`) --------------------------------------------------------


def validate_slab(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    if not check_slab(sl, s, slab) or not on_freelist(sl, s, slab, 0):
        return
    free: set[int] = set()
    p = slab.freelist
    while p:
        free.add(p)
        p = get_freepointer(sl, s, p)
    for p in for_each_object(s, slab):
        val = SLUB_RED_INACTIVE if p in free else SLUB_RED_ACTIVE
        if not check_object(sl, s, slab, p, val):
            break


def validate_slab_node(sl: SlabAllocator, s: KmemCache, n: KmemCacheNode) -> int:
    count = 0
    for slab in list(n.partial):
        validate_slab(sl, s, slab)
        count += 1
    if count != n.nr_partial:
        pr_err(sl, f"SLUB {s.name}: {count} partial slabs counted but counter={n.nr_partial}")
    if not s.flags & S.SLAB_STORE_USER:
        return count
    for slab in list(n.full):
        validate_slab(sl, s, slab)
        count += 1
    if count != n.nr_slabs:
        pr_err(sl, f"SLUB: {s.name} {count} slabs counted but counter={n.nr_slabs}")
    return count


def validate_slab_cache(sl: SlabAllocator, s: KmemCache) -> int:
    """mm/slub.c validate_slab_cache: flush the CPU slabs, check every slab on
    the node lists (the full lists too with STORE_USER); the slabs counted."""
    S.flush_all(sl, s)
    return sum(validate_slab_node(sl, s, n) for _, n in s.nodes())
