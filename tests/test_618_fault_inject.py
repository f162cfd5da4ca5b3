"""Fault injection of Linux 6.18 (allocator/linux618/fault_inject.py) against
lib/fault-inject.c, mm/failslab.c, mm/fail_page_alloc.c, fs/debugfs/file.c and
lib/kstrtox.c of 6.12.117."""
from __future__ import annotations

import errno

import pytest

from allocator.linux618 import fault_inject as FI
from allocator.printk import KernelLog
from allocator.sched import Task

GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT = 0xCC0, 0x820, 0x2800
__GFP_HIGHMEM, __GFP_NOFAIL, __GFP_NOWARN = 0x2, 0x8000, 0x2000


def test_knobs_and_defaults_are_the_kernels():
    # fault_create_debugfs_attr's files in its order, FAULT_ATTR_INITIALIZER's values
    # (ratelimit RATELIMIT_STATE_INIT_DISABLED: interval 0, burst 10; require_end ULONG_MAX)
    assert [(k.name, k.kind, k.default) for k in FI.COMMON_KNOBS] == [
        ("probability", "ul", 0), ("interval", "ul", 1), ("times", "atomic_t", 1),
        ("space", "atomic_t", 0), ("verbose", "ul", 2), ("verbose_ratelimit_interval_ms", "u32", 0),
        ("verbose_ratelimit_burst", "u32", 10), ("task-filter", "bool", 0),
        ("stacktrace-depth", "stacktrace_depth", 32), ("require-start", "xul", 0),
        ("require-end", "xul", (1 << 64) - 1), ("reject-start", "xul", 0), ("reject-end", "xul", 0)]
    # failslab: ignore_gfp_reclaim true, cache_filter false
    assert [(k.name, k.default) for k in FI.FAILSLAB_KNOBS] == [("ignore-gfp-wait", 1), ("cache-filter", 0)]
    # fail_page_alloc: ignore_gfp_reclaim, ignore_gfp_highmem true, min_order 1
    assert [(k.name, k.kind, k.default) for k in FI.FAIL_PAGE_ALLOC_KNOBS] == [
        ("ignore-gfp-wait", "bool", 1), ("ignore-gfp-highmem", "bool", 1), ("min-order", "u32", 1)]
    fi = FI.FaultInject618(KernelLog())
    for attr, knobs in ((fi.failslab, FI.ATTR_KNOBS["failslab"]),
                        (fi.fail_page_alloc, FI.ATTR_KNOBS["fail_page_alloc"])):
        for k in knobs:
            assert int(getattr(attr, k.field)) == k.default, k.name
    assert FI.FAULT_DEBUGFS_MODE == 0o600


@pytest.mark.parametrize(("kind", "value", "text"), [
    ("ul", 0, "0\n"), ("atomic_t", -1, "-1\n"), ("u32", 10, "10\n"), ("bool", True, "Y\n"),
    ("bool", False, "N\n"), ("xul", 0, "0x0000000000000000\n"), ("xul", (1 << 64) - 1, "0xffffffffffffffff\n"),
    ("stacktrace_depth", 32, "32\n"),
])
def test_reads_print_as_debugfs_does(kind, value, text):
    assert FI.read_knob(kind, value) == text


@pytest.mark.parametrize(("kind", "text", "value"), [
    ("ul", "100\n", 100), ("ul", "0x10", 16), ("ul", "010", 8), ("ul", "0", 0),
    ("u32", "4294967296", 0), ("u32", "4294967297", 1),          # debugfs_u32_set truncates
    ("atomic_t", "-1", -1), ("atomic_t", "4294967295", -1), ("atomic_t", "2147483648", -(1 << 31)),
    ("stacktrace_depth", "100", 32), ("stacktrace_depth", "5", 5),
    ("bool", "Y", 1), ("bool", "yes", 1), ("bool", "t", 1), ("bool", "1\n", 1), ("bool", "on", 1),
    ("bool", "N", 0), ("bool", "0", 0), ("bool", "off", 0), ("bool", "f", 0),
    ("xul", "0xffffffffffffffff", (1 << 64) - 1),
])
def test_writes_parse_as_kstrto_does(kind, text, value):
    assert FI.write_knob(kind, text) == value


@pytest.mark.parametrize(("kind", "text", "err"), [
    ("ul", "abc", errno.EINVAL), ("ul", "", errno.EINVAL), ("ul", "-1", errno.EINVAL), ("ul", "12 ", errno.EINVAL),
    ("ul", "18446744073709551616", errno.ERANGE), ("bool", "x", errno.EINVAL), ("bool", "o", errno.EINVAL),
    ("u32", "0x", errno.EINVAL),
])
def test_bad_writes_fail_with_the_kernels_errno(kind, text, err):
    with pytest.raises(FI.KnobError) as e:
        FI.write_knob(kind, text)
    assert e.value.errno == err


def _armed(**knobs: int) -> tuple[FI.FaultInject618, KernelLog]:
    log = KernelLog(clock=lambda: 0.0)
    fi = FI.FaultInject618(log)
    for attr in (fi.failslab, fi.fail_page_alloc):
        attr.probability = 100
        for name, value in knobs.items():
            setattr(attr, name, value)
    return fi, log


