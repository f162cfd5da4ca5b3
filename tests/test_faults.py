"""Fault injection through the mounted debugfs knobs: with failslab or
fail_page_alloc failing 10% of the allocations a device makes, every write either
stores its bytes or fails with ENOMEM, and nothing else goes wrong: every
acknowledged byte reads back, the invariant check passes, and unmount reports no
leak.

The writes come from one process doing os.pwrite in a loop (10,000 of them, 1 to
512 bytes at random offsets below 40 MB), so most of them need a new quantum and
so an allocation the injector may fail; a write that spans into a quantum whose
allocation fails is short, and only its acknowledged part is expected back.
"""
from __future__ import annotations

import errno
import os
import random

import pytest

WRITES = 10_000
SPAN = 40 << 20
CHECK = "sys/kernel/debug/scullc/check"


def knob(m, attr: str, name: str, value: str) -> None:
    (m.path / "sys/kernel/debug" / attr / name).write_text(value + "\n")


def knob_value(m, attr: str, name: str) -> str:
    return (m.path / "sys/kernel/debug" / attr / name).read_text().strip()


def read_all(fd: int) -> bytes:
    parts, off = [], 0
    while chunk := os.pread(fd, 1 << 20, off):
        parts.append(chunk)
        off += len(chunk)
    return b"".join(parts)


def invariant_check(m) -> None:
    fd = os.open(m.path / CHECK, os.O_WRONLY)
    try:
        os.write(fd, b"1\n")
    finally:
        os.close(fd)


def arm(m, attr: str) -> None:
    """10% of every allocation the device makes, sleeping (GFP_KERNEL) ones included,
    for ever, without log lines (10,000 writes would flood the ring)."""
    knob(m, attr, "ignore-gfp-wait", "N")
    knob(m, attr, "times", "-1")
    knob(m, attr, "verbose", "0")
    if attr == "fail_page_alloc":
        knob(m, attr, "min-order", "0")  # the scullc cache grows by order-0 pages
    knob(m, attr, "probability", "10")


@pytest.mark.parametrize("kernel", ["2.6.18", "6.18"])
@pytest.mark.parametrize("attr", ["failslab", "fail_page_alloc"])
def test_injected_failures_are_enomem_and_every_acknowledged_byte_reads_back(mount_scullcfs, attr, kernel):
    m = mount_scullcfs(mem="256M", kernel=kernel)
    arm(m, attr)
    rng = random.Random(f"faults-{attr}")
    model = bytearray()
    failures = {}
    short = 0
    fd = os.open(m.path / "dev/scullc1", os.O_RDWR)
    try:
        for _ in range(WRITES):
            off = rng.randrange(SPAN)
            data = rng.randbytes(rng.randint(1, 512))
            try:
                n = os.pwrite(fd, data, off)
            except OSError as e:
                failures[e.errno] = failures.get(e.errno, 0) + 1
                continue
            assert 1 <= n <= len(data)
            short += n < len(data)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off:off + n] = data[:n]
        knob(m, attr, "probability", "0")
        assert set(failures) == {errno.ENOMEM}, f"failures by errno: {failures}"
        # 10% of the ~7,000 quanta (and a few arrays) these writes allocate. 6.18's
        # SLUB grows scullc by order-3 slabs of 8 objects and falls back to order 0
        # when that fails (mm/slub.c allocate_slab): a page failure is 10% of 10% of
        # the ~900 slabs
        low = 1 if (kernel, attr) == ("6.18", "fail_page_alloc") else 100
        assert low <= failures[errno.ENOMEM] < WRITES // 2, failures
        assert os.fstat(fd).st_size == len(model)
        got = read_all(fd)
    finally:
        os.close(fd)
    assert len(got) == len(model)
    if got != model:
        first = next(i for i in range(len(got)) if got[i] != model[i])
        pytest.fail(f"byte {first} reads {got[first]:#x}, acknowledged {model[first]:#x}"
                    f" ({sum(a != b for a, b in zip(got, model))} bytes differ; {short} short writes)")
    invariant_check(m)
    kmsg = (m.path / "proc/kmsg").read_text()
    assert "FAULT_INJECTION" not in kmsg  # verbose 0
    assert m.unmount() == 0
    log = m.log_text()
    assert "slab error" not in log and "leak" not in log, log[-3000:]


def test_failslab_fails_exactly_times_allocations_and_logs_each(mnt):
    """probability 100 with times 3: the next three allocations fail, each with
    the kernel's report, and then `times` is spent (0) and writes succeed again."""
    knob(mnt, "failslab", "ignore-gfp-wait", "N")
    knob(mnt, "failslab", "verbose", "1")
    knob(mnt, "failslab", "times", "3")
    knob(mnt, "failslab", "probability", "100")
    fd = os.open(mnt.path / "dev/scullc0", os.O_RDWR)
    try:
        results = []
        for i in range(5):
            try:
                results.append(os.pwrite(fd, b"x" * 10, i * 4000))
            except OSError as e:
                results.append(errno.errorcode[e.errno])
    finally:
        os.close(fd)
    # the first write allocates an item array and a quantum; each failure ends a write
    assert results[:3] == ["ENOMEM"] * 3 and results[3:] == [10, 10]
    assert knob_value(mnt, "failslab", "times") == "0"
    kmsg = (mnt.path / "proc/kmsg").read_text()
    assert kmsg.count("FAULT_INJECTION: forcing a failure.") == 3
    assert "name failslab, interval 1, probability 100, space 0, times 3" in kmsg
    invariant_check(mnt)


def test_sleeping_allocations_are_spared_by_default(mnt):
    """ignore-gfp-wait defaults to Y: a device allocating with GFP_KERNEL never sees
    an injected failure, even at probability 100."""
    assert knob_value(mnt, "failslab", "ignore-gfp-wait") == "Y"
    knob(mnt, "failslab", "times", "-1")
    knob(mnt, "failslab", "probability", "100")
    with open(mnt.path / "dev/scullc0", "wb", buffering=0) as f:
        assert f.write(os.urandom(100_000)) == 100_000
    knob(mnt, "failslab", "probability", "0")
    invariant_check(mnt)
