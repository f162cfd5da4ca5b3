"""slab_debug=FZPU of Linux 6.18 (allocator/linux618/slub_debug.py) against
mm/slub.c of 6.12.117: the object layout and its bytes (include/linux/poison.h),
and the reports of an overrun, a double free and a use after free, with the
text built here from the source's format strings:

  check_bytes_and_report  "[%s overwritten] 0x%p-0x%p @offset=%tu. First byte 0x%x instead of 0x%x"
  __slab_bug              "=====...", "BUG %s (%s): %pV", "-----...", ""
  print_track             "%s in %pS age=%lu cpu=%u pid=%d", the depot's frames " %pS"
  print_slab_info         "Slab 0x%p objects=%u used=%u fp=0x%p flags=%pGp"
  print_trailer           "Object 0x%p @offset=%tu fp=0x%p", "", print_hex_dump(KERN_ERR,
                          "Redzone  "/"Object   "/"Padding  ", DUMP_PREFIX_ADDRESS, 16, 1, ..., true)
  restore_bytes           "FIX %s: Restoring %s 0x%p-0x%p=0x%x"
  free_debug_processing   "FIX %s: Object at 0x%p not freed"
  alloc_debug_processing  "FIX %s: Marking all objects used"
  print_tainted           "Not tainted", then "Tainted: " and one letter per taint flag

Pointers print unhashed (kmem_cache_init turns no_hash_pointers on when SLUB
debugging is enabled): 16 hex digits of the direct-map address."""
from __future__ import annotations

import errno
import re

import pytest

from allocator.arch.x86_64 import X86_64
from allocator.fault_inject import FaultInject
from allocator.linux618 import page_alloc as PA
from allocator.linux618 import slub as S
from allocator.linux618 import slub_debug as D
from allocator.linux618 import sysfs
from allocator.physmem import PhysMem
from allocator.printk import KernelLog
from allocator.sched import Sched, set_current
from allocator.trace import KmemTrace
from allocator.vmscan import Vmscan
from allocator.vmstat import VmStat

GFP_KERNEL = 0xCC0
SLAB_HWCACHE_ALIGN = 1 << 4
PAGE_OFFSET = 0xFFFF888000000000          # arch/x86/include/asm/page_64_types.h, 4-level
VMEMMAP_START = 0xFFFFEA0000000000        # struct page array, 64 bytes each
HZ = 250                                  # CONFIG_HZ of the 6.18 host
# include/linux/poison.h
POISON_INUSE, POISON_FREE, POISON_END = 0x5A, 0x6B, 0xA5
SLUB_RED_INACTIVE, SLUB_RED_ACTIVE = 0xBB, 0xCC

# LDD3's scullc cache with FZPU, from mm/slub.c calculate_sizes (align 64 from
# SLAB_HWCACHE_ALIGN): size = ALIGN(4000, 8) = 4000; RED_ZONE and size ==
# object_size: +8 -> inuse 4008; POISON puts the free pointer after it: offset
# 4008, size 4016; STORE_USER: +2 * 32 -> 4080 (not kmalloc: no orig_size);
# RED_ZONE: +8 -> 4088, red_left_pad = ALIGN(8, 64) = 64 -> 4152; ALIGN(4152, 64) = 4160.
# calculate_order: min_objects = min(12, 32768 / 4160 = 7) = 7, get_order(7 * 4160) = 3,
# 32768 % 4160 = 3648 > 32768/16 but <= 32768/8: order 3, 7 objects.
SCULLC_SIZE, SCULLC_INUSE, SCULLC_OFFSET, SCULLC_LEFT = 4160, 4008, 4008, 64
SCULLC_OBJECTS, SCULLC_ORDER = 7, 3
TRACKS_END = SCULLC_OFFSET + 8 + 2 * 32   # get_info_end + 2 tracks = 4080
SIZE_FROM_OBJECT = SCULLC_SIZE - SCULLC_LEFT   # 4096: padding [4080, 4096)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def boot(debug: str = "FZPU", mem: int = 64 << 20) -> tuple[S.SlabAllocator, Clock]:
    clock = Clock()
    log = KernelLog(clock=clock)
    sched = Sched(2, log.uptime)
    vm = VmStat()
    faults = FaultInject(log)
    trace = KmemTrace()
    pa = PA.PageAllocator(X86_64, PhysMem(mem), log, sched, vm, faults, trace, Vmscan(vm), 1)
    sl = S.SlabAllocator(X86_64, pa, log, sched, vm, faults, trace, Vmscan(vm), debug)
    S.kmem_cache_init(sl)
    set_current(sched, 1000, "insmod")      # pid 1000 runs on CPU 1000 % 2 = 0
    return sl, clock


