"""CONFIG_DEBUG_SLAB: red zones, poisoning, last-user tracking, statistics.

With `Kernel(slab_debug=True)` every cache gets SLAB_RED_ZONE|SLAB_STORE_USER
(when that does not push it past a power of two) and SLAB_POISON, and SLAB's
slow paths (which a debugging SLAB always takes) call the checks below, as
mm/slab.c's cache_alloc_debugcheck_after / cache_free_debugcheck:

  slot: [red zone 1: 8][object: obj_size ...][red zone 2: 8][last user: 8]

A free object is filled with POISON_FREE (0x6b, last byte POISON_END); an
allocated one with POISON_INUSE (0x5a). Red zones hold RED_INACTIVE while the
object is free and RED_ACTIVE while allocated. An overrun shows in red zone 2,
a write after free in the poison, a double free as an inactive red zone at
free time. Reports go to the log in 2.6's words; nothing raises.

The "last user" is the caller's function, named as trace.py names call sites
(the caller registers its driver classes and inline helpers there).
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .gfp import __GFP_ZERO
from .physmem import PAGE_OFFSET
from .printk import KERN_ERR
from .slab_flags import (
    SLAB_CTOR_CONSTRUCTOR,
    SLAB_DESTROY_BY_RCU,
    SLAB_POISON,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
)
from .trace import caller_name

if TYPE_CHECKING:
    from .slab import KmemCache, Slab, SlabAllocator

POISON_INUSE = 0x5A
POISON_FREE = 0x6B
POISON_END = 0xA5
RED_INACTIVE = 0x09F911029D74E35B
RED_ACTIVE = 0xD84156C5635688C0
REDZONE_ALIGN = 8          # a red zone is one unsigned long long
REDZONE_WORD = 8           # the last-user word's slot at the end of the object
FORCED_DEBUG_SIZE = 4096   # below this, red zones are always added
POISON_LINE = 16           # check_poison_obj reports in lines of 16 bytes
POISON_LINES_SHOWN = 5
CALL_SITE_BASE = 0xC0100000  # call sites are shown as kernel text addresses
CALL_SITE_STRIDE = 16
_u64 = struct.Struct("<Q")
_u32 = struct.Struct("<I")


class SlabDebug:
    """CONFIG_DEBUG_SLAB's state: the table that turns a caller's name into
    the text address stored in the last-user word."""

    def __init__(self) -> None:
        self.call_sites: list[str] = []
        self.call_site_index: dict[str, int] = {}


def forced_debug_flags(size: int, flags: int, word: int) -> int:
    """FORCED_DEBUG: red zone and last user unless that would push the object
    past the next power of two; poison unless RCU-freed."""
    if size < FORCED_DEBUG_SIZE or (size - 1).bit_length() == (size - 1 + 3 * word).bit_length():
        flags |= SLAB_RED_ZONE | SLAB_STORE_USER
    if not flags & SLAB_DESTROY_BY_RCU:
        flags |= SLAB_POISON
    return flags


# -- layout -----------------------------------------------------------------


def redzone1(cachep: KmemCache, slot: int) -> int:
    return slot + cachep.obj_offset - REDZONE_ALIGN


def redzone2(cachep: KmemCache, slot: int) -> int:
    if cachep.flags & SLAB_STORE_USER:
        return slot + cachep.buffer_size - REDZONE_WORD - REDZONE_ALIGN
    return slot + cachep.buffer_size - REDZONE_WORD


def userword(s: SlabAllocator, cachep: KmemCache, slot: int) -> int:
    return slot + cachep.buffer_size - s.bytes_per_word


def call_site_address(s: SlabAllocator) -> int:
    """The text address standing for the function that called the allocator."""
    debug = s.debug
    if debug is None:
        return 0
    name = caller_name(s.trace, 2)
    idx = debug.call_site_index.get(name)
    if idx is None:
        idx = debug.call_site_index[name] = len(debug.call_sites)
        debug.call_sites.append(name)
    return CALL_SITE_BASE + CALL_SITE_STRIDE * idx


def call_site_name(s: SlabAllocator, addr: int) -> str:
    debug = s.debug
    idx, rest = divmod(addr - CALL_SITE_BASE, CALL_SITE_STRIDE)
    if debug is not None and 0 <= idx < len(debug.call_sites) and rest == 0:
        return debug.call_sites[idx]
    return "?"


def poison_obj(s: SlabAllocator, cachep: KmemCache, slot: int, value: int) -> None:
    addr = slot + cachep.obj_offset
    n = cachep.obj_size
    s.mem.view[addr:addr + n] = bytes([value]) * (n - 1) + bytes([POISON_END])


def get_rz(s: SlabAllocator, addr: int) -> int:
    value: int = _u64.unpack_from(s.mem.view, addr)[0]
    return value


def set_rz(s: SlabAllocator, addr: int, value: int) -> None:
    _u64.pack_into(s.mem.view, addr, value)


def set_user(s: SlabAllocator, cachep: KmemCache, slot: int, site: int) -> None:
    _u32.pack_into(s.mem.view, userword(s, cachep, slot), site)


def redzones_active(s: SlabAllocator, cachep: KmemCache, slot: int) -> bool:
    return (get_rz(s, redzone1(cachep, slot)) == RED_ACTIVE
            and get_rz(s, redzone2(cachep, slot)) == RED_ACTIVE)


# -- reports ----------------------------------------------------------------


def slab_error(s: SlabAllocator, function: str, cachep: KmemCache, msg: str) -> None:
    cachep.errors += 1
    s.log.printk(KERN_ERR, f"slab error in {function}(): cache `{cachep.name}': {msg}")


def print_objinfo(s: SlabAllocator, cachep: KmemCache, slot: int) -> None:
    lines = []
    if cachep.flags & SLAB_RED_ZONE:
        lines.append(f"Redzone: 0x{get_rz(s, redzone1(cachep, slot)):x}"
                     f"/0x{get_rz(s, redzone2(cachep, slot)):x}.")
    if cachep.flags & SLAB_STORE_USER:
        site: int = _u32.unpack_from(s.mem.view, userword(s, cachep, slot))[0]
        lines.append(f"Last user: [<{site:08x}>]({call_site_name(s, site)}+0x0/0x0)")
    if lines:
        s.log.printk(KERN_ERR, "\n".join(lines))


def poison_pattern(cachep: KmemCache) -> bytes:
    return bytes([POISON_FREE]) * (cachep.obj_size - 1) + bytes([POISON_END])


def check_poison_obj(s: SlabAllocator, cachep: KmemCache, slot: int) -> bool:
    """Report every 16-byte line where the free poison was overwritten.
    Returns True if the poison was intact."""
    addr = slot + cachep.obj_offset
    n = cachep.obj_size
    data = bytes(s.mem.view[addr:addr + n])
    expect = poison_pattern(cachep)
    if data == expect:
        return True
    s.log.printk(KERN_ERR, f"Slab corruption: {cachep.name} start={PAGE_OFFSET + addr:08x}, len={n}")
    print_objinfo(s, cachep, slot)
    shown = 0
    for line in range(0, n, POISON_LINE):
        if data[line:line + POISON_LINE] != expect[line:line + POISON_LINE]:
            hexdump = " ".join(f"{b:02x}" for b in data[line:line + POISON_LINE])
            s.log.printk(KERN_ERR, f"{line:03x}: {hexdump}")
            shown += 1
            if shown >= POISON_LINES_SHOWN:
                break
    return False


# -- called by slab.py ------------------------------------------------------


def cache_init_objs_debug(s: SlabAllocator, cachep: KmemCache, slots: list[int]) -> None:
    """cache_init_objs with DEBUG: poison and deactivate every new object."""
    for slot in slots:
        if cachep.flags & SLAB_POISON:
            poison_obj(s, cachep, slot, POISON_FREE)
        if cachep.flags & SLAB_RED_ZONE:
            set_rz(s, redzone1(cachep, slot), RED_INACTIVE)
            set_rz(s, redzone2(cachep, slot), RED_INACTIVE)
        if cachep.flags & SLAB_STORE_USER:
            set_user(s, cachep, slot, 0)


def slab_destroy_objs_debug(s: SlabAllocator, cachep: KmemCache, slabp: Slab) -> None:
    """slab_destroy_objs with DEBUG: every object of a slab being freed must
    still be poisoned and inactive."""
    for i in range(cachep.num):
        slot = slabp.s_mem + i * cachep.buffer_size
        if cachep.flags & SLAB_POISON:
            check_poison_obj(s, cachep, slot)
        if cachep.flags & SLAB_RED_ZONE:
            if get_rz(s, redzone1(cachep, slot)) != RED_INACTIVE:
                slab_error(s, "slab_destroy_objs", cachep, "start of a freed object was overwritten")
            if get_rz(s, redzone2(cachep, slot)) != RED_INACTIVE:
                slab_error(s, "slab_destroy_objs", cachep, "end of a freed object was overwritten")


def cache_alloc_debugcheck_before(cachep: KmemCache, cpu: int) -> None:
    """STATS: an allocation served by the CPU's array, or not."""
    cachep.stats["allochit" if cachep.array[cpu].entry else "allocmiss"] += 1


