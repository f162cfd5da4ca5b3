"""Linux 6.18's memory reports: warn_alloc, dump_stack, __show_mem.

warn_alloc (mm/page_alloc.c) prints the failure line, dump_stack()
(lib/dump_stack.c dump_stack_print_info, arch/x86/kernel/dumpstack.c
show_trace_log_lvl) and __show_mem (mm/show_mem.c show_free_areas), as 6.12
has them with the 6.13-6.18 changes the reference names (the preempt model in
dump_stack's first line, 6.16; no NR_BOUNCE counter, its fields print 0).

The machine is this project's x86_64 6.18 one: CONFIG_NUMA (a "Node %d "
prefix), THP, no CMA, no MEMORY_FAILURE, no SHADOW_CALL_STACK, PREEMPT_DYNAMIC
in mode none (tests/data/linux-6.18/config-mm, dmesg-boot). The call trace is
the simulated path read off the Python stack (the allocator functions under
their 6.18 symbols, the driver's functions as module text, the system call it
came through); the symbol offsets and sizes and the user registers are
invented (docs/deviations.md).
"""
from __future__ import annotations

import sys
import zlib
from types import FrameType
from typing import TYPE_CHECKING

from ..printk import KERN_WARNING
from ..trace import call_site as call_site  # re-exported: slub._ret_ip names its caller with it
from .gfp import (
    __GFP_DIRECT_RECLAIM,
    __GFP_DMA,
    __GFP_NOMEMALLOC,
    __GFP_NOWARN,
    MAX_NR_ZONES,
    MIGRATE_TYPES,
    gfp_format,
    gfp_zone,
)
from .page_alloc import __ratelimit
from .procfs import (
    HSTATE_SIZES_KB,
    MAX_RECLAIM_RETRIES,
    NR_PAGE_ORDERS,
    K,
    global_node_page_state_pages,
    global_zone_page_state,
    high_wmark_pages,
    low_wmark_pages,
    min_wmark_pages,
    node_page_state_pages,
    node_zones,
    populated_zone,
    zone_page_state,
)

if TYPE_CHECKING:
    from .page_alloc import Node, PageAllocator, Zone

# utsname of the simulated kernel and dump_stack's build details
UTS_RELEASE = "6.18.0"
UTS_VERSION = "#1 SMP PREEMPT_DYNAMIC"
PREEMPT_MODEL = "PREEMPT(none)"          # preempt_model_str(), PREEMPT_DYNAMIC in mode none
# dump_stack_set_arch_desc(): the DMI product, BIOS version and date (x86 dmi_setup)
HARDWARE_NAME = "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.3-debian-1.16.3-2 04/01/2014"

SHOW_MEM_FILTER_NODES = 0x0001          # include/linux/mm.h

MIGRATE_TYPE_LETTERS = "UMEHI"          # show_migration_types: U M E H (no CMA) I


# -- dump_stack ----------------------------------------------------------------