def scullc(sl: S.SlabAllocator) -> S.KmemCache:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN)
    assert s is not None
    return s


def va(phys: int) -> str:
    """%p with no_hash_pointers."""
    return f"{PAGE_OFFSET + phys:016x}"


def lines(sl: S.SlabAllocator) -> list[str]:
    return [r.text for r in sl.log.records]


def after(seq: list[str], start: int, line: str) -> int:
    """The index of `line` at or after `start` (fails if absent)."""
    assert line in seq[start:], f"{line!r} not after line {start}:\n" + "\n".join(seq[start:start + 80])
    return seq.index(line, start)


def hexdump(prefix: str, addr: int, data: bytes) -> list[str]:
    """lib/hexdump.c: each 16-byte row as `prefix ADDR: xx xx ...`, the ASCII
    column at 16 * 2 + 16 + 1 = 49, '.' for what isascii && isprint rejects."""
    out = []
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        hexpart = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        out.append(f"{prefix}{va(addr + i)}: {hexpart}{' ' * (49 - len(hexpart))}{text}")
    return out


def slab_base(p: int) -> int:
    """An order-3 slab is an order-3 buddy block: aligned to 32 KiB."""
    return p & ~((4096 << SCULLC_ORDER) - 1)


def page_flags(pfn: int, order: int) -> str:
    """%pGp of a slab's page flags on this config (page-flags-layout.h: node at
    bit 54, zone at 51, lastcpupid 16 bits at 35, reset to all ones; PG_head
    bit 6 for a compound slab): `0x...(head|node=0|zone=Z|lastcpupid=0xffff)`."""
    zone = 0 if pfn < (16 << 20) >> 12 else 1     # DMA below 16 MiB, DMA32 below 4 GiB
    flags = (zone << 51) | (0xFFFF << 35) | ((1 << 6) if order else 0)
    names = (["head"] if order else []) + ["node=0", f"zone={zone}", "lastcpupid=0xffff"]
    return f"0x{flags:x}({'|'.join(names)})"


def taint(*letters: str) -> str:
    """kernel/panic.c print_tainted: 19 flags, 'G' for an untainted P slot."""
    order = "PFSRMBUDAWCIOELKXTN"
    return "Tainted: " + "".join(c if c in letters else ("G" if c == "P" else " ") for c in order)


# -- layout --------------------------------------------------------------------


def test_scullc_layout_with_fzpu():
    sl, _ = boot()
    s = scullc(sl)
    assert (s.size, s.inuse, s.offset, s.red_left_pad) == (SCULLC_SIZE, SCULLC_INUSE, SCULLC_OFFSET, SCULLC_LEFT)
    assert (s.objects, s.order, s.cpu_partial) == (SCULLC_OBJECTS, SCULLC_ORDER, 0)   # debug: no CPU partial
    assert sysfs.slabinfo_show(sl).count("\nscullc ") == 1
    # a debug cache never merges: a real directory under its own name
    assert "scullc" in sysfs.sysfs_layout(sl).dirs


