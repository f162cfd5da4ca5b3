"""scullp (LDD3 ch. 8, scullp/main.c): each quantum is PAGE_SIZE << scullp_order,
whole pages from __get_free_pages, given back with free_pages."""
from __future__ import annotations

from allocator.physmem import PAGE_SHIFT

from .model import Device, Driver, module_params


class ScullpDevice(Device):
    def _quantum_alloc(self, gfp: int) -> int | None:
        return self.k.get_free_pages(gfp, self.order)

    def _free_quantum(self, q: int) -> None:
        self.k.free_pages(q, self.order)


class ScullpDriver(Driver):
    name = "scullp"
    device_class = ScullpDevice
    PARAMS = module_params(order=("scullp_order", 0), qset=("scullp_qset", 500), devs=("scullp_devs", 4))
    proc_shows = "order"

    def quantum_problem(self, q: int) -> str | None:
        return "not allocated pages" if self.k.page_block_order(q >> PAGE_SHIFT) is None else None
