"""--slab-debug on a mounted scullcfs: each report of mm/slab.c's debugging is
produced by the bug it describes (committed on purpose through
sys/kernel/debug/scullc/misbehave), the daemon keeps answering afterwards, and a
clean `scullcfs stress` run with every device busy produces none of them.
"""
from __future__ import annotations

import errno
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

MISBEHAVE = "sys/kernel/debug/scullc/misbehave"
CHECK = "sys/kernel/debug/scullc/check"
ALL_FAMILIES = "scullc,scull,scullp,scullv,scullm"
# Every report CONFIG_DEBUG_SLAB prints; a bug must produce its own and no other.
REPORTS = {
    "overrun": "memory outside object was overwritten",
    "use-after-free": "Slab corruption",
    "double-free": "double free detected",
}


def kmsg(m) -> str:
    return (m.path / "proc/kmsg").read_text()


def write_control(m, rel: str, text: str) -> None:
    fd = os.open(m.path / rel, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def check_errno(m) -> int:
    """0 if the invariant check passes, else the errno of the write."""
    try:
        write_control(m, CHECK, "1\n")
    except OSError as e:
        return e.errno
    return 0


def fill(m, dev: str, nbytes: int) -> bytes:
    data = os.urandom(nbytes)
    with open(m.path / "dev" / dev, "wb", buffering=0) as f:  # write-only: trims first
        assert f.write(data) == nbytes
    return data


def only_report(m, bug: str) -> None:
    """The bug's report is in the log and no other bug's is."""
    log = kmsg(m)
    assert REPORTS[bug] in log, log[-3000:]
    for other, text in REPORTS.items():
        if other != bug:
            assert text not in log, f"{bug} also produced {text!r}:\n{log[-3000:]}"


def test_overrun_is_reported_when_the_quantum_is_freed(mount_scullcfs):
    m = mount_scullcfs(slab_debug=True, mem="64M")
    fill(m, "scullc2", 3 * 4000)
    write_control(m, MISBEHAVE, "overrun 8 scullc2\n")
    assert "scullc2 commits a bug on purpose: overrun by 8 bytes" in kmsg(m)
    assert REPORTS["overrun"] not in kmsg(m)  # nothing notices until the free
    assert check_errno(m) == errno.EIO  # the red zone of a live object is broken
    assert "red zone of live object" in kmsg(m)
    os.close(os.open(m.path / "dev/scullc2", os.O_WRONLY))  # trim: kmem_cache_free
    log = kmsg(m)
    assert "slab error in verify_redzone_free(): cache `scullc': memory outside object was overwritten" in log
    assert re.search(r"[0-9a-f]{8}: redzone 1:0x170fc2a5, redzone 2:0x[0-9a-f]+\.\n", log)  # 2.6.18: no objinfo
    only_report(m, "overrun")
    assert check_errno(m) == 0  # the free reset the red zones: consistent again
    assert "MemTotal" in (m.path / "proc/meminfo").read_text()


def test_use_after_free_is_reported_by_the_check_and_at_the_next_allocation(mount_scullcfs):
    m = mount_scullcfs(slab_debug=True, mem="64M")
    data = fill(m, "scullc1", 2 * 4000)
    write_control(m, MISBEHAVE, "use-after-free scullc1\n")
    assert check_errno(m) == errno.EIO
    assert "(use after free)" in kmsg(m)
    # The device forgot the freed quantum: its bytes read as a hole.
    assert (m.path / "dev/scullc1").read_bytes() == data[:4000] + bytes(4000)
    # The freed object sits on top of this CPU's array: the next quantum this
    # process allocates is it, and the allocation finds the poison overwritten.
    with open(m.path / "dev/scullc1", "r+b", buffering=0) as f:
        f.seek(4000)
        assert f.write(b"y" * 4000) == 4000
    log = kmsg(m)
    assert "Slab corruption: start=" in log     # 2.6.18 names no cache
    only_report(m, "use-after-free")
    assert check_errno(m) == 0  # re-poisoned when handed out again: consistent now
    assert (m.path / "dev/scullc1").read_bytes() == data[:4000] + b"y" * 4000


def test_double_free_is_detected_and_the_second_free_refused(mount_scullcfs):
    m = mount_scullcfs(slab_debug=True, mem="64M")
    fill(m, "scullc3", 5 * 4000)
    write_control(m, MISBEHAVE, "double-free scullc3\n")
    log = kmsg(m)
    assert "slab error in verify_redzone_free(): cache `scullc': double free detected" in log
    only_report(m, "double-free")
    # The second free was caught before it touched the lists: nothing is corrupt.
    assert check_errno(m) == 0
    assert m.unmount() == 0
    assert "kmem_cache_destroy" not in m.log_text()


def test_misbehave_without_slab_debug_is_refused(mnt):
    fill(mnt, "scullc0", 4000)
    with pytest.raises(OSError) as e:
        write_control(mnt, MISBEHAVE, "overrun 8 scullc0\n")
    assert e.value.errno == errno.EINVAL
    assert "misbehave needs --slab-debug" in kmsg(mnt)
    assert check_errno(mnt) == 0


def test_clean_stress_run_produces_no_slab_debug_report(mount_scullcfs):
    """Every family's devices busy at once: scullc's own cache, scull's kmalloc'd
    quanta, scullp's pages, scullv's vmalloc and scullm's mempool."""
    m = mount_scullcfs(slab_debug=True, mem="128M", family=ALL_FAMILIES)
    r = subprocess.run([sys.executable, "-m", "scullcfs", "stress", str(m.path),
                        "-w", "4", "-r", "3", "-t", "1", "-d", "5", "--seed", "7"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "slab log:    0 reports" in r.stdout
    assert "check:       consistent" in r.stdout
    log = kmsg(m)
    for text in (*REPORTS.values(), "slab error", "Redzone"):
        assert text not in log, log[-3000:]
    assert m.unmount() == 0
    assert "slab error" not in m.log_text()