# Which Python functions stand for which 6.18 functions, innermost first in
# each chain (a chain is what the C code has at that point). A Python function
# not named here is not printed (inline in C, or not kernel code). The sizes
# are invented, of the order of the real ones.
_TRACE_SYMBOLS: dict[str, tuple[str, ...]] = {
    "__alloc_pages_may_oom": (),
    "__alloc_pages_slowpath": ("__alloc_pages_slowpath.constprop.0",),
    "__alloc_pages": ("__alloc_frozen_pages_noprof", "alloc_pages_mpol"),
    "alloc_pages": ("alloc_pages_noprof",),
    "__get_free_pages": ("__get_free_pages_noprof",),
    "get_zeroed_page": ("get_zeroed_page_noprof",),
    "allocate_slab": ("allocate_slab",),
    "alloc_slab_page": (),             # inline in allocate_slab
    "new_slab": (),                    # inline: a wrapper of allocate_slab
    "___slab_alloc": ("___slab_alloc", "__slab_alloc.isra.0"),
    "slab_alloc_node": (),             # __always_inline
    "kmem_cache_alloc": ("kmem_cache_alloc_noprof",),
    "kmem_cache_alloc_node": ("kmem_cache_alloc_node_noprof",),
    "__do_kmalloc_node": (),           # __always_inline in __kmalloc_noprof
    "kmalloc": ("__kmalloc_noprof",),
    "kmalloc_node": ("__kmalloc_node_noprof",),
    "kzalloc": (),                     # static inline
    "kcalloc": (),
    "___kmalloc_large_node": ("___kmalloc_large_node",),
    "__kmalloc_large_node": ("__kmalloc_large_node_noprof",),
    "__vmalloc_area_node": ("__vmalloc_area_node",),
    "__vmalloc_node_range": ("__vmalloc_node_range_noprof",),
    "__vmalloc_node": ("__vmalloc_node_noprof",),
    "__vmalloc": ("__vmalloc_noprof",),
    "vmalloc": ("vmalloc_noprof",),
    "vzalloc": ("vzalloc_noprof",),
    "vmalloc_user": ("vmalloc_user_noprof",),
    "vmalloc_32": ("vmalloc_32_noprof",),
    "mempool_alloc": ("mempool_alloc_noprof",),
    "mempool_alloc_slab": ("mempool_alloc_slab",),
    "mempool_kmalloc": ("mempool_kmalloc",),
    "mempool_alloc_pages": ("mempool_alloc_pages",),
}
_TEXT_SIZE: dict[str, int] = {
    "dump_stack_lvl": 0x80, "warn_alloc": 0x190, "dump_header": 0x1a0,
    "oom_kill_process": 0x2b0, "out_of_memory": 0x2e0,
    "__alloc_pages_slowpath.constprop.0": 0xd80, "__alloc_frozen_pages_noprof": 0x350,
    "alloc_pages_mpol": 0x1b0, "alloc_pages_noprof": 0x60, "__get_free_pages_noprof": 0x20,
    "get_zeroed_page_noprof": 0x20, "allocate_slab": 0x2a0, "new_slab": 0x50,
    "___slab_alloc": 0x740, "__slab_alloc.isra.0": 0x30, "kmem_cache_alloc_noprof": 0x2f0,
    "__kmalloc_noprof": 0x3c0, "__kmalloc_node_noprof": 0x3d0, "kmem_cache_alloc_node_noprof": 0x2f0,
    "___kmalloc_large_node": 0x110, "vzalloc_noprof": 0x20, "vmalloc_user_noprof": 0x20,
    "__kmalloc_large_node_noprof": 0x20, "__vmalloc_area_node": 0x3a0,
    "__vmalloc_node_range_noprof": 0x6a0, "__vmalloc_node_noprof": 0x60,
    "__vmalloc_noprof": 0x20, "vmalloc_noprof": 0x20, "vmalloc_32_noprof": 0x20,
    "mempool_alloc_noprof": 0x190, "mempool_alloc_slab": 0x20, "mempool_kmalloc": 0x20,
    "mempool_alloc_pages": 0x20,
    "vfs_write": 0x4c0, "ksys_write": 0xe0, "vfs_read": 0x340, "ksys_read": 0xe0,
    "__x64_sys_ioctl": 0xb0, "do_dentry_open": 0x4a0, "vfs_open": 0x30, "path_openat": 0xf00,
    "do_filp_open": 0xd0, "do_sys_openat2": 0xa0, "__x64_sys_openat": 0x60,
    "do_syscall_64": 0x290, "entry_SYSCALL_64_after_hwframe": 0x7e,
}
# the system call a driver method is reached through (innermost first), its number
_SYSCALL_PATH: dict[str, tuple[tuple[str, ...], int]] = {
    "write": (("vfs_write", "ksys_write"), 1),
    "read": (("vfs_read", "ksys_read"), 0),
    "ioctl": (("__x64_sys_ioctl",), 16),
    "open": (("do_dentry_open", "vfs_open", "path_openat", "do_filp_open", "do_sys_openat2",
              "__x64_sys_openat"), 257),
}


def _sym(sym: str, salt: int) -> str:
    """`%pBb` of a return address in `sym`: `sym+0xoff/0xsize`."""
    size = _TEXT_SIZE.get(sym, 0x100)
    off = 0x5 + (salt * 0x2b + zlib.crc32(sym.encode())) % max(1, size - 0x8)
    return f"{sym}+0x{off:x}/0x{size:x}"