def test_the_bytes_of_allocated_and_free_objects():
    sl, _ = boot()
    s = scullc(sl)
    p = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert p is not None
    base = slab_base(p)
    mem = sl.mem
    assert (p - base - SCULLC_LEFT) % SCULLC_SIZE == 0
    # allocated: red zones SLUB_RED_ACTIVE, the object poisoned all the same (init_object)
    assert bytes(mem.read(p - SCULLC_LEFT, SCULLC_LEFT)) == bytes([SLUB_RED_ACTIVE]) * SCULLC_LEFT
    assert bytes(mem.read(p, 4000)) == bytes([POISON_FREE]) * 3999 + bytes([POISON_END])
    assert bytes(mem.read(p + 4000, 8)) == bytes([SLUB_RED_ACTIVE]) * 8
    # the padding after the tracks stays POISON_INUSE from the new slab's fill
    assert bytes(mem.read(p + TRACKS_END, SIZE_FROM_OBJECT - TRACKS_END)) == bytes([POISON_INUSE]) * 16
    # the alloc track: addr non-zero, cpu 0, pid 1000; the free track empty
    track = bytes(mem.read(p + SCULLC_OFFSET + 8, 64))
    assert int.from_bytes(track[0:8], "little") != 0
    assert int.from_bytes(track[12:16], "little") == 0 and int.from_bytes(track[16:20], "little") == 1000
    assert track[32:] == bytes(32)
    # a never used object of the slab: inactive red zones, poison
    q = base + SCULLC_LEFT + (SCULLC_SIZE if p == base + SCULLC_LEFT else 0)
    assert bytes(mem.read(q - SCULLC_LEFT, SCULLC_LEFT)) == bytes([SLUB_RED_INACTIVE]) * SCULLC_LEFT
    assert bytes(mem.read(q + 4000, 8)) == bytes([SLUB_RED_INACTIVE]) * 8
    S.kmem_cache_free(sl, s, p)
    assert bytes(mem.read(p + 4000, 8)) == bytes([SLUB_RED_INACTIVE]) * 8
    assert bytes(mem.read(p, 4000)) == bytes([POISON_FREE]) * 3999 + bytes([POISON_END])
    assert "BUG" not in "\n".join(lines(sl))


# -- the three bugs ----------------------------------------------------------------


def test_overrun_reports_the_right_redzone_and_fixes_it():
    sl, clock = boot()
    s = scullc(sl)
    p = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert p is not None
    base = slab_base(p)
    sl.mem.write(p + 4000, b"\xee" * 8)        # 8 bytes past the object
    clock.now = 2.0                            # 500 jiffies later
    start = len(sl.log.records)
    S.kmem_cache_free(sl, s, p)
    log = lines(sl)
    i = after(log, start, f"[Right Redzone overwritten] 0x{va(p + 4000)}-0x{va(p + 4007)}"
                          f" @offset={p + 4000 - base}. First byte 0xee instead of 0xcc")
    assert log[i + 1:i + 5] == ["=" * 77, "BUG scullc (Not tainted): Object corrupt", "-" * 77, ""]
    assert re.fullmatch(r"Allocated in test_overrun_reports_the_right_redzone_and_fixes_it\+0x[0-9a-f]+/0x[0-9a-f]+"
                        r" age=500 cpu=0 pid=1000", log[i + 5]), log[i + 5]
    # the stack depot's frames: the allocator's own, then this test
    j = i + 6
    while log[j].startswith(" "):
        j += 1
    frames = [f.strip().split("+")[0] for f in log[i + 6:j]]
    # (the frames past the test are the test runner's, as many as the depot keeps)
    test = "test_overrun_reports_the_right_redzone_and_fixes_it"
    assert "kmem_cache_alloc" in frames and test in frames
    assert frames.index("kmem_cache_alloc") < frames.index(test)
    # no free track yet: print_track prints nothing for it
    pfn = base >> 12
    assert log[j] == (f"Slab 0x{VMEMMAP_START + pfn * 64:016x} objects={SCULLC_OBJECTS} used=1"
                      f" fp=0x{log[j].split(' fp=0x')[1].split()[0]} flags={page_flags(pfn, SCULLC_ORDER)}")
    assert re.fullmatch(rf"Object 0x{va(p)} @offset={p - base} fp=0x[0-9a-f]{{16}}", log[j + 1])
    assert log[j + 2] == ""
    k = j + 3
    expected = (hexdump("Redzone  ", p - 64, bytes([SLUB_RED_ACTIVE]) * 64)
                + hexdump("Object   ", p, bytes([POISON_FREE]) * 3999 + bytes([POISON_END]))
                + hexdump("Redzone  ", p + 4000, b"\xee" * 8)
                + hexdump("Padding  ", p + TRACKS_END, bytes([POISON_INUSE]) * 16))
    assert log[k:k + len(expected)] == expected
    k += len(expected)
    # object_err's WARN_ON(1), with the bad-page taint already set
    assert log[k] == "------------[ cut here ]------------"
    assert re.fullmatch(r"WARNING: CPU: 0 PID: 1000 at mm/slub.c:1127 object_err\+0x[0-9a-f]+/0x[0-9a-f]+",
                        log[k + 1])
    cpu_line = next(x for x in log[k:] if x.startswith("CPU: "))
    assert f" Comm: insmod {taint('B')} 6.18" in cpu_line
    fix = after(log, k, f"FIX scullc: Restoring Right Redzone 0x{va(p + 4000)}-0x{va(p + 4007)}=0xcc")
    assert log[fix + 1] == f"FIX scullc: Object at 0x{va(p)} not freed"
    # restored, and the object was not freed
    assert bytes(sl.mem.read(p + 4000, 8)) == bytes([SLUB_RED_ACTIVE]) * 8
    assert S.slab_object_is_live(s, p)
    # the second report says the kernel is tainted: B, and W from the WARN
    S.kmem_cache_free(sl, s, p)      # a clean free now
    q = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert q is not None
    sl.mem.write(q + 4000, b"\x00")
    S.kmem_cache_free(sl, s, q)
    assert f"BUG scullc ({taint('B', 'W')}): Object corrupt" in lines(sl)


