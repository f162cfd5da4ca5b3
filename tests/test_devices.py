"""The scullc driver (and scull where they differ) on the shared device model
(scullcfs/drivers/), on a simulated kernel, without FUSE."""
from __future__ import annotations

import errno
import os
import random

import pytest

from allocator import gfp as G
from allocator import procfs
from allocator.kernel import Kernel
from scullcfs.drivers import ScullcDriver, ScullDriver
from scullcfs.errors import DeviceError

QUANTUM = 4000
QSET = 8                      # small, so a few KiB already need several list items
ITEMSIZE = QUANTUM * QSET


@pytest.fixture
def k():
    kernel = Kernel(mem=32 << 20, cpus=1)
    yield kernel
    kernel.close()


@pytest.fixture
def drv(k):
    return ScullcDriver(k, {"scullc_quantum": QUANTUM, "scullc_qset": QSET, "scullc_devs": 2})


def pattern(n, seed=1):
    return random.Random(seed).randbytes(n)


def read_all(dev, pos, count):
    return bytes(dev.read(pos, count))


def scullc_active(k):
    line = next(line for line in procfs.slabinfo(k).splitlines() if line.startswith("scullc "))
    return int(line.split()[1])


def test_driver_creates_the_scullc_cache_hwcache_aligned(k, drv):
    assert drv.cache.name == "scullc" and drv.cache.obj_size == QUANTUM
    assert drv.cache.buffer_size == 4032
    assert [d.name for d in drv.devices] == ["scullc0", "scullc1"]


