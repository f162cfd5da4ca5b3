"""LDD3's other scull drivers beside scullc, loaded with `--family`:

  scull   quanta from kmalloc(scull_quantum)              (scull/main.c)
  scullp  quanta of PAGE_SIZE << scullp_order from __get_free_pages  (scullp/main.c)
  scullv  quanta of PAGE_SIZE << scullv_order from vmalloc           (scullv/main.c)
  scullm  scullc's cache behind a mempool of scullm_min_nr elements  (ours: LDD3's
          mempool section applied to scullc)

They share scullc's device model (devices.ScullcDevice: a list of items, each a
`qset`-slot pointer array, each slot one quantum) and differ only in where a
quantum comes from and goes back to, and in the module's parameters. scullv's
quanta are contiguous only in vmalloc space, so its reads and writes go through
the vmalloc page table. Every driver's real quirks are either reproduced or
refused; docs/families.md lists which.
"""
from __future__ import annotations

import errno
import stat
from typing import Optional

from allocator import gfp as G
from allocator.page_alloc import MAX_ORDER
from allocator.physmem import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from allocator.printk import KERN_INFO, KERN_NOTICE, KERN_WARNING
from allocator.slab import SLAB_HWCACHE_ALIGN
from allocator.vmalloc import vmallocinfo

from .devices import (SCULLCMEM_LIMIT, SIZEOF_SCULLC_DEV, DeviceError, Qset,
                      ScullcDevice, _is_live_kmalloc, _pack_ptr, check_devices, procmem_dump)
from .tree import EXTENSIONS, Node, _decode

FAMILIES = ("scullc", "scull", "scullp", "scullv", "scullm")
# sizeof(struct scull_dev) on i386: data, quantum, qset, size, access_key (20) +
# struct mutex (16) + struct cdev (88); struct scull_qset is two pointers.
SIZEOF_SCULL_DEV = 124
SIZEOF_SCULL_QSET = 8
# What /proc/vmallocinfo shows as scullv's caller (sprint_symbol of the return
# address; the offsets are illustrative, there is no object code to measure).
SCULLV_CALLER = "scullv_write+0xe0/0x2b0 [scullv]"


# -- devices ---------------------------------------------------------------------

class ScullDevice(ScullcDevice):
    """scull: quanta from kmalloc. Unlike scullc the head holds no data: the
    first struct scull_qset is kmalloc'd too, and trim frees it."""

    def __init__(self, driver: "FamilyDriver", index: int, addr: int):
        super().__init__(driver, index, addr)
        self.name = f"scull{index}"
        self.head_addr = addr
        self.items = []
        self.zeroed = 0  # bytes we zeroed that the real driver leaves stale

    def _module_params(self) -> tuple[int, int]:
        return self.driver.scull_quantum, self.driver.scull_qset

    def _follow(self, n: int, gfp: int) -> Optional[Qset]:
        """scull_follow: allocate missing struct scull_qset items (zeroed)."""
        items = self.items
        while len(items) <= n:
            addr = self.k.kmalloc(SIZEOF_SCULL_QSET, gfp | G.F.ZERO)
            if addr is None:
                return None
            link = items[-1].addr + 4 if items else self.head_addr  # prev->next or dev->data
            _pack_ptr(self.k.mem.view, link, PAGE_OFFSET + addr)
            items.append(Qset(addr))
        return items[n]

    def _quantum_alloc(self, gfp: int) -> Optional[int]:
        q = self.k.kmalloc(self.quantum, gfp)
        if q is not None:
            # scull_write does not memset: the previous owner's bytes would show
            # through. _alloc_quantum zeroes it for the user's sake; we count it.
            self.zeroed += self.quantum
        return q

    def _free_quantum(self, q: int) -> None:
        self.k.kfree(q)

    def trim(self) -> None:
        """scull_trim: every quantum, array and item back to kmalloc."""
        k = self.k
        for dptr in self.items:
            if dptr.data is not None:
                for q in dptr.data:
                    if q is not None:
                        k.kfree(q)
                k.kfree(dptr.data_addr)
            k.kfree(dptr.addr)
        k.mem.zero(self.head_addr, 4)  # dev->data = NULL
        self.items = []
        self.nquanta = 0
        self.size = 0
        self.quantum, self.qset = self._module_params()

    def _read_ldd3(self, pos: int, count: int):
        if pos >= self.size:  # scull_read tests >= (scullc: >), so it never follows here
            return b""
        return super()._read_ldd3(pos, count)


