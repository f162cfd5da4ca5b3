"""The device model LDD3's memory drivers share (scullc/main.c and its copies).

A device is a list of items; each item holds a `qset`-slot pointer array from
kmalloc, and each slot one quantum. The structures live in simulated memory
(the arrays even hold the pointers: 4 bytes on i386, 8 on x86_64, so a qset
array is qset * sizeof(void *)); the Python lists beside them are the
authority the driver's C pointers would be. What the compiled module's ABI
says (pointer size, struct sizes, the largest size_t, how %p prints) comes
from the kernel it is loaded into (`Abi`). Where a quantum comes from and goes
back to, and how the module's parameters are named, is each driver's own (one
module each in this package); the rest is here, once: the item walk, read,
write, trim and truncate, the module parameters, the gfp mode, the consistency
check and the /proc dump.

Plain Python, no FUSE: the filesystem calls open/read/write/truncate with the
per-device lock held, as the driver's semaphore would be.
"""
from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

from allocator import gfp as G
from allocator.kernel import Kernel
from allocator.kmalloc_sizes import KMALLOC_MAX_SIZE
from allocator.page_alloc import MAX_ORDER
from allocator.parts import CachePart
from allocator.physmem import PAGE_SHIFT, PAGE_SIZE
from allocator.printk import KERN_INFO, KERN_NOTICE, KERN_WARNING
from allocator.quanta import gather_quanta, store_quanta
from allocator.slab import BUG_FLAGCHECK_DMA, KmemCache

from ..errors import DeviceError

Buffer = bytes | bytearray | memoryview

SIZEOF_POINTER_I386 = 4
# The bounds of the module parameters, for every driver and kernel: a quantum
# and a qset pointer array each come from kmalloc (or a cache) at most 2.6.18's
# KMALLOC_MAX_SIZE with i386 pointers (6.18 would allow more: docs/deviations.md).
QUANTUM_MAX = KMALLOC_MAX_SIZE
QSET_MAX = KMALLOC_MAX_SIZE // SIZEOF_POINTER_I386
DEVS_MAX = 64
ORDER_MAX = MAX_ORDER - 1
# sizeof(struct scullc_dev) with the HEAD driver. i386: six 4-byte fields (data,
# next, vmas, quantum, qset, size) + struct mutex (16) + 2.6.18 struct cdev (88).
# x86_64 (6.12 include/linux/{mutex,kobject,cdev}.h): data, next (16), vmas,
# quantum, qset (12) + 4 padding, size_t size (8) = 40; struct mutex without
# debugging (owner 8, wait_lock 4, osq 4, wait_list 16) = 32; struct cdev =
# struct kobject (64) + owner, ops (16) + list (16) + dev, count (8) = 104.
# scullp's and scullv's structs are the same with `order` for `quantum`.
SIZEOF_SCULLC_DEV = {4: 128, 8: 176}
# The seq_file buffer is one page and the dump stops 80 bytes short of it.
PROCMEM_LIMIT = PAGE_SIZE - 80


@dataclass(frozen=True)
class Abi:
    """What the module is compiled for, from the kernel it is loaded into:
    sizeof(void *), PAGE_OFFSET (lowmem pointers are PAGE_OFFSET + phys), the
    largest dev->size (a 32-bit size_t on i386: the VFS refuses to grow a file
    past it, EFBIG; 64-bit on x86_64) and the C pointer store."""
    pointer: int
    page_offset: int
    max_size: int
    pack_ptr: Callable[[memoryview, int, int], None]

    @classmethod
    def of(cls, k: Kernel) -> Abi:
        ptr = k.pointer_size
        return cls(ptr, k.page_offset, (1 << (8 * ptr)) - 1 if ptr == 4 else (1 << 63) - 1,
                   struct.Struct("<I" if ptr == 4 else "<Q").pack_into)

