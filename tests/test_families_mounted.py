"""The scull family mounted side by side (--family): data integrity through dd,
the drivers' proc dumps, and scullm's mempool as 2.6.18's mempool_alloc: a
writer sleeps for an element however long, and a signal or an unmount ends
the sleep."""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time

import pytest

ALL = "scullc,scull,scullp,scullv,scullm"
DEVICES = ("scullc0", "scull0", "scullp0", "scullv0", "scullm0")


def dd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["dd", *args, "status=none"], capture_output=True, text=True, timeout=120)


def test_every_family_stores_and_returns_10mib_of_random_data_identically(mount_scullcfs, tmp_path):
    m = mount_scullcfs(family=ALL, background=0)
    src = tmp_path / "random"
    src.write_bytes(os.urandom(10 << 20))
    for name in DEVICES:
        dev = m.path / "dev" / name
        out = tmp_path / f"{name}.out"
        w = dd(f"if={src}", f"of={dev}", "bs=1M")
        assert w.returncode == 0, (name, w.stderr)
        r = dd(f"if={dev}", f"of={out}", "bs=65536")  # reads cross every quantum size
        assert r.returncode == 0, (name, r.stderr)
        assert out.read_bytes() == src.read_bytes(), name
        assert (m.path / f"sys/class/{name[:-1]}/{name}/size").read_text() == f"{10 << 20}\n"
    (m.path / "sys/kernel/debug/scullc/check").write_text("1")  # EIO if anything is inconsistent
    assert m.unmount() == 0
    assert "slab error" not in m.log_text() and "leak" not in m.log_text()


def test_each_familys_proc_file_parses(mount_scullcfs):
    m = mount_scullcfs(family=ALL, background=0)
    for name in DEVICES:
        with open(m.path / "dev" / name, "wb") as f:
            f.write(os.urandom(300_000))
    proc = m.path / "proc"
    item = r"  item at [0-9a-f]{8}, qset at [0-9a-f]{8}"
    # scull: "q" for quantum, a space after the slot's colon
    scull = (proc / "scullmem").read_text()
    assert re.match(r"\nDevice 0: qset 1000, q 4000, sz 300000\n" + item
                    + r"\n(    [ \d]{4}: [ 0-9a-f]{8}\n){75}", scull)
    # scullp, scullv: "order", no space after the colon
    scullp = (proc / "scullpmem").read_text()
    assert re.match(r"\nDevice 0: qset 500, order 0, sz 300000\n" + item
                    + r"\n(    [ \d]{4}:[ 0-9a-f]{8}\n){74}\n", scullp)
    scullv = (proc / "scullvmem").read_text()
    assert re.match(r"\nDevice 0: qset 500, order 4, sz 300000\n" + item
                    + r"\n(    [ \d]{4}:[ 0-9a-f]{8}\n){5}\n", scullv)
    scullm = (proc / "scullmmem").read_text()
    assert re.match(r"\nDevice 0: qset 500, quantum 4000, sz 300000\n" + item
                    + r"\n(    [ \d]{4}:[ 0-9a-f]{8}\n){75}\n", scullm)
    for text in (scull, scullp, scullv, scullm):
        assert "\nDevice 3: " in text
    # scullv's quanta are the vmalloc areas of proc/vmallocinfo (16 pages + a guard page each)
    areas = {}
    for line in (proc / "vmallocinfo").read_text().splitlines():
        g = re.match(r"0x([0-9a-f]{8})-0x([0-9a-f]{8}) +(\d+) scullv_write\S* \[scullv\] pages=16 vmalloc$", line)
        assert g, line
        areas[int(g[1], 16)] = int(g[3])
    slots = [int(a, 16) for a in re.findall(r"    [ \d]{4}:([ 0-9a-f]{8})\n", scullv)]
    assert sorted(slots) == sorted(areas) and set(areas.values()) == {69632}
    meminfo = (proc / "meminfo").read_text()
    assert re.search(rf"VmallocUsed: +{5 * 68} kB", meminfo)


