"""scull (LDD3 ch. 3, scull/main.c): quanta from kmalloc(scull_quantum).

Unlike scullc the device struct holds no data: the first struct scull_qset is
kmalloc'd too, and trim frees it. scull_write does not memset a new quantum;
we zero it for the user's sake and count the bytes (sys/class/scull/*/zeroed).
Its /proc dump says "q", puts a space after the slot's colon and tests the page
limit only before a device or an item.
"""
from __future__ import annotations

from collections.abc import Callable

from .model import Buffer, Device, Driver, module_params

# sizeof(struct scull_dev), by sizeof(void *). i386: data, quantum, qset, size,
# access_key (20) + struct mutex (16) + struct cdev (88). x86_64: data (8),
# quantum, qset (8), unsigned long size (8), access_key (4) + 4 padding = 32, +
# struct mutex (32) + struct cdev (104) (see model.SIZEOF_SCULLC_DEV).
# struct scull_qset is two pointers.
SIZEOF_SCULL_DEV = {4: 124, 8: 168}
SIZEOF_SCULL_QSET = {4: 8, 8: 16}


class ScullDevice(Device):
    head_in_device_array = False

    def __init__(self, driver: Driver, index: int, addr: int):
        super().__init__(driver, index, addr)
        self.head_addr = addr
        self.zeroed = 0  # bytes we zeroed that the real driver leaves stale

    def class_attrs(self) -> dict[str, Callable[[], str]]:
        return {**super().class_attrs(), "zeroed": lambda: f"{self.zeroed}\n"}

    def _link_address(self) -> int:
        return self.items[-1].addr + self.abi.pointer if self.items else self.head_addr  # prev->next or dev->data

    def _quantum_alloc(self, gfp: int) -> int | None:
        q = self.k.kmalloc(self.quantum, gfp)
        if q is not None:
            # scull_write does not memset: the previous owner's bytes would show
            # through. _alloc_quantum zeroes it for the user's sake; we count it.
            self.zeroed += self.quantum
        return q

    def _free_quantum(self, q: int) -> None:
        self.k.kfree(q)

    def _release_items(self) -> None:
        """scull_trim: every quantum, array and item back to kmalloc."""
        k = self.k
        for dptr in self.items:
            if dptr.data is not None:
                for q in dptr.data:
                    if q is not None:
                        k.kfree(q)
                k.kfree(dptr.data_addr)
            k.kfree(dptr.addr)
        k.mem.zero(self.head_addr, self.abi.pointer)  # dev->data = NULL
        self.items = []

    def _read_ldd3(self, pos: int, count: int) -> Buffer:
        if pos >= self.size:  # scull_read tests >= (scullc: >), so it never follows here
            return b""
        return super()._read_ldd3(pos, count)


class ScullDriver(Driver):
    name = "scull"
    device_class = ScullDevice
    PARAMS = module_params(quantum=("scull_quantum", 4000), qset=("scull_qset", 1000),
                           devs=("scull_nr_devs", 4))
    SIZEOF_DEV = SIZEOF_SCULL_DEV
    SIZEOF_ITEM = SIZEOF_SCULL_QSET
    proc_shows = "q"
    proc_slot = "    {j: 4d}: {ptr}\n"     # "    % 4i: %8p\n"
    proc_limit_per_line = False

    def quantum_problem(self, q: int) -> str | None:
        return None if self.k.kmalloc_object_is_live(q) else "not a live kmalloc object"
