"""The scullc driver (LDD3 ch. 8, scullc/main.c) on top of the simulated kernel.

A device is a list of items; each item holds a `qset`-slot pointer array from
kmalloc, and each slot one quantum from kmem_cache_alloc(scullc_cache). The
structures live in simulated memory (the arrays even hold the 32-bit pointers);
the Python lists beside them are the authority the driver's C pointers would be.

Plain Python, no FUSE: the filesystem calls open/read/write/truncate with the
per-device lock held, as the driver's semaphore would be.
"""
from __future__ import annotations

import errno
import struct
from typing import Optional

from allocator import gfp as G
from allocator.physmem import PAGE_OFFSET
from allocator.printk import KERN_NOTICE, KERN_WARNING
from allocator.slab import SLAB_HWCACHE_ALIGN

# scullc.h defaults
SCULLC_QUANTUM = 4000
SCULLC_QSET = 500
SCULLC_DEVS = 4
# sizeof(struct scullc_dev) on i386 with the HEAD driver: six 4-byte fields
# (data, next, vmas, quantum, qset, size) + struct mutex (16) + 2.6.18 struct cdev (88).
SIZEOF_SCULLC_DEV = 128
SIZEOF_POINTER = 4
# The seq_file buffer is one page and the dump stops 80 bytes short of it.
SCULLCMEM_LIMIT = 4096 - 80
_pack_ptr = struct.Struct("<I").pack_into
# dev->size is a 32-bit size_t on i386: the VFS refuses to grow a file past it (EFBIG)
MAX_DEVICE_SIZE = 0xFFFFFFFF


def _is_live_kmalloc(k, addr) -> bool:
    return k.kmalloc_object_is_live(addr)


# What traces and slab-debug "last user" records name (allocator/trace.py):
# helpers the C driver does inline, and the one method under another name.
_INLINE_HELPERS = ("_alloc_quantum", "_quantum_alloc", "_free_quantum", "_alloc_data", "_zero_quantum")
_DRIVER_FUNCS = {"read_ldd3": "read"}


class DeviceError(Exception):
    """A failed device operation; `errno` is what the filesystem returns."""

    def __init__(self, err: int, message: str = ""):
        super().__init__(message or errno.errorcode.get(err, str(err)))
        self.errno = err


class Qset:
    """One list item: a struct scullc_dev used as a list node."""
    __slots__ = ("addr", "data_addr", "data")

    def __init__(self, addr: int):
        self.addr = addr                       # physical address of the item struct
        self.data_addr: Optional[int] = None   # the kmalloc'd pointer array
        self.data: Optional[list] = None       # quantum addresses, None for empty slots


