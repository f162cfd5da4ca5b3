"""GFP flags of Linux 6.18 (include/linux/gfp_types.h, this config: no
LOCKDEP, no KASAN_HW_TAGS, SLAB_OBJ_EXT=y), parsed and printed as `%pGg`
prints them (lib/vsprintf.c format_flags over mm/debug.c gfpflag_names,
the table of include/trace/events/mmflags.h __def_gfpflag_names).

Masks are plain ints on every hot path; the enum is the vocabulary for parsing
and printing (`GFP_KERNEL|__GFP_ZERO`, or hex such as `0xdc0`).
"""
from __future__ import annotations

import enum
from typing import Final

# enum { ___GFP_DMA_BIT, ... } in bit order (gfp_types.h); bit 9 is ___GFP_UNUSED.
_BITS: Final = (
    ("__GFP_DMA", 1 << 0), ("__GFP_HIGHMEM", 1 << 1), ("__GFP_DMA32", 1 << 2),
    ("__GFP_MOVABLE", 1 << 3), ("__GFP_RECLAIMABLE", 1 << 4), ("__GFP_HIGH", 1 << 5),
    ("__GFP_IO", 1 << 6), ("__GFP_FS", 1 << 7), ("__GFP_ZERO", 1 << 8),
    ("__GFP_DIRECT_RECLAIM", 1 << 10), ("__GFP_KSWAPD_RECLAIM", 1 << 11),
    ("__GFP_WRITE", 1 << 12), ("__GFP_NOWARN", 1 << 13), ("__GFP_RETRY_MAYFAIL", 1 << 14),
    ("__GFP_NOFAIL", 1 << 15), ("__GFP_NORETRY", 1 << 16), ("__GFP_MEMALLOC", 1 << 17),
    ("__GFP_COMP", 1 << 18), ("__GFP_NOMEMALLOC", 1 << 19), ("__GFP_HARDWALL", 1 << 20),
    ("__GFP_THISNODE", 1 << 21), ("__GFP_ACCOUNT", 1 << 22), ("__GFP_ZEROTAGS", 1 << 23),
    ("__GFP_NO_OBJ_EXT", 1 << 24),
)
__GFP_BITS_SHIFT: Final = 25           # ___GFP_LAST_BIT
__GFP_BITS_MASK: Final = (1 << __GFP_BITS_SHIFT) - 1
# Built with the functional API: inside a class body Python would mangle `__GFP_*`.
GFP = enum.IntFlag("GFP", list(_BITS))  # type: ignore[misc]  # members from _BITS: not a literal


class F:
    """The __GFP_* bits under names Python does not mangle inside classes:
    `F.DIRECT_RECLAIM` is __GFP_DIRECT_RECLAIM."""
    DMA: Final = 1 << 0
    HIGHMEM: Final = 1 << 1
    DMA32: Final = 1 << 2
    MOVABLE: Final = 1 << 3
    RECLAIMABLE: Final = 1 << 4
    HIGH: Final = 1 << 5
    IO: Final = 1 << 6
    FS: Final = 1 << 7
    ZERO: Final = 1 << 8
    DIRECT_RECLAIM: Final = 1 << 10
    KSWAPD_RECLAIM: Final = 1 << 11
    WRITE: Final = 1 << 12
    NOWARN: Final = 1 << 13
    RETRY_MAYFAIL: Final = 1 << 14
    NOFAIL: Final = 1 << 15
    NORETRY: Final = 1 << 16
    MEMALLOC: Final = 1 << 17
    COMP: Final = 1 << 18
    NOMEMALLOC: Final = 1 << 19
    HARDWALL: Final = 1 << 20
    THISNODE: Final = 1 << 21
    ACCOUNT: Final = 1 << 22
    ZEROTAGS: Final = 1 << 23
    NO_OBJ_EXT: Final = 1 << 24
    RECLAIM: Final = (1 << 10) | (1 << 11)


assert all(getattr(F, name[6:]) == value for name, value in _BITS)

