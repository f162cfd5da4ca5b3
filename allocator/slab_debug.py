"""CONFIG_DEBUG_SLAB as 2.6.18 mm/slab.c has it: red zones, poisoning,
last-user tracking (STATS are counted in slab.py).

With `Kernel(slab_debug=True)` every cache gets SLAB_RED_ZONE|SLAB_STORE_USER
(FORCED_DEBUG: unless that pushes a large object past a power of two) and
SLAB_POISON, and SLAB's slow paths (which a debugging SLAB always takes) call
the checks below. A red zone is one word (BYTES_PER_WORD, 4 on i386):

  slot: [red zone 1: 4][object: obj_size ...][red zone 2: 4][last user: 4]

A free object is filled with POISON_FREE (0x6b, last byte POISON_END); an
allocated one with POISON_INUSE (0x5a). Red zones hold RED_INACTIVE while the
object is free and RED_ACTIVE while allocated (include/linux/poison.h). The
constructor of a POISON cache runs at each allocation
(cache_alloc_debugcheck_after), its destructor at each free. Reports go to
the log in 2.6.18's words (check_poison_obj, print_objinfo, slab_error);
nothing raises.

The "last user" is the caller's function, named as trace.py names call sites
(the caller registers its driver classes and inline helpers there).
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .gfp import __GFP_WAIT
from .physmem import PAGE_OFFSET
from .printk import KERN_ERR
from .slab_flags import (
    SLAB_CTOR_ATOMIC,
    SLAB_CTOR_CONSTRUCTOR,
    SLAB_CTOR_VERIFY,
    SLAB_DEBUG_INITIAL,
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
RED_INACTIVE = 0x5A2CF071
RED_ACTIVE = 0x170FC2A5
BYTES_PER_WORD = 4         # a red zone and the last-user word: one unsigned long
FORCED_DEBUG_SIZE = 4096   # below this, red zones are always added
POISON_LINE = 16           # dump_line: 16 bytes a line
POISON_LINES_MAX = 5       # check_poison_obj: `if (lines > 5) break;` after a line
CALL_SITE_BASE = 0xC0100000  # call sites are shown as kernel text addresses
CALL_SITE_STRIDE = 16
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
    """dbg_redzone1: the word before the object."""
    return slot + cachep.obj_offset - BYTES_PER_WORD


def redzone2(cachep: KmemCache, slot: int) -> int:
    """dbg_redzone2: the word after it (before the last-user word)."""
    if cachep.flags & SLAB_STORE_USER:
        return slot + cachep.buffer_size - 2 * BYTES_PER_WORD
    return slot + cachep.buffer_size - BYTES_PER_WORD


def userword(s: SlabAllocator, cachep: KmemCache, slot: int) -> int:
    return slot + cachep.buffer_size - BYTES_PER_WORD


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
    value: int = _u32.unpack_from(s.mem.view, addr)[0]
    return value


def set_rz(s: SlabAllocator, addr: int, value: int) -> None:
    _u32.pack_into(s.mem.view, addr, value)


def set_user(s: SlabAllocator, cachep: KmemCache, slot: int, site: int) -> None:
    _u32.pack_into(s.mem.view, userword(s, cachep, slot), site)


def redzones_active(s: SlabAllocator, cachep: KmemCache, slot: int) -> bool:
    return (get_rz(s, redzone1(cachep, slot)) == RED_ACTIVE
            and get_rz(s, redzone2(cachep, slot)) == RED_ACTIVE)


# -- reports ----------------------------------------------------------------


def virt(addr: int) -> str:
    """%p of a lowmem address: eight hex digits, no 0x."""
    return f"{PAGE_OFFSET + addr:08x}"


def slab_error(s: SlabAllocator, function: str, cachep: KmemCache, msg: str) -> None:
    """__slab_error (then dump_stack, not printed here)."""
    s.log.printk(KERN_ERR, f"slab error in {function}(): cache `{cachep.name}': {msg}")


def dump_line(s: SlabAllocator, addr: int, offset: int, limit: int) -> None:
    data = bytes(s.mem.view[addr + offset:addr + offset + limit])
    s.log.printk(KERN_ERR, f"{offset:03x}:" + "".join(f" {b:02x}" for b in data))


def print_objinfo(s: SlabAllocator, cachep: KmemCache, slot: int, lines: int) -> None:
    """mm/slab.c print_objinfo: red zones, last user, `lines` lines of the object."""
    if cachep.flags & SLAB_RED_ZONE:
        s.log.printk(KERN_ERR, f"Redzone: 0x{get_rz(s, redzone1(cachep, slot)):x}"
                               f"/0x{get_rz(s, redzone2(cachep, slot)):x}.")
    if cachep.flags & SLAB_STORE_USER:
        site: int = _u32.unpack_from(s.mem.view, userword(s, cachep, slot))[0]
        name = call_site_name(s, site)
        symbol = f"{name}+0x0/0x10" if name != "?" else f"0x{site:x}"
        s.log.printk(KERN_ERR, f"Last user: [<{site:08x}>]({symbol})")
    realobj = slot + cachep.obj_offset
    size = cachep.obj_size
    i = 0
    while i < size and lines:
        dump_line(s, realobj, i, min(POISON_LINE, size - i))
        i += POISON_LINE
        lines -= 1


def poison_pattern(cachep: KmemCache) -> bytes:
    return bytes([POISON_FREE]) * (cachep.obj_size - 1) + bytes([POISON_END])


def check_poison_obj(s: SlabAllocator, cachep: KmemCache, slot: int) -> bool:
    """mm/slab.c check_poison_obj: the header and object info at the first
    overwritten byte, each overwritten 16-byte line (six at most), then the
    neighbouring objects. Returns True if the poison was intact."""
    realobj = slot + cachep.obj_offset
    size = cachep.obj_size
    data = bytes(s.mem.view[realobj:realobj + size])
    expect = poison_pattern(cachep)
    if data == expect:
        return True
    lines = 0
    i = 0
    while i < size:
        if data[i] != expect[i]:
            if lines == 0:
                s.log.printk(KERN_ERR, f"Slab corruption: start={virt(realobj)}, len={size}")
                print_objinfo(s, cachep, slot, 0)
            i = (i // POISON_LINE) * POISON_LINE
            dump_line(s, realobj, i, min(POISON_LINE, size - i))
            i += POISON_LINE
            lines += 1
            if lines > POISON_LINES_MAX:
                break
        i += 1      # the for loop's i++, also after a dumped line
    from .slab import slab_of
    slabp = slab_of(s, slot)
    if slabp is not None:
        objnr = (slot - slabp.s_mem) // cachep.buffer_size
        if objnr:
            prev = slot - cachep.buffer_size
            s.log.printk(KERN_ERR, f"Prev obj: start={virt(prev + cachep.obj_offset)}, len={size}")
            print_objinfo(s, cachep, prev, 2)
        if objnr + 1 < cachep.num:
            nxt = slot + cachep.buffer_size
            s.log.printk(KERN_ERR, f"Next obj: start={virt(nxt + cachep.obj_offset)}, len={size}")
            print_objinfo(s, cachep, nxt, 2)
    return False


def kfree_debugcheck_report(s: SlabAllocator, objp: int, in_range: bool) -> None:
    """kfree_debugcheck: a pointer outside the direct mapping or not in a slab page."""
    from .slab import BUG, BUG_KFREE_BADPTR, BUG_KFREE_RANGE
    if not in_range:
        s.log.printk(KERN_ERR, f"kfree_debugcheck: out of range ptr {PAGE_OFFSET + objp:x}h.")
        BUG(s, BUG_KFREE_RANGE)
    else:
        s.log.printk(KERN_ERR, f"kfree_debugcheck: bad ptr {PAGE_OFFSET + objp:x}h.")
        BUG(s, BUG_KFREE_BADPTR)


# -- called by slab.py ------------------------------------------------------


def cache_init_objs_debug(s: SlabAllocator, cachep: KmemCache, slots: list[int], ctor_flags: int) -> None:
    """cache_init_objs with DEBUG: poison, last user NULL, red zones inactive;
    the constructor only for caches without POISON (they construct at alloc)."""
    for slot in slots:
        if cachep.flags & SLAB_POISON:
            poison_obj(s, cachep, slot, POISON_FREE)
        if cachep.flags & SLAB_STORE_USER:
            set_user(s, cachep, slot, 0)
        if cachep.flags & SLAB_RED_ZONE:
            set_rz(s, redzone1(cachep, slot), RED_INACTIVE)
            set_rz(s, redzone2(cachep, slot), RED_INACTIVE)
        if cachep.ctor and not cachep.flags & SLAB_POISON:
            cachep.ctor(s, slot + cachep.obj_offset, cachep, ctor_flags)
        if cachep.flags & SLAB_RED_ZONE:
            if get_rz(s, redzone2(cachep, slot)) != RED_INACTIVE:
                slab_error(s, "cache_init_objs", cachep, "constructor overwrote the end of an object")
            if get_rz(s, redzone1(cachep, slot)) != RED_INACTIVE:
                slab_error(s, "cache_init_objs", cachep, "constructor overwrote the start of an object")


def slab_destroy_objs_debug(s: SlabAllocator, cachep: KmemCache, slabp: Slab) -> None:
    """slab_destroy_objs with DEBUG: every object of a slab being freed must
    still be poisoned and inactive; the destructor runs here only without POISON."""
    for i in range(cachep.num):
        slot = slabp.s_mem + i * cachep.buffer_size
        if cachep.flags & SLAB_POISON:
            check_poison_obj(s, cachep, slot)
        if cachep.flags & SLAB_RED_ZONE:
            if get_rz(s, redzone1(cachep, slot)) != RED_INACTIVE:
                slab_error(s, "slab_destroy_objs", cachep, "start of a freed object was overwritten")
            if get_rz(s, redzone2(cachep, slot)) != RED_INACTIVE:
                slab_error(s, "slab_destroy_objs", cachep, "end of a freed object was overwritten")
        if cachep.dtor and not cachep.flags & SLAB_POISON:
            cachep.dtor(s, slot + cachep.obj_offset, cachep, 0)


def cache_alloc_debugcheck_after(s: SlabAllocator, cachep: KmemCache, slot: int, flags: int) -> int:
    """Check and arm a slot just taken (live already): the free poison must be
    intact and the red zones inactive; a POISON cache's constructor runs now
    (SLAB_CTOR_ATOMIC without __GFP_WAIT). Returns the object's address."""
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
            s.log.printk(KERN_ERR, f"{virt(slot)}: redzone 1:0x{get_rz(s, r1):x},"
                                   f" redzone 2:0x{get_rz(s, r2):x}")
        set_rz(s, r1, RED_ACTIVE)
        set_rz(s, r2, RED_ACTIVE)
    objp = slot + cachep.obj_offset
    if cachep.ctor and cachep.flags & SLAB_POISON:
        ctor_flags = SLAB_CTOR_CONSTRUCTOR
        if not flags & __GFP_WAIT:
            ctor_flags |= SLAB_CTOR_ATOMIC
        cachep.ctor(s, objp, cachep, ctor_flags)
    return objp