def test_times_counts_down_and_nowarn_is_silent():
    fi, log = _armed(times=2)
    assert FI.should_failslab(fi, 0, 64, GFP_ATOMIC)
    assert "FAULT_INJECTION: forcing a failure." in log.grep("FAULT_INJECTION")[0]
    assert log.grep("name failslab, interval 1, probability 100, space 0, times 2")
    assert FI.should_failslab(fi, 0, 64, GFP_ATOMIC | __GFP_NOWARN)   # fails, prints nothing
    assert len(log.grep("FAULT_INJECTION")) == 1
    assert not FI.should_failslab(fi, 0, 64, GFP_ATOMIC)               # times is 0
    fi, _ = _armed(times=-1)
    assert all(FI.should_failslab(fi, 0, 64, GFP_ATOMIC) for _ in range(5))
    assert fi.failslab.times == -1


def test_filters_of_failslab():
    fi, _ = _armed(times=-1)
    assert not FI.should_failslab(fi, 0, 64, GFP_KERNEL)              # ignore-gfp-wait: DIRECT_RECLAIM
    assert not FI.should_failslab(fi, 0, 64, GFP_ATOMIC | __GFP_NOFAIL)
    assert not FI.should_failslab(fi, 0, 64, GFP_ATOMIC, bootstrap=True)
    assert FI.should_failslab(fi, 0, 64, GFP_NOWAIT)                  # no DIRECT_RECLAIM in GFP_NOWAIT
    fi.failslab.ignore_gfp_wait = False
    assert FI.should_failslab(fi, 0, 64, GFP_KERNEL)
    fi.failslab.cache_filter = True
    assert not FI.should_failslab(fi, 0, 64, GFP_KERNEL)
    assert FI.should_failslab(fi, FI.SLAB_FAILSLAB, 64, GFP_KERNEL)


def test_filters_of_fail_page_alloc():
    fi, _ = _armed(times=-1)
    assert not FI.should_fail_alloc_page(fi, GFP_ATOMIC, 0)           # min-order 1
    assert FI.should_fail_alloc_page(fi, GFP_ATOMIC, 1)
    assert not FI.should_fail_alloc_page(fi, GFP_ATOMIC | __GFP_HIGHMEM, 1)
    assert not FI.should_fail_alloc_page(fi, GFP_KERNEL, 3)
    assert not FI.should_fail_alloc_page(fi, GFP_ATOMIC | __GFP_NOFAIL, 3)
    fi.fail_page_alloc.min_order = 0
    assert FI.should_fail_alloc_page(fi, GFP_ATOMIC, 0)


def test_space_interval_and_task_filter_in_should_fail_ex_order():
    fi, _ = _armed(times=-1, space=100)
    assert not FI.should_failslab(fi, 0, 64, GFP_ATOMIC)   # space 100 > 64: space -= 64
    assert fi.failslab.space == 36
    assert FI.should_failslab(fi, 0, 64, GFP_ATOMIC)       # 36 > 64 is false: fails
    fi, _ = _armed(times=-1, interval=3)
    assert [FI.should_failslab(fi, 0, 8, GFP_ATOMIC) for _ in range(6)] == [False, False, True] * 2
    fi, _ = _armed(times=1, task_filter=True)
    task = Task(5, 0, "t")
    assert not FI.should_failslab(fi, 0, 8, GFP_ATOMIC, task=task)     # no make-it-fail
    assert fi.failslab.times == 1                                      # task-filter comes before times
    fi.make_it_fail.add(5)                                             # echo 1 > /proc/5/make-it-fail
    assert FI.should_failslab(fi, 0, 8, GFP_ATOMIC, task=task)


def test_a_require_range_stops_every_failure():
    # no simulated frame has a text address inside [require-start, require-end)
    fi, _ = _armed(times=-1, require_start=0xffffffff81000000, require_end=0xffffffff82000000)
    assert not FI.should_failslab(fi, 0, 8, GFP_ATOMIC)
    fi, _ = _armed(times=-1, reject_start=0, reject_end=(1 << 64) - 1)
    assert FI.should_failslab(fi, 0, 8, GFP_ATOMIC)


def test_verbose_ratelimit():
    now = [0.0]
    fi, log = _armed(times=-1, verbose=1, verbose_ratelimit_interval=1000, verbose_ratelimit_burst=2)
    fi.failslab.clock = lambda: now[0]
    for _ in range(5):
        assert FI.should_failslab(fi, 0, 8, GFP_ATOMIC)
    assert len(log.grep("FAULT_INJECTION")) == 2          # burst 2 per 1000 jiffies (4 s at HZ=250)
    now[0] = 4.5
    assert FI.should_failslab(fi, 0, 8, GFP_ATOMIC)
    assert log.grep("fail_dump: 3 callbacks suppressed")
    assert len(log.grep("FAULT_INJECTION")) == 3
    assert not log.grep("Call Trace")                      # verbose 1: no stack