def cache_alloc_debugcheck_after(s: SlabAllocator, cachep: KmemCache, slot: int, flags: int) -> int:
    """Check and arm a slot just taken (live already): the free poison must be
    intact and the red zones inactive. Returns the object's address."""
    st = cachep.stats
    st["allocs"] += 1
    st["high"] = max(st["high"], len(cachep.live))
    if cachep.flags & SLAB_POISON:
        check_poison_obj(s, cachep, slot)
        poison_obj(s, cachep, slot, POISON_INUSE)
    if cachep.flags & SLAB_STORE_USER:
        set_user(s, cachep, slot, call_site_address(s))
    if cachep.flags & SLAB_RED_ZONE:
        r1, r2 = redzone1(cachep, slot), redzone2(cachep, slot)
        if get_rz(s, r1) != RED_INACTIVE or get_rz(s, r2) != RED_INACTIVE:
            slab_error(s, "cache_alloc_debugcheck_after", cachep,
                       "double free, or memory outside object was overwritten")
            s.log.printk(KERN_ERR, f"{PAGE_OFFSET + slot:08x}: redzone 1:0x{get_rz(s, r1):x},"
                                   f" redzone 2:0x{get_rz(s, r2):x}")
        set_rz(s, r1, RED_ACTIVE)
        set_rz(s, r2, RED_ACTIVE)
    objp = slot + cachep.obj_offset
    if cachep.ctor and cachep.flags & SLAB_POISON:
        cachep.ctor(s, objp, cachep, SLAB_CTOR_CONSTRUCTOR)
    if flags & __GFP_ZERO:
        s.mem.zero(objp, cachep.obj_size)
    return objp