def dump_stack_print_info(pa: PageAllocator) -> list[str]:
    """lib/dump_stack.c dump_stack_print_info (6.16+): `CPU: %d UID: %u PID:
    %d Comm: %.20s %s%s %s %.*s %s ` (tainted, release, version up to the
    first space, the preempt model; no build id), then `Hardware name:`."""
    cur = pa.current
    uid = cur.uid if cur.uid is not None else 0
    version = UTS_VERSION.split(" ", 1)[0]
    lines = [f"CPU: {cur.cpu} UID: {uid} PID: {max(cur.pid, 0)} Comm: {cur.comm[:20]} "
             f"Not tainted {UTS_RELEASE} {version} {PREEMPT_MODEL} "]
    if HARDWARE_NAME:
        lines.append(f"Hardware name: {HARDWARE_NAME}")
    return lines


def show_trace(pa: PageAllocator, top: tuple[str, ...], frame: FrameType | None) -> list[str]:
    """arch/x86/kernel/dumpstack.c show_trace_log_lvl for the simulated
    path: `Call Trace:`, ` <TASK>`, one ` %pBb` line per return address
    (`top`: the report's own functions, innermost first), the user registers
    at the system call entry, ` </TASK>`."""
    out = ["Call Trace:", " <TASK>"]
    out += [" " + _sym(sym, i) for i, sym in enumerate(top)]
    method = None
    seen: set[str] = set()
    while frame is not None:
        code = frame.f_code
        name = code.co_name
        chain = _TRACE_SYMBOLS.get(name)
        if chain is not None and name not in seen:
            seen.add(name)
            for i, sym in enumerate(chain):
                out.append(" " + _sym(sym, frame.f_lineno - code.co_firstlineno + i))
        elif code.co_varnames[:1] == ("self",) and \
                type(frame.f_locals.get("self")) in pa.trace.drivers:
            out.append(" " + call_site(pa.trace, frame))
            method = name
        frame = frame.f_back
    cur = pa.current
    if method is not None and not cur.kthread:
        syms, nr = _SYSCALL_PATH.get(method, ((), -1))
        out += [" " + _sym(sym, len(out)) for sym in syms]
        out += [" " + _sym("do_syscall_64", 0x71), " entry_SYSCALL_64_after_hwframe+0x76/0x7e"]
        out += user_regs(cur.pid, nr)
    out.append(" </TASK>")
    return out


def user_regs(pid: int, orig_ax: int) -> list[str]:
    """__show_regs(regs, SHOW_REGS_SHORT) of the system call's entry frame
    (show_iret_regs, then the general registers). The user addresses are
    invented, per pid; RAX is -ENOSYS as at entry, R11 the saved RFLAGS."""
    rip = 0x7F0000000000 | (zlib.crc32(f"rip{pid}".encode()) & 0xFFFFFFFF0) | 0x7
    rsp = 0x7FFC00000000 | (zlib.crc32(f"rsp{pid}".encode()) & 0xFFFFFFF0)
    flags = 0x246
    return [f"RIP: 0033:0x{rip:x}",
            f"RSP: 002b:{rsp:016x} EFLAGS: {flags:08x} ORIG_RAX: {orig_ax & (2**64 - 1):016x}",
            f"RAX: {2**64 - 38:016x} RBX: {0:016x} RCX: {rip:016x}",
            f"RDX: {0:016x} RSI: {0:016x} RDI: {0:016x}",
            f"RBP: {0:016x} R08: {0:016x} R09: {0:016x}",
            f"R10: {0:016x} R11: {flags:016x} R12: {0:016x}",
            f"R13: {0:016x} R14: {0:016x} R15: {0:016x}"]


def dump_stack(pa: PageAllocator, top: tuple[str, ...] = ("dump_stack_lvl",),
               frame: FrameType | None = None) -> str:
    """lib/dump_stack.c dump_stack(): dump_stack_print_info, then the call
    trace of the simulated path from `frame` (default: the caller's)."""
    if frame is None:
        frame = sys._getframe(1)
    return "\n".join(dump_stack_print_info(pa) + show_trace(pa, top, frame))


