"""scullc (LDD3 ch. 8, scullc/main.c): quanta from the `scullc` lookaside cache.

One cache of object size = the load-time scullc_quantum, created with
SLAB_HWCACHE_ALIGN after the devices (as scullc_init does) and destroyed at
cleanup. A runtime quantum larger than the cache's objects is refused: the real
module would overflow them.
"""
from __future__ import annotations

import errno
from collections.abc import Mapping

from allocator.kernel import Kernel
from allocator.parts import CachePart

from ..errors import DeviceError
from .model import Device, Driver, Qset, flagcheck_warning, module_params


class ScullcDevice(Device):
    driver: ScullcDriver

    def _quantum_alloc(self, gfp: int) -> int | None:
        return self.k.kmem_cache_alloc(self.driver.cache, gfp)

    def _free_quantum(self, q: int) -> None:
        self.k.kmem_cache_free(self.driver.cache, q)

    def _last_quantum(self) -> tuple[Qset, int, int]:
        held = list(self.held_quanta())
        if not held:
            raise DeviceError(errno.ENODATA, f"{self.name} holds no quantum: write to it first")
        n, s, q = held[-1]
        return self.items[n], s, q

    def misbehave(self, bug: str, n: int = 1) -> None:
        """Commit one driver bug on purpose, so that slab debugging reports it:
        `overrun` writes n bytes past the end of the last quantum; `use-after-free`
        frees the last quantum and then writes into it; `double-free` frees it
        twice. The device forgets a freed quantum (its bytes read as a hole)."""
        k, cache = self.k, self.driver.cache
        dptr, s, q = self._last_quantum()
        if bug == "overrun":
            end = q + k.object_size(cache)
            k.mem.view[end:end + n] = b"\xee" * n
            return
        self._forget_quantum(dptr, s)
        k.kmem_cache_free(cache, q)
        if bug == "use-after-free":
            k.mem.view[q:q + n] = b"\xee" * n
        elif bug == "double-free":
            k.kmem_cache_free(cache, q)
        else:
            raise DeviceError(errno.EINVAL, f"unknown bug {bug!r}")


class ScullcDriver(Driver):
    """The module: parameters (scullc.h defaults), the devices, the `scullc` cache."""
    cache: CachePart
    name = "scullc"
    device_class = ScullcDevice
    PARAMS = module_params(quantum=("scullc_quantum", 4000), qset=("scullc_qset", 500),
                           devs=("scullc_devs", 4))
    highmem_refused = "slab memory cannot come from HighMem"

    def __init__(self, kernel: Kernel, params: Mapping[str, int] | None = None, ldd3_io: bool = False,
                 cache_flags: int | None = None):
        # SLAB_HWCACHE_ALIGN as the kernel's headers define it (2.6.18 0x2000, 6.18 0x10)
        self.cache_flags = kernel.slab_flags.SLAB_HWCACHE_ALIGN if cache_flags is None else cache_flags
        super().__init__(kernel, params, ldd3_io)

    def _init(self) -> None:
        """scullc_init: the device array, then the cache (the devices are live first)."""
        self._alloc_devices()
        cache = self.k.kmem_cache_create("scullc", self.values["scullc_quantum"], 0, self.cache_flags)
        if cache is None:
            self.k.kfree(self.devices_addr)
            raise MemoryError("scullc: kmem_cache_create failed (see the kernel log)")
        self.cache = cache

    def _unload(self) -> bool:
        return self.k.kmem_cache_destroy(self.cache) == 0   # 2.6.18: 0 on success, 1 on failure

    def scullc_devices(self) -> list[ScullcDevice]:
        """The devices, as the scullc devices they are."""
        return [dev for dev in self.devices if isinstance(dev, ScullcDevice)]

    def param_refused(self, pname: str, value: int) -> str | None:
        size = self.k.object_size(self.cache)
        if pname == "scullc_quantum" and not 1 <= value <= size:
            why = ("a quantum of 0 bytes or less would divide every offset by it" if value < 1
                   else f"the scullc cache's objects are {size} bytes and the driver would overflow them")
            return f"must be 1..{size} ({why})"
        return super().param_refused(pname, value)

    def gfp_warning(self, mask: int) -> str | None:
        return flagcheck_warning(self.cache, mask)

    def quantum_problem(self, q: int) -> str | None:
        return None if self.k.object_is_live(self.cache, q) else "not a live scullc object"
