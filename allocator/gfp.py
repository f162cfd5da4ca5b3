"""GFP flags with the values of 2.6 include/linux/gfp.h (i386: __GFP_DMA32 is 0).

Masks are plain ints on every hot path; the enum is the vocabulary for parsing
and printing (`GFP_KERNEL|__GFP_ZERO`, or hex such as `0xd0`).
"""
from __future__ import annotations

import enum
from typing import Final

_BITS: Final = (
    ("__GFP_DMA", 0x01), ("__GFP_HIGHMEM", 0x02), ("__GFP_WAIT", 0x10), ("__GFP_HIGH", 0x20),
    ("__GFP_IO", 0x40), ("__GFP_FS", 0x80), ("__GFP_COLD", 0x100), ("__GFP_NOWARN", 0x200),
    ("__GFP_REPEAT", 0x400), ("__GFP_NOFAIL", 0x800), ("__GFP_NORETRY", 0x1000),
    ("__GFP_NO_GROW", 0x2000), ("__GFP_COMP", 0x4000), ("__GFP_ZERO", 0x8000),
    ("__GFP_NOMEMALLOC", 0x10000), ("__GFP_HARDWALL", 0x20000),
)
# Built with the functional API: inside a class body Python would mangle `__GFP_*`.
GFP = enum.IntFlag("GFP", list(_BITS))  # type: ignore[misc]  # members from _BITS: not a literal


class F:
    """The __GFP_* bits under names Python does not mangle inside classes:
    `F.WAIT` is __GFP_WAIT (for code written as methods, such as scullcfs')."""
    DMA: Final = 0x01
    HIGHMEM: Final = 0x02
    WAIT: Final = 0x10
    HIGH: Final = 0x20
    IO: Final = 0x40
    FS: Final = 0x80
    COLD: Final = 0x100
    NOWARN: Final = 0x200
    REPEAT: Final = 0x400
    NOFAIL: Final = 0x800
    NORETRY: Final = 0x1000
    NO_GROW: Final = 0x2000
    COMP: Final = 0x4000
    ZERO: Final = 0x8000
    NOMEMALLOC: Final = 0x10000
    HARDWALL: Final = 0x20000


assert all(getattr(F, name[6:]) == value for name, value in _BITS)


# Module-level int constants: the names kernel code uses.
__GFP_DMA: Final = 0x01
__GFP_HIGHMEM: Final = 0x02
__GFP_WAIT: Final = 0x10
__GFP_HIGH: Final = 0x20
__GFP_IO: Final = 0x40
__GFP_FS: Final = 0x80
__GFP_COLD: Final = 0x100
__GFP_NOWARN: Final = 0x200
__GFP_REPEAT: Final = 0x400
__GFP_NOFAIL: Final = 0x800
__GFP_NORETRY: Final = 0x1000
__GFP_NO_GROW: Final = 0x2000
__GFP_COMP: Final = 0x4000
__GFP_ZERO: Final = 0x8000
__GFP_NOMEMALLOC: Final = 0x10000
__GFP_HARDWALL: Final = 0x20000

GFP_NOWAIT: Final = 0
GFP_ATOMIC: Final = __GFP_HIGH
GFP_NOIO: Final = __GFP_WAIT
GFP_NOFS: Final = __GFP_WAIT | __GFP_IO
GFP_KERNEL: Final = __GFP_WAIT | __GFP_IO | __GFP_FS
GFP_USER: Final = GFP_KERNEL | __GFP_HARDWALL
GFP_HIGHUSER: Final = GFP_USER | __GFP_HIGHMEM
GFP_DMA: Final = __GFP_DMA
# the bits that choose a zone (gfp_zone)
GFP_ZONEMASK: Final = __GFP_DMA | __GFP_HIGHMEM

# enum zone_type (include/linux/mmzone.h, 2.6.18 without ZONE_DMA32 on i386)
ZONE_DMA: Final = 0
ZONE_NORMAL: Final = 1
ZONE_HIGHMEM: Final = 2

# Printing prefers the largest composite contained in the mask, then single bits.
COMPOSITES = {
    "GFP_HIGHUSER": GFP_HIGHUSER,
    "GFP_USER": GFP_USER,
    "GFP_KERNEL": GFP_KERNEL,
    "GFP_NOFS": GFP_NOFS,
    "GFP_NOIO": GFP_NOIO,
    "GFP_ATOMIC": GFP_ATOMIC,
    "GFP_DMA": GFP_DMA,
}
BITS = dict(_BITS)
NAMES = {**COMPOSITES, "GFP_NOWAIT": GFP_NOWAIT, **BITS}
ALL_BITS = 0
for _v in BITS.values():
    ALL_BITS |= _v


def gfp_parse(text: str) -> int:
    """Parse `GFP_KERNEL|__GFP_ZERO`, `0xd0` or `208`.

    Raises ValueError with a message naming the bad token.
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
        try:
            value = int(token, 0)
        except ValueError:
            raise ValueError(f"unknown GFP flag {token!r}") from None
        if value < 0 or value & ~ALL_BITS:
            raise ValueError(f"GFP value {token} has bits outside the 2.6 flags")
        mask |= value
    return mask


def gfp_format(mask: int) -> str:
    """Print a mask as names joined by `|` (`GFP_KERNEL|__GFP_ZERO`)."""
    if mask == 0:
        return "GFP_NOWAIT"
    parts = []
    rest = mask
    for name, value in COMPOSITES.items():
        if value and rest & value == value and not (value & ~mask):
            parts.append(name)
            rest &= ~value
            break
    for name, value in BITS.items():
        if rest & value:
            parts.append(name)
            rest &= ~value
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def gfp_zone(mask: int) -> int:
    """The highest zone type a mask may use (include/linux/gfp.h gfp_zone)."""
    if mask & __GFP_DMA:
        return ZONE_DMA
    if mask & __GFP_HIGHMEM:
        return ZONE_HIGHMEM
    return ZONE_NORMAL