# What traces and slab-debug "last user" records name (allocator/trace.py):
# helpers the C driver does inline, and the one method under another name.
# The write's slot walk (_store_slots, then allocator/quanta.py's store_quanta) is
# the write's own loop.
INLINE_HELPERS = ("_alloc_quantum", "_quantum_alloc", "_free_quantum", "_alloc_data", "_zero_quantum",
                  "_release_items", "_alloc_devices", "_store_slots", "store_quanta")
RENAMES = {"read_ldd3": "read"}


# What a module parameter is to the device model (Param.role)
QUANTUM, ORDER, QSET, DEVS = "quantum", "order", "qset", "devs"


@dataclass(frozen=True)
class Param:
    """A module parameter: its default and bounds. Writable ones stand for the
    driver's ioctls: they change the module's global, which a device adopts at
    its next trim (`at_trim`), unless the driver applies it at once. `role`
    says which of the model's values it is, if any: the quantum in bytes, or
    as a page order; the qset; the number of devices."""
    default: int
    lo: int
    hi: int
    writable: bool = True
    at_trim: bool = True
    role: str = ""


def module_params(*, qset: tuple[str, int], devs: tuple[str, int], quantum: tuple[str, int] | None = None,
                  order: tuple[str, int] | None = None, **own: Param) -> dict[str, Param]:
    """A driver's module parameters, each (name, default) as the driver has
    it: its quantum (in bytes, or as a page order), qset and number of
    devices, with the bounds every driver shares; then its own ones."""
    params = {}
    if quantum is not None:
        params[quantum[0]] = Param(quantum[1], 1, QUANTUM_MAX, role=QUANTUM)
    if order is not None:
        params[order[0]] = Param(order[1], 0, ORDER_MAX, role=ORDER)
    params[qset[0]] = Param(qset[1], 1, QSET_MAX, role=QSET)
    params[devs[0]] = Param(devs[1], 1, DEVS_MAX, writable=False, role=DEVS)
    return {**params, **own}


def _store_slots(view: memoryview, src: memoryview, done: int, count: int, slots: list[int | None], s_pos: int,
                 qset: int, q_pos: int, quantum: int, dptr: Qset, gfp: int,
                 alloc: Callable[[Qset, int, int, int, int], int | None]) -> tuple[int, int]:
    """Device.write's walk over one item's slots: allocator/quanta.store_quanta,
    compiled, which calls back `alloc` (Device._alloc_quantum) for a hole.
    An interpreted function without `self` between the two, so that the
    driver's frame a trace or a stack dump reads (trace.call_site: the write's
    offset is its current instruction) is the write calling a Python function
    in either build: a compiled callee would leave that offset elsewhere (at
    PRECALL, not CALL), and the two builds' traces would differ."""
    return store_quanta(view, src, done, count, slots, s_pos, qset, q_pos, quantum, dptr, gfp, alloc)


class Qset:
    """One list item: the node that holds a pointer array (struct scullc_dev
    used as a list node, or scull's struct scull_qset)."""
    __slots__ = ("addr", "data_addr", "data")

    def __init__(self, addr: int):
        self.addr = addr                                # physical address of the item struct
        self.data_addr: int | None = None               # the kmalloc'd pointer array
        self.data: list[int | None] | None = None       # quantum addresses, None for empty slots


