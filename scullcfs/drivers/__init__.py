"""LDD3's memory drivers, one module each, on one device model (model.py):

  scullc  quanta from kmem_cache_alloc(scullc)                   (scullc/main.c)
  scull   quanta from kmalloc(scull_quantum)                     (scull/main.c)
  scullp  quanta of PAGE_SIZE << scullp_order from __get_free_pages  (scullp/main.c)
  scullv  quanta of PAGE_SIZE << scullv_order from vmalloc           (scullv/main.c)
  scullm  scullc's cache behind a mempool of scullm_min_nr elements  (ours: LDD3's
          mempool section applied to scullc)

scullc is the mount's own driver and always loaded (its parameters are the
command line's --quantum, --qset and --devs); `--family` adds the others. Every
driver's real quirks are either reproduced or refused; docs/families.md lists
which. `declare_files` gives each loaded driver the same virtual files: its
devices, its /proc dump, its module parameters and sys/class/<driver>/<dev>/.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from allocator.kernel import Kernel

from ..tree import File, Tree, decode
from .model import Device, Driver, Param
from .scull import ScullDriver
from .scullc import ScullcDriver
from .scullm import ScullmDriver
from .scullp import ScullpDriver
from .scullv import ScullvDriver

__all__ = ["DRIVERS", "Device", "Driver", "ScullDriver", "ScullcDriver", "ScullmDriver", "ScullpDriver",
           "ScullvDriver", "declare_files", "load_drivers", "parse_family_args"]

# The registry, in load order: name -> driver class.
DRIVERS: dict[str, type[Driver]] = {d.name: d for d in (ScullcDriver, ScullDriver, ScullpDriver,
                                                          ScullvDriver, ScullmDriver)}
# The one driver whose parameters come from the command line's own options.
MOUNT_DRIVER = "scullc"


def parse_family_args(families: str = MOUNT_DRIVER,
                      params: Iterable[str] = ()) -> tuple[list[str], dict[str, dict[str, int]]]:
    """Check `--family` and `--param` without loading anything: returns the
    drivers to load besides scullc and each one's parameter values. Raises
    ValueError naming the option, with the valid names, for a bad one."""
    names = [n.strip() for n in families.split(",") if n.strip()]
    for n in names:
        if n not in DRIVERS:
            raise ValueError(f"--family: unknown driver {n!r} (choose from {','.join(DRIVERS)})")
    wanted = [n for n in DRIVERS if n in names and n != MOUNT_DRIVER]
    values: dict[str, dict[str, int]] = {n: {} for n in wanted}
    others = {n: d for n, d in DRIVERS.items() if n != MOUNT_DRIVER}
    for item in params:
        pname, sep, text = item.partition("=")
        owner = next((n for n, d in others.items() if pname in d.PARAMS), None)
        if not sep:
            raise ValueError(f"--param: expected NAME=VALUE, not {item!r}")
        if owner is None:
            valid = "; ".join(f"{n}: {', '.join(d.PARAMS)}" for n, d in others.items())
            raise ValueError(f"--param: unknown parameter {pname!r} (valid: {valid})")
        if owner not in values:
            raise ValueError(f"--param {pname}: the {owner} driver is not loaded (add it to --family)")
        try:
            value = int(text, 0)
        except ValueError:
            raise ValueError(f"--param {pname}: not a number: {text!r}") from None
        p = DRIVERS[owner].PARAMS[pname]
        if not p.lo <= value <= p.hi:
            raise ValueError(f"--param {pname}: {value} is outside {p.lo}..{p.hi}")
        values[owner][pname] = value
    return wanted, values


def load_drivers(kernel: Kernel, scullc: Mapping[str, int], families: str = MOUNT_DRIVER,
                 params: Iterable[str] = (), ldd3_io: bool = False,
                 cache_flags: int | None = None) -> list[Driver]:
    """insmod scullc with its parameters `scullc`, then every driver named in
    `families` (comma-separated) with `params` (`name=value` strings, as insmod
    takes them); the scullc cache's flags default to the kernel's
    SLAB_HWCACHE_ALIGN. Raises ValueError for a bad name or value, MemoryError
    if a module cannot initialise; nothing stays loaded then."""
    wanted, values = parse_family_args(families, params)
    loaded: list[Driver] = [ScullcDriver(kernel, scullc, ldd3_io, cache_flags)]
    try:
        for n in wanted:
            loaded.append(DRIVERS[n](kernel, values[n], ldd3_io))
    except (ValueError, MemoryError):
        for d in reversed(loaded):
            d.cleanup()
        raise
    return loaded


def _param_file(drv: Driver, pname: str, p: Param) -> File:

    def read() -> str:
        return f"{drv.values[pname]}\n"

    def write(data: bytes) -> None:
        drv.set_param(pname, decode(data))
    return File(0o644, read, write) if p.writable else File(0o444, read)


def _gfp_file(drv: Driver, dev: Device) -> File:

    def read() -> str:
        return dev.k.gfp.gfp_format(dev.gfp) + "\n"

    def write(data: bytes) -> None:
        drv.set_gfp(dev, decode(data))
    return File(0o644, read, write)


def declare_files(tree: Tree) -> None:
    """For each loaded driver: its devices, its /proc dump, its module's
    parameters and attributes, and sys/class/<driver>/<dev>/{gfp,size,quanta,...}."""

    for drv in tree.drivers:
        module = f"sys/module/{drv.name}"
        files = {f"proc/{drv.proc_name}": File(0o444, drv.procmem)}
        for pname, p in drv.PARAMS.items():
            files[f"{module}/parameters/{pname}"] = _param_file(drv, pname, p)
        for attr, reader in drv.module_attrs().items():
            files[f"{module}/{attr}"] = File(0o444, reader)
        for dev in drv.devices:
            tree.add_device(dev)
            base = f"sys/class/{drv.name}/{dev.name}"
            files[f"{base}/gfp"] = _gfp_file(drv, dev)
            for attr, reader in dev.class_attrs().items():
                files[f"{base}/{attr}"] = File(0o444, reader)
        tree.declare(files)
