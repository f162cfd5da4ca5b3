"""scullv (LDD3 ch. 8, scullv/main.c): each quantum is vmalloc(PAGE_SIZE <<
scullv_order). Its address is a vmalloc address, so every byte moves through
the vmalloc page table, and the /proc dump prints it as it is."""
from __future__ import annotations

from allocator import gfp as G

from .model import Buffer, Device, Driver, module_params

# What /proc/vmallocinfo shows as scullv's caller (sprint_symbol of the return
# address; the offsets are illustrative, there is no object code to measure).
SCULLV_CALLER = "scullv_write+0xe0/0x2b0 [scullv]"


class ScullvDevice(Device):
    vmapped = True

    def _quantum_alloc(self, gfp: int) -> int | None:
        # vmalloc() is __vmalloc(size, GFP_KERNEL | __GFP_HIGHMEM): the device's
        # mode (also used for its kmalloc'd items and arrays) plus HighMem
        return self.k.vmalloc_gfp(self.quantum, gfp | G.F.HIGHMEM, SCULLV_CALLER)

    def _kernel_address(self, q: int) -> int:
        return q  # already a kernel (vmalloc) address

    def _free_quantum(self, q: int) -> None:
        self.k.vfree(q)

    def _zero_quantum(self, q: int, offset: int, n: int) -> None:
        self.k.vmalloc_zero(q + offset, n)

    def _store(self, addr: int, data: memoryview) -> int:
        return self.k.vmalloc_write(addr, data)

    def _load(self, addr: int, n: int) -> Buffer:
        data: Buffer = self.k.vmalloc_read(addr, n)
        return data


class ScullvDriver(Driver):
    name = "scullv"
    device_class = ScullvDevice
    PARAMS = module_params(order=("scullv_order", 4), qset=("scullv_qset", 500), devs=("scullv_devs", 4))
    proc_shows = "order"
    highmem_refused = "vmalloc adds __GFP_HIGHMEM for the quanta itself; items and arrays come from kmalloc"

    def proc_pointer(self, q: int) -> int:
        return q  # already a kernel (vmalloc) address

    def quantum_problem(self, q: int) -> str | None:
        return "not a vmalloc area" if self.k.find_vm_area(q) is None else None