# Module-level int constants: the names kernel code uses.
__GFP_DMA: Final = 0x1
__GFP_HIGHMEM: Final = 0x2
__GFP_DMA32: Final = 0x4
__GFP_MOVABLE: Final = 0x8
__GFP_RECLAIMABLE: Final = 0x10
__GFP_HIGH: Final = 0x20
__GFP_IO: Final = 0x40
__GFP_FS: Final = 0x80
__GFP_ZERO: Final = 0x100
__GFP_DIRECT_RECLAIM: Final = 0x400
__GFP_KSWAPD_RECLAIM: Final = 0x800
__GFP_WRITE: Final = 0x1000
__GFP_NOWARN: Final = 0x2000
__GFP_RETRY_MAYFAIL: Final = 0x4000
__GFP_NOFAIL: Final = 0x8000
__GFP_NORETRY: Final = 0x10000
__GFP_MEMALLOC: Final = 0x20000
__GFP_COMP: Final = 0x40000
__GFP_NOMEMALLOC: Final = 0x80000
__GFP_HARDWALL: Final = 0x100000
__GFP_THISNODE: Final = 0x200000
__GFP_ACCOUNT: Final = 0x400000
__GFP_ZEROTAGS: Final = 0x800000
__GFP_NO_OBJ_EXT: Final = 0x1000000
__GFP_SKIP_ZERO: Final = 0           # CONFIG_KASAN_HW_TAGS off
__GFP_SKIP_KASAN: Final = 0
__GFP_NOLOCKDEP: Final = 0           # CONFIG_LOCKDEP off

__GFP_RECLAIM: Final = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
GFP_ATOMIC: Final = __GFP_HIGH | __GFP_KSWAPD_RECLAIM
GFP_KERNEL: Final = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT: Final = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT: Final = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN
GFP_NOIO: Final = __GFP_RECLAIM
GFP_NOFS: Final = __GFP_RECLAIM | __GFP_IO
GFP_USER: Final = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA: Final = __GFP_DMA
GFP_DMA32: Final = __GFP_DMA32
GFP_HIGHUSER: Final = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE: Final = GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN
GFP_TRANSHUGE_LIGHT: Final = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN)
                       & ~__GFP_RECLAIM)
GFP_TRANSHUGE: Final = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM

GFP_MOVABLE_MASK: Final = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_MOVABLE_SHIFT: Final = 3
GFP_ZONEMASK: Final = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE

# enum zone_type (include/linux/mmzone.h, x86_64: ZONE_DMA, ZONE_DMA32, no HIGHMEM, ZONE_DEVICE)
ZONE_DMA: Final = 0
ZONE_DMA32: Final = 1
ZONE_NORMAL: Final = 2
ZONE_MOVABLE: Final = 3
ZONE_DEVICE: Final = 4
MAX_NR_ZONES: Final = 5
ZONE_NAMES: Final = ("DMA", "DMA32", "Normal", "Movable", "Device")

# enum migratetype (include/linux/mmzone.h, no CMA)
MIGRATE_UNMOVABLE: Final = 0
MIGRATE_MOVABLE: Final = 1
MIGRATE_RECLAIMABLE: Final = 2
MIGRATE_PCPTYPES: Final = 3
MIGRATE_HIGHATOMIC: Final = MIGRATE_PCPTYPES
MIGRATE_ISOLATE: Final = 4
MIGRATE_TYPES: Final = 5

# include/linux/gfp.h GFP_ZONE_TABLE as a lookup (64-bit: OPT_ZONE_HIGHMEM is
# ZONE_NORMAL), and GFP_ZONE_BAD, the combinations gfp_zone VM_BUG_ONs on.
_ZONE_TABLE: dict[int, int] = {
    0: ZONE_NORMAL,
    __GFP_DMA: ZONE_DMA,
    __GFP_HIGHMEM: ZONE_NORMAL,
    __GFP_DMA32: ZONE_DMA32,
    __GFP_MOVABLE: ZONE_NORMAL,
    __GFP_MOVABLE | __GFP_DMA: ZONE_DMA,
    __GFP_MOVABLE | __GFP_HIGHMEM: ZONE_MOVABLE,
    __GFP_MOVABLE | __GFP_DMA32: ZONE_DMA32,
}
GFP_ZONE_BAD: Final = (1 << (__GFP_DMA | __GFP_HIGHMEM)
                | 1 << (__GFP_DMA | __GFP_DMA32)
                | 1 << (__GFP_DMA32 | __GFP_HIGHMEM)
                | 1 << (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)
                | 1 << (__GFP_MOVABLE | __GFP_HIGHMEM | __GFP_DMA)
                | 1 << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_DMA)
                | 1 << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_HIGHMEM)
                | 1 << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_DMA | __GFP_HIGHMEM))


def gfp_zone_bad(mask: int) -> bool:
    """Is the zone modifier combination one of GFP_ZONE_BAD's (VM_BUG_ON in gfp_zone)?"""
    return bool((GFP_ZONE_BAD >> (mask & GFP_ZONEMASK)) & 1)