# -- __show_mem ------------------------------------------------------------------


def _pcp_count(z: Zone, cpu: int) -> int:
    return z.pcp[cpu].count


def show_free_areas(pa: PageAllocator, filter: int = 0, nodemask: object = None,
                    max_zone_idx: int = MAX_NR_ZONES - 1) -> list[str]:
    """mm/show_mem.c show_free_areas, line for line: the global counters (in
    pages), one line per node with managed zones at or below max_zone_idx,
    then per populated zone its counters (kB) and lowmem_reserve[], the free
    blocks per order with the migrate types that have some (U M E H I), the
    hugetlb pools per node, the page cache and swap. The nodemask filter
    never hides a node here (no cpuset or mempolicy restricts the tasks)."""
    cpus = range(pa.sched.nr_cpus)
    zones = [z for z in pa.zones if populated_zone(z) and z.idx <= max_zone_idx]
    free_pcp = sum(_pcp_count(z, cpu) for z in zones for cpu in cpus)

    def g(item: str) -> int:
        return global_node_page_state_pages(pa, item)
    lines = [
        f"active_anon:{g('nr_active_anon')} inactive_anon:{g('nr_inactive_anon')}"
        f" isolated_anon:{g('nr_isolated_anon')}",
        f" active_file:{g('nr_active_file')} inactive_file:{g('nr_inactive_file')}"
        f" isolated_file:{g('nr_isolated_file')}",
        f" unevictable:{g('nr_unevictable')} dirty:{g('nr_dirty')} writeback:{g('nr_writeback')}",
        f" slab_reclaimable:{g('nr_slab_reclaimable')} slab_unreclaimable:{g('nr_slab_unreclaimable')}",
        f" mapped:{g('nr_mapped')} shmem:{g('nr_shmem')} pagetables:{g('nr_page_table_pages')}",
        f" sec_pagetables:{g('nr_sec_page_table_pages')} bounce:0",
        f" kernel_misc_reclaimable:{g('nr_kernel_misc_reclaimable')}",
        f" free:{global_zone_page_state(pa, 'nr_free_pages')} free_pcp:{free_pcp}"
        f" free_cma:{global_zone_page_state(pa, 'nr_free_cma')}",
    ]
    for node in pa.nodes:
        if not any(z.managed for z in node_zones(pa, node) if z.idx <= max_zone_idx):
            continue                     # node_has_managed_zones
        lines.append(show_node_stats(node))
    cur_cpu = pa.current.cpu
    for z in zones:
        zone_pcp = sum(_pcp_count(z, cpu) for cpu in cpus)
        lines.append(
            f"Node {z.node.id} {z.name}"
            f" free:{K(zone_page_state(z, 'nr_free_pages'))}kB"
            f" boost:{K(z.watermark_boost)}kB"
            f" min:{K(min_wmark_pages(z))}kB"
            f" low:{K(low_wmark_pages(z))}kB"
            f" high:{K(high_wmark_pages(z))}kB"
            f" reserved_highatomic:{K(z.nr_reserved_highatomic)}KB"
            f" active_anon:{K(zone_page_state(z, 'nr_zone_active_anon'))}kB"
            f" inactive_anon:{K(zone_page_state(z, 'nr_zone_inactive_anon'))}kB"
            f" active_file:{K(zone_page_state(z, 'nr_zone_active_file'))}kB"
            f" inactive_file:{K(zone_page_state(z, 'nr_zone_inactive_file'))}kB"
            f" unevictable:{K(zone_page_state(z, 'nr_zone_unevictable'))}kB"
            f" writepending:{K(zone_page_state(z, 'nr_zone_write_pending'))}kB"
            f" present:{K(z.present)}kB"
            f" managed:{K(z.managed)}kB"
            f" mlocked:{K(zone_page_state(z, 'nr_mlock'))}kB"
            f" bounce:0kB"
            f" free_pcp:{K(zone_pcp)}kB"
            f" local_pcp:{K(_pcp_count(z, cur_cpu) if cur_cpu < len(z.pcp) else 0)}kB"
            f" free_cma:{K(zone_page_state(z, 'nr_free_cma'))}kB")
        lines.append("lowmem_reserve[]:" + "".join(f" {r}" for r in z.lowmem_reserve))
    for z in zones:
        line = f"Node {z.node.id} {z.name}: "
        total = 0
        for order in range(NR_PAGE_ORDERS):
            area = z.free_area[order]
            nr = area.nr_free
            total += nr << order
            line += f"{nr}*{K(1) << order}kB "
            if nr:
                line += "(" + "".join(MIGRATE_TYPE_LETTERS[mt] for mt in range(MIGRATE_TYPES)
                                      if area.free_list[mt]) + ") "
        lines.append(line + f"= {K(total)}kB")
    for node in pa.nodes:                # hugetlb_show_meminfo_node: no huge pages here
        lines += [f"Node {node.id} hugepages_total=0 hugepages_free=0 hugepages_surp=0"
                  f" hugepages_size={size}kB" for size in HSTATE_SIZES_KB]
    lines.append(f"{g('nr_file_pages')} total pagecache pages")
    # mm/swap_state.c show_swap_cache_info: no swap
    lines += ["0 pages in swap cache", "Free swap  = 0kB", "Total swap = 0kB"]
    return lines


