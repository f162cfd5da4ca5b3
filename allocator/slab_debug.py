"""CONFIG_DEBUG_SLAB: red zones, poisoning, last-user tracking, statistics.

With `Kernel(slab_debug=True)` every cache gets SLAB_RED_ZONE|SLAB_STORE_USER
(when that does not push it past a power of two) and SLAB_POISON, and
kmem_cache_alloc/kmem_cache_free become the checking versions below, as
mm/slab.c's cache_alloc_debugcheck_after / cache_free_debugcheck:

  slot: [red zone 1: 8][object: obj_size ...][red zone 2: 8][last user: 8]

A free object is filled with POISON_FREE (0x6b, last byte POISON_END); an
allocated one with POISON_INUSE (0x5a). Red zones hold RED_INACTIVE while the
object is free and RED_ACTIVE while allocated. An overrun shows in red zone 2,
a write after free in the poison, a double free as an inactive red zone at
free time. Reports go to the log in 2.6's words; nothing raises.
"""
from __future__ import annotations

import struct
import sys

from .gfp import F
from .physmem import PAGE_OFFSET
from .printk import KERN_ERR
from .slab import (BYTES_PER_WORD, REDZONE_ALIGN, SLAB_CTOR_CONSTRUCTOR, SLAB_POISON, SLAB_RED_ZONE,
                   SLAB_STORE_USER, SlabMixin)

POISON_INUSE = 0x5A
POISON_FREE = 0x6B
POISON_END = 0xA5
RED_INACTIVE = 0x09F911029D74E35B
RED_ACTIVE = 0xD84156C5635688C0
_u64 = struct.Struct("<Q")
_u32 = struct.Struct("<I")
CALL_SITE_BASE = 0xC0100000  # call sites are shown as kernel text addresses


