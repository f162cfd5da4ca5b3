"""scullp (LDD3 ch. 8, scullp/main.c): each quantum is PAGE_SIZE << scullp_order,
whole pages from __get_free_pages, given back with free_pages."""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Optional

from allocator.physmem import PAGE_SHIFT

from .model import DEVS_MAX, ORDER_MAX, QSET_MAX, Device, Driver, Param


class ScullpDevice(Device):
    def _quantum_alloc(self, gfp: int) -> Optional[int]:
        return self.k.get_free_pages(gfp, self.order)

    def _free_quantum(self, q: int) -> None:
        self.k.free_pages(q, self.order)


class ScullpDriver(Driver):
    name = "scullp"
    device_class = ScullpDevice
    PARAMS: ClassVar[Mapping[str, Param]] = {
        "scullp_order": Param(0, 0, ORDER_MAX),
        "scullp_qset": Param(500, 1, QSET_MAX),
        "scullp_devs": Param(4, 1, DEVS_MAX, writable=False),
    }
    devs_param = "scullp_devs"
    order_param = "scullp_order"
    qset_param = "scullp_qset"
    proc_name = "scullpmem"
    proc_shows = "order"

    def quantum_problem(self, q: int) -> Optional[str]:
        return "not allocated pages" if self.k.page_block_order(q >> PAGE_SHIFT) is None else None
