"""Fault injection as lib/fault-inject.c, mm/failslab.c and mm/fail_page_alloc.c.

Two attributes, `failslab` and `fail_page_alloc`, with the kernel's knobs and
defaults (FAULT_ATTR_INITIALIZER: interval 1, times 1, probability 0, verbose 2)
and its decision order (should_fail):
  probability == 0 → no; times == 0 → no; space > size → space -= size, no;
  interval > 1 → count++, fail only every interval-th; probability ≤ rand(100) → no;
  else FAIL, log "FAULT_INJECTION: forcing a failure." and spend one of `times`.

The kernel's `task-filter` (fail only tasks with /proc/<pid>/make-it-fail) is not
simulated: there is no make-it-fail, so the knob is not offered.
The allocators are given a FaultInject and ask it only when its attribute is
armed (`failslab_armed`, `fail_page_alloc_armed`), so injection that is off costs
one flag test on the slow paths.
"""
from __future__ import annotations

import random
import traceback
from dataclasses import dataclass, field

from .gfp import F
from .printk import KERN_NOTICE, KERN_WARNING, KernelLog


@dataclass
class FaultAttr:
    name: str
    probability: int = 0
    interval: int = 1
    times: int = 1
    space: int = 0
    verbose: int = 2
    stacktrace_depth: int = 32
    ignore_gfp_wait: bool = True
    # fail_page_alloc only
    ignore_gfp_highmem: bool = True
    min_order: int = 1
    # failslab only
    cache_filter: bool = False
    count: int = 0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def armed(self) -> bool:
        return self.probability > 0 and self.times != 0

    def should_fail(self, log: KernelLog, size: int, nowarn: bool) -> bool:
        """lib/fault-inject.c should_fail(), in the kernel's order."""
        if self.probability == 0:
            return False
        if self.times == 0:
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
        if self.verbose > 0 and not nowarn:
            log.printk(KERN_NOTICE, "FAULT_INJECTION: forcing a failure.\n"
                                    f"name {self.name}, interval {self.interval}, probability"
                                    f" {self.probability}, space {self.space}, times {self.times}")
            if self.verbose > 1:
                frames = traceback.extract_stack()[-2 - self.stacktrace_depth:-2]
                log.printk(KERN_WARNING, "Call Trace:\n" + "\n".join(
                    f" [<{f.name}>] {f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames)))
        if self.times != -1:
            self.times -= 1
        return True


class FaultInject:
    """The two fault attributes and the log their reports go to."""

    def __init__(self, log: KernelLog):
        self.log = log
        self.failslab = FaultAttr("failslab")
        self.fail_page_alloc = FaultAttr("fail_page_alloc")
        self.failslab_armed = False
        self.fail_page_alloc_armed = False


def update_fault_attrs(fi: FaultInject) -> None:
    """Call after changing a knob: recompute the armed flags."""
    fi.failslab_armed = fi.failslab.probability > 0
    fi.fail_page_alloc_armed = fi.fail_page_alloc.probability > 0


def should_failslab(fi: FaultInject, obj_size: int, cache_failslab: bool, gfp: int) -> bool:
    """mm/failslab.c: __GFP_NOFAIL is never failed; sleeping allocations only
    with ignore-gfp-wait off; with cache-filter only caches marked failslab."""
    attr = fi.failslab
    if gfp & F.NOFAIL:
        return False
    if attr.ignore_gfp_wait and gfp & F.WAIT:
        return False
    if attr.cache_filter and not cache_failslab:
        return False
    return attr.should_fail(fi.log, obj_size, bool(gfp & F.NOWARN))


def should_fail_alloc_page(fi: FaultInject, gfp: int, order: int) -> bool:
    """mm/fail_page_alloc.c should_fail_alloc_page()."""
    attr = fi.fail_page_alloc
    if order < attr.min_order:
        return False
    if gfp & F.NOFAIL:
        return False
    if attr.ignore_gfp_highmem and gfp & F.HIGHMEM:
        return False
    if attr.ignore_gfp_wait and gfp & F.WAIT:
        return False
    return attr.should_fail(fi.log, 1 << order, bool(gfp & F.NOWARN))