class ScullcDevice:
    # Quanta that are not physically contiguous (scullv's vmalloc areas) set this
    # and define _store(addr, data) -> bytes copied and _load(addr, n) through
    # their page table; everyone else's copies are slices of physical memory.
    vmapped = False

    def __init__(self, driver: "ScullcDriver", index: int, addr: int):
        self.driver = driver
        self.k = driver.k
        self.k.register_call_sites(type(self), type(self).__name__.lower().removesuffix("device"),
                                   _INLINE_HELPERS, _DRIVER_FUNCS)
        self.k.register_call_sites(type(driver), type(driver).__name__.lower().removesuffix("driver"))
        self.index = index
        self.name = f"scullc{index}"
        self.quantum, self.qset = self._module_params()
        self.size = 0
        self.items: list[Qset] = [Qset(addr)]  # items[0] lives in the device array
        self.gfp = G.GFP_KERNEL
        self.nquanta = 0  # quanta held (st_blocks and sys/class/.../quanta, without a walk)

    # -- what the scull family's drivers differ in (see scullcfs/families.py) --

    def _module_params(self) -> tuple[int, int]:
        """The module's current (quantum, qset): what a device adopts at trim."""
        return self.driver.scullc_quantum, self.driver.scullc_qset

    def _free_quantum(self, q: int) -> None:
        self.k.kmem_cache_free(self.driver.cache, q)

    def _zero_quantum(self, q: int, offset: int, n: int) -> None:
        self.k.mem.zero(q + offset, n)

    # -- allocation of the structure ----------------------------------------

    def _follow(self, n: int, gfp: int) -> Optional[Qset]:
        """scullc_follow: the n-th item, creating missing ones (zeroed)."""
        items = self.items
        while len(items) <= n:
            addr = self.k.kmalloc(SIZEOF_SCULLC_DEV, gfp | G.F.ZERO)
            if addr is None:
                return None
            prev = items[-1]
            _pack_ptr(self.k.mem.view, prev.addr + 4, PAGE_OFFSET + addr)  # prev->next
            items.append(Qset(addr))
        return items[n]

    def _alloc_data(self, dptr: Qset, gfp: int) -> bool:
        addr = self.k.kmalloc(self.qset * SIZEOF_POINTER, gfp)
        if addr is None:
            return False
        self.k.mem.zero(addr, self.qset * SIZEOF_POINTER)
        dptr.data_addr = addr
        dptr.data = [None] * self.qset
        _pack_ptr(self.k.mem.view, dptr.addr, PAGE_OFFSET + addr)  # item->data
        return True

    def _quantum_alloc(self, gfp: int) -> Optional[int]:
        """Where a quantum comes from: scullc's cache (scullm: its mempool)."""
        return self.k.kmem_cache_alloc(self.driver.cache, gfp)

    def _kernel_address(self, q: int) -> int:
        """The pointer the driver stores for quantum q (lowmem: PAGE_OFFSET + phys)."""
        return PAGE_OFFSET + q

    def _alloc_quantum(self, dptr: Qset, s_pos: int, gfp: int) -> Optional[int]:
        """Allocate slot s_pos's quantum, zeroed as the driver does, and record
        it (in the Python list and as a pointer in the qset array)."""
        q = self._quantum_alloc(gfp)
        if q is None:
            return None
        self._zero_quantum(q, 0, self.quantum)
        dptr.data[s_pos] = q
        self.nquanta += 1
        _pack_ptr(self.k.mem.view, dptr.data_addr + s_pos * SIZEOF_POINTER, self._kernel_address(q))
        return q

    # -- file operations ----------------------------------------------------

    def open(self, flags: int) -> None:
        """scullc_open: a write-only open trims; so does O_TRUNC (the VFS
        truncates to 0 before the driver sees the file)."""
        import os
        if (flags & os.O_ACCMODE) == os.O_WRONLY or flags & os.O_TRUNC:
            self.trim()

    def trim(self) -> None:
        """scullc_trim: every quantum and array back to the allocator, then adopt
        the module's current quantum and qset."""
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
        k.mem.zero(head.addr, 8)  # data = next = NULL
        self.items = [head]
        self.nquanta = 0
        self.size = 0
        self.quantum, self.qset = self._module_params()

    def truncate(self, length: int) -> None:
        """Free every quantum wholly past `length` and zero the rest of the
        quantum it ends in, so that a later extension reads zeros."""
        if length > MAX_DEVICE_SIZE:
            raise DeviceError(errno.EFBIG, f"{self.name}: past the driver's 32-bit size")
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
                        self.nquanta -= 1
                        dptr.data[s] = None
                        k.mem.zero(dptr.data_addr + s * SIZEOF_POINTER, SIZEOF_POINTER)
                    elif start + quantum > length:
                        self._zero_quantum(q, length - start, start + quantum - length)
                if base >= length:
                    k.kfree(dptr.data_addr)
                    dptr.data = dptr.data_addr = None
            if n and base >= length:
                k.kfree(dptr.addr)
                del self.items[n]
                k.mem.zero(self.items[n - 1].addr + 4, 4)
        self.size = length

    def write(self, pos: int, data) -> int:
        """Store `data` at `pos`; return the bytes stored. A failed allocation
        stops the write there: the bytes before it count, and with none the
        write fails with ENOMEM. Stored data is never touched by a failure."""
        count = len(data)
        if count == 0:
            return 0
        if pos + count > MAX_DEVICE_SIZE:
            raise DeviceError(errno.EFBIG, f"{self.name}: past the driver's 32-bit size")
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
        while done < count:
            dptr = items[item] if item < len(items) else self._follow(item, gfp)
            if dptr is None:
                break
            data_list = dptr.data
            if data_list is None:
                if not self._alloc_data(dptr, gfp):
                    break
                data_list = dptr.data
            while s_pos < qset and done < count:
                q = data_list[s_pos]
                if q is None:
                    q = self._alloc_quantum(dptr, s_pos, gfp)
                    if q is None:
                        break
                n = quantum - q_pos
                if n > count - done:
                    n = count - done
                if vmapped:
                    copied = self._store(q + q_pos, src[done:done + n])
                    done += copied
                    if copied < n:  # an unmapped page: logged as a paging oops
                        break
                else:
                    view[q + q_pos:q + q_pos + n] = src[done:done + n]
                    done += n
                q_pos = 0
                s_pos += 1
            else:
                item += 1
                s_pos = 0
                continue
            break  # an allocation (or, vmapped, a copy) failed
        if done == 0:
            raise DeviceError(errno.ENOMEM, f"{self.name}: out of memory")
        end = pos + done
        if end > self.size:
            self.size = end
        return done

    def read(self, pos: int, count: int):
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
        parts = []
        done = 0
        while done < count:
            dptr = items[item] if item < len(items) else None
            data_list = dptr.data if dptr is not None else None
            while s_pos < qset and done < count:
                n = quantum - q_pos
                if n > count - done:
                    n = count - done
                q = data_list[s_pos] if data_list is not None else None
                if q is None:
                    parts.append(mem.zeros(n))
                elif vmapped:
                    parts.append(self._load(q + q_pos, n))
                else:
                    parts.append(view[q + q_pos:q + q_pos + n])
                done += n
                q_pos = 0
                s_pos += 1
            item += 1
            s_pos = 0
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def _read_ldd3(self, pos: int, count: int):
        """scullc_read exactly: one quantum at most, a hole reads as EOF, and the
        item list is followed (and grown) even on a read."""
        if pos > self.size:
            return b""
        if pos + count > self.size:
            count = self.size - pos
        quantum, qset = self.quantum, self.qset
        item, rest = divmod(pos, quantum * qset)
        s_pos, q_pos = divmod(rest, quantum)
        dptr = self._follow(item, G.GFP_KERNEL)
        if dptr is None or dptr.data is None or dptr.data[s_pos] is None:
            return b""
        if count > quantum - q_pos:
            count = quantum - q_pos
        q = dptr.data[s_pos] + q_pos
        return self._load(q, count) if self.vmapped else self.k.mem.view[q:q + count]

    def quanta(self) -> int:
        return self.nquanta

    def _last_quantum(self) -> tuple:
        for dptr in reversed(self.items):
            if dptr.data:
                for s in range(len(dptr.data) - 1, -1, -1):
                    if dptr.data[s] is not None:
                        return dptr, s
        raise DeviceError(errno.ENODATA, f"{self.name} holds no quantum: write to it first")

    def misbehave(self, bug: str, n: int = 1) -> None:
        """Commit one driver bug on purpose, so that slab debugging reports it:
        `overrun` writes n bytes past the end of the last quantum; `use-after-free`
        frees the last quantum and then writes into it; `double-free` frees it
        twice. The device forgets a freed quantum (its bytes read as a hole)."""
        k, cache = self.k, self.driver.cache
        dptr, s = self._last_quantum()
        q = dptr.data[s]
        if bug == "overrun":
            k.mem.view[q + cache.obj_size:q + cache.obj_size + n] = b"\xee" * n
            return
        dptr.data[s] = None
        self.nquanta -= 1
        k.mem.zero(dptr.data_addr + s * SIZEOF_POINTER, SIZEOF_POINTER)
        k.kmem_cache_free(cache, q)
        if bug == "use-after-free":
            k.mem.view[q:q + n] = b"\xee" * n
        elif bug == "double-free":
            k.kmem_cache_free(cache, q)
        else:
            raise DeviceError(errno.EINVAL, f"unknown bug {bug!r}")