def cache_free_debugcheck(s: SlabAllocator, cachep: KmemCache, objp: int) -> int | None:
    """mm/slab.c cache_free_debugcheck: check an object being freed and disarm
    it (red zones inactive, last user, DEBUG_INITIAL's verify call, a POISON
    cache's destructor, the poison). Returns its slot for the free to go on,
    or None when the free was refused (a BUG, or a double free: reported)."""
    from .slab import BUG, BUG_FREE_NOTOBJ, bad_free, slab_of
    slot = objp - cachep.obj_offset
    if slot not in cachep.live:
        owner = slab_of(s, slot)
        if owner is not None and owner.cache is cachep:
            if (slot - owner.s_mem) % cachep.buffer_size or slot < owner.s_mem:
                BUG(s, BUG_FREE_NOTOBJ)
                return None
            if cachep.flags & SLAB_RED_ZONE:
                verify_redzone_free(s, cachep, slot)
                return None
        bad_free(s, cachep, slot)
        return None
    if cachep.flags & SLAB_RED_ZONE:
        verify_redzone_free(s, cachep, slot)
        set_rz(s, redzone1(cachep, slot), RED_INACTIVE)
        set_rz(s, redzone2(cachep, slot), RED_INACTIVE)
    if cachep.flags & SLAB_STORE_USER:
        set_user(s, cachep, slot, call_site_address(s))
    if cachep.flags & SLAB_DEBUG_INITIAL and cachep.ctor:
        cachep.ctor(s, objp, cachep, SLAB_CTOR_CONSTRUCTOR | SLAB_CTOR_VERIFY)
    if cachep.flags & SLAB_POISON and cachep.dtor:
        cachep.dtor(s, objp, cachep, 0)
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
    s.log.printk(KERN_ERR, f"{virt(slot)}: redzone 1:0x{r1:x}, redzone 2:0x{r2:x}.")
