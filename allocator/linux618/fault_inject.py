"""Fault injection as Linux 6.18 has it: lib/fault-inject.c, mm/failslab.c,
mm/fail_page_alloc.c (6.12 source; unchanged in 6.18 as far as the knobs go).

The knobs are declared as data (`COMMON_KNOBS`, `FAILSLAB_KNOBS`,
`FAIL_PAGE_ALLOC_KNOBS`): the debugfs file name, the struct field it sets, how
debugfs reads and writes it (`kind`, see `KINDS`), and its default from
FAULT_ATTR_INITIALIZER and the two attributes' initialisers. scullcfs/faultfs.py
builds its sys/kernel/debug/{failslab,fail_page_alloc}/ files from them
(`read_knob`, `write_knob`).

With CONFIG_FAULT_INJECTION_STACKTRACE_FILTER (the knobs stacktrace-depth,
require-start/end, reject-start/end are there only then; this module declares
them, as x86_64's Kconfig allows it): simulated functions have no text
addresses, so no stack entry lies in any range. A require range other than
the default [0, ULONG_MAX) therefore stops every failure, and a reject range
stops none (docs/deviations.md).

`FaultInject` (also `FaultInject618`) holds two `FaultAttr618`: 2.6.18's
FaultAttr (allocator/fault_inject.py) with 6.18's extra fields and
should_fail_ex's order of tests. `should_failslab` and `should_fail_alloc_page`
test 6.18's GFP bits (__GFP_DIRECT_RECLAIM is what ignore-gfp-wait ignores:
2.6.18's __GFP_WAIT bit 0x10 is __GFP_RECLAIMABLE here).
"""
from __future__ import annotations

import errno
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import fault_inject as FI2618
from ..printk import KERN_NOTICE, KERN_WARNING, KernelLog
from ..sched import Task

ULONG_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
MAX_STACK_TRACE_DEPTH = 32           # lib/fault-inject.c
DEFAULT_RATELIMIT_BURST = 10         # include/linux/ratelimit_types.h
HZ = 250                             # CONFIG_HZ of the live 6.18 host
FAULT_DEBUGFS_MODE = 0o600           # S_IFREG | 0600 for every knob

# 6.18 GFP bits the filters test (include/linux/gfp_types.h)
__GFP_HIGHMEM = 0x2
__GFP_DIRECT_RECLAIM = 0x400
__GFP_NOWARN = 0x2000
__GFP_NOFAIL = 0x8000
# include/linux/slab.h: SLAB_FAILSLAB exists only with CONFIG_FAILSLAB; with it
# (the bit before _SLAB_ACCOUNT in enum _slab_flag_bits) it is bit 13
SLAB_FAILSLAB = 1 << 13


@dataclass(frozen=True)
class Knob:
    """One debugfs file of a fault attribute."""
    name: str        # file name
    field: str       # FaultAttr618 attribute it reads and sets
    kind: str        # a key of KINDS
    default: int     # bools as 0/1
    source: str      # where the kernel creates it


# kind -> (what fs/debugfs/file.c prints, what a write accepts)
KINDS: dict[str, str] = {
    "ul": "%llu\\n (fops_ul); write: kstrtoull base 0, stored as unsigned long",
    "u32": "%llu\\n (debugfs_create_u32); write: kstrtoull base 0, truncated to u32",
    "atomic_t": "%lld\\n (debugfs_create_atomic_t); write: kstrtoll base 0, truncated to int",
    "bool": "Y\\n or N\\n (debugfs_create_bool); write: kstrtobool: first char of YyTt1 / NnFf0, or on/off",
    "xul": "0x%016llx\\n (debugfs_create_xul on 64-bit: x64); write: kstrtoull base 0",
    "stacktrace_depth": "%llu\\n; write: kstrtoull base 0, clamped to MAX_STACK_TRACE_DEPTH (32)",
}

