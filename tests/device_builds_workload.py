"""A random workload on the device model (scullcfs/drivers) whose observables are printed as JSON.

    python tests/device_builds_workload.py SEED OPS

test_device_builds_agree.py runs it on the compiled build and on the pure one
(SCULLCFS_PURE_PYTHON=1) and compares: the bytes every write stored and every
read returned, the sizes, the whole simulated RAM, slabinfo, each driver's /proc
dump, the kmem trace with its call sites (scullc_write+0x.../0x... [scullc]: the
driver's frame read while the write's slot walk runs, compiled or not) and the
driver lines of the kernel log. Phases: traced, untraced, slab debugging
(last-user records), and a device filled until its allocations fail.
"""
from __future__ import annotations

import hashlib
import json
import random
import sys

import allocator
from allocator import procfs
from allocator.kernel import Kernel
from allocator.trace import Tracer
from scullcfs.drivers import ScullcDriver, ScullDriver, ScullmDriver, ScullpDriver
from scullcfs.errors import DeviceError


def _clock() -> float:
    return 0.0


def mixed(seed: int, ops: int, phase: str, out: list[object]) -> None:
    k = Kernel(mem=24 << 20, cpus=2, clock=_clock, slab_debug=phase == "slab debugging")
    k.set_current(4242, "writer")
    tracer = Tracer(k)
    tracer.set_buffer_size_kb(1 << 14)
    tracer.set_all(phase == "traced")
    drivers = [ScullcDriver(k, {"scullc_quantum": 4000, "scullc_qset": 8, "scullc_devs": 2}),
               ScullDriver(k, {"scull_quantum": 3000, "scull_qset": 5, "scull_nr_devs": 2}),
               ScullpDriver(k, {"scullp_order": 0, "scullp_qset": 6, "scullp_devs": 1}),
               ScullmDriver(k, {"scullm_quantum": 2000, "scullm_qset": 7, "scullm_devs": 1})]
    rng = random.Random(seed)
    for _ in range(ops):
        dev = rng.choice(rng.choice(drivers).devices)
        op = rng.random()
        try:
            if op < 0.6:
                pos = rng.randrange(200000)
                n = rng.choice([1, 100, 2999, 3999, 4000, 4096, 12000, 65536, 131072])
                out.append(["write", dev.name, pos, dev.write(pos, rng.randbytes(n))])
            elif op < 0.8:
                pos = rng.randrange(200000)
                data = bytes(dev.read(pos, rng.choice([10, 4096, 70000])))
                out.append(["read", dev.name, pos, hashlib.sha1(data).hexdigest()])
            elif op < 0.9:
                dev.truncate(rng.randrange(100000))
            else:
                dev.trim()
        except DeviceError as e:
            out.append(["error", dev.name, e.errno])
        out.append(dev.size)
    out.append(hashlib.sha1(bytes(k.mem.view)).hexdigest())
    out.append(procfs.slabinfo(k))
    out.append([d.procmem() for d in drivers])
    out.append([f"{e[5]} {e[6]}" for ring in tracer.rings for e in ring])
    out.append([r.text for r in k.log.records if "[scull" in r.text])
    k.close()


def filled(phase: str, out: list[object]) -> None:
    """Write until the scullc cache cannot grow: the failure reports' stack dumps."""
    k = Kernel(mem=16 << 20, cpus=1, clock=_clock)
    k.set_current(4243, "filler")
    tracer = Tracer(k)
    tracer.set_buffer_size_kb(1 << 14)
    tracer.set_all(phase == "traced")
    dev = ScullcDriver(k, {"scullc_quantum": 4000, "scullc_qset": 500, "scullc_devs": 2}).devices[0]
    pos = 0
    for _ in range(400):
        try:
            n = dev.write(pos, bytes(65536))
        except DeviceError as e:
            out.append(["error", e.errno])
            break
        out.append(n)
        pos += n
    out.append([f"{e[5]} {e[6]}" for ring in tracer.rings for e in ring])
    # Not compared: the failure reports' stack dumps. Compiled, the allocator's
    # functions have no frames and its dump_stack's sys._getframe(1) passes over
    # the innermost driver frame (scullc_quantum_alloc): the builds' dumps
    # differ there whatever the device model does.
    k.close()


def run(seed: int, ops: int) -> dict[str, object]:
    out: dict[str, object] = {"build": allocator.BUILD}
    for phase in ("traced", "untraced", "slab debugging"):
        part: list[object] = []
        mixed(seed, ops, phase, part)
        out[phase] = part
    for phase in ("filled", "filled traced"):
        part = []
        filled(phase, part)
        out[phase] = part
    return out


if __name__ == "__main__":
    json.dump(run(int(sys.argv[1]), int(sys.argv[2])), sys.stdout)