class Device:
    """One device: the driver's struct <driver>_dev and its list of items."""
    # Quanta that are not physically contiguous (scullv's vmalloc areas) set this
    # and define _store and _load through their page table; everyone else's
    # copies are slices of physical memory.
    vmapped: ClassVar[bool] = False
    # The first item is the device struct itself, in the device array (scullc,
    # scullp, scullv); scull kmallocs every item, the first one included.
    head_in_device_array: ClassVar[bool] = True

    def __init__(self, driver: Driver, index: int, addr: int):
        self.driver = driver
        self.k = driver.k
        self.index = index
        self.name = f"{driver.name}{index}"
        self.quantum, self.qset = driver.quantum_qset()
        self.size = 0
        self.items: list[Qset] = [Qset(addr)] if self.head_in_device_array else []
        self.abi = driver.abi
        self.gfp = self.k.gfp.GFP_KERNEL
        self.nquanta = 0  # quanta held (st_blocks and sys/class/.../quanta, without a walk)
        # quanta are plain physical memory, zeroed and pointed to as Device does it
        cls = type(self)
        self.plain_quanta = (not self.vmapped and cls._zero_quantum is Device._zero_quantum
                             and cls._kernel_address is Device._kernel_address)

    # -- what a driver says: where a quantum comes from and goes back to ------

    def _quantum_alloc(self, gfp: int) -> int | None:
        raise NotImplementedError

    def _free_quantum(self, q: int) -> None:
        raise NotImplementedError

    def _zero_quantum(self, q: int, offset: int, n: int) -> None:
        self.k.mem.zero(q + offset, n)

    def _kernel_address(self, q: int) -> int:
        """The pointer the driver stores for quantum q (lowmem: PAGE_OFFSET + phys)."""
        return self.abi.page_offset + q

    def _store(self, addr: int, data: memoryview) -> int:
        """vmapped quanta: copy data in, return the bytes copied."""
        raise NotImplementedError

    def _load(self, addr: int, n: int) -> Buffer:
        """vmapped quanta: n bytes at addr."""
        raise NotImplementedError

    @property
    def order(self) -> int:
        """log2 of the quantum in pages (scullp, scullv)."""
        return (self.quantum >> PAGE_SHIFT).bit_length() - 1

    def class_attrs(self) -> dict[str, Callable[[], str]]:
        """Read-only files under sys/class/<driver>/<device>/ besides gfp."""
        return {"size": lambda: f"{self.size}\n", "quanta": lambda: f"{self.quanta()}\n"}

    # -- allocation of the structure ----------------------------------------

    def _link_address(self) -> int:
        """Where the pointer to a new item goes: the last item's `next`."""
        return self.items[-1].addr + self.abi.pointer

    def _follow(self, n: int, gfp: int) -> Qset | None:
        """<driver>_follow: the n-th item, creating missing ones (zeroed)."""
        items = self.items
        while len(items) <= n:
            # the driver's kmalloc + memset (a __GFP_ZERO slab allocation is a
            # BUG in 2.6.18: not in GFP_LEVEL_MASK)
            addr = self.k.kmalloc(self.driver.sizeof_item, gfp)
            if addr is None:
                return None
            self.k.mem.zero(addr, self.driver.sizeof_item)
            self.abi.pack_ptr(self.k.mem.view, self._link_address(), self.abi.page_offset + addr)
            items.append(Qset(addr))
        return items[n]

    def _alloc_data(self, dptr: Qset, gfp: int) -> list[int | None] | None:
        size = self.qset * self.abi.pointer     # kmalloc(qset * sizeof(void *))
        addr = self.k.kmalloc(size, gfp)
        if addr is None:
            return None
        self.k.mem.zero(addr, size)
        dptr.data_addr = addr
        data: list[int | None] = [None] * self.qset
        dptr.data = data
        self.abi.pack_ptr(self.k.mem.view, dptr.addr, self.abi.page_offset + addr)  # item->data
        return data

    def _alloc_quantum(self, dptr: Qset, s_pos: int, gfp: int, keep: int = 0, n: int = 0) -> int | None:
        """Allocate slot s_pos's quantum, zeroed as the driver does, and record
        it (in the Python list and as a pointer in the qset array). The n bytes
        at offset `keep` that the caller copies in at once are not zeroed first:
        the quantum's bytes end up the same."""
        data, data_addr = dptr.data, dptr.data_addr
        assert data is not None and data_addr is not None
        q = self._quantum_alloc(gfp)
        if q is None:
            return None
        quantum, abi, mem = self.quantum, self.abi, self.k.mem
        if not self.plain_quanta:
            self._zero_quantum(q, 0, quantum)
            kaddr = self._kernel_address(q)
        else:   # _zero_quantum and _kernel_address as Device has them, without their calls
            if not n:
                mem.zero(q, quantum)
            else:
                if keep:
                    mem.zero(q, keep)
                end = keep + n
                if end < quantum:
                    mem.zero(q + end, quantum - end)
            kaddr = abi.page_offset + q
        data[s_pos] = q
        self.nquanta += 1
        abi.pack_ptr(mem.view, data_addr + s_pos * abi.pointer, kaddr)
        return q

    def _forget_quantum(self, dptr: Qset, s: int) -> None:
        """Clear slot s (the quantum is freed, or about to be, by the caller)."""
        assert dptr.data is not None and dptr.data_addr is not None
        dptr.data[s] = None
        self.nquanta -= 1
        self.k.mem.zero(dptr.data_addr + s * self.abi.pointer, self.abi.pointer)

    # -- file operations ----------------------------------------------------

    def open(self, flags: int) -> None:
        """<driver>_open: a write-only open trims; so does O_TRUNC (the VFS
        truncates to 0 before the driver sees the file)."""
        if (flags & os.O_ACCMODE) == os.O_WRONLY or flags & os.O_TRUNC:
            self.trim()

    def _release_items(self) -> None:
        """Every quantum and array back to the allocator; items after the head too."""
        k = self.k
        for n, dptr in enumerate(self.items):
            if dptr.data is not None:
                for q in dptr.data:
                    if q is not None:
                        self._free_quantum(q)
                k.kfree(dptr.data_addr)
                dptr.data = dptr.data_addr = None
            if n:
                k.kfree(dptr.addr)
        head = self.items[0]
        k.mem.zero(head.addr, 2 * self.abi.pointer)  # data = next = NULL
        self.items = [head]

    def trim(self) -> None:
        """<driver>_trim: release everything, then adopt the module's current
        quantum and qset."""
        self._release_items()
        self.nquanta = 0
        self.size = 0
        self.quantum, self.qset = self.driver.quantum_qset()

    def truncate(self, length: int) -> None:
        """Free every quantum wholly past `length` and zero the rest of the
        quantum it ends in, so that a later extension reads zeros."""
        if length > self.abi.max_size:
            raise DeviceError(errno.EFBIG, f"{self.name}: past the driver's {8 * self.abi.pointer}-bit size")
        if length <= 0:
            self.trim()
            return
        if length >= self.size:
            self.size = length
            return
        k = self.k
        quantum, qset = self.quantum, self.qset
        itemsize = quantum * qset
        first_item = length // itemsize
        for n in range(len(self.items) - 1, first_item - 1, -1):
            dptr = self.items[n]
            base = n * itemsize
            if dptr.data is not None:
                for s in range(qset):
                    q = dptr.data[s]
                    if q is None:
                        continue
                    start = base + s * quantum
                    if start >= length:
                        self._free_quantum(q)
                        self._forget_quantum(dptr, s)
                    elif start + quantum > length:
                        self._zero_quantum(q, length - start, start + quantum - length)
                if base >= length:
                    k.kfree(dptr.data_addr)
                    dptr.data = dptr.data_addr = None
            if n and base >= length:
                k.kfree(dptr.addr)
                del self.items[n]
                k.mem.zero(self.items[n - 1].addr + self.abi.pointer, self.abi.pointer)
        self.size = length

    def write(self, pos: int, data: Buffer) -> int:
        """Store `data` at `pos`; return the bytes stored. A failed allocation
        stops the write there: the bytes before it count, and with none the
        write fails with ENOMEM. Stored data is never touched by a failure."""
        count = len(data)
        if count == 0:
            return 0
        if pos + count > self.abi.max_size:
            raise DeviceError(errno.EFBIG, f"{self.name}: past the driver's {8 * self.abi.pointer}-bit size")
        quantum, qset = self.quantum, self.qset
        itemsize = quantum * qset
        gfp = self.gfp
        view = self.k.mem.view
        vmapped = self.vmapped
        src = memoryview(data)
        item, rest = divmod(pos, itemsize)
        s_pos, q_pos = divmod(rest, quantum)
        if self.driver.ldd3_io and count > quantum - q_pos:
            count = quantum - q_pos
        done = 0
        items = self.items
        alloc = self._alloc_quantum
        while done < count:
            dptr = items[item] if item < len(items) else self._follow(item, gfp)
            if dptr is None:
                break
            data_list = dptr.data
            if data_list is None:
                data_list = self._alloc_data(dptr, gfp)
                if data_list is None:
                    break
            if not vmapped:
                # the slot walk, compiled (allocator/quanta.py); holes from _alloc_quantum
                done, s_pos = _store_slots(view, src, done, count, data_list, s_pos, qset, q_pos, quantum, dptr, gfp,
                                           alloc)
                if s_pos < qset and done < count:
                    break  # an allocation failed
                item += 1
                s_pos = q_pos = 0
                continue
            while s_pos < qset and done < count:
                q = data_list[s_pos]
                if q is None:
                    q = self._alloc_quantum(dptr, s_pos, gfp)
                    if q is None:
                        break
                n = quantum - q_pos
                if n > count - done:
                    n = count - done
                copied = self._store(q + q_pos, src[done:done + n])
                done += copied
                if copied < n:  # an unmapped page: logged as a paging oops
                    break
                q_pos = 0
                s_pos += 1
            else:
                item += 1
                s_pos = 0
                continue
            break  # an allocation (or a copy) failed
        if done == 0:
            raise DeviceError(errno.ENOMEM, f"{self.name}: out of memory")
        end = pos + done
        if end > self.size:
            self.size = end
        return done

    def read(self, pos: int, count: int) -> Buffer:
        """Return up to `count` bytes at `pos` (a memoryview when it lies in one
        quantum, else bytes gathered with one copy). Holes read as zeros; with
        --ldd3-io a hole ends the read and at most one quantum is returned."""
        size = self.size
        if self.driver.ldd3_io:
            return self._read_ldd3(pos, count)
        if pos >= size or count <= 0:
            return b""
        if count > size - pos:
            count = size - pos
        quantum, qset = self.quantum, self.qset
        itemsize = quantum * qset
        mem = self.k.mem
        view = mem.view
        vmapped = self.vmapped
        item, rest = divmod(pos, itemsize)
        s_pos, q_pos = divmod(rest, quantum)
        items = self.items
        parts: list[Buffer] = []
        done = 0
        while done < count:
            dptr = items[item] if item < len(items) else None
            data_list = dptr.data if dptr is not None else None
            if not vmapped:
                # the slot walk, compiled (allocator/quanta.py)
                done = gather_quanta(view, mem.zeros, parts, done, count, data_list, s_pos, qset, q_pos, quantum)
                item += 1
                s_pos = q_pos = 0
                continue
            while s_pos < qset and done < count:
                n = quantum - q_pos
                if n > count - done:
                    n = count - done
                q = data_list[s_pos] if data_list is not None else None
                if q is None:
                    parts.append(mem.zeros(n))
                else:
                    parts.append(self._load(q + q_pos, n))
                done += n
                q_pos = 0
                s_pos += 1
            item += 1
            s_pos = 0
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def _read_ldd3(self, pos: int, count: int) -> Buffer:
        """<driver>_read exactly: one quantum at most, a hole reads as EOF, and
        the item list is followed (and grown) even on a read."""
        if pos > self.size:
            return b""
        if pos + count > self.size:
            count = self.size - pos
        quantum, qset = self.quantum, self.qset
        item, rest = divmod(pos, quantum * qset)
        s_pos, q_pos = divmod(rest, quantum)
        dptr = self._follow(item, self.k.gfp.GFP_KERNEL)
        if dptr is None or dptr.data is None:
            return b""
        q = dptr.data[s_pos]
        if q is None:
            return b""
        if count > quantum - q_pos:
            count = quantum - q_pos
        q += q_pos
        return self._load(q, count) if self.vmapped else self.k.mem.view[q:q + count]

    def quanta(self) -> int:
        return self.nquanta

    def held_quanta(self) -> Iterator[tuple[int, int, int]]:
        """(item, slot, quantum) for every quantum the device holds."""
        for n, dptr in enumerate(self.items):
            if dptr.data is not None:
                for s, q in enumerate(dptr.data):
                    if q is not None:
                        yield n, s, q


