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

# kernel/printk.c (2.6.18): printk_ratelimit_jiffies = 5*HZ, printk_ratelimit_burst = 10,
# with HZ 250 (the i386 default of 2.6.18's Kconfig.hz).
HZ = 250
PRINTK_RATELIMIT_JIFFIES = 5 * HZ
PRINTK_RATELIMIT_BURST = 10


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
        # __printk_ratelimit's statics: toks starts full (10 * 5 * HZ), last_msg 0
        self.rl_toks = 10 * 5 * HZ
        self.rl_last_msg = 0
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

    def jiffies(self) -> int:
        return int(self.uptime() * HZ)

    def ratelimit(self, ratelimit_jiffies: int = PRINTK_RATELIMIT_JIFFIES,
                  ratelimit_burst: int = PRINTK_RATELIMIT_BURST) -> bool:
        """printk_ratelimit(): kernel/printk.c __printk_ratelimit (2.6.18), a
        token bucket: one token per jiffy, capped at burst * interval; a
        message costs `ratelimit_jiffies` tokens. So a burst of 10, then one
        message per 5 s."""
        now = self.jiffies()
        self.rl_toks += now - self.rl_last_msg
        self.rl_last_msg = now
        self.rl_toks = min(self.rl_toks, ratelimit_burst * ratelimit_jiffies)
        if self.rl_toks >= ratelimit_jiffies:
            lost = self.rl_missed
            self.rl_missed = 0
            self.rl_toks -= ratelimit_jiffies
            if lost:
                self.printk(KERN_WARNING, f"printk: {lost} messages suppressed.")
            return True
        self.rl_missed += 1
        return False

    def grep(self, needle: str) -> list[str]:
        return [r.text for r in self.records if needle in r.text]