def cache_free_debugcheck(s: SlabAllocator, cachep: KmemCache, objp: int) -> int | None:
    """Check an object being freed and disarm it. Returns its slot for the
    free to go on, or None when the free was refused (a double free or a
    foreign pointer, reported)."""
    from .slab import bad_free, slab_of
    slot = objp - cachep.obj_offset
    if slot not in cachep.live:
        owner = slab_of(s, slot)
        if cachep.flags & SLAB_RED_ZONE and owner is not None and owner.cache is cachep \
                and (slot - owner.s_mem) % cachep.buffer_size == 0:
            verify_redzone_free(s, cachep, slot)
            return None
        bad_free(s, cachep, slot)
        return None
    ac = cachep.array[s.current.cpu]
    cachep.stats["freehit" if len(ac.entry) < ac.limit else "freemiss"] += 1
    if cachep.flags & SLAB_RED_ZONE:
        verify_redzone_free(s, cachep, slot)
        set_rz(s, redzone1(cachep, slot), RED_INACTIVE)
        set_rz(s, redzone2(cachep, slot), RED_INACTIVE)
    if cachep.flags & SLAB_STORE_USER:
        set_user(s, cachep, slot, call_site_address(s))
    if cachep.flags & SLAB_POISON:
        poison_obj(s, cachep, slot, POISON_FREE)
    return slot


def verify_redzone_free(s: SlabAllocator, cachep: KmemCache, slot: int) -> None:
    r1, r2 = get_rz(s, redzone1(cachep, slot)), get_rz(s, redzone2(cachep, slot))
    if r1 == RED_ACTIVE and r2 == RED_ACTIVE:
        return
    if r1 == RED_INACTIVE and r2 == RED_INACTIVE:
        slab_error(s, "verify_redzone_free", cachep, "double free detected")
    else:
        slab_error(s, "verify_redzone_free", cachep, "memory outside object was overwritten")
    s.log.printk(KERN_ERR, f"{PAGE_OFFSET + slot:08x}: redzone 1:0x{r1:x}, redzone 2:0x{r2:x}.")
    print_objinfo(s, cachep, slot)
