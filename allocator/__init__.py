r"""A Linux kernel's memory management, simulated in plain Python (2.6.18: i386, SLAB).

    from allocator import Kernel, gfp
    k = Kernel(version="2.6.18", mem=64 << 20)
    c = k.kmem_cache_create("demo", 100, 0, 0)
    obj = k.kmem_cache_alloc(c, gfp.GFP_KERNEL)

Parts. One class per kernel mechanism owns that subsystem's state, in a file
named after its kernel source; it is constructed with the parts it uses and
reaches nothing else. Each part uses only parts of lower layers:

    3  background        mempool           vmalloc
         |     \           |    \          /    |
    2    |      '-------> slab (SLAB; slab_debug is its DEBUG option)
         |                 |      \             |
    1    |             page_alloc  \            |
         v                 v        v           v
    0  vmscan -> vmstat   fault_inject   trace   sched   physmem   printk   arch

    part (file)              constructed with
    vmstat.VmStat            -
    vmscan.Vmscan            vmstat
    fault_inject.FaultInject printk
    trace.KmemTrace          -
    sched.Sched              -       (current task, the sleeping-allocation handshake)
    page_alloc.PageAllocator arch, physmem, printk, sched, vmstat, fault_inject, trace, vmscan
    slab.SlabAllocator       arch, page_alloc, printk, sched, vmstat, fault_inject, trace, vmscan
    vmalloc.Vmalloc          arch, page_alloc, slab, physmem, printk
    mempool.Mempools         slab, page_alloc, printk, sched
    background.Background    (populate_background: slab, vmscan)

    Vocabulary without state: gfp, slab_flags (include/linux/slab.h),
    kmalloc_sizes (include/linux/kmalloc_sizes.h), arch/, versions.
    page_alloc and slab keep a view of sched's `current` and free waiters
    (sched.attach_cpu_view) so that their fast paths read one attribute.

Reclaim has no cycle: page_alloc and slab call vmscan; vmscan holds only what
was registered with it: one shrinker per background cache (2.6.18: SLAB gives
free slabs back through cache_reap, and direct reclaim drains no per-CPU page
list). kswapd's balance_pgdat is vmscan's, run by page_alloc.kswapd_run; the
OOM killer (oom_kill.py, functions over sched's tasks) is called by page_alloc. Kernel (kernel.py) builds the
parts a version declares and binds the API. Renderers (procfs, pagemap,
memmap, check, trace.Tracer) read the Kernel and change
nothing.

Kernel versions. versions.py declares each version once: its release, its
architecture (arch/i386.py: zone layout, pointer size, cache line, address
space, struct page size) and the modules of its parts (page allocator, slab
allocator, gfp vocabulary, /proc renderers, sysfs, mempool, vmalloc, trace
formats, fault-injection knobs). The Kernel builds the parts from those
modules and binds the API from them; it holds the parts as the Protocols of
parts.py (what every version has), and a version's own renderers get their
version's classes through narrow.py:

    VERSIONS = {"2.6.18": KernelVersion("2.6.18", I386, "SLAB", page_alloc=page_alloc,
                                        slab=slab, gfp=gfp, procfs=procfs, ...)}

Adding a version adds files (an arch, a slab allocator, renderers where the
formats differ) and one declaration; it edits no other version's parts.

Naming rule. Kernel functions keep their kernel names, double-underscore ones
included (`__alloc_pages`, `__free_pages`, `__get_free_pages`, `__vmalloc`,
`__cache_alloc`, `__rmqueue`), and live in the file named after their mm/
source. Python mangles `__name` inside class bodies, so every kernel function
is a module-level function whose first argument is its part's state
(`def __alloc_pages(pa: PageAllocator, gfp_mask, order, ...)`), called from
other module-level functions; the part classes hold state and declared
attributes only. (Value types keep small read-only helpers, such as
Zone.end_pfn and KmemCache.slab_counts; KernelLog, PhysMem, FaultAttr and
trace.Tracer are objects with methods that the FUSE side uses as such.) The
Kernel binds each API function once to its part
(`k.kmem_cache_alloc(cachep, flags)` is `slab.kmem_cache_alloc(k.slab, ...)`
with no extra frame).

The filesystem side asks through Kernel's query methods (object_is_live,
cache_of, page_owner, page_block_order, partial_slabs, cpu_objects, caches,
drop_caches, register_call_sites, ...), never through a part's internals.
"""
from . import _pure

_pure.choose()   # the compiled modules or their source (SCULLCFS_PURE_PYTHON=1): before the others
COMPILED, BUILD = _pure.COMPILED, _pure.BUILD

from . import gfp, procfs, slab  # noqa: E402, F401
from .kernel import Kernel, parse_size  # noqa: E402, F401

__all__ = ["BUILD", "COMPILED", "Kernel", "gfp", "parse_size", "procfs", "slab"]