# lib/fault-inject.c fault_create_debugfs_attr, in its order
COMMON_KNOBS: tuple[Knob, ...] = (
    Knob("probability", "probability", "ul", 0, "fault_create_debugfs_attr"),
    Knob("interval", "interval", "ul", 1, "fault_create_debugfs_attr"),
    Knob("times", "times", "atomic_t", 1, "fault_create_debugfs_attr"),
    Knob("space", "space", "atomic_t", 0, "fault_create_debugfs_attr"),
    Knob("verbose", "verbose", "ul", 2, "fault_create_debugfs_attr"),
    # ratelimit_state.interval (jiffies, despite the name) and .burst:
    # RATELIMIT_STATE_INIT_DISABLED = interval 0, burst DEFAULT_RATELIMIT_BURST
    Knob("verbose_ratelimit_interval_ms", "verbose_ratelimit_interval", "u32", 0, "fault_create_debugfs_attr"),
    Knob("verbose_ratelimit_burst", "verbose_ratelimit_burst", "u32", DEFAULT_RATELIMIT_BURST,
         "fault_create_debugfs_attr"),
    Knob("task-filter", "task_filter", "bool", 0, "fault_create_debugfs_attr"),
    # CONFIG_FAULT_INJECTION_STACKTRACE_FILTER
    Knob("stacktrace-depth", "stacktrace_depth", "stacktrace_depth", 32, "fault_create_debugfs_attr"),
    Knob("require-start", "require_start", "xul", 0, "fault_create_debugfs_attr"),
    Knob("require-end", "require_end", "xul", ULONG_MAX, "fault_create_debugfs_attr"),
    Knob("reject-start", "reject_start", "xul", 0, "fault_create_debugfs_attr"),
    Knob("reject-end", "reject_end", "xul", 0, "fault_create_debugfs_attr"),
)
# mm/failslab.c failslab_debugfs_init
FAILSLAB_KNOBS: tuple[Knob, ...] = (
    Knob("ignore-gfp-wait", "ignore_gfp_wait", "bool", 1, "failslab_debugfs_init"),
    Knob("cache-filter", "cache_filter", "bool", 0, "failslab_debugfs_init"),
)
# mm/fail_page_alloc.c fail_page_alloc_debugfs
FAIL_PAGE_ALLOC_KNOBS: tuple[Knob, ...] = (
    Knob("ignore-gfp-wait", "ignore_gfp_wait", "bool", 1, "fail_page_alloc_debugfs"),
    Knob("ignore-gfp-highmem", "ignore_gfp_highmem", "bool", 1, "fail_page_alloc_debugfs"),
    Knob("min-order", "min_order", "u32", 1, "fail_page_alloc_debugfs"),
)
# what each attribute's directory holds
ATTR_KNOBS: dict[str, tuple[Knob, ...]] = {
    "failslab": COMMON_KNOBS + FAILSLAB_KNOBS,
    "fail_page_alloc": COMMON_KNOBS + FAIL_PAGE_ALLOC_KNOBS,
}


class KnobError(ValueError):
    """A write the kernel refuses: errno is what write(2) returns (EINVAL, ERANGE)."""

    def __init__(self, errno_value: int, message: str):
        super().__init__(message)
        self.errno = errno_value


def read_knob(kind: str, value: int | bool) -> str:
    """The file's text for a value (KINDS)."""
    if kind == "bool":
        return "Y\n" if value else "N\n"
    if kind == "xul":
        return f"0x{int(value) & ULONG_MAX:016x}\n"
    return f"{int(value)}\n"