class ScullpDevice(ScullcDevice):
    """scullp: each quantum is 2**order whole pages from __get_free_pages."""

    def __init__(self, driver: "FamilyDriver", index: int, addr: int):
        super().__init__(driver, index, addr)
        self.name = f"scullp{index}"

    @property
    def order(self) -> int:
        return (self.quantum >> PAGE_SHIFT).bit_length() - 1

    def _module_params(self) -> tuple[int, int]:
        return PAGE_SIZE << self.driver.scullp_order, self.driver.scullp_qset

    def _quantum_alloc(self, gfp: int) -> Optional[int]:
        return self.k.get_free_pages(gfp, self.order)

    def _free_quantum(self, q: int) -> None:
        self.k.free_pages(q, self.order)


class ScullvDevice(ScullcDevice):
    """scullv: each quantum is vmalloc(PAGE_SIZE << order); its address is a
    vmalloc address, so every byte moves through the vmalloc page table."""

    def __init__(self, driver: "FamilyDriver", index: int, addr: int):
        super().__init__(driver, index, addr)
        self.name = f"scullv{index}"

    @property
    def order(self) -> int:
        return (self.quantum >> PAGE_SHIFT).bit_length() - 1

    def _module_params(self) -> tuple[int, int]:
        return PAGE_SIZE << self.driver.scullv_order, self.driver.scullv_qset

    def _quantum_alloc(self, gfp: int) -> Optional[int]:
        # vmalloc() is __vmalloc(size, GFP_KERNEL | __GFP_HIGHMEM): the device's
        # mode (also used for its kmalloc'd items and arrays) plus HighMem
        return self.k.vmalloc_gfp(self.quantum, gfp | G.F.HIGHMEM, SCULLV_CALLER)

    def _kernel_address(self, q: int) -> int:
        return q  # already a kernel (vmalloc) address

    def _free_quantum(self, q: int) -> None:
        self.k.vfree(q)

    def _zero_quantum(self, q: int, offset: int, n: int) -> None:
        self.k.vmalloc_zero(q + offset, n)

    # ScullcDevice's read and write loops copy through the vmalloc page table
    vmapped = True

    def _store(self, addr: int, data) -> int:
        return self.k.vmalloc_write(addr, data)

    def _load(self, addr: int, n: int):
        return self.k.vmalloc_read(addr, n)


class ScullmDevice(ScullcDevice):
    """scullm: scullc with its quanta drawn through a mempool."""

    def __init__(self, driver: "FamilyDriver", index: int, addr: int):
        super().__init__(driver, index, addr)
        self.name = f"scullm{index}"

    def _module_params(self) -> tuple[int, int]:
        return self.driver.scullm_quantum, self.driver.scullm_qset

    def _quantum_alloc(self, gfp: int) -> Optional[int]:
        return self.k.mempool_alloc(self.driver.pool, gfp)

    def _free_quantum(self, q: int) -> None:
        self.k.mempool_free(q, self.driver.pool)


# -- drivers ---------------------------------------------------------------------