def test_double_free_is_object_already_free():
    sl, clock = boot()
    s = scullc(sl)
    keep = S.kmem_cache_alloc(sl, s, GFP_KERNEL)   # the slab keeps an object in use
    p = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert p is not None and keep is not None and slab_base(p) == slab_base(keep)
    clock.now = 1.0
    S.kmem_cache_free(sl, s, p)
    clock.now = 1.5
    start = len(sl.log.records)
    S.kmem_cache_free(sl, s, p)
    log = lines(sl)
    i = after(log, start, "BUG scullc (Not tainted): Object already free")
    assert log[i - 1] == "=" * 77 and log[i + 1:i + 3] == ["-" * 77, ""]
    alloc = next(x for x in log[i:] if x.startswith("Allocated in "))
    freed = next(x for x in log[i:] if x.startswith("Freed in "))
    assert alloc.endswith(" age=375 cpu=0 pid=1000")          # 1.5 s at HZ 250
    assert re.fullmatch(r"Freed in test_double_free_is_object_already_free\+0x[0-9a-f]+/0x[0-9a-f]+"
                        r" age=125 cpu=0 pid=1000", freed), freed
    # the slab holds one object in use and p heads its freelist; p's bytes are a free object's
    assert any(x.startswith("Slab 0x") and f" objects={SCULLC_OBJECTS} used=1 fp=0x{va(p)} " in x for x in log[i:])
    j = after(log, i, hexdump("Redzone  ", p - 64, bytes([SLUB_RED_INACTIVE]) * 64)[0])
    assert log[j + 4] == hexdump("Object   ", p, bytes([POISON_FREE]) * 16)[0]
    assert log[j + 4 + 249] == hexdump("Object   ", p + 3984, bytes([POISON_FREE]) * 15 + bytes([POISON_END]))[0]
    assert log[j + 4 + 250] == hexdump("Redzone  ", p + 4000, bytes([SLUB_RED_INACTIVE]) * 8)[0]
    after(log, j, f"FIX scullc: Object at 0x{va(p)} not freed")
    assert not [x for x in log[start:] if "overwritten" in x]
    # the books are straight: one slab, one object in use
    n = s.node[0]
    assert n is not None and n.nr_slabs == 1 and n.total_objects == SCULLC_OBJECTS
    assert not S.slab_object_is_live(s, p) and S.slab_object_is_live(s, keep)