class ScullcDriver:
    """The module: parameters, the device array, and the `scullc` cache."""

    def __init__(self, kernel, quantum: int = SCULLC_QUANTUM, qset: int = SCULLC_QSET,
                 devs: int = SCULLC_DEVS, ldd3_io: bool = False,
                 cache_flags: int = SLAB_HWCACHE_ALIGN):
        if quantum < 1 or quantum > 131072:
            raise ValueError(f"quantum must be 1..131072, not {quantum}")
        if qset < 1 or qset * SIZEOF_POINTER > 131072:
            raise ValueError(f"qset must be 1..32768, not {qset}")
        if devs < 1 or devs > 64:
            raise ValueError(f"devs must be 1..64, not {devs}")
        self.k = kernel
        self.scullc_quantum = quantum
        self.scullc_qset = qset
        self.scullc_devs = devs
        self.ldd3_io = ldd3_io
        self.devices_addr = kernel.kzalloc(devs * SIZEOF_SCULLC_DEV, G.GFP_KERNEL)
        if self.devices_addr is None:
            raise MemoryError("scullc: cannot allocate the device array")
        self.devices = [ScullcDevice(self, i, self.devices_addr + i * SIZEOF_SCULLC_DEV)
                        for i in range(devs)]
        self.cache = kernel.kmem_cache_create("scullc", quantum, 0, cache_flags)
        if self.cache is None:
            kernel.kfree(self.devices_addr)
            raise MemoryError("scullc: kmem_cache_create failed (see the kernel log)")

    def set_param(self, name: str, text: str) -> None:
        """Write a module parameter (the driver's ioctls, as files). Bad values
        raise DeviceError(EINVAL) with a log line; nothing changes."""
        log = self.k.log
        try:
            value = int(text.strip(), 0)
        except ValueError:
            log.printk(KERN_WARNING, f"scullc: {name}: {text.strip()[:40]!r} is not a number")
            raise DeviceError(errno.EINVAL, f"{name}: not a number") from None
        if name == "scullc_quantum":
            if not 1 <= value <= self.cache.obj_size:
                why = ("a quantum of 0 bytes or less would divide every offset by it" if value < 1
                       else f"the scullc cache's objects are {self.cache.obj_size} bytes and the"
                            " driver would overflow them")
                log.printk(KERN_WARNING, f"scullc: scullc_quantum {value} refused: must be"
                                         f" 1..{self.cache.obj_size} ({why})")
                raise DeviceError(errno.EINVAL, f"scullc_quantum {value}: must be 1..{self.cache.obj_size}")
            self.scullc_quantum = value
        elif name == "scullc_qset":
            if not 1 <= value <= 131072 // SIZEOF_POINTER:
                log.printk(KERN_WARNING, f"scullc: qset {value} refused: must be 1..32768"
                                         f" (the pointer array comes from kmalloc, at most 128 KiB)")
                raise DeviceError(errno.EINVAL, "qset out of range")
            self.scullc_qset = value
        else:
            raise DeviceError(errno.EACCES, f"{name} is read-only")
        log.printk(KERN_NOTICE, f"scullc: {name} = {value} (devices adopt it at their next trim)")

    def set_gfp(self, dev: ScullcDevice, text: str) -> None:
        """sys/class/scullc/scullcN/gfp: names or hex. A mask slab memory cannot
        honour (__GFP_HIGHMEM) or nonsense is EINVAL with a log line."""
        log = self.k.log
        try:
            mask = G.gfp_parse(text)
        except ValueError as e:
            log.printk(KERN_WARNING, f"scullc: {dev.name}: gfp {text.strip()[:60]!r} refused: {e}")
            raise DeviceError(errno.EINVAL, str(e)) from None
        if mask & G.F.HIGHMEM:
            log.printk(KERN_WARNING, f"scullc: {dev.name}: gfp {G.gfp_format(mask)} refused:"
                                     f" slab memory cannot come from HighMem")
            raise DeviceError(errno.EINVAL, "__GFP_HIGHMEM")
        dev.gfp = mask
        log.printk(KERN_NOTICE, f"scullc: {dev.name}: allocating with {G.gfp_format(mask)}")

    def cleanup(self) -> bool:
        """scullc_cleanup: trim every device, free the array, destroy the cache.
        Returns False if the cache still held objects (a leak, logged)."""
        for dev in self.devices:
            dev.trim()
        self.k.kfree(self.devices_addr)
        return self.k.kmem_cache_destroy(self.cache)

    def quantum_problem(self, q: int) -> Optional[str]:
        """Why q is not a live quantum of the scullc cache, or None."""
        return None if self.k.object_is_live(self.cache, q) else "not a live scullc object"

    def check(self) -> list[str]:
        """The driver's side of debugfs `check` (see check_devices)."""
        return check_devices(self.k, self.devices, self.quantum_problem)

    def scullcmem(self) -> str:
        """proc/scullcmem with the driver's format strings."""
        return procmem_dump(self.devices,
                            lambda i, d: f"\nDevice {i}: qset {d.qset}, quantum {d.quantum}, sz {d.size}\n",
                            lambda q: PAGE_OFFSET + q)