def gfp_zone(mask: int) -> int:
    """include/linux/gfp.h gfp_zone: the highest zone a mask may use. A
    GFP_ZONE_BAD combination raises ValueError (the kernel's VM_BUG_ON,
    compiled out without CONFIG_DEBUG_VM, would read 0 from the table: ZONE_DMA)."""
    bits = mask & GFP_ZONEMASK
    if (GFP_ZONE_BAD >> bits) & 1:
        raise ValueError(f"GFP_ZONE_BAD: {gfp_format(bits)} is no zone")
    return _ZONE_TABLE[bits]


def gfp_migratetype(mask: int) -> int:
    """include/linux/gfp.h gfp_migratetype: 0 unmovable, 1 movable, 2 reclaimable."""
    return (mask & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT


# __def_gfpflag_names (include/trace/events/mmflags.h), the order %pGg scans.
GFPFLAG_NAMES: tuple[tuple[str, int], ...] = (
    ("GFP_TRANSHUGE", GFP_TRANSHUGE),
    ("GFP_TRANSHUGE_LIGHT", GFP_TRANSHUGE_LIGHT),
    ("GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE),
    ("GFP_HIGHUSER", GFP_HIGHUSER),
    ("GFP_USER", GFP_USER),
    ("GFP_KERNEL_ACCOUNT", GFP_KERNEL_ACCOUNT),
    ("GFP_KERNEL", GFP_KERNEL),
    ("GFP_NOFS", GFP_NOFS),
    ("GFP_ATOMIC", GFP_ATOMIC),
    ("GFP_NOIO", GFP_NOIO),
    ("GFP_NOWAIT", GFP_NOWAIT),
    ("GFP_DMA", GFP_DMA),
    ("GFP_DMA32", GFP_DMA32),
    ("__GFP_RECLAIM", __GFP_RECLAIM),
    *_BITS,
)

COMPOSITES = {name: value for name, value in GFPFLAG_NAMES if not name.startswith("__GFP_")}
BITS = dict(_BITS)
NAMES = {**COMPOSITES, "__GFP_RECLAIM": __GFP_RECLAIM, **BITS}
ALL_BITS = 0
for _v in BITS.values():
    ALL_BITS |= _v

# 2.6 names that 6.18 does not have: what replaced them (or that they are gone).
GONE: dict[str, str] = {
    "__GFP_REPEAT": "__GFP_REPEAT is gone since 4.13: use __GFP_RETRY_MAYFAIL",
    "__GFP_COLD": "__GFP_COLD is gone since 4.15: pages are no longer hot or cold",
    "__GFP_WAIT": "__GFP_WAIT is gone since 4.4: use __GFP_DIRECT_RECLAIM (__GFP_RECLAIM with kswapd)",
    "__GFP_NO_GROW": "__GFP_NO_GROW is gone: it was slab-internal, 6.18 has no successor",
    "GFP_TEMPORARY": "GFP_TEMPORARY is gone since 4.14: use GFP_KERNEL",
}


def gfp_parse(text: str) -> int:
    """Parse `GFP_KERNEL|__GFP_ZERO`, `0xdc0` or `3520`.

    Raises ValueError naming the bad token; a 2.6 flag 6.18 no longer has
    (__GFP_REPEAT, __GFP_COLD, __GFP_WAIT, __GFP_NO_GROW) names its successor.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty GFP mask")
    mask = 0
    for token in text.split("|"):
        token = token.strip()
        if token in NAMES:
            mask |= NAMES[token]
            continue
        if token in GONE:
            raise ValueError(GONE[token])
        try:
            value = int(token, 0)
        except ValueError:
            raise ValueError(f"unknown GFP flag {token!r}") from None
        if value < 0 or value & ~ALL_BITS:
            raise ValueError(f"GFP value {token} has bits outside the 6.18 flags")
        mask |= value
    return mask


def gfp_format(mask: int) -> str:
    """`%pGg` (lib/vsprintf.c format_flags): each table name whose bits are
    all set is printed and its bits cleared, `|` between; leftover bits as
    0x%lx; 0 prints as the empty string."""
    parts: list[str] = []
    rest = mask
    for name, value in GFPFLAG_NAMES:
        if value and rest & value == value:
            parts.append(name)
            rest &= ~value
            if not rest:
                break
    if rest:
        parts.append(f"{rest:#x}")
    return "|".join(parts)


def gfp_format_trace(mask: int) -> str:
    """The kmem trace events' `gfp_flags=%s` (__print_flags with the same
    table, show_gfp_flags): as %pGg, but 0 prints `none`."""
    return gfp_format(mask) if mask else "none"