def _kstrto(text: str, signed: bool) -> int:
    """lib/kstrtox.c kstrtoull/kstrtoll with base 0 (a trailing newline allowed):
    0x/0X hex, leading 0 octal, else decimal."""
    s = text[:-1] if text.endswith("\n") else text
    neg = False
    if signed and s.startswith("-"):
        neg, s = True, s[1:]
    elif s.startswith("+"):
        s = s[1:]
    base = 10
    if s[:2].lower() == "0x" and len(s) > 2:
        base, s = 16, s[2:]
    elif s.startswith("0") and len(s) > 1:
        base, s = 8, s[1:]
    if not s or any(c not in "0123456789abcdef"[:base] for c in s.lower()):
        raise KnobError(errno.EINVAL, f"not a number: {text!r}")
    n = int(s, base)
    if n > ULONG_MAX or (signed and (n > (1 << 63) - 1 + neg)):
        raise KnobError(errno.ERANGE, f"out of range: {text!r}")
    return -n if neg else n


def write_knob(kind: str, text: str) -> int:
    """The value a write of `text` stores (KINDS), or KnobError."""
    if kind == "bool":
        c = text[:1]
        if c in ("y", "Y", "t", "T", "1"):
            return 1
        if c in ("n", "N", "f", "F", "0"):
            return 0
        if c in ("o", "O") and text[1:2] in ("n", "N"):
            return 1
        if c in ("o", "O") and text[1:2] in ("f", "F"):
            return 0
        raise KnobError(errno.EINVAL, f"not a boolean: {text!r}")
    if kind == "atomic_t":
        n = _kstrto(text, signed=True) & U32_MAX
        return n - (1 << 32) if n >= 1 << 31 else n
    n = _kstrto(text, signed=False)
    if kind == "u32":
        return n & U32_MAX
    if kind == "stacktrace_depth":
        return min(n, MAX_STACK_TRACE_DEPTH)
    return n


@dataclass
class FaultAttr618(FI2618.FaultAttr):
    """struct fault_attr of 6.18 (and the attribute's own fields)."""
    verbose_ratelimit_interval: int = 0
    verbose_ratelimit_burst: int = DEFAULT_RATELIMIT_BURST
    task_filter: bool = False
    require_start: int = 0
    require_end: int = ULONG_MAX
    reject_start: int = 0
    reject_end: int = 0
    # ratelimit_state: when the current interval began (s), how many printed in it
    rs_begin: float | None = None
    rs_printed: int = 0
    rs_missed: int = 0
    clock: Callable[[], float] | None = field(default=None, repr=False)

    def fail_stacktrace(self) -> bool:
        """lib/fault-inject.c fail_stacktrace: no simulated frame has an
        address, so nothing is in a reject range and nothing in a require range."""
        found = self.require_start == 0 and self.require_end == ULONG_MAX
        return found

    def ratelimit(self, log: KernelLog) -> bool:
        """lib/ratelimit.c ___ratelimit on attr->ratelimit_state (interval in
        jiffies; 0 disables the limit)."""
        interval = self.verbose_ratelimit_interval
        if not interval:
            return True
        now = (self.clock or log.uptime)()
        if self.rs_begin is None:
            self.rs_begin = now
        if self.rs_begin + interval / HZ < now:
            if self.rs_missed:
                log.printk(KERN_WARNING, f"fail_dump: {self.rs_missed} callbacks suppressed")
                self.rs_missed = 0
            self.rs_begin = now
            self.rs_printed = 0
        if self.verbose_ratelimit_burst and self.verbose_ratelimit_burst > self.rs_printed:
            self.rs_printed += 1
            return True
        self.rs_missed += 1
        return False

    def should_fail(self, log: KernelLog, size: int, nowarn: bool, make_it_fail: bool = False) -> bool:
        """lib/fault-inject.c should_fail_ex (without fail-nth: no
        /proc/<pid>/fail-nth here). `make_it_fail`: current's
        /proc/<pid>/make-it-fail (fail_task)."""
        if self.probability == 0:
            return False
        if self.task_filter and not make_it_fail:
            return False
        if self.times == 0:
            return False
        if not self.fail_stacktrace():
            return False
        if self.space > size:
            self.space -= size
            return False
        if self.interval > 1:
            self.count += 1
            if self.count % self.interval:
                return False
        if self.probability <= self.rng.randrange(100):
            return False
        self.failures += 1
        if not nowarn:
            self.fail_dump(log)
        if self.times != -1 and self.times != 0:   # atomic_dec_not_zero
            self.times -= 1
        return True

    def fail_dump(self, log: KernelLog) -> None:
        if self.verbose > 0 and self.ratelimit(log):
            log.printk(KERN_NOTICE, "FAULT_INJECTION: forcing a failure.\n"
                                    f"name {self.name}, interval {self.interval}, probability"
                                    f" {self.probability}, space {self.space}, times {self.times}")
            if self.verbose > 1:
                frames = traceback.extract_stack()[-3 - min(self.stacktrace_depth, 32):-3]
                log.printk(KERN_WARNING, "Call Trace:\n <TASK>\n" + "".join(
                    f" {f.name}+0x0/0x0\n" for f in reversed(frames)) + " </TASK>")


