"""The scull family mounted side by side (--family): data integrity through dd,
the drivers' proc dumps, and scullm's mempool outliving scullc's memory."""
from __future__ import annotations

import errno
import os
import re
import subprocess

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


def test_scullm_keeps_accepting_writes_while_scullc_on_the_same_memory_fails(mount_scullcfs):
    m = mount_scullcfs(family="scullc,scullm", mem="32M", background=0)
    (m.path / "proc/sys/vm/alloc_wait_ms").write_text("0")  # fail at once, no sleeping
    with open(m.path / "dev/scullm0", "wb") as f:
        f.write(b"m")  # its item and pointer array exist: from here on it needs only quanta
    assert _fill(m.path / "dev/scullc0", b"c" * 4000) > 10 << 20
    assert _fill(m.path / "dev/scullc0", b"c" * 4000) == 0  # scullc is out of memory
    reserve = int((m.path / "sys/module/scullm/parameters/scullm_min_nr").read_text())
    accepted = _fill(m.path / "dev/scullm0", b"m" * 4000)
    assert accepted >= reserve * 4000  # the whole reserve at least, after scullc failed
    stats = dict(line.split() for line in (m.path / "sys/module/scullm/mempool").read_text().splitlines())
    assert int(stats["from_reserve"]) == reserve and int(stats["curr_nr"]) == 0
    assert _fill(m.path / "dev/scullc0", b"c" * 4000) == 0  # and scullc still fails
    with open(m.path / "dev/scullm0", "wb"):  # trimming scullm refills the pool first
        pass
    assert (m.path / "sys/class/scullm/scullm0/reserve").read_text() == f"{reserve}/{reserve}\n"
    assert m.unmount() == 0
    assert "slab error" not in m.log_text()