def test_family_parameters_and_gfp_files(mount_scullcfs):
    m = mount_scullcfs(family="scull,scullv,scullm", param="scullv_order=2", background=0)
    sysm = m.path / "sys/module"
    assert (sysm / "scull/parameters/scull_qset").read_text() == "1000\n"
    assert (sysm / "scullv/parameters/scullv_order").read_text() == "2\n"
    assert (m.path / "sys/class/scullv/scullv0/gfp").read_text() == "GFP_KERNEL\n"
    (sysm / "scullm/parameters/scullm_min_nr").write_text("24\n")  # mempool_resize
    assert (m.path / "sys/class/scullm/scullm0/reserve").read_text() == "24/24\n"
    assert "min_nr 24\ncurr_nr 24\n" in (sysm / "scullm/mempool").read_text()
    for path, text in (("sys/class/scull/scull0/gfp", "GFP_KERNEL|__GFP_HIGHMEM"),
                       ("sys/module/scullm/parameters/scullm_quantum", "5000"),
                       ("sys/module/scullv/parameters/scullv_order", "11")):
        try:
            (m.path / path).write_text(text)
        except OSError as e:
            assert e.errno == errno.EINVAL, path
        else:
            raise AssertionError(f"{path} accepted {text}")
    with open(m.path / "dev/scullv0", "wb") as f:
        f.write(b"v" * 20000)
    assert "order 2, sz 20000" in (m.path / "proc/scullvmem").read_text()
    assert (m.path / "sys/class/scullv/scullv0/quanta").read_text() == "2\n"


def _fill(path, chunk: bytes) -> int:
    """Write after the device's end until it refuses; return the bytes it took.
    O_RDWR: the driver trims only on a write-only open."""
    total = 0
    fd = os.open(path, os.O_RDWR)
    try:
        off = os.fstat(fd).st_size
        while True:
            try:
                n = os.pwrite(fd, chunk, off + total)
            except OSError as e:
                assert e.errno == errno.ENOMEM, e
                return total
            total += n
    finally:
        os.close(fd)


SCULLM_HELD = 128      # quanta scullm1 holds, taken while memory was free
SCULLM_EXTRA = 96      # quanta the writer wants beyond the reserve: more than ALLOC_HARDER's
                       # pages below min (mempool_alloc's first pass has no __GFP_WAIT)


def mempool_stats(m) -> dict[str, int]:
    text = (m.path / "sys/module/scullm/mempool").read_text()
    return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