def test_write_then_read_round_trips_across_quanta_and_items(drv):
    dev = drv.devices[0]
    data = pattern(3 * ITEMSIZE + 1234)
    assert dev.write(0, data) == len(data)
    assert dev.size == len(data)
    assert read_all(dev, 0, len(data)) == data
    assert read_all(dev, 3999, 2) == data[3999:4001]          # across a quantum edge
    assert read_all(dev, ITEMSIZE - 10, 20) == data[ITEMSIZE - 10:ITEMSIZE + 10]
    assert len(dev.items) == 4
    assert dev.quanta() == -(-len(data) // QUANTUM)


def test_read_stops_at_the_device_size(drv):
    dev = drv.devices[0]
    dev.write(0, b"hello")
    assert read_all(dev, 0, 100) == b"hello"
    assert read_all(dev, 5, 100) == b""
    assert read_all(dev, 50, 100) == b""


def test_holes_read_as_zeros(drv):
    dev = drv.devices[0]
    tail = pattern(100)
    dev.write(2 * ITEMSIZE + 5000, tail)
    assert dev.size == 2 * ITEMSIZE + 5100
    assert read_all(dev, 0, dev.size) == bytes(2 * ITEMSIZE + 5000) + tail
    assert dev.quanta() == 1                   # the hole took no memory


def test_a_fresh_quantum_is_zeroed_around_a_short_write(k, drv):
    dev = drv.devices[0]
    # stale bytes wherever the next quantum will come from
    k.mem.fill(0, k.mem.size, 0x5A)
    dev.write(100, b"xyz")
    assert read_all(dev, 0, 4000) == bytes(100) + b"xyz"
    q = dev.items[0].data[0]
    assert bytes(k.mem.read(q, QUANTUM)) == bytes(100) + b"xyz" + bytes(QUANTUM - 103)
    dev.truncate(QUANTUM)                      # the rest of the quantum reads back as zeros
    assert read_all(dev, 0, QUANTUM) == bytes(100) + b"xyz" + bytes(QUANTUM - 103)


def test_trim_frees_every_quantum_and_every_list_item(k, drv):
    dev = drv.devices[0]
    size32, size128 = k.find_cache("size-32"), k.find_cache("size-128")
    live32, live128 = set(size32.live), set(size128.live)
    dev.write(0, pattern(2 * ITEMSIZE + 10))
    assert len(drv.cache.live) == 2 * QSET + 1
    assert size32.live != live32 and size128.live != live128   # qset arrays, items
    dev.trim()
    assert not drv.cache.live
    assert size32.live == live32 and size128.live == live128
    assert dev.size == 0 and len(dev.items) == 1
    assert k.kmem_cache_shrink(drv.cache) == 0
    assert scullc_active(k) == 0


def test_write_only_open_and_o_trunc_trim_but_read_write_open_does_not(drv):
    dev = drv.devices[0]
    dev.write(0, b"data")
    dev.open(os.O_RDWR)
    assert dev.size == 4
    dev.open(os.O_RDONLY)
    assert dev.size == 4
    dev.open(os.O_RDWR | os.O_TRUNC)
    assert dev.size == 0 and not drv.cache.live
    dev.write(0, b"data")
    dev.open(os.O_WRONLY)
    assert dev.size == 0 and not drv.cache.live


def test_truncate_frees_past_n_and_zeroes_the_tail(drv):
    dev = drv.devices[0]
    dev.write(0, b"\xff" * (ITEMSIZE + 3 * QUANTUM))
    assert dev.quanta() == QSET + 3
    dev.truncate(5000)
    assert dev.size == 5000
    assert dev.quanta() == 2 and len(drv.cache.live) == 2
    assert len(dev.items) == 1
    # growing again must not resurrect the old bytes past 5000
    dev.write(11999, b"!")
    assert dev.size == 12000
    got = read_all(dev, 0, 12000)
    assert got == b"\xff" * 5000 + bytes(6999) + b"!"


def test_truncate_to_a_larger_size_extends_with_zeros(drv):
    dev = drv.devices[0]
    dev.write(0, b"abc")
    dev.truncate(10000)
    assert dev.size == 10000
    assert read_all(dev, 0, 10000) == b"abc" + bytes(9997)
    assert dev.quanta() == 1


def test_truncate_to_zero_is_a_trim(drv):
    dev = drv.devices[0]
    dev.write(0, pattern(ITEMSIZE * 2))
    dev.truncate(0)
    assert dev.size == 0 and not drv.cache.live and len(dev.items) == 1


def test_ldd3_io_moves_at_most_one_quantum_per_call(k):
    drv = ScullcDriver(k, {"scullc_quantum": QUANTUM, "scullc_qset": QSET, "scullc_devs": 1}, ldd3_io=True)
    dev = drv.devices[0]
    data = pattern(10000)
    assert dev.write(0, data) == 4000
    assert dev.write(4000, data[4000:]) == 4000
    assert dev.write(8000, data[8000:]) == 2000
    assert bytes(dev.read(0, 10000)) == data[:4000]
    assert bytes(dev.read(3000, 10000)) == data[3000:4000]
    assert bytes(dev.read(4000, 10000)) == data[4000:8000]


def test_ldd3_io_reads_a_hole_as_end_of_file(k):
    drv = ScullcDriver(k, {"scullc_quantum": QUANTUM, "scullc_qset": QSET, "scullc_devs": 1}, ldd3_io=True)
    dev = drv.devices[0]
    dev.write(2 * QUANTUM, b"late")
    assert dev.size == 2 * QUANTUM + 4
    assert bytes(dev.read(0, 100)) == b""      # the driver: "don't fill holes"
    assert bytes(dev.read(2 * QUANTUM, 100)) == b"late"


def test_set_param_refuses_a_quantum_larger_than_the_cache_objects(k, drv):
    with pytest.raises(DeviceError) as e:
        drv.set_param("scullc_quantum", "4001")
    assert e.value.errno == errno.EINVAL
    assert k.log.grep("quantum 4001 refused")
    assert drv.values["scullc_quantum"] == QUANTUM


@pytest.mark.parametrize("name, text", [("scullc_quantum", "0"), ("scullc_quantum", "-5"),
                                        ("scullc_quantum", "lots"), ("scullc_qset", "0"),
                                        ("scullc_qset", "32769"), ("scullc_qset", "")])
def test_set_param_refuses_bad_values_with_einval_and_a_log_line(k, drv, name, text):
    records = len(k.log.records)
    with pytest.raises(DeviceError) as e:
        drv.set_param(name, text)
    assert e.value.errno == errno.EINVAL
    assert len(k.log.records) > records
    assert (drv.values["scullc_quantum"], drv.values["scullc_qset"]) == (QUANTUM, QSET)


def test_set_param_of_a_read_only_parameter_is_eacces(drv):
    with pytest.raises(DeviceError) as e:
        drv.set_param("scullc_devs", "8")
    assert e.value.errno == errno.EACCES


def test_a_new_quantum_is_adopted_at_the_next_trim(drv):
    dev = drv.devices[0]
    drv.set_param("scullc_quantum", "1000\n")
    drv.set_param("scullc_qset", "0x10")
    dev.write(0, b"x" * 5000)
    assert (dev.quantum, dev.qset) == (QUANTUM, QSET) and dev.quanta() == 2
    dev.trim()
    assert (dev.quantum, dev.qset) == (1000, 16)
    dev.write(0, b"y" * 5000)
    assert dev.quanta() == 5
    assert read_all(dev, 0, 5000) == b"y" * 5000


def test_set_gfp_refuses_gfp_highmem(k, drv):
    dev = drv.devices[0]
    for text in ("GFP_HIGHUSER", "__GFP_HIGHMEM|GFP_KERNEL", "0x2"):
        with pytest.raises(DeviceError) as e:
            drv.set_gfp(dev, text)
        assert e.value.errno == errno.EINVAL
    assert len(k.log.grep("slab memory cannot come from HighMem")) == 3
    assert dev.gfp == G.GFP_KERNEL


def test_set_gfp_refuses_nonsense_and_accepts_names_or_hex(k, drv):
    dev = drv.devices[1]
    with pytest.raises(DeviceError):
        drv.set_gfp(dev, "GFP_SOMETIMES")
    assert dev.gfp == G.GFP_KERNEL
    drv.set_gfp(dev, "GFP_ATOMIC|__GFP_NOWARN\n")
    assert dev.gfp == 0x220
    drv.set_gfp(dev, "0x10")
    assert dev.gfp == G.GFP_NOIO
    assert drv.devices[0].gfp == G.GFP_KERNEL


def _exhaust_memory(k):
    hog = []
    for order in range(10, -1, -1):
        while (pfn := k.alloc_pages(G.GFP_ATOMIC | G.__GFP_NOWARN, order)) is not None:
            hog.append((pfn, order))
    return hog


def test_write_fails_with_enomem_when_memory_is_exhausted_and_keeps_stored_data(k, drv):
    dev = drv.devices[0]
    stored = pattern(QUANTUM)
    dev.write(0, stored)
    hog = _exhaust_memory(k)
    with pytest.raises(DeviceError) as e:
        dev.write(QUANTUM, b"more")            # needs a new quantum: none to be had
    assert e.value.errno == errno.ENOMEM
    assert k.log.grep("page allocation failure")
    assert dev.size == QUANTUM
    assert read_all(dev, 0, QUANTUM) == stored
    # a write that starts in an existing quantum stores what fits, then stops
    assert dev.write(QUANTUM - 10, b"z" * 100) == 10
    assert dev.size == QUANTUM
    assert read_all(dev, 0, QUANTUM) == stored[:-10] + b"z" * 10
    for pfn, order in hog:
        k.free_pages_pfn(pfn, order)
    assert dev.write(QUANTUM, b"more") == 4
    assert read_all(dev, QUANTUM, 4) == b"more"


def test_write_with_gfp_atomic_device_mode_also_fails_cleanly(k, drv):
    dev = drv.devices[0]
    drv.set_gfp(dev, "GFP_ATOMIC|__GFP_NOWARN")
    hog = _exhaust_memory(k)
    with pytest.raises(DeviceError) as e:
        dev.write(0, b"data")
    assert e.value.errno == errno.ENOMEM
    assert dev.size == 0
    for pfn, order in hog:
        k.free_pages_pfn(pfn, order)


def test_devices_are_independent(drv):
    a, b = drv.devices
    a.write(0, b"A" * 5000)
    b.write(0, b"B" * 3000)
    a.trim()
    assert read_all(b, 0, 3000) == b"B" * 3000
    assert b.quanta() == 1 and a.quanta() == 0


def test_cleanup_destroys_the_cache_and_reports_a_leak(k):
    drv = ScullcDriver(k, {"scullc_quantum": QUANTUM, "scullc_qset": QSET, "scullc_devs": 2})
    drv.devices[0].write(0, pattern(20000))
    assert drv.cleanup() is True
    assert k.find_cache("scullc") is None

    drv2 = ScullcDriver(k, {"scullc_quantum": QUANTUM, "scullc_qset": QSET, "scullc_devs": 1})
    k.kmem_cache_alloc(drv2.cache, G.GFP_KERNEL)  # someone kept an object
    assert drv2.cleanup() is False
    assert k.log.grep("cache `scullc': Can't free all objects")


def test_driver_refuses_a_second_scullc_cache(k, drv):
    with pytest.raises(MemoryError):
        ScullcDriver(k, {"scullc_quantum": QUANTUM, "scullc_qset": QSET, "scullc_devs": 1})
    assert k.log.grep("duplicate cache scullc")


def test_scullcmem_uses_the_driver_format(k, drv):
    dev = drv.devices[0]
    dev.write(0, b"x" * 5000)
    text = drv.procmem()
    assert text.startswith(f"\nDevice 0: qset {QSET}, quantum {QUANTUM}, sz 5000\n  item at c")
    q0 = dev.items[0].data[0]
    assert f"\n       0:{0xC0000000 + q0:8x}\n" in text
    assert "\nDevice 1: qset 8, quantum 4000, sz 0\n" in text


# seq_file's buffer is a page; the dump gives up once count passes size - 80.
PROCMEM_LIMIT = 4096 - 80


def test_scullcmem_stops_after_the_first_line_past_the_page_limit(k):
    # scullc_read_procmem tests `m->count > limit` after every line it prints
    drv = ScullcDriver(k, {"scullc_quantum": 16, "scullc_qset": 400, "scullc_devs": 2})
    drv.devices[0].write(0, b"x" * 16 * 400)
    text = drv.procmem()
    lines = text.splitlines(keepends=True)
    assert len(text) > PROCMEM_LIMIT >= len(text) - len(lines[-1])
    assert lines[-1].endswith("\n") and ":" in lines[-1]  # a slot line, whole
    assert "Device 1" not in text


def test_scullmem_tests_the_page_limit_only_before_a_device_or_an_item(k):
    # scull_read_procmem checks the limit per device and per qset item: the last
    # item's slot lines are printed in full (with a space after the colon)
    drv = ScullDriver(k, {"scull_quantum": 16, "scull_qset": 400, "scull_nr_devs": 2})
    dev = drv.devices[0]
    dev.write(0, b"x" * 16 * 400)
    text = drv.procmem()
    assert text.startswith("\nDevice 0: qset 400, q 16, sz 6400\n  item at c")
    slots = [line for line in text.splitlines() if line.startswith("    ")]
    assert len(slots) == 400 and len(text) > PROCMEM_LIMIT
    assert slots[0] == f"       0: {0xC0000000 + dev.items[0].data[0]:8x}"
    assert "Device 1" not in text


def test_write_past_the_drivers_32_bit_size_is_efbig_and_allocates_nothing(k, drv):
    dev = drv.devices[0]
    before = len(dev.items)
    with pytest.raises(DeviceError) as e:
        dev.write(1 << 40, b"x")
    assert e.value.errno == errno.EFBIG
    assert len(dev.items) == before and dev.size == 0
    with pytest.raises(DeviceError) as e:
        dev.truncate(1 << 33)
    assert e.value.errno == errno.EFBIG