def show_node_stats(node: Node) -> str:
    """show_free_areas' per-node line (CONFIG_TRANSPARENT_HUGEPAGE fields,
    no shadow call stack); kernel_stack is NR_KERNEL_STACK_KB, already kB."""
    def n(item: str) -> int:
        return node_page_state_pages(node, item)
    unreclaimable = node.kswapd_failures >= MAX_RECLAIM_RETRIES
    return (f"Node {node.id}"
            f" active_anon:{K(n('nr_active_anon'))}kB"
            f" inactive_anon:{K(n('nr_inactive_anon'))}kB"
            f" active_file:{K(n('nr_active_file'))}kB"
            f" inactive_file:{K(n('nr_inactive_file'))}kB"
            f" unevictable:{K(n('nr_unevictable'))}kB"
            f" isolated(anon):{K(n('nr_isolated_anon'))}kB"
            f" isolated(file):{K(n('nr_isolated_file'))}kB"
            f" mapped:{K(n('nr_mapped'))}kB"
            f" dirty:{K(n('nr_dirty'))}kB"
            f" writeback:{K(n('nr_writeback'))}kB"
            f" shmem:{K(n('nr_shmem'))}kB"
            f" shmem_thp:{K(n('nr_shmem_hugepages'))}kB"
            f" shmem_pmdmapped:{K(n('nr_shmem_pmdmapped'))}kB"
            f" anon_thp:{K(n('nr_anon_transparent_hugepages'))}kB"
            f" writeback_tmp:0kB"
            f" kernel_stack:{n('nr_kernel_stack')}kB"
            f" pagetables:{K(n('nr_page_table_pages'))}kB"
            f" sec_pagetables:{K(n('nr_sec_page_table_pages'))}kB"
            f" all_unreclaimable? {'yes' if unreclaimable else 'no'}")


def __show_mem(pa: PageAllocator, filter: int = 0, nodemask: object = None,
               max_zone_idx: int = MAX_NR_ZONES - 1) -> list[str]:
    """mm/show_mem.c __show_mem: `Mem-Info:`, show_free_areas, then the page
    counts over the populated zones (no CMA, MEMORY_FAILURE or allocation
    profiling lines on this config)."""
    lines = ["Mem-Info:"] + show_free_areas(pa, filter, nodemask, max_zone_idx)
    populated = [z for z in pa.zones if populated_zone(z)]
    total = sum(z.present for z in populated)
    reserved = sum(z.present - z.managed for z in populated)
    lines += [f"{total} pages RAM", "0 pages HighMem/MovableOnly", f"{reserved} pages reserved"]
    return lines


def show_mem(pa: PageAllocator) -> str:
    """show_mem() (include/linux/mm.h: __show_mem(0, NULL, MAX_NR_ZONES - 1))."""
    return "\n".join(__show_mem(pa))