def check_devices(k, devices, quantum_problem, head_allocated=lambda dev: False) -> list[str]:
    """Every item, qset array and quantum a device holds is allocated, no
    quantum is held twice (by one device or two), and the counts agree.
    `quantum_problem(q)` says why q is not a live quantum of the driver."""
    problems = []
    seen: set = set()
    for dev in devices:
        for n, dptr in enumerate(dev.items):
            if (n or head_allocated(dev)) and not _is_live_kmalloc(k, dptr.addr):
                problems.append(f"{dev.name}: item {n} at {dptr.addr:#x} is not allocated")
            if dptr.data is None:
                continue
            if not _is_live_kmalloc(k, dptr.data_addr):
                problems.append(f"{dev.name}: qset array of item {n} is not allocated")
            for s, q in enumerate(dptr.data):
                if q is None:
                    continue
                why = quantum_problem(q)
                if why:
                    problems.append(f"{dev.name}: quantum {n}/{s} at {q:#x}: {why}")
                if q in seen:
                    problems.append(f"{dev.name}: quantum {q:#x} held twice")
                seen.add(q)
        counted = sum(1 for dptr in dev.items if dptr.data for q in dptr.data if q is not None)
        if counted != dev.nquanta:
            problems.append(f"{dev.name}: holds {counted} quanta but counts {dev.nquanta}")
    return problems


def procmem_dump(devices, header, pointer) -> str:
    """A driver's /proc dump (scullc_read_procmem): per device its header, its
    items, and the slots of the last item only; like the driver's seq_file it
    stops once a page is nearly full."""
    out = []
    length = 0
    for i, d in enumerate(devices):
        lines = [header(i, d)]
        for n, item in enumerate(d.items):
            data = PAGE_OFFSET + item.data_addr if item.data_addr is not None else 0
            lines.append(f"  item at {PAGE_OFFSET + item.addr:08x}, qset at {data:08x}\n")
            if item.data is not None and n == len(d.items) - 1:
                for j, q in enumerate(item.data):
                    if q is not None:
                        lines.append(f"    {j: 4d}:{pointer(q):8x}\n")
        for line in lines:
            out.append(line)
            length += len(line)
            if length > SCULLCMEM_LIMIT:
                return "".join(out)
    return "".join(out)
