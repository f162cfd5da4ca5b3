"""The kernel log ring: printk with a level and a timestamp since boot.

Records are kept as (level, seconds, text); /proc/kmsg is rendered from them as
`<pri>[seconds] text` lines, which `dmesg -F` reads.
"""
from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR = 0, 1, 2, 3
KERN_WARNING, KERN_NOTICE, KERN_INFO, KERN_DEBUG = 4, 5, 6, 7

# printk_ratelimit(): 5 s interval, burst of 10 (kernel/printk.c, 2.6).
RATELIMIT_INTERVAL = 5.0
RATELIMIT_BURST = 10


@dataclass(slots=True)
class LogRecord:
    seq: int
    level: int
    seconds: float
    text: str


class KernelLog:
    """A bounded ring of records, like log_buf (old records fall off)."""

    def __init__(self, capacity: int = 16384, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._boot = clock()
        self.records: collections.deque[LogRecord] = collections.deque(maxlen=capacity)
        self._seq = 0
        self._rl_start = -RATELIMIT_INTERVAL
        self._rl_printed = 0
        self.rl_missed = 0
        self.listeners: list[Callable[[LogRecord], None]] = []

    def uptime(self) -> float:
        return self._clock() - self._boot

    def printk(self, level: int, text: str) -> None:
        """Log `text`; a multi-line text becomes one record per line, same level."""
        now = self.uptime()
        for line in text.rstrip("\n").split("\n"):
            self._seq += 1
            rec = LogRecord(self._seq, level, now, line)
            self.records.append(rec)
            for listener in self.listeners:
                listener(rec)

    def ratelimit(self) -> bool:
        """printk_ratelimit(): True if a rate-limited message may be printed now."""
        now = self.uptime()
        if now - self._rl_start >= RATELIMIT_INTERVAL:
            if self.rl_missed:
                self.printk(KERN_WARNING, f"printk: {self.rl_missed} messages suppressed.")
                self.rl_missed = 0
            self._rl_start = now
            self._rl_printed = 0
        if self._rl_printed < RATELIMIT_BURST:
            self._rl_printed += 1
            return True
        self.rl_missed += 1
        return False

    def grep(self, needle: str) -> list[str]:
        return [r.text for r in self.records if needle in r.text]