class FamilyDriver:
    """One loaded module: parameters, the device array, its allocator state.

    PARAMS maps each module parameter to (default, lo, hi, writable). Writable
    ones stand for the driver's ioctls (they change the module's globals, which
    a device adopts at its next trim)."""
    name = ""
    device_class = ScullcDevice
    sizeof_dev = SIZEOF_SCULLC_DEV
    devs_param = ""
    proc_name = ""
    PARAMS: dict = {}

    def __init__(self, kernel, params: dict, ldd3_io: bool = False):
        self.k = kernel
        self.ldd3_io = ldd3_io
        for pname, (default, lo, hi, _) in self.PARAMS.items():
            value = params.get(pname, default)
            if not lo <= value <= hi:
                raise ValueError(f"{pname} must be {lo}..{hi}, not {value}")
            setattr(self, pname, value)
        devs = getattr(self, self.devs_param)
        self._load()
        self.devices_addr = kernel.kzalloc(devs * self.sizeof_dev, G.GFP_KERNEL)
        if self.devices_addr is None:
            self._unload()
            raise MemoryError(f"{self.name}: cannot allocate the device array")
        self.devices = [self.device_class(self, i, self.devices_addr + i * self.sizeof_dev)
                        for i in range(devs)]
        kernel.log.printk(KERN_INFO, f"{self.name}: {devs} devices, "
                          + ", ".join(f"{p} {getattr(self, p)}" for p in self.PARAMS if p != self.devs_param))

    def _load(self) -> None:
        """Allocator state the module creates at init (a cache, a pool)."""

    def _unload(self) -> bool:
        return True

    def check_param(self, pname: str, value: int) -> Optional[str]:
        """Why a runtime value is refused, or None."""
        return None

    def set_param(self, pname: str, text: str) -> None:
        """sys/module/<module>/parameters/<pname>: bad values are EINVAL with a
        log line, and nothing changes."""
        log = self.k.log
        spec = self.PARAMS.get(pname)
        if spec is None or not spec[3]:
            raise DeviceError(errno.EACCES, f"{pname} is read-only")
        try:
            value = int(text.strip(), 0)
        except ValueError:
            log.printk(KERN_WARNING, f"{self.name}: {pname}: {text.strip()[:40]!r} is not a number")
            raise DeviceError(errno.EINVAL, f"{pname}: not a number") from None
        _, lo, hi, _ = spec
        why = f"must be {lo}..{hi}" if not lo <= value <= hi else self.check_param(pname, value)
        if why:
            log.printk(KERN_WARNING, f"{self.name}: {pname} {value} refused: {why}")
            raise DeviceError(errno.EINVAL, f"{pname} {value}: {why}")
        self._apply_param(pname, value)
        log.printk(KERN_NOTICE, f"{self.name}: {pname} = {value}")

    def _apply_param(self, pname: str, value: int) -> None:
        setattr(self, pname, value)

    def set_gfp(self, dev, text: str) -> None:
        """sys/class/<module>/<dev>/gfp: names or hex; nonsense, or a mask this
        allocator cannot honour, is EINVAL with a log line."""
        log = self.k.log
        try:
            mask = G.gfp_parse(text)
        except ValueError as e:
            log.printk(KERN_WARNING, f"{self.name}: {dev.name}: gfp {text.strip()[:60]!r} refused: {e}")
            raise DeviceError(errno.EINVAL, str(e)) from None
        why = self.gfp_refused(mask)
        if why:
            log.printk(KERN_WARNING, f"{self.name}: {dev.name}: gfp {G.gfp_format(mask)} refused: {why}")
            raise DeviceError(errno.EINVAL, why)
        dev.gfp = mask
        log.printk(KERN_NOTICE, f"{self.name}: {dev.name}: allocating with {G.gfp_format(mask)}")

    def gfp_refused(self, mask: int) -> Optional[str]:
        if mask & G.F.HIGHMEM:
            return "this memory needs a kernel mapping, and HighMem has none"
        return None

    def cleanup(self) -> bool:
        """Module exit: trim every device, free the array, release the
        allocator state. False if something was still allocated (logged)."""
        for dev in self.devices:
            dev.trim()
        self.k.kfree(self.devices_addr)
        return self._unload()

    # -- the consistency check -------------------------------------------------

    def quantum_problem(self, q: int) -> Optional[str]:
        """Why q is not a live quantum of this driver's allocator, or None."""
        return None if _is_live_kmalloc(self.k, q) else "not a live kmalloc object"

    def check(self) -> list[str]:
        """The driver's side of debugfs `check` (see devices.check_devices)."""
        return check_devices(self.k, self.devices, self.quantum_problem,
                             lambda dev: isinstance(dev, ScullDevice))

    # -- the proc dump ---------------------------------------------------------

    def proc_header(self, i: int, d) -> str:
        return f"\nDevice {i}: qset {d.qset}, quantum {d.quantum}, sz {d.size}\n"

    def proc_pointer(self, q: int) -> int:
        return PAGE_OFFSET + q

    def procmem(self) -> str:
        """The driver's /proc dump with its format strings."""
        return procmem_dump(self.devices, self.proc_header, self.proc_pointer)


class ScullDriver(FamilyDriver):
    name = "scull"
    device_class = ScullDevice
    sizeof_dev = SIZEOF_SCULL_DEV
    devs_param = "scull_nr_devs"
    proc_name = "scullmem"
    PARAMS = {"scull_quantum": (4000, 1, 131072, True), "scull_qset": (1000, 1, 32768, True),
              "scull_nr_devs": (4, 1, 64, False)}

    def check_param(self, pname, value):
        return None  # kmalloc takes any quantum up to 128 KiB

    def procmem(self) -> str:
        """scull_read_procmem: "q" for quantum, a space after the slot's colon,
        and the page limit tested only before a device or an item."""
        out = []
        length = 0
        for i, d in enumerate(self.devices):
            if length > SCULLCMEM_LIMIT:
                break
            line = f"\nDevice {i}: qset {d.qset}, q {d.quantum}, sz {d.size}\n"
            out.append(line)
            length += len(line)
            for n, item in enumerate(d.items):
                if length > SCULLCMEM_LIMIT:
                    break
                data = PAGE_OFFSET + item.data_addr if item.data_addr is not None else 0
                lines = [f"  item at {PAGE_OFFSET + item.addr:08x}, qset at {data:08x}\n"]
                if item.data is not None and n == len(d.items) - 1:
                    lines += [f"    {j: 4d}: {PAGE_OFFSET + q:8x}\n"
                              for j, q in enumerate(item.data) if q is not None]
                out += lines
                length += sum(map(len, lines))
        return "".join(out)