def test_double_free_of_a_slabs_last_object_is_caught_by_the_count():
    # free_debug_processing checks slab->inuse against the objects to free before
    # looking at the freelist: "Slab has %d allocated objects but %d are to be freed\n"
    sl, _ = boot()
    s = scullc(sl)
    p = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert p is not None
    S.kmem_cache_free(sl, s, p)
    start = len(sl.log.records)
    S.kmem_cache_free(sl, s, p)
    log = lines(sl)
    i = after(log, start, "BUG scullc (Not tainted): Slab has 0 allocated objects but 1 are to be freed")
    assert log[i + 1:i + 4] == ["", "-" * 77, ""]       # the format's own \n, then the header's
    assert log[i + 4].startswith("Slab 0x") and " used=0 " in log[i + 4]
    # slab_err's WARN_ON(1) is the one in __slab_err
    assert re.fullmatch(r"WARNING: CPU: 0 PID: 1000 at mm/slub.c:1152 __slab_err\+0x[0-9a-f]+/0x[0-9a-f]+",
                        log[i + 6])
    after(log, i, f"FIX scullc: Object at 0x{va(p)} not freed")


def test_use_after_free_is_poison_overwritten_at_the_next_alloc():
    sl, _ = boot()
    s = scullc(sl)
    p = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert p is not None
    base = slab_base(p)
    S.kmem_cache_free(sl, s, p)
    sl.mem.write(p, b"\xee" * 16)              # the driver writes into the freed quantum
    start = len(sl.log.records)
    # the slab's freelist starts with the object freed last: the next allocation checks it
    q = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    log = lines(sl)
    i = after(log, start, f"[Poison overwritten] 0x{va(p)}-0x{va(p + 15)} @offset={p - base}."
                          " First byte 0xee instead of 0x6b")
    assert log[i + 2] == "BUG scullc (Not tainted): Object corrupt"
    j = after(log, i, hexdump("Object   ", p, b"\xee" * 16)[0])
    assert log[j + 1] == hexdump("Object   ", p + 16, bytes([POISON_FREE]) * 16)[0]
    fix = after(log, j, f"FIX scullc: Restoring Poison 0x{va(p)}-0x{va(p + 15)}=0x6b")
    assert log[fix + 1] == "FIX scullc: Marking all objects used"
    assert bytes(sl.mem.read(p, 16)) == bytes([POISON_FREE]) * 16
    # the bad slab is given up (all objects used, frozen); the object comes from a new slab
    assert q is not None and slab_base(q) != base
    n = s.node[0]
    assert n is not None and n.nr_slabs == 2


def test_use_after_free_is_found_when_the_empty_slab_is_freed():
    # kmem_cache_shrink frees every empty partial slab; free_slab with
    # SLAB_CONSISTENCY_CHECKS checks each object of it first
    sl, _ = boot()
    s = scullc(sl)
    p = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert p is not None
    base = slab_base(p)
    S.kmem_cache_free(sl, s, p)
    sl.mem.write(p + 3999, b"\x00")            # the END poison byte
    start = len(sl.log.records)
    S.kmem_cache_shrink(sl, s)
    log = lines(sl)
    i = after(log, start, f"[End Poison overwritten] 0x{va(p + 3999)}-0x{va(p + 3999)} @offset={p + 3999 - base}."
                          " First byte 0x0 instead of 0xa5")
    after(log, i, f"FIX scullc: Restoring End Poison 0x{va(p + 3999)}-0x{va(p + 3999)}=0xa5")
    n = s.node[0]
    assert n is not None and n.nr_slabs == 0      # the slab is freed all the same