def sleeping_scullm_writer(m, tmp_path, wait_ms: int = 200) -> tuple[subprocess.Popen, bytes]:
    """scullc takes all memory; then a dd into scullm0 (after its first quantum,
    O_RDWR through seek=: no trim) takes the whole reserve and sleeps in
    mempool_alloc. Returns once it has slept five times alloc_wait_ms, still
    writing: 2.6.18's mempool_alloc waits for an element however long."""
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text("0")  # scullc fails at once
    with open(m.path / "dev/scullm0", "wb") as f:
        f.write(b"m" * 4000)  # its item and pointer array exist: from here on it needs only quanta
    with open(m.path / "dev/scullm1", "wb") as f:
        f.write(b"h" * 4000 * SCULLM_HELD)
    assert _fill(m.path / "dev/scullc0", b"c" * 4000) > 10 << 20
    assert _fill(m.path / "dev/scullc0", b"c" * 4000) == 0  # scullc is out of memory
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text(str(wait_ms))
    reserve = int((m.path / "sys/module/scullm/parameters/scullm_min_nr").read_text())
    count = reserve + SCULLM_EXTRA
    data = os.urandom(4000 * count)
    src = tmp_path / "scullm.src"
    src.write_bytes(data)
    p = subprocess.Popen(["dd", f"if={src}", f"of={m.path}/dev/scullm0", "bs=4000", "seek=1", f"count={count}",
                          "status=none"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        st = mempool_stats(m)
        if st["sleeps"] and st["curr_nr"] == 0:
            break
        time.sleep(0.05)
    time.sleep(5 * wait_ms / 1000)
    assert p.poll() is None, f"the scullm writer ended: {p.stderr.read() if p.stderr else ''}"
    st = mempool_stats(m)
    assert st["curr_nr"] == 0 and st["from_reserve"] >= reserve and st["sleeps"] >= 1, st
    return p, data


@pytest.mark.parametrize("freer", ["scullm1", "scullc0"])
def test_a_scullm_writer_sleeps_until_an_element_comes_back_and_then_completes(mount_scullcfs, tmp_path, freer):
    """2.6.18 mm/mempool.c mempool_alloc: with the allocator failing and the
    reserve empty, the writer sleeps (prepare_to_wait, io_schedule_timeout(5*HZ))
    and goes back to repeat_alloc, for ever. A mempool_free that refills the
    reserve wakes it at once (wake_up(&pool->wait): trimming scullm1 frees its
    quanta through the pool); memory freed elsewhere (trimming scullc0) is found
    at the next try, when the 5 s timeout ends."""
    m = mount_scullcfs(family="scullc,scullm", mem="32M", background=0)
    p, data = sleeping_scullm_writer(m, tmp_path)
    assert (m.path / "proc/meminfo").read_text()  # the tree still answers
    t = time.monotonic()
    os.close(os.open(m.path / "dev" / freer, os.O_WRONLY))  # a write-only open trims
    _, err = p.communicate(timeout=60)
    elapsed = time.monotonic() - t
    assert p.returncode == 0, err
    if freer == "scullm1":
        assert elapsed < 4.0, elapsed  # woken by mempool_free, not by the 5 s timeout
    else:
        assert elapsed < 5.0 + 3.0, elapsed  # io_schedule_timeout(5*HZ), then the allocator serves
    assert (m.path / "sys/class/scullm/scullm0/size").read_text() == f"{4000 + len(data)}\n"
    assert (m.path / "dev/scullm0").read_bytes()[4000:] == data
    assert m.unmount() == 0
    assert "slab error" not in m.log_text() and "page allocation failure" not in m.log_text()


def test_a_signal_ends_a_scullm_writer_asleep_in_mempool_alloc(mount_scullcfs, tmp_path):
    """Not 2.6.18 (its mempool_alloc sleeps TASK_UNINTERRUPTIBLE), but what the
    mount must do with an unbounded wait: Ctrl-C on the sleeping dd ends its
    write with EINTR, as an interrupted FUSE request; a second writer waiting
    for the device's lock (the driver's down_interruptible) is interrupted too.
    The mount goes on and unmounts clean."""
    m = mount_scullcfs(family="scullc,scullm", mem="32M", background=0)
    p, _ = sleeping_scullm_writer(m, tmp_path)
    second = subprocess.Popen(["dd", "if=/dev/zero", f"of={m.path}/dev/scullm0", "bs=4000", "seek=400", "count=1",
                               "status=none"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    assert second.poll() is None  # waiting for the lock the sleeper holds
    second.send_signal(signal.SIGINT)
    assert second.wait(timeout=10) != 0
    assert p.poll() is None  # the sleeper sleeps on
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=10)
    assert p.returncode == -signal.SIGINT  # dd's handler re-raises it after the EINTR
    size = int((m.path / "sys/class/scullm/scullm0/size").read_text())
    assert size % 4000 == 0 and 4000 < size < 400 * 4000
    assert mempool_stats(m)["curr_nr"] == 0
    os.close(os.open(m.path / "dev/scullm1", os.O_WRONLY))  # the pool fills again
    assert (m.path / "sys/class/scullm/scullm0/reserve").read_text() == "16/16\n"
    assert m.unmount() == 0
    assert "slab error" not in m.log_text()


def test_a_lazy_unmount_ends_a_scullm_writer_asleep_in_mempool_alloc(mount_scullcfs, tmp_path):
    """fusermount3 -uz while a writer sleeps for an element: the sleeper finds
    the mount point gone and gives up (what it stored, or ENOMEM), its dd
    closes the device, and the daemon exits 0 instead of waiting for ever."""
    m = mount_scullcfs(family="scullc,scullm", mem="32M", background=0)
    p, _ = sleeping_scullm_writer(m, tmp_path)
    r = subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    _, err = p.communicate(timeout=20)
    assert p.returncode == 1 and "Cannot allocate memory" in err
    assert m.proc.wait(timeout=30) == 0
    assert m.unmount() == 0