class ScullpDriver(FamilyDriver):
    name = "scullp"
    device_class = ScullpDevice
    devs_param = "scullp_devs"
    proc_name = "scullpmem"
    PARAMS = {"scullp_order": (0, 0, MAX_ORDER - 1, True), "scullp_qset": (500, 1, 32768, True),
              "scullp_devs": (4, 1, 64, False)}

    def proc_header(self, i, d):
        return f"\nDevice {i}: qset {d.qset}, order {d.order}, sz {d.size}\n"

    def quantum_problem(self, q):
        pfn = q >> PAGE_SHIFT
        if self.k.page_block_order(pfn) is None:
            return "not allocated pages"
        return None


class ScullvDriver(FamilyDriver):
    name = "scullv"
    device_class = ScullvDevice
    devs_param = "scullv_devs"
    proc_name = "scullvmem"
    PARAMS = {"scullv_order": (4, 0, MAX_ORDER - 1, True), "scullv_qset": (500, 1, 32768, True),
              "scullv_devs": (4, 1, 64, False)}

    def proc_header(self, i, d):
        return f"\nDevice {i}: qset {d.qset}, order {d.order}, sz {d.size}\n"

    def proc_pointer(self, q):
        return q  # already a kernel (vmalloc) address

    def quantum_problem(self, q):
        area = self.k.find_vm_area(q)
        return "not a vmalloc area" if area is None else None

    def gfp_refused(self, mask):
        if mask & G.F.HIGHMEM:
            return "vmalloc adds __GFP_HIGHMEM for the quanta itself; items and arrays come from kmalloc"
        return None


class ScullmDriver(FamilyDriver):
    name = "scullm"
    device_class = ScullmDevice
    devs_param = "scullm_devs"
    proc_name = "scullmmem"
    PARAMS = {"scullm_quantum": (4000, 1, 131072, True), "scullm_qset": (500, 1, 32768, True),
              "scullm_devs": (4, 1, 64, False), "scullm_min_nr": (16, 1, 4096, True)}

    def _load(self) -> None:
        k = self.k
        self.cache = k.kmem_cache_create("scullm", self.scullm_quantum, 0, SLAB_HWCACHE_ALIGN)
        if self.cache is None:
            raise MemoryError("scullm: kmem_cache_create failed (see the kernel log)")
        self.pool = k.mempool_create(self.scullm_min_nr, k.mempool_alloc_slab, k.mempool_free_slab,
                                     self.cache)
        if self.pool is None:
            k.kmem_cache_destroy(self.cache)
            raise MemoryError(f"scullm: cannot fill a mempool of {self.scullm_min_nr} quanta")

    def _unload(self) -> bool:
        pool_ok = self.k.mempool_destroy(self.pool)
        return self.k.kmem_cache_destroy(self.cache) and pool_ok

    def check_param(self, pname, value):
        if pname == "scullm_quantum" and value > self.cache.obj_size:
            return f"the scullm cache's objects are {self.cache.obj_size} bytes (the driver would overflow them)"
        return None

    def _apply_param(self, pname, value):
        if pname == "scullm_min_nr":
            if self.k.mempool_resize(self.pool, value, G.GFP_KERNEL):
                raise DeviceError(errno.ENOMEM, "mempool_resize: no memory for the element array")
        setattr(self, pname, value)

    def quantum_problem(self, q):
        if not self.k.object_is_live(self.cache, q):
            return "not a live scullm object"
        if q in self.pool.elements:
            return "also in the mempool's reserve"
        return None

    def check(self) -> list[str]:
        problems = super().check()
        p = self.pool
        if p.curr_nr > p.min_nr or len(set(p.elements)) != p.curr_nr:
            problems.append(f"scullm: mempool holds {p.curr_nr} elements ({len(set(p.elements))}"
                            f" distinct) for min_nr {p.min_nr}")
        for q in p.elements:
            if not self.k.object_is_live(self.cache, q):
                problems.append(f"scullm: reserve element {q:#x} is not a live scullm object")
        return problems

    def mempool_text(self) -> str:
        p = self.pool
        return (f"min_nr {p.min_nr}\ncurr_nr {p.curr_nr}\nfrom_allocator {p.from_allocator}\n"
                f"from_reserve {p.from_reserve}\nrefills {p.refills}\nsleeps {p.sleeps}\n")