class SlabDebugMixin:
    """Methods that replace kmem_cache_alloc/free on a slab_debug kernel."""

    def _slab_debug_setup(self) -> None:
        self.call_sites: list[str] = []
        self._call_site_index: dict[str, int] = {}
        self.kmem_cache_alloc = self._kmem_cache_alloc_debug
        self.kmem_cache_free = self._kmem_cache_free_debug

    # -- layout -------------------------------------------------------------

    @staticmethod
    def _redzone1(cachep, slot: int) -> int:
        return slot + cachep.obj_offset - REDZONE_ALIGN

    @staticmethod
    def _redzone2(cachep, slot: int) -> int:
        if cachep.flags & SLAB_STORE_USER:
            return slot + cachep.buffer_size - 8 - REDZONE_ALIGN
        return slot + cachep.buffer_size - 8

    @staticmethod
    def _userword(cachep, slot: int) -> int:
        return slot + cachep.buffer_size - BYTES_PER_WORD

    def _call_site(self, depth: int = 2) -> int:
        """The function that called kmem_cache_alloc/free (kmalloc and kfree are
        skipped, as __builtin_return_address sees through inlined wrappers)."""
        frame = sys._getframe(depth)
        while frame.f_back is not None and frame.f_code.co_name in ("kmalloc", "kzalloc", "kfree", "_quantum_alloc",
                                                                      "kcalloc", "_cache_grow",
                                                                      "_slab_destroy"):
            frame = frame.f_back
        name = frame.f_code.co_name
        idx = self._call_site_index.get(name)
        if idx is None:
            idx = self._call_site_index[name] = len(self.call_sites)
            self.call_sites.append(name)
        return CALL_SITE_BASE + 16 * idx

    def call_site_name(self, addr: int) -> str:
        idx = (addr - CALL_SITE_BASE) // 16
        if 0 <= idx < len(self.call_sites) and (addr - CALL_SITE_BASE) % 16 == 0:
            return self.call_sites[idx]
        return "?"

    def _poison(self, cachep, slot: int, value: int) -> None:
        addr = slot + cachep.obj_offset
        n = cachep.obj_size
        self.mem.view[addr:addr + n] = bytes([value]) * (n - 1) + bytes([POISON_END])

    def _rz(self, addr: int) -> int:
        return _u64.unpack_from(self.mem.view, addr)[0]

    def _set_rz(self, addr: int, value: int) -> None:
        _u64.pack_into(self.mem.view, addr, value)

    # -- reports ------------------------------------------------------------

    def _slab_error(self, function: str, cachep, msg: str) -> None:
        cachep.errors += 1
        self.log.printk(KERN_ERR, f"slab error in {function}(): cache `{cachep.name}': {msg}")

    def _print_objinfo(self, cachep, slot: int) -> None:
        lines = []
        if cachep.flags & SLAB_RED_ZONE:
            lines.append(f"Redzone: 0x{self._rz(self._redzone1(cachep, slot)):x}"
                         f"/0x{self._rz(self._redzone2(cachep, slot)):x}.")
        if cachep.flags & SLAB_STORE_USER:
            site = _u32.unpack_from(self.mem.view, self._userword(cachep, slot))[0]
            lines.append(f"Last user: [<{site:08x}>]({self.call_site_name(site)}+0x0/0x0)")
        if lines:
            self.log.printk(KERN_ERR, "\n".join(lines))

    def _check_poison_obj(self, cachep, slot: int) -> bool:
        """check_poison_obj: report every 16-byte line where the free poison was
        overwritten. Returns True if the poison was intact."""
        addr = slot + cachep.obj_offset
        n = cachep.obj_size
        data = bytes(self.mem.view[addr:addr + n])
        expect = bytes([POISON_FREE]) * (n - 1) + bytes([POISON_END])
        if data == expect:
            return True
        self.log.printk(KERN_ERR, f"Slab corruption: {cachep.name} start={PAGE_OFFSET + addr:08x}, len={n}")
        self._print_objinfo(cachep, slot)
        shown = 0
        for line in range(0, n, 16):
            if data[line:line + 16] != expect[line:line + 16]:
                hexdump = " ".join(f"{b:02x}" for b in data[line:line + 16])
                self.log.printk(KERN_ERR, f"{line:03x}: {hexdump}")
                shown += 1
                if shown >= 5:
                    break
        return False

    # -- hooks from slab.py ---------------------------------------------------

    def slab_debug_init_objs(self, cachep, slots: list) -> None:
        """cache_init_objs with DEBUG: poison and deactivate every new object."""
        for slot in slots:
            if cachep.flags & SLAB_POISON:
                self._poison(cachep, slot, POISON_FREE)
            if cachep.flags & SLAB_RED_ZONE:
                self._set_rz(self._redzone1(cachep, slot), RED_INACTIVE)
                self._set_rz(self._redzone2(cachep, slot), RED_INACTIVE)
            if cachep.flags & SLAB_STORE_USER:
                _u32.pack_into(self.mem.view, self._userword(cachep, slot), 0)

    def slab_debug_destroy_objs(self, cachep, slabp) -> None:
        """slab_destroy_objs with DEBUG: every object of a slab being freed must
        still be poisoned and inactive."""
        for i in range(cachep.num):
            slot = slabp.s_mem + i * cachep.buffer_size
            if cachep.flags & SLAB_POISON:
                self._check_poison_obj(cachep, slot)
            if cachep.flags & SLAB_RED_ZONE:
                if self._rz(self._redzone1(cachep, slot)) != RED_INACTIVE:
                    self._slab_error("slab_destroy_objs", cachep, "start of a freed object was overwritten")
                if self._rz(self._redzone2(cachep, slot)) != RED_INACTIVE:
                    self._slab_error("slab_destroy_objs", cachep, "end of a freed object was overwritten")

    # -- the checking alloc and free ------------------------------------------

    def _kmem_cache_alloc_debug(self, cachep, flags: int):
        ac = cachep.array[self.current.cpu]
        st = cachep.stats
        if ac.entry:
            st["allochit"] += 1
        else:
            st["allocmiss"] += 1
        slot = SlabMixin.kmem_cache_alloc(self, cachep, flags & ~F.ZERO)
        if slot is None:
            return None
        st["allocs"] += 1
        if len(cachep.live) > st["high"]:
            st["high"] = len(cachep.live)
        if cachep.flags & SLAB_POISON:
            self._check_poison_obj(cachep, slot)
            self._poison(cachep, slot, POISON_INUSE)
        if cachep.flags & SLAB_STORE_USER:
            _u32.pack_into(self.mem.view, self._userword(cachep, slot), self._call_site())
        if cachep.flags & SLAB_RED_ZONE:
            r1, r2 = self._redzone1(cachep, slot), self._redzone2(cachep, slot)
            if self._rz(r1) != RED_INACTIVE or self._rz(r2) != RED_INACTIVE:
                self._slab_error("cache_alloc_debugcheck_after", cachep,
                                 "double free, or memory outside object was overwritten")
                self.log.printk(KERN_ERR, f"{PAGE_OFFSET + slot:08x}: redzone 1:0x{self._rz(r1):x},"
                                          f" redzone 2:0x{self._rz(r2):x}")
            self._set_rz(r1, RED_ACTIVE)
            self._set_rz(r2, RED_ACTIVE)
        objp = slot + cachep.obj_offset
        if cachep.ctor and cachep.flags & SLAB_POISON:
            cachep.ctor(self, objp, cachep, SLAB_CTOR_CONSTRUCTOR)
        if flags & F.ZERO:
            self.mem.zero(objp, cachep.obj_size)
        return objp

    def _kmem_cache_free_debug(self, cachep, objp: int) -> None:
        slot = objp - cachep.obj_offset
        if slot not in cachep.live:
            owner = self.mem_map[slot >> 12] if 0 <= slot < self.mem.size else None
            if cachep.flags & SLAB_RED_ZONE and getattr(owner, "cache", None) is cachep \
                    and (slot - owner.s_mem) % cachep.buffer_size == 0:
                self._verify_redzone_free(cachep, slot)
                return
            return self._bad_free(cachep, slot)
        ac = cachep.array[self.current.cpu]
        if len(ac.entry) < ac.limit:
            cachep.stats["freehit"] += 1
        else:
            cachep.stats["freemiss"] += 1
        if cachep.flags & SLAB_RED_ZONE:
            self._verify_redzone_free(cachep, slot)
            self._set_rz(self._redzone1(cachep, slot), RED_INACTIVE)
            self._set_rz(self._redzone2(cachep, slot), RED_INACTIVE)
        if cachep.flags & SLAB_STORE_USER:
            _u32.pack_into(self.mem.view, self._userword(cachep, slot), self._call_site())
        if cachep.flags & SLAB_POISON:
            self._poison(cachep, slot, POISON_FREE)
        SlabMixin.kmem_cache_free(self, cachep, slot)

    def _verify_redzone_free(self, cachep, slot: int) -> None:
        r1, r2 = self._rz(self._redzone1(cachep, slot)), self._rz(self._redzone2(cachep, slot))
        if r1 == RED_ACTIVE and r2 == RED_ACTIVE:
            return
        if r1 == RED_INACTIVE and r2 == RED_INACTIVE:
            self._slab_error("verify_redzone_free", cachep, "double free detected")
        else:
            self._slab_error("verify_redzone_free", cachep, "memory outside object was overwritten")
        self.log.printk(KERN_ERR, f"{PAGE_OFFSET + slot:08x}: redzone 1:0x{r1:x}, redzone 2:0x{r2:x}.")
        self._print_objinfo(cachep, slot)