def test_kmalloc_redzone_between_the_request_and_the_object_size():
    sl, _ = boot()
    p = S.kmalloc(sl, 60, GFP_KERNEL)          # kmalloc-64: orig_size 60
    assert p is not None
    # init_object: red zone from the request to inuse (60..72), poison over the request
    assert bytes(sl.mem.read(p + 60, 12)) == bytes([SLUB_RED_ACTIVE]) * 12
    assert bytes(sl.mem.read(p, 60)) == bytes([POISON_FREE]) * 59 + bytes([POISON_END])
    sl.mem.write(p + 60, b"\x41")
    start = len(sl.log.records)
    S.kfree(sl, p)
    log = lines(sl)
    # kmalloc-64 with FZPU: 64 + 8 red zone = inuse 72, free pointer 80, tracks 144,
    # orig_size 152, red zone 160, left red zone 64 -> ALIGN(224, 64) = 256: an order-0 slab
    k = S.find_cache(sl, "kmalloc-64")
    assert k is not None and (k.size, k.inuse, k.order) == (256, 72, 0)
    base = p & ~4095
    i = after(log, start, f"[kmalloc Redzone overwritten] 0x{va(p + 60)}-0x{va(p + 60)}"
                          f" @offset={p + 60 - base}. First byte 0x41 instead of 0xcc")
    assert log[i + 2] == "BUG kmalloc-64 (Not tainted): Object corrupt"
    after(log, i, f"FIX kmalloc-64: Restoring kmalloc Redzone 0x{va(p + 60)}-0x{va(p + 60)}=0xcc")


# -- validate ------------------------------------------------------------------------


def test_validate_finds_a_write_into_a_free_object():
    sl, _ = boot()
    s = scullc(sl)
    objs = [S.kmem_cache_alloc(sl, s, GFP_KERNEL) for _ in range(3)]
    assert None not in objs
    p = objs[1]
    assert p is not None
    S.kmem_cache_free(sl, s, p)
    sl.mem.write(p + 100, b"\x00\x01")
    attrs = sysfs.slab_attrs(sl, s)
    mode, read, write = attrs["validate"]
    assert mode == 0o600 and read() == "" and write is not None
    start = len(sl.log.records)
    write(b"1\n")
    log = lines(sl)
    after(log, start, f"[Poison overwritten] 0x{va(p + 100)}-0x{va(p + 101)} @offset={p + 100 - slab_base(p)}."
                      " First byte 0x0 instead of 0x6b")
    after(log, start, f"FIX scullc: Restoring Poison 0x{va(p + 100)}-0x{va(p + 101)}=0x6b")
    n_reports = sum(1 for x in log if x.startswith("BUG "))
    write(b"1\n")                               # repaired: nothing more to say
    assert sum(1 for x in lines(sl) if x.startswith("BUG ")) == n_reports
    with pytest.raises(OSError) as e:
        write(b"0\n")
    assert e.value.errno == errno.EINVAL


def test_validate_of_a_cache_without_debugging_is_einval():
    sl, _ = boot(debug="")
    s = scullc(sl)
    _, _, write = sysfs.slab_attrs(sl, s)["validate"]
    assert write is not None
    with pytest.raises(OSError) as e:
        write(b"1\n")
    assert e.value.errno == errno.EINVAL       # kmem_cache_debug(s) is false


def test_no_report_for_clean_use():
    sl, _ = boot()
    s = scullc(sl)
    objs = [S.kmem_cache_alloc(sl, s, GFP_KERNEL) for _ in range(20)]
    for p in objs:
        assert p is not None
        sl.mem.write(p, b"x" * 4000)
    for p in objs[::2]:
        assert p is not None
        S.kmem_cache_free(sl, s, p)
    _, _, write = sysfs.slab_attrs(sl, s)["validate"]
    assert write is not None
    write(b"1")
    for p in objs[1::2]:
        assert p is not None
        S.kmem_cache_free(sl, s, p)
    text = "\n".join(lines(sl))
    assert "BUG " not in text and "FIX " not in text
    assert D.print_tainted(sl) == "Not tainted"
