"""The kmem trace events of Linux 6.18 x86_64: their bodies, as TP_printk prints
them, and the text of their `format` files (include/trace/events/kmem.h,
include/trace/events/mmflags.h, kernel/trace/trace_events.c f_show).

`Kmem618Format` is what a Tracer (allocator/trace.py) is given to print 6.18's
events instead of 2.6.18's: the event list (`events`, as available_events lists
them), the `trace` header, the body of each event and each `format` file.

Pointers print as 6.x's `%p` does (lib/vsprintf.c ptr_to_id): NULL as sixteen
zeros, anything else as a keyed hash of the address cut to 32 bits, printed in
sixteen hex digits (`00000000` + 8 digits), the same value for the same address
until the next boot (here: the process). `%pK` (vmallocinfo) with
kptr_restrict 0 is the same hash. The hash is not the kernel's siphash (its key
is random at boot, so no output could tell): blake2b with a per-boot key.

What the allocators' hook carries (`hook(event, cachep, objp, flags, size)`, see
allocator/trace.py) and what each 6.18 event prints from it:
  kmem_cache_alloc  cachep, objp, gfp -> name, bytes_req = s->object_size,
                    bytes_alloc = s->size, node -1 (NUMA_NO_NODE: kmem_cache_alloc
                    names no node), accounted = gfp & __GFP_ACCOUNT or SLAB_ACCOUNT
  kmalloc           cachep (None above KMALLOC_MAX_CACHE_SIZE), objp, gfp, size ->
                    bytes_alloc = s->size, or PAGE_SIZE << get_order(size) for a
                    large kmalloc (mm/slub.c ___kmalloc_large_node); accounted from
                    gfp alone (the event has no cache)
  kfree             objp (0 is printed: 6.x traces kfree(NULL) too)
  kmem_cache_free   cachep, objp -> name
  mm_page_alloc     objp = pfn or -1 (failed: page NULL, pfn 0), gfp, size = order;
                    migratetype = gfp_migratetype(gfp) (ac.migratetype)
  mm_page_free      objp = pfn, size = order
  mm_page_free_batched  objp = pfn
  mm_page_pcpu_drain    objp = pfn, flags = migratetype, size = order
  mm_page_alloc_zone_locked  objp = pfn, flags = migratetype, size = order;
                    percpu_refill = pcp_allowed_order(order) && mt < MIGRATE_PCPTYPES
  mm_page_alloc_extfrag  objp = pfn, flags = (change_ownership << 16) |
                    (alloc_migratetype << 8) | fallback_migratetype,
                    size = (alloc_order << 8) | fallback_order
The other events (the watermark ones, rss_stat) have body functions here for
callers that have their arguments.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Protocol

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
# arch/x86/include/asm/pgtable_64_types.h __VMEMMAP_BASE_L4; struct page is 64 bytes
VMEMMAP_BASE = 0xFFFFEA0000000000
SIZEOF_STRUCT_PAGE = 64
NUMA_NO_NODE = -1
PAGE_ALLOC_COSTLY_ORDER = 3
HPAGE_PMD_ORDER = 9            # PMD_SHIFT 21 - PAGE_SHIFT 12
MIGRATE_PCPTYPES = 3
PAGEBLOCK_ORDER = min(21 - PAGE_SHIFT, 10)   # min_t(unsigned int, HPAGE_PMD_ORDER, MAX_PAGE_ORDER)
MIGRATE_MOVABLE_BITS = 0x8 | 0x10            # __GFP_MOVABLE | __GFP_RECLAIMABLE
GFP_MOVABLE_SHIFT = 3
__GFP_ACCOUNT = 1 << 22
# include/linux/slab.h enum _slab_flag_bits: _SLAB_ACCOUNT is bit 13 with this
# config (no DEBUG_OBJECTS, no FAILSLAB, MEMCG on)
SLAB_ACCOUNT = 1 << 13

# ---------------------------------------------------------------------------
# %p
# ---------------------------------------------------------------------------

BOOT_PTR_KEY = os.urandom(16)   # ptr_key: random once per boot (per process here)


def ptr_to_id(ptr: int, key: bytes = BOOT_PTR_KEY) -> str:
    """lib/vsprintf.c ptr_to_id on 64-bit: `%p` of ptr (also `%pK` with
    kptr_restrict 0): NULL prints as zeros, else the low 32 bits of a keyed
    hash, zero-padded to 16 hex digits."""
    if ptr == 0:
        return "0" * 16
    digest = hashlib.blake2b((ptr & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"), key=key,
                             digest_size=8).digest()
    return f"{int.from_bytes(digest, 'little') & 0xFFFFFFFF:016x}"


def page_pointer(pfn: int) -> int:
    """pfn_to_page(pfn) with SPARSEMEM_VMEMMAP: vmemmap_base + pfn * sizeof(struct page)."""
    return VMEMMAP_BASE + pfn * SIZEOF_STRUCT_PAGE


# ---------------------------------------------------------------------------
# gfp flags: __def_gfpflag_names (include/trace/events/mmflags.h), 6.18 values
# ---------------------------------------------------------------------------

# (name, bit) of the single flags, in the enum order of include/linux/gfp_types.h
GFP_BITS: tuple[tuple[str, int], ...] = (
    ("__GFP_DMA", 0), ("__GFP_HIGHMEM", 1), ("__GFP_DMA32", 2), ("__GFP_MOVABLE", 3),
    ("__GFP_RECLAIMABLE", 4), ("__GFP_HIGH", 5), ("__GFP_IO", 6), ("__GFP_FS", 7),
    ("__GFP_ZERO", 8), ("__GFP_DIRECT_RECLAIM", 10), ("__GFP_KSWAPD_RECLAIM", 11),
    ("__GFP_WRITE", 12), ("__GFP_NOWARN", 13), ("__GFP_RETRY_MAYFAIL", 14), ("__GFP_NOFAIL", 15),
    ("__GFP_NORETRY", 16), ("__GFP_MEMALLOC", 17), ("__GFP_COMP", 18), ("__GFP_NOMEMALLOC", 19),
    ("__GFP_HARDWALL", 20), ("__GFP_THISNODE", 21), ("__GFP_ACCOUNT", 22), ("__GFP_ZEROTAGS", 23),
    ("__GFP_NO_OBJ_EXT", 24),
)
_BIT = dict(GFP_BITS)


class _Gfp:
    """A gfp macro: its value and its text as the preprocessor expands it
    (what the `format` files' print fmt shows)."""
    __slots__ = ("text", "value")

    def __init__(self, value: int, text: str):
        self.value = value
        self.text = text


def _raw(n: int) -> str:
    # ___GFP_X = BIT(___GFP_X_BIT); BIT(nr) = (UL(1) << (nr)); UL(1) = (((1UL)))
    return f"((((1UL))) << ({n}))"


def _flag(name: str) -> _Gfp:
    # __GFP_X = ((__force gfp_t)___GFP_X)
    n = _BIT[name]
    return _Gfp(1 << n, f"(( gfp_t){_raw(n)})")


def _or(*parts: _Gfp, sep: str = " | ") -> _Gfp:
    value = 0
    for p in parts:
        value |= p.value
    return _Gfp(value, "(" + sep.join(p.text for p in parts) + ")")


def _gfp_macros() -> dict[str, _Gfp]:
    """include/linux/gfp_types.h (6.18, no KASAN_HW_TAGS: __GFP_SKIP_KASAN is 0)."""
    f = _flag
    reclaim = _Gfp(0xC00, f"(( gfp_t)({_raw(10)}|{_raw(11)}))")
    skip_kasan = _Gfp(0, "(( gfp_t)0)")
    kernel = _or(reclaim, f("__GFP_IO"), f("__GFP_FS"))
    user = _or(reclaim, f("__GFP_IO"), f("__GFP_FS"), f("__GFP_HARDWALL"))
    highuser = _or(user, f("__GFP_HIGHMEM"))
    highuser_movable = _or(highuser, f("__GFP_MOVABLE"), skip_kasan)
    light_or = _or(highuser_movable, f("__GFP_COMP"), f("__GFP_NOMEMALLOC"), f("__GFP_NOWARN"))
    light = _Gfp(light_or.value & ~reclaim.value, f"({light_or.text} & ~{reclaim.text})")
    return {
        "GFP_TRANSHUGE": _or(light, f("__GFP_DIRECT_RECLAIM")),
        "GFP_TRANSHUGE_LIGHT": light,
        "GFP_HIGHUSER_MOVABLE": highuser_movable,
        "GFP_HIGHUSER": highuser,
        "GFP_USER": user,
        "GFP_KERNEL_ACCOUNT": _or(kernel, f("__GFP_ACCOUNT")),
        "GFP_KERNEL": kernel,
        "GFP_NOFS": _or(reclaim, f("__GFP_IO")),
        "GFP_ATOMIC": _or(f("__GFP_HIGH"), f("__GFP_KSWAPD_RECLAIM"), sep="|"),
        "GFP_NOIO": _or(reclaim),
        "GFP_NOWAIT": _or(f("__GFP_KSWAPD_RECLAIM"), f("__GFP_NOWARN")),
        "GFP_DMA": f("__GFP_DMA"),
        "GFP_DMA32": f("__GFP_DMA32"),
        "__GFP_RECLAIM": reclaim,
        **{name: f(name) for name, _ in GFP_BITS},
    }


_MACROS = _gfp_macros()
# __def_gfpflag_names, in its order: the composites, then __GFP_RECLAIM, then each bit
GFP_FLAG_NAMES: tuple[tuple[str, int], ...] = tuple((name, m.value) for name, m in _MACROS.items())


def show_gfp_flags(flags: int) -> str:
    """show_gfp_flags(): __print_flags(flags, "|", __def_gfpflag_names) as
    trace_print_flags_seq prints it (each name whose mask is wholly set, its bits
    then cleared; leftover bits as 0x%lx), or "none" for 0."""
    if not flags:
        return "none"
    parts = []
    rest = flags
    for name, mask in GFP_FLAG_NAMES:
        if mask and rest & mask == mask:
            parts.append(name)
            rest &= ~mask
    if rest:
        parts.append(f"0x{rest:x}")
    return "|".join(parts)


def _print_flags_text() -> str:
    entries = ", ".join(f'{{( unsigned long){m.text}, "{name}"}}' for name, m in _MACROS.items())
    return f'(REC->gfp_flags) ? __print_flags(REC->gfp_flags, "|", {entries}, {{ 0, ((void *)0) }} ) : "none"'


# ---------------------------------------------------------------------------
# the events
# ---------------------------------------------------------------------------

# C type -> (size, signed); alignment = size for these scalars
_TYPES: dict[str, tuple[int, int]] = {
    "unsigned long": (8, 0), "const void *": (8, 0), "size_t": (8, 0), "long": (8, 1),
    "int": (4, 1), "unsigned int": (4, 0), "bool": (1, 0), "__data_loc char[]": (4, 0),
    "unsigned short": (2, 0), "unsigned char": (1, 0),
}
COMMON_FIELDS: tuple[tuple[str, str], ...] = (
    ("unsigned short", "common_type"), ("unsigned char", "common_flags"),
    ("unsigned char", "common_preempt_count"), ("int", "common_pid"))

_PAGE = "(((struct page *)vmemmap_base) + (REC->pfn))"
_PAGE_OR_NULL = f"REC->pfn != -1UL ? {_PAGE} : ((void *)0), REC->pfn != -1UL ? REC->pfn : 0"
_PAGEBLOCK = ("(((unsigned int)((21 - 12))) < ((unsigned int)(10)) ? ((unsigned int)((21 - 12)))"
              " : ((unsigned int)(10)))")
_ACCOUNT = f"( unsigned long){_MACROS['__GFP_ACCOUNT'].text}"


@dataclass(frozen=True)
class EventFormat:
    """One kmem event: its id on the captured host, TP_STRUCT__entry fields
    (type, name) and TP_printk's format and arguments."""
    name: str
    id: int
    fields: tuple[tuple[str, str], ...]
    fmt: str
    args: str


# In the order available_events lists them (newest registration first). The ids
# are the live host's (kernel/trace/trace_events.c assigns them at boot).
EVENTS: tuple[EventFormat, ...] = (
    EventFormat("rss_stat", 646,
                (("unsigned int", "mm_id"), ("unsigned int", "curr"), ("int", "member"), ("long", "size")),
                "mm_id=%u curr=%d type=%s size=%ldB",
                'REC->mm_id, REC->curr, __print_symbolic(REC->member, { 0, "MM_FILEPAGES" },'
                ' { 1, "MM_ANONPAGES" }, { 2, "MM_SWAPENTS" }, { 3, "MM_SHMEMPAGES" }), REC->size'),
    EventFormat("mm_calculate_totalreserve_pages", 647, (("unsigned long", "totalreserve_pages"),),
                "totalreserve_pages=%lu", "REC->totalreserve_pages"),
    EventFormat("mm_setup_per_zone_lowmem_reserve", 648,
                (("int", "node_id"), ("__data_loc char[]", "name"), ("__data_loc char[]", "upper_name"),
                 ("long", "lowmem_reserve")),
                "node_id=%d zone name=%s upper_zone name=%s lowmem_reserve_pages=%ld",
                "REC->node_id, __get_str(name), __get_str(upper_name), REC->lowmem_reserve"),
    EventFormat("mm_setup_per_zone_wmarks", 649,
                (("int", "node_id"), ("__data_loc char[]", "name"), ("unsigned long", "watermark_min"),
                 ("unsigned long", "watermark_low"), ("unsigned long", "watermark_high"),
                 ("unsigned long", "watermark_promo")),
                "node_id=%d zone name=%s watermark min=%lu low=%lu high=%lu promo=%lu",
                "REC->node_id, __get_str(name), REC->watermark_min, REC->watermark_low,"
                " REC->watermark_high, REC->watermark_promo"),
    EventFormat("mm_page_alloc_extfrag", 650,
                (("unsigned long", "pfn"), ("int", "alloc_order"), ("int", "fallback_order"),
                 ("int", "alloc_migratetype"), ("int", "fallback_migratetype"), ("int", "change_ownership")),
                "page=%p pfn=0x%lx alloc_order=%d fallback_order=%d pageblock_order=%d"
                " alloc_migratetype=%d fallback_migratetype=%d fragmenting=%d change_ownership=%d",
                f"{_PAGE}, REC->pfn, REC->alloc_order, REC->fallback_order, {_PAGEBLOCK},"
                f" REC->alloc_migratetype, REC->fallback_migratetype, REC->fallback_order < {_PAGEBLOCK},"
                " REC->change_ownership"),
    EventFormat("mm_page_pcpu_drain", 651,
                (("unsigned long", "pfn"), ("unsigned int", "order"), ("int", "migratetype")),
                "page=%p pfn=0x%lx order=%d migratetype=%d",
                f"{_PAGE}, REC->pfn, REC->order, REC->migratetype"),
    EventFormat("mm_page_alloc_zone_locked", 652,
                (("unsigned long", "pfn"), ("unsigned int", "order"), ("int", "migratetype"),
                 ("int", "percpu_refill")),
                "page=%p pfn=0x%lx order=%u migratetype=%d percpu_refill=%d",
                f"{_PAGE_OR_NULL}, REC->order, REC->migratetype, REC->percpu_refill"),
    EventFormat("mm_page_alloc", 653,
                (("unsigned long", "pfn"), ("unsigned int", "order"), ("unsigned long", "gfp_flags"),
                 ("int", "migratetype")),
                "page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s",
                f"{_PAGE_OR_NULL}, REC->order, REC->migratetype, {_print_flags_text()}"),
    EventFormat("mm_page_free_batched", 654, (("unsigned long", "pfn"),),
                "page=%p pfn=0x%lx order=0", f"{_PAGE}, REC->pfn"),
    EventFormat("mm_page_free", 655, (("unsigned long", "pfn"), ("unsigned int", "order")),
                "page=%p pfn=0x%lx order=%d", f"{_PAGE}, REC->pfn, REC->order"),
    EventFormat("kmem_cache_free", 656,
                (("unsigned long", "call_site"), ("const void *", "ptr"), ("__data_loc char[]", "name")),
                "call_site=%pS ptr=%p name=%s", "(void *)REC->call_site, REC->ptr, __get_str(name)"),
    EventFormat("kfree", 657, (("unsigned long", "call_site"), ("const void *", "ptr")),
                "call_site=%pS ptr=%p", "(void *)REC->call_site, REC->ptr"),
    EventFormat("kmalloc", 658,
                (("unsigned long", "call_site"), ("const void *", "ptr"), ("size_t", "bytes_req"),
                 ("size_t", "bytes_alloc"), ("unsigned long", "gfp_flags"), ("int", "node")),
                "call_site=%pS ptr=%p bytes_req=%zu bytes_alloc=%zu gfp_flags=%s node=%d accounted=%s",
                "(void *)REC->call_site, REC->ptr, REC->bytes_req, REC->bytes_alloc, "
                f'{_print_flags_text()}, REC->node, (1 && (REC->gfp_flags & {_ACCOUNT})) ? "true" : "false"'),
    EventFormat("kmem_cache_alloc", 659,
                (("unsigned long", "call_site"), ("const void *", "ptr"), ("__data_loc char[]", "name"),
                 ("size_t", "bytes_req"), ("size_t", "bytes_alloc"), ("unsigned long", "gfp_flags"),
                 ("int", "node"), ("bool", "accounted")),
                "call_site=%pS ptr=%p name=%s bytes_req=%zu bytes_alloc=%zu gfp_flags=%s node=%d accounted=%s",
                "(void *)REC->call_site, REC->ptr, __get_str(name), REC->bytes_req, REC->bytes_alloc, "
                f'{_print_flags_text()}, REC->node, REC->accounted ? "true" : "false"'),
)
EVENT_FORMATS: dict[str, EventFormat] = {e.name: e for e in EVENTS}
KMEM_EVENTS_618: tuple[str, ...] = tuple(e.name for e in EVENTS)


def _field_lines(fields: tuple[tuple[str, str], ...], offset: int) -> tuple[list[str], int]:
    lines = []
    for ctype, name in fields:
        size, signed = _TYPES[ctype]
        offset = (offset + size - 1) & ~(size - 1)
        lines.append(f"\tfield:{ctype} {name};\toffset:{offset};\tsize:{size};\tsigned:{signed};\n")
        offset += size
    return lines, offset


def format_file(event: str) -> str:
    """events/kmem/<event>/format as kernel/trace/trace_events.c f_show prints
    it: name, ID, the common fields, a blank line, the event's fields at their
    natural alignment after the 8-byte common header, a blank line, print fmt."""
    e = EVENT_FORMATS[event]
    common, _ = _field_lines(COMMON_FIELDS, 0)
    own, _ = _field_lines(e.fields, 8)
    return (f"name: {e.name}\nID: {e.id}\nformat:\n" + "".join(common) + "\n" + "".join(own)
            + f'\nprint fmt: "{e.fmt}", {e.args}\n')


# ---------------------------------------------------------------------------
# bodies (TP_printk)
# ---------------------------------------------------------------------------

class SlubCache(Protocol):
    """What the 6.18 slab events read of a struct kmem_cache."""
    name: str
    object_size: int
    size: int
    flags: int


def get_order(size: int) -> int:
    """include/asm-generic/getorder.h get_order."""
    return max(0, (size - 1) >> PAGE_SHIFT).bit_length()


def gfp_migratetype(gfp: int) -> int:
    """include/linux/gfp.h gfp_migratetype: 0 unmovable, 1 movable, 2 reclaimable."""
    return (gfp & MIGRATE_MOVABLE_BITS) >> GFP_MOVABLE_SHIFT


def pcp_allowed_order(order: int) -> bool:
    """mm/page_alloc.c pcp_allowed_order (THP on)."""
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == HPAGE_PMD_ORDER


def _tf(b: bool) -> str:
    return "true" if b else "false"


def kmem_cache_alloc_body(site: str, ptr: int, s: SlubCache, gfp: int, node: int = NUMA_NO_NODE,
                          key: bytes = BOOT_PTR_KEY) -> str:
    accounted = bool(gfp & __GFP_ACCOUNT) or bool(s.flags & SLAB_ACCOUNT)
    return (f"call_site={site} ptr={ptr_to_id(ptr, key)} name={s.name} bytes_req={s.object_size}"
            f" bytes_alloc={s.size} gfp_flags={show_gfp_flags(gfp)} node={node} accounted={_tf(accounted)}")


def kmalloc_body(site: str, ptr: int, bytes_req: int, bytes_alloc: int, gfp: int,
                 node: int = NUMA_NO_NODE, key: bytes = BOOT_PTR_KEY) -> str:
    return (f"call_site={site} ptr={ptr_to_id(ptr, key)} bytes_req={bytes_req} bytes_alloc={bytes_alloc}"
            f" gfp_flags={show_gfp_flags(gfp)} node={node} accounted={_tf(bool(gfp & __GFP_ACCOUNT))}")


def kfree_body(site: str, ptr: int, key: bytes = BOOT_PTR_KEY) -> str:
    return f"call_site={site} ptr={ptr_to_id(ptr, key)}"


def kmem_cache_free_body(site: str, ptr: int, name: str, key: bytes = BOOT_PTR_KEY) -> str:
    return f"call_site={site} ptr={ptr_to_id(ptr, key)} name={name}"


def _page(pfn: int, key: bytes) -> str:
    return ptr_to_id(page_pointer(pfn), key)


def mm_page_alloc_body(pfn: int | None, order: int, gfp: int, migratetype: int,
                       key: bytes = BOOT_PTR_KEY) -> str:
    """pfn None: the allocation failed (page NULL, pfn 0)."""
    page = ptr_to_id(0) if pfn is None else _page(pfn, key)
    return (f"page={page} pfn=0x{pfn or 0:x} order={order} migratetype={migratetype}"
            f" gfp_flags={show_gfp_flags(gfp)}")


def mm_page_free_body(pfn: int, order: int, key: bytes = BOOT_PTR_KEY) -> str:
    return f"page={_page(pfn, key)} pfn=0x{pfn:x} order={order}"


def mm_page_free_batched_body(pfn: int, key: bytes = BOOT_PTR_KEY) -> str:
    return f"page={_page(pfn, key)} pfn=0x{pfn:x} order=0"


def mm_page_pcpu_drain_body(pfn: int, order: int, migratetype: int, key: bytes = BOOT_PTR_KEY) -> str:
    return f"page={_page(pfn, key)} pfn=0x{pfn:x} order={order} migratetype={migratetype}"


def mm_page_alloc_zone_locked_body(pfn: int | None, order: int, migratetype: int, percpu_refill: bool,
                                   key: bytes = BOOT_PTR_KEY) -> str:
    page = ptr_to_id(0) if pfn is None else _page(pfn, key)
    return (f"page={page} pfn=0x{pfn or 0:x} order={order} migratetype={migratetype}"
            f" percpu_refill={int(percpu_refill)}")


def mm_page_alloc_extfrag_body(pfn: int, alloc_order: int, fallback_order: int, alloc_migratetype: int,
                               fallback_migratetype: int, change_ownership: bool,
                               key: bytes = BOOT_PTR_KEY) -> str:
    return (f"page={_page(pfn, key)} pfn=0x{pfn:x} alloc_order={alloc_order} fallback_order={fallback_order}"
            f" pageblock_order={PAGEBLOCK_ORDER} alloc_migratetype={alloc_migratetype}"
            f" fallback_migratetype={fallback_migratetype}"
            f" fragmenting={int(fallback_order < PAGEBLOCK_ORDER)} change_ownership={int(change_ownership)}")


def mm_setup_per_zone_wmarks_body(node_id: int, zone: str, wmark: tuple[int, int, int, int]) -> str:
    return (f"node_id={node_id} zone name={zone} watermark min={wmark[0]} low={wmark[1]}"
            f" high={wmark[2]} promo={wmark[3]}")


def mm_setup_per_zone_lowmem_reserve_body(node_id: int, zone: str, upper_zone: str, pages: int) -> str:
    return f"node_id={node_id} zone name={zone} upper_zone name={upper_zone} lowmem_reserve_pages={pages}"


def mm_calculate_totalreserve_pages_body(pages: int) -> str:
    return f"totalreserve_pages={pages}"


# kernel/trace/trace.c print_func_help_header_irq (6.x: irqs-off/BH-disabled)
TRACE_HEADER_618 = (
    "#                                _-----=> irqs-off/BH-disabled\n"
    "#                               / _----=> need-resched\n"
    "#                              | / _---=> hardirq/softirq\n"
    "#                              || / _--=> preempt-depth\n"
    "#                              ||| / _-=> migrate-disable\n"
    "#                              |||| /     delay\n"
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
    "#              | |         |   |||||     |         |\n"
)

# 6.18's slab and page allocator entry points (allocator/linux618/slub.py,
# page_alloc.py): a call site is never one of them (the walk up passes them).
ENTRY_POINTS_618 = frozenset((
    "kmem_cache_alloc", "kmem_cache_alloc_noprof", "kmem_cache_alloc_node", "slab_alloc_node",
    "__slab_alloc", "___slab_alloc", "__slab_alloc_node", "kmem_cache_free", "slab_free", "do_slab_free",
    "__slab_free", "kmalloc", "__kmalloc", "__kmalloc_noprof", "kmalloc_noprof", "__do_kmalloc_node",
    "kmalloc_large", "__kmalloc_large_node", "___kmalloc_large_node", "kmalloc_large_noprof",
    "kzalloc", "kcalloc", "kmalloc_array", "kfree", "free_large_kmalloc", "alloc_pages", "__alloc_pages",
    "alloc_pages_noprof", "__alloc_pages_noprof", "__get_free_pages", "get_zeroed_page", "free_pages",
    "__free_pages", "trace_hook", "alloc_debug_processing", "free_debug_processing",
    # allocator/linux618/slub.py's own (SLUB_ENTRY_POINTS there)
    "kmem_cache_zalloc", "free_to_partial_list", "alloc_single_from_partial",
    "alloc_single_from_new_slab", "get_partial_node", "get_partial", "get_any_partial", "new_slab",
    "allocate_slab", "kmalloc_node", "kstrdup_const", "_ret_ip", "kmem_cache_create",
    "__kmem_cache_create_args", "create_cache", "do_kmem_cache_create", "init_kmem_cache_nodes",
    "kmem_cache_destroy", "slab_kmem_cache_release", "discard_slab", "free_slab", "__free_slab",
    "deactivate_slab", "__put_partials", "put_cpu_partial",
    "format_hook", "_trace_page_alloc", "_trace_extfrag",
))


class Kmem618Format:
    """The 6.18 formats a Tracer prints with (see allocator/trace.py TraceFormat)."""

    events: tuple[str, ...] = KMEM_EVENTS_618
    header: str = TRACE_HEADER_618
    entry_points: frozenset[str] = ENTRY_POINTS_618
    # the slab events whose call site the walk up the stack finds
    site_events = frozenset(("kmem_cache_alloc", "kmalloc", "kfree", "kmem_cache_free"))
    # one kmalloc event in the x86_64 ring: a 4-byte ring_buffer_event header
    # (the length in type_len) and the 56-byte record (fields up to node@48, 8-aligned)
    entry_bytes = 4 + 56

    def __init__(self, key: bytes = BOOT_PTR_KEY):
        self.key = key

    def format_file(self, event: str) -> str:
        return format_file(event)

    def body(self, event: str, site: str, cachep: SlubCache | None, objp: int, flags: int,
             size: int | None) -> str | None:
        """The TP_printk text of `event` from the hook's arguments (module
        docstring); None for an event the hook cannot carry."""
        key = self.key
        if event == "kmem_cache_alloc" and cachep is not None:
            return kmem_cache_alloc_body(site, objp, cachep, flags, NUMA_NO_NODE, key)
        if event == "kmalloc":
            req = size or 0
            alloc = cachep.size if cachep is not None else PAGE_SIZE << get_order(req)
            return kmalloc_body(site, objp, req, alloc, flags, NUMA_NO_NODE, key)
        if event == "kfree":
            return kfree_body(site, objp, key)
        if event == "kmem_cache_free" and cachep is not None:
            return kmem_cache_free_body(site, objp, cachep.name, key)
        order = size or 0
        if event == "mm_page_alloc":
            return mm_page_alloc_body(None if objp < 0 else objp, order, flags, gfp_migratetype(flags), key)
        if event == "mm_page_free":
            return mm_page_free_body(objp, order, key)
        if event == "mm_page_free_batched":
            return mm_page_free_batched_body(objp, key)
        if event == "mm_page_pcpu_drain":
            return mm_page_pcpu_drain_body(objp, order, flags, key)
        if event == "mm_page_alloc_zone_locked":
            return mm_page_alloc_zone_locked_body(None if objp < 0 else objp, order, flags,
                                                  pcp_allowed_order(order) and flags < MIGRATE_PCPTYPES, key)
        if event == "mm_page_alloc_extfrag":
            return mm_page_alloc_extfrag_body(objp, order >> 8, order & 0xFF, (flags >> 8) & 0xFF,
                                              flags & 0xFF, bool(flags >> 16 & 1), key)
        return None