def printk_lines(pa: PageAllocator, lines: list[str], level: int = KERN_WARNING) -> None:
    """The lines into the log, one record each (printk with KERN_DEFAULT:
    the default message level 4)."""
    pa.log.printk(level, "\n".join(lines))


# -- warn_alloc ----------------------------------------------------------------


def has_managed_dma(pa: PageAllocator) -> bool:
    """mm/page_alloc.c has_managed_dma: some DMA zone has managed pages."""
    return any(z.idx == 0 and z.managed for z in pa.zones)


def warn_alloc(pa: PageAllocator, gfp_mask: int, nodemask: object, msg: str,
               frame: FrameType | None = None) -> bool:
    """mm/page_alloc.c warn_alloc: nothing for __GFP_NOWARN, beyond the
    ratelimit (nopage_rs: one report per 10 s, shared by every caller, the
    page allocator's state) or for a __GFP_DMA request on a machine with no
    managed DMA pages; else warn_alloc_report. `msg` is the message already
    formatted (`vmalloc error: size 4096, ...`); `frame` the innermost
    frame of the path dump_stack shows (default: the caller's). True when
    it printed."""
    if gfp_mask & __GFP_NOWARN:
        return False
    if not __ratelimit(pa, pa.nopage_rs, "warn_alloc"):
        return False
    if gfp_mask & __GFP_DMA and not has_managed_dma(pa):
        return False
    warn_alloc_report(pa, gfp_mask, nodemask, msg, frame if frame is not None else sys._getframe(1))
    return True


def warn_alloc_report(pa: PageAllocator, gfp_mask: int, nodemask: object, msg: str,
                      frame: FrameType | None) -> None:
    """What warn_alloc prints: `%s: %pV, mode:%#x(%pGg), nodemask=%*pbl` and
    cpuset_print_current_mems_allowed's `,cpuset=/,mems_allowed=0`,
    dump_stack() of the path from `frame` up, warn_alloc_show_mem."""
    cur = pa.current
    nodes = "(null)" if nodemask is None else str(nodemask)
    pa.log.printk(KERN_WARNING, f"{cur.comm}: {msg}, mode:{gfp_mask:#x}({gfp_format(gfp_mask)}),"
                                f" nodemask={nodes},cpuset=/,mems_allowed={mems_allowed(pa)}")
    trace = pa.pending_trace
    if trace is None:
        trace = dump_stack(pa, ("dump_stack_lvl", "warn_alloc"), frame)
    pa.log.printk(KERN_WARNING, trace)
    warn_alloc_show_mem(pa, gfp_mask, nodemask)


def warn_alloc_hook(pa: PageAllocator, gfp_mask: int, order: int, msg: str) -> None:
    """page_alloc.warn_alloc_hook: the report of a page allocation failure
    once the page allocator's warn_alloc_failure has passed warn_alloc's
    tests (__GFP_NOWARN, nopage_rs, has_managed_dma)."""
    warn_alloc_report(pa, gfp_mask, None, msg, sys._getframe(1))


def mems_allowed(pa: PageAllocator) -> str:
    """`%*pbl` of current->mems_allowed: every node with memory (a range list)."""
    ids = [n.id for n in pa.nodes]
    if not ids:
        return ""
    return str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"


def warn_alloc_show_mem(pa: PageAllocator, gfp_mask: int, nodemask: object) -> None:
    """mm/page_alloc.c warn_alloc_show_mem: __show_mem up to gfp_zone(gfp),
    filtered to the allowed nodes unless the task may go beyond them (an
    OOM victim, or a request that cannot reclaim)."""
    flt = SHOW_MEM_FILTER_NODES
    if not gfp_mask & __GFP_NOMEMALLOC and pa.current.memdie:
        flt &= ~SHOW_MEM_FILTER_NODES
    if not gfp_mask & __GFP_DIRECT_RECLAIM:
        flt &= ~SHOW_MEM_FILTER_NODES
    printk_lines(pa, __show_mem(pa, flt, nodemask, gfp_zone(gfp_mask)))