DRIVERS = {d.name: d for d in (ScullDriver, ScullpDriver, ScullvDriver, ScullmDriver)}


def parse_family_args(families: str = "scullc", params=()) -> tuple[list, dict]:
    """Check `--family` and `--param` without loading anything: returns the
    drivers to load (beside scullc) and each one's parameter values. Raises
    ValueError naming the option, with the valid names, for a bad one."""
    names = [n.strip() for n in families.split(",") if n.strip()]
    for n in names:
        if n not in FAMILIES:
            raise ValueError(f"--family: unknown driver {n!r} (choose from {','.join(FAMILIES)})")
    wanted = [n for n in FAMILIES if n in names and n != "scullc"]
    values: dict[str, dict] = {n: {} for n in wanted}
    for item in params:
        pname, sep, text = item.partition("=")
        owner = next((n for n, d in DRIVERS.items() if pname in d.PARAMS), None)
        if not sep:
            raise ValueError(f"--param: expected NAME=VALUE, not {item!r}")
        if owner is None:
            valid = "; ".join(f"{n}: {', '.join(d.PARAMS)}" for n, d in DRIVERS.items())
            raise ValueError(f"--param: unknown parameter {pname!r} (valid: {valid})")
        if owner not in values:
            raise ValueError(f"--param {pname}: the {owner} driver is not loaded (add it to --family)")
        try:
            value = int(text, 0)
        except ValueError:
            raise ValueError(f"--param {pname}: not a number: {text!r}") from None
        _, lo, hi, _ = DRIVERS[owner].PARAMS[pname]
        if not lo <= value <= hi:
            raise ValueError(f"--param {pname}: {value} is outside {lo}..{hi}")
        values[owner][pname] = value
    return wanted, values


def load_families(kernel, families: str = "scullc", params=(), ldd3_io: bool = False) -> list:
    """insmod for every family named in `families` (comma-separated; scullc is
    the mount's own driver and always loaded). `params` are `name=value`
    strings, as insmod takes them. Raises ValueError for a bad name or value."""
    wanted, values = parse_family_args(families, params)
    loaded = []
    try:
        for n in wanted:
            loaded.append(DRIVERS[n](kernel, values[n], ldd3_io))
    except (ValueError, MemoryError):
        for d in reversed(loaded):
            d.cleanup()
        raise
    return loaded


# -- the tree --------------------------------------------------------------------

def _param_files(tree, drv) -> dict:
    table = {}
    for pname, (_, _, _, writable) in drv.PARAMS.items():
        table[f"sys/module/{drv.name}/parameters/{pname}"] = (
            0o644 if writable else 0o444,
            lambda pname=pname: f"{getattr(drv, pname)}\n",
            (lambda b, pname=pname: drv.set_param(pname, _decode(b))) if writable else None)
    return table


def declare_files(tree) -> None:
    """proc/vmallocinfo, and for each loaded family its devices, proc dump,
    module parameters and per-device sys/class files."""
    k = tree.k
    tree.declare({"proc/vmallocinfo": (0o444, lambda: vmallocinfo(k), None)})
    for drv in getattr(tree.driver, "families", ()):
        table = {f"proc/{drv.proc_name}": (0o444, drv.procmem, None), **_param_files(tree, drv)}
        if isinstance(drv, ScullmDriver):
            table["sys/module/scullm/mempool"] = (0o444, drv.mempool_text, None)
        for dev in drv.devices:
            tree.add(f"dev/{dev.name}", Node(dev.name, stat.S_IFREG | 0o664, device=dev))
            base = f"sys/class/{drv.name}/{dev.name}"
            table[f"{base}/gfp"] = (0o644, lambda dev=dev: G.gfp_format(dev.gfp) + "\n",
                                    lambda b, dev=dev, drv=drv: drv.set_gfp(dev, _decode(b)))
            table[f"{base}/size"] = (0o444, lambda dev=dev: f"{dev.size}\n", None)
            table[f"{base}/quanta"] = (0o444, lambda dev=dev: f"{dev.quanta()}\n", None)
            if isinstance(dev, ScullDevice):
                table[f"{base}/zeroed"] = (0o444, lambda dev=dev: f"{dev.zeroed}\n", None)
            if isinstance(dev, ScullmDevice):
                table[f"{base}/reserve"] = (0o444, lambda drv=drv: f"{drv.pool.curr_nr}/{drv.pool.min_nr}\n",
                                            None)
        tree.declare(table)


EXTENSIONS.append(declare_files)