class Driver:
    """One loaded module: its parameters, the device array, its allocator
    state. A driver module sets the class attributes and overrides the few
    methods where it differs."""
    name: ClassVar[str] = ""
    device_class: ClassVar[type[Device]] = Device
    PARAMS: ClassVar[Mapping[str, Param]] = {}  # see module_params
    # by sizeof(void *): one struct <driver>_dev in the device array, a list item after the head
    SIZEOF_DEV: ClassVar[Mapping[int, int]] = SIZEOF_SCULLC_DEV
    SIZEOF_ITEM: ClassVar[Mapping[int, int]] = SIZEOF_SCULLC_DEV
    # /proc dump: "quantum" or "order" in the header; the slot line's format
    proc_shows: ClassVar[str] = "quantum"
    proc_slot: ClassVar[str] = "    {j: 4d}:{ptr}\n"      # "    % 4i:%8p\n"
    # the dump's page limit is tested after every line (scullc), or only
    # before a device or an item (scull)
    proc_limit_per_line: ClassVar[bool] = True
    highmem_refused: ClassVar[str] = "this memory needs a kernel mapping, and HighMem has none"

    def __init__(self, kernel: Kernel, params: Mapping[str, int] | None = None, ldd3_io: bool = False):
        self.k = kernel
        self.abi = Abi.of(kernel)
        self.sizeof_dev = self.SIZEOF_DEV[self.abi.pointer]
        self.sizeof_item = self.SIZEOF_ITEM[self.abi.pointer]
        self.ldd3_io = ldd3_io
        given = params or {}
        self.values: dict[str, int] = {}
        self.role_of: dict[str, str] = {}  # role -> parameter name
        for pname, p in self.PARAMS.items():
            value = given.get(pname, p.default)
            if not p.lo <= value <= p.hi:
                raise ValueError(f"{pname} must be {p.lo}..{p.hi}, not {value}")
            self.values[pname] = value
            if p.role:
                self.role_of[p.role] = pname
        kernel.register_call_sites(self.device_class, self.name, INLINE_HELPERS, RENAMES)
        kernel.register_call_sites(type(self), self.name)
        self.devices_addr = 0
        self.devices: list[Device] = []
        self._init()
        kernel.log.printk(KERN_INFO, f"{self.name}: {len(self.devices)} devices, " + ", ".join(
            f"{p.removeprefix(self.name + '_')} {v}" for p, v in self.values.items()
            if p != self.role_of[DEVS]))

    # -- module init and exit ---------------------------------------------------

    def _init(self) -> None:
        """<driver>_init (traces name it so): the allocator state, then the device array."""
        self._load()
        try:
            self._alloc_devices()
        except MemoryError:
            self._unload()
            raise

    def _alloc_devices(self) -> None:
        devs = self.values[self.role_of[DEVS]]
        addr = self.k.kzalloc(devs * self.sizeof_dev, self.k.gfp.GFP_KERNEL)
        if addr is None:
            raise MemoryError(f"{self.name}: cannot allocate the device array")
        self.devices_addr = addr
        self.devices = [self.device_class(self, i, addr + i * self.sizeof_dev) for i in range(devs)]

    def _load(self) -> None:
        """Allocator state the module creates at init (a cache, a pool)."""

    def _unload(self) -> bool:
        """Release what _load created; False if something was still allocated."""
        return True

    def cleanup(self) -> bool:
        """<driver>_cleanup: trim every device, free the array, release the
        allocator state. False if something was still allocated (a leak)."""
        for dev in self.devices:
            dev.trim()
        self.k.kfree(self.devices_addr)
        return self._unload()

    # -- parameters and gfp -------------------------------------------------------

    def quantum_qset(self) -> tuple[int, int]:
        """The module's current (quantum, qset): what a device adopts at trim."""
        v, role_of = self.values, self.role_of
        quantum = PAGE_SIZE << v[role_of[ORDER]] if ORDER in role_of else v[role_of[QUANTUM]]
        return quantum, v[role_of[QSET]]

    @property
    def proc_name(self) -> str:
        return f"{self.name}mem"

    def param_refused(self, pname: str, value: int) -> str | None:
        """Why a runtime value is refused, or None."""
        p = self.PARAMS[pname]
        if not p.lo <= value <= p.hi:
            why = " (the pointer array comes from kmalloc, at most 128 KiB)" if p.role == QSET else ""
            return f"must be {p.lo}..{p.hi}{why}"
        return None

    def _apply_param(self, pname: str, value: int) -> None:
        self.values[pname] = value

    def set_param(self, pname: str, text: str) -> None:
        """sys/module/<driver>/parameters/<pname> (the driver's ioctls, as
        files). Bad values raise DeviceError(EINVAL) with a log line, and
        nothing changes."""
        log = self.k.log
        p = self.PARAMS.get(pname)
        if p is None or not p.writable:
            raise DeviceError(errno.EACCES, f"{pname} is read-only")
        try:
            value = int(text.strip(), 0)
        except ValueError:
            log.printk(KERN_WARNING, f"{self.name}: {pname}: {text.strip()[:40]!r} is not a number")
            raise DeviceError(errno.EINVAL, f"{pname}: not a number") from None
        why = self.param_refused(pname, value)
        if why:
            log.printk(KERN_WARNING, f"{self.name}: {pname} {value} refused: {why}")
            raise DeviceError(errno.EINVAL, f"{pname} {value}: {why}")
        self._apply_param(pname, value)
        log.printk(KERN_NOTICE, f"{self.name}: {pname} = {value}"
                   + (" (devices adopt it at their next trim)" if p.at_trim else ""))

    def gfp_refused(self, mask: int) -> str | None:
        """Why the devices cannot allocate with `mask`, or None."""
        if mask & G.F.HIGHMEM and any(z.name == "HighMem" for z in self.k.version.arch.zones):
            return self.highmem_refused
        return None   # no HighMem (x86_64): the allocators serve __GFP_HIGHMEM from lowmem

    def gfp_warning(self, mask: int) -> str | None:
        """What the devices' allocations with `mask` will run into (logged at
        KERN_WARNING when the gfp file is written), or None."""
        return None

    def set_gfp(self, dev: Device, text: str) -> None:
        """sys/class/<driver>/<dev>/gfp: names or hex; nonsense, or a mask this
        allocator cannot honour, is EINVAL with a log line."""
        log = self.k.log
        try:
            mask = self.k.gfp.gfp_parse(text)   # the kernel's own GFP names (6.18: no __GFP_REPEAT)
        except ValueError as e:
            log.printk(KERN_WARNING, f"{self.name}: {dev.name}: gfp {text.strip()[:60]!r} refused: {e}")
            raise DeviceError(errno.EINVAL, str(e)) from None
        why = self.gfp_refused(mask)
        if why:
            log.printk(KERN_WARNING, f"{self.name}: {dev.name}: gfp {self.k.gfp.gfp_format(mask)} refused: {why}")
            raise DeviceError(errno.EINVAL, why)
        dev.gfp = mask
        log.printk(KERN_NOTICE, f"{self.name}: {dev.name}: allocating with {self.k.gfp.gfp_format(mask)}")
        warning = self.gfp_warning(mask)
        if warning:
            log.printk(KERN_WARNING, f"{self.name}: {dev.name}: gfp {self.k.gfp.gfp_format(mask)}: {warning}")

    def module_attrs(self) -> dict[str, Callable[[], str]]:
        """Read-only files under sys/module/<driver>/ besides the parameters."""
        return {}

    # -- the consistency check -------------------------------------------------

    def quantum_problem(self, q: int) -> str | None:
        """Why q is not a live quantum of this driver's allocator, or None."""
        raise NotImplementedError

    def check(self) -> list[str]:
        """The driver's side of debugfs `check`: every item, qset array and
        quantum a device holds is allocated, no quantum is held twice (by one
        device or two), and the counts agree."""
        k = self.k
        problems = []
        seen: set[int] = set()
        for dev in self.devices:
            for n, dptr in enumerate(dev.items):
                if (n or not dev.head_in_device_array) and not k.kmalloc_object_is_live(dptr.addr):
                    problems.append(f"{dev.name}: item {n} at {dptr.addr:#x} is not allocated")
                if dptr.data is not None and not k.kmalloc_object_is_live(dptr.data_addr):
                    problems.append(f"{dev.name}: qset array of item {n} is not allocated")
            counted = 0
            for n, s, q in dev.held_quanta():
                counted += 1
                why = self.quantum_problem(q)
                if why:
                    problems.append(f"{dev.name}: quantum {n}/{s} at {q:#x}: {why}")
                if q in seen:
                    problems.append(f"{dev.name}: quantum {q:#x} held twice")
                seen.add(q)
            if counted != dev.nquanta:
                problems.append(f"{dev.name}: holds {counted} quanta but counts {dev.nquanta}")
        return problems

    # -- the proc dump ---------------------------------------------------------

    def proc_pointer(self, q: int) -> int:
        """The quantum's pointer the dump prints (lowmem: PAGE_OFFSET + phys)."""
        return self.abi.page_offset + q

    def _proc_chunks(self) -> Iterator[list[str]]:
        """The dump's lines in the groups its page limit is tested between:
        a device's header, then each item with (for the last item only) its slots."""
        p = self.k.sprint_pointer   # the kernel's %p (6.x hashes it)
        for i, d in enumerate(self.devices):
            shown = d.order if self.proc_shows == "order" else d.quantum
            yield [f"\nDevice {i}: qset {d.qset}, {self.proc_shows} {shown}, sz {d.size}\n"]
            for n, item in enumerate(d.items):
                po = self.abi.page_offset
                data = po + item.data_addr if item.data_addr is not None else 0
                lines = [f"  item at {p(po + item.addr)}, qset at {p(data)}\n"]
                if item.data is not None and n == len(d.items) - 1:
                    lines += [self.proc_slot.format(j=j, ptr=p(self.proc_pointer(q), 8))
                              for j, q in enumerate(item.data) if q is not None]
                yield lines

    def procmem(self) -> str:
        """The driver's /proc dump (<driver>_read_procmem) with its format
        strings; like the driver's seq_file it stops once a page is nearly full."""
        per_line = self.proc_limit_per_line
        out = []
        length = 0
        for chunk in self._proc_chunks():
            if length > PROCMEM_LIMIT:
                break
            for line in chunk:
                out.append(line)
                length += len(line)
                if per_line and length > PROCMEM_LIMIT:
                    return "".join(out)
        return "".join(out)


def flagcheck_warning(cache: CachePart, mask: int) -> str | None:
    """2.6.18 mm/slab.c kmem_flagcheck: `if (flags & SLAB_DMA)
    BUG_ON(!(cachep->gfpflags & GFP_DMA))`, called by cache_grow (and, with slab
    debugging, by cache_alloc_debugcheck_before on every allocation). What a
    __GFP_DMA mask for a cache created without SLAB_CACHE_DMA will run into."""
    if not isinstance(cache, KmemCache):      # SLUB (6.18) has no kmem_flagcheck
        return None
    if not mask & G.GFP_DMA or cache.gfpflags & G.GFP_DMA:
        return None
    return (f"the {cache.name} cache is not a DMA cache (created without SLAB_CACHE_DMA):"
            f" an allocation from it with __GFP_DMA hits kmem_flagcheck's BUG"
            f" (kernel BUG at mm/slab.c:{BUG_FLAGCHECK_DMA}) when it has to grow the cache"
            f" (with slab debugging: every allocation), and fails")
