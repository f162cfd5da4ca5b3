"""scullm (ours: LDD3's mempool section applied to scullc): scullc's cache
behind a mempool of scullm_min_nr elements. A quantum comes from the pool
(the allocator first, then the reserve, then a sleep for a free)."""
from __future__ import annotations

import errno
from collections.abc import Callable

from allocator import gfp as G
from allocator.parts import CachePart, MempoolPart
from allocator.versions import KERNEL_VERSION

from ..errors import DeviceError
from .model import Device, Driver, Param, flagcheck_warning, module_params


class ScullmDevice(Device):
    driver: ScullmDriver

    def _quantum_alloc(self, gfp: int) -> int | None:
        q: int | None = self.k.mempool_alloc(self.driver.pool, gfp)
        return q

    def _free_quantum(self, q: int) -> None:
        self.k.mempool_free(q, self.driver.pool)

    def class_attrs(self) -> dict[str, Callable[[], str]]:
        pool = self.driver.pool
        return {**super().class_attrs(), "reserve": lambda: f"{pool.curr_nr}/{pool.min_nr}\n"}


class ScullmDriver(Driver):
    name = "scullm"
    device_class = ScullmDevice
    PARAMS = module_params(quantum=("scullm_quantum", 4000), qset=("scullm_qset", 500),
                           devs=("scullm_devs", 4), scullm_min_nr=Param(16, 1, 4096, at_trim=False))
    cache: CachePart
    pool: MempoolPart

    def _load(self) -> None:
        k = self.k
        cache = k.kmem_cache_create("scullm", self.values["scullm_quantum"], 0, k.slab_flags.SLAB_HWCACHE_ALIGN)
        if cache is None:
            raise MemoryError("scullm: kmem_cache_create failed (see the kernel log)")
        min_nr = self.values["scullm_min_nr"]
        pool = k.mempool_create(min_nr, k.mempool_alloc_slab, k.mempool_free_slab, cache)
        if pool is None:
            k.kmem_cache_destroy(cache)
            raise MemoryError(f"scullm: cannot fill a mempool of {min_nr} quanta")
        self.cache, self.pool = cache, pool

    def _unload(self) -> bool:
        pool_ok = self.k.mempool_destroy(self.pool)
        return self.k.kmem_cache_destroy(self.cache) == 0 and pool_ok

    def param_refused(self, pname: str, value: int) -> str | None:
        why = super().param_refused(pname, value)
        size = self.k.object_size(self.cache)
        if why is None and pname == "scullm_quantum" and value > size:
            return (f"the scullm cache's objects are {size} bytes"
                    " (the driver would overflow them)")
        return why

    def _apply_param(self, pname: str, value: int) -> None:
        # mempool_resize lost its gfp argument in 2.6.29 (mm/mempool.c)
        gfp = (G.GFP_KERNEL,) if self.k.version.code < KERNEL_VERSION(2, 6, 29) else ()
        if pname == "scullm_min_nr" and self.k.mempool_resize(self.pool, value, *gfp):
            raise DeviceError(errno.ENOMEM, "mempool_resize: no memory for the element array")
        super()._apply_param(pname, value)

    def gfp_warning(self, mask: int) -> str | None:
        why = flagcheck_warning(self.cache, mask)
        return why and (why + "; mempool_alloc then takes the reserve, and with the reserve"
                              " empty the writer sleeps until an element comes back")

    def quantum_problem(self, q: int) -> str | None:
        if not self.k.object_is_live(self.cache, q):
            return "not a live scullm object"
        if q in self.k.mempool_reserve(self.pool):
            return "also in the mempool's reserve"
        return None

    def check(self) -> list[str]:
        problems = super().check()
        p = self.pool
        reserve = self.k.mempool_reserve(p)
        if p.curr_nr > p.min_nr or len(set(reserve)) != p.curr_nr:
            problems.append(f"scullm: mempool holds {p.curr_nr} elements ({len(set(reserve))}"
                            f" distinct) for min_nr {p.min_nr}")
        for q in reserve:
            if not self.k.object_is_live(self.cache, q):
                problems.append(f"scullm: reserve element {q:#x} is not a live scullm object")
        return problems

    def mempool_text(self) -> str:
        p = self.pool
        return (f"min_nr {p.min_nr}\ncurr_nr {p.curr_nr}\nfrom_allocator {p.from_allocator}\n"
                f"from_reserve {p.from_reserve}\nrefills {p.refills}\nsleeps {p.sleeps}\n")

    def module_attrs(self) -> dict[str, Callable[[], str]]:
        return {"mempool": self.mempool_text}