def _attr(name: str, knobs: tuple[Knob, ...]) -> FaultAttr618:
    attr = FaultAttr618(name)
    for knob in knobs:
        setattr(attr, knob.field, bool(knob.default) if knob.kind == "bool" else knob.default)
    return attr


class FaultInject(FI2618.FaultInject):
    """The two 6.18 fault attributes, with the defaults their knobs declare,
    and the pids whose /proc/<pid>/make-it-fail is set (task-filter). The same
    name as 2.6.18's class: a Kernel builds `version.fault_inject.FaultInject(log)`."""

    def __init__(self, log: KernelLog):
        super().__init__(log)
        self.failslab = _attr("failslab", ATTR_KNOBS["failslab"])
        self.fail_page_alloc = _attr("fail_page_alloc", ATTR_KNOBS["fail_page_alloc"])
        self.make_it_fail: set[int] = set()


FaultInject618 = FaultInject


def fail_task(fi: FI2618.FaultInject, task: Task | None) -> bool:
    """lib/fault-inject.c fail_task: in_task() && task->make_it_fail."""
    pids: set[int] = getattr(fi, "make_it_fail", set())
    return task is not None and task.pid in pids


def should_failslab(fi: FI2618.FaultInject, s_flags: int, object_size: int, gfp: int,
                    bootstrap: bool = False, task: Task | None = None) -> bool:
    """mm/failslab.c should_failslab: never the bootstrap kmem_cache, never
    __GFP_NOFAIL; __GFP_DIRECT_RECLAIM only with ignore-gfp-wait off; with
    cache-filter only SLAB_FAILSLAB caches; size = s->object_size."""
    attr = fi.failslab
    if bootstrap or gfp & __GFP_NOFAIL:
        return False
    if attr.ignore_gfp_wait and gfp & __GFP_DIRECT_RECLAIM:
        return False
    if attr.cache_filter and not s_flags & SLAB_FAILSLAB:
        return False
    if isinstance(attr, FaultAttr618):
        return attr.should_fail(fi.log, object_size, bool(gfp & __GFP_NOWARN), fail_task(fi, task))
    return attr.should_fail(fi.log, object_size, bool(gfp & __GFP_NOWARN))


def should_fail_alloc_page(fi: FI2618.FaultInject, gfp: int, order: int, task: Task | None = None) -> bool:
    """mm/fail_page_alloc.c should_fail_alloc_page."""
    attr = fi.fail_page_alloc
    if order < attr.min_order:
        return False
    if gfp & __GFP_NOFAIL:
        return False
    if attr.ignore_gfp_highmem and gfp & __GFP_HIGHMEM:
        return False
    if attr.ignore_gfp_wait and gfp & __GFP_DIRECT_RECLAIM:
        return False
    if isinstance(attr, FaultAttr618):
        return attr.should_fail(fi.log, 1 << order, bool(gfp & __GFP_NOWARN), fail_task(fi, task))
    return attr.should_fail(fi.log, 1 << order, bool(gfp & __GFP_NOWARN))
