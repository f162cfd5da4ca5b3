"""Mounted end-to-end tests of the scullc devices: real `dd`, `cat`, `truncate`,
`cmp` and `head` processes against a scullcfs mounted through FUSE.

The slab counts are read the way SPEC §4 says they must be: `active_objs` in
proc/slabinfo counts the objects parked in per-CPU arrays too (as SLAB does), so an
exact `active_objs` is only asserted after writing `1` to
sys/kernel/slab/scullc/shrink; sys/kernel/slab/scullc/objects is exact at any time.
"""
from __future__ import annotations

import errno
import hashlib
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, is_mounted

QUANTUM = 4000
QSET = 500
TEN_MIB = 10 << 20


# --------------------------------------------------------------------------- helpers


def run(*cmd, **kwargs) -> subprocess.CompletedProcess:
    """Run a command to completion; fail the test with its stderr if it fails."""
    r = subprocess.run([str(c) for c in cmd], capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=120, **kwargs)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}: {r.stderr.decode(errors='replace')}"
    return r


def sh(script: str) -> subprocess.CompletedProcess:
    return run("sh", "-c", script)


def slab_line(m, name: str = "scullc") -> list[str]:
    """The fields of `name`'s line in proc/slabinfo."""
    for line in (m.path / "proc/slabinfo").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            return fields
    raise AssertionError(f"no {name} line in proc/slabinfo")


def active_objs(m, name: str = "scullc") -> int:
    return int(slab_line(m, name)[1])


def tunables(m, name: str = "scullc") -> tuple[int, int, int]:
    fields = slab_line(m, name)
    i = fields.index("tunables")
    return int(fields[i + 1]), int(fields[i + 2]), int(fields[i + 3])


def shrink(m) -> None:
    """Drain the scullc cache's per-CPU arrays and free its empty slabs."""
    write_control(m.path / "sys/kernel/slab/scullc/shrink", "1")


def read_int(path) -> int:
    return int(open(path).read())


def objects(m) -> int:
    """Objects handed out by the scullc cache (exact: per-CPU arrays not counted)."""
    return read_int(m.path / "sys/kernel/slab/scullc/objects")


def quanta(m, dev: int = 0) -> int:
    return read_int(m.path / f"sys/class/scullc/scullc{dev}/quanta")


def write_control(path, text: str) -> None:
    """One write(2) of `text` to a control file; an error raises OSError with the
    daemon's errno (a shell `echo` would only show its message)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.write(fd, text.encode()) == len(text.encode())
    finally:
        os.close(fd)


def pwrite_dev(path, data: bytes, offset: int = 0) -> None:
    """Write without trimming first: O_RDWR (an O_WRONLY open would trim)."""
    fd = os.open(path, os.O_RDWR)
    try:
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], offset + done)
    finally:
        os.close(fd)


def sha256_of_dd(path, bs: int) -> str:
    """Hash of what `dd if=path bs=bs` reads."""
    r = run("dd", f"if={path}", f"bs={bs}", "status=none")
    return hashlib.sha256(r.stdout).hexdigest()


def scullcmem_header(m, dev: int = 0) -> str:
    for line in (m.path / "proc/scullcmem").read_text().splitlines():
        if line.startswith(f"Device {dev}:"):
            return line
    raise AssertionError(f"no `Device {dev}:` line in proc/scullcmem")


@pytest.fixture
def random_10mib(tmp_path):
    path = tmp_path / "random-10MiB"
    path.write_bytes(os.urandom(TEN_MIB))
    return path


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize("bs", ["1M", "4k", "7777"])
def test_10mib_written_with_dd_reads_back_identical(mnt, random_10mib, bs):
    dev = mnt.path / "dev/scullc0"
    run("dd", f"if={random_10mib}", f"of={dev}", f"bs={bs}", "status=none")
    assert os.stat(dev).st_size == TEN_MIB
    run("cmp", random_10mib, dev)
    block = {"1M": 1 << 20, "4k": 4096, "7777": 7777}[bs]
    assert sha256_of_dd(dev, block) == hashlib.sha256(random_10mib.read_bytes()).hexdigest()
    assert run("cat", dev).stdout == random_10mib.read_bytes()


def test_10mib_write_holds_exactly_ceil_size_over_quantum_objects(mnt, random_10mib):
    expected = math.ceil(TEN_MIB / QUANTUM)  # 2622
    run("dd", f"if={random_10mib}", f"of={mnt.path / 'dev/scullc0'}", "bs=1M", "status=none")
    assert objects(mnt) == expected  # exact without shrinking
    assert quanta(mnt) == expected
    shrink(mnt)
    assert active_objs(mnt) == expected
    fields = slab_line(mnt)
    assert int(fields[2]) == expected  # num_objs: one 4032-byte object per page, none spare


def test_trim_returns_every_quantum_to_the_cache(mnt, random_10mib):
    dev = mnt.path / "dev/scullc0"
    run("dd", f"if={random_10mib}", f"of={dev}", "bs=1M", "status=none")
    sh(f": > '{dev}'")
    assert os.stat(dev).st_size == 0
    assert objects(mnt) == 0
    shrink(mnt)
    assert active_objs(mnt) == 0
    assert int(slab_line(mnt)[2]) == 0  # num_objs: the empty slabs went back to the buddy


def test_write_only_open_without_o_trunc_trims(mnt):
    dev = mnt.path / "dev/scullc0"
    pwrite_dev(dev, os.urandom(5 * QUANTUM))
    assert objects(mnt) == 5
    fd = os.open(dev, os.O_WRONLY)  # no O_TRUNC: the driver's own open trims
    os.close(fd)
    assert os.stat(dev).st_size == 0
    assert quanta(mnt) == 0
    assert objects(mnt) == 0


def test_read_write_open_keeps_the_data(mnt):
    dev = mnt.path / "dev/scullc0"
    data = os.urandom(5 * QUANTUM + 123)
    pwrite_dev(dev, data)
    fd = os.open(dev, os.O_RDWR)
    os.close(fd)
    assert os.stat(dev).st_size == len(data)
    assert objects(mnt) == 6
    assert dev.read_bytes() == data


def test_read_only_open_keeps_the_data(mnt):
    dev = mnt.path / "dev/scullc0"
    data = os.urandom(3 * QUANTUM)
    pwrite_dev(dev, data)
    assert run("head", "-c", 1000, dev).stdout == data[:1000]
    assert os.stat(dev).st_size == len(data)
    assert objects(mnt) == 3


def test_truncate_frees_the_quanta_past_the_new_size(mnt):
    dev = mnt.path / "dev/scullc0"
    data = os.urandom(25 * QUANTUM)
    pwrite_dev(dev, data)
    assert objects(mnt) == 25
    os.truncate(dev, 10_000)  # truncate(2) on the path: no open, so no trim
    assert os.stat(dev).st_size == 10_000
    assert quanta(mnt) == 3  # 0..4000, 4000..8000, 8000..12000
    assert objects(mnt) == 3
    shrink(mnt)
    assert active_objs(mnt) == 3
    assert dev.read_bytes() == data[:10_000]


def test_truncate_command_opens_write_only_so_the_device_is_trimmed_first(mnt):
    # coreutils truncate opens O_WRONLY, and a write-only open trims (scullc_open):
    # every quantum is freed, then ftruncate sets the size; the device reads zeros.
    dev = mnt.path / "dev/scullc0"
    pwrite_dev(dev, os.urandom(25 * QUANTUM))
    run("truncate", "-s", 10_000, dev)
    assert os.stat(dev).st_size == 10_000
    assert quanta(mnt) == 0
    assert objects(mnt) == 0
    assert run("cat", dev).stdout == bytes(10_000)


def test_truncate_then_extend_reads_zeros_past_the_old_end(mnt):
    dev = mnt.path / "dev/scullc0"
    data = os.urandom(5 * QUANTUM)
    pwrite_dev(dev, data)
    os.truncate(dev, 10_000)
    os.truncate(dev, 20_000)
    assert os.stat(dev).st_size == 20_000
    content = run("cat", dev).stdout
    assert content[:10_000] == data[:10_000]
    # 10000..12000 lies in a quantum that survived the shrink: it must have been zeroed
    assert content[10_000:] == bytes(10_000)
    assert objects(mnt) == 3  # extending allocates nothing


def test_sparse_dd_write_reads_zeros_in_the_hole(mnt, tmp_path):
    dev = mnt.path / "dev/scullc0"
    pattern = tmp_path / "pattern"
    pattern.write_bytes(os.urandom(5000))
    run("dd", f"if={pattern}", f"of={dev}", "bs=1000", "seek=30", "status=none")
    assert os.stat(dev).st_size == 35_000
    content = dev.read_bytes()
    assert content[:30_000] == bytes(30_000)
    assert content[30_000:] == pattern.read_bytes()
    assert quanta(mnt) == 2  # 28000..32000 and 32000..36000 only: the hole holds none
    assert objects(mnt) == 2


def test_data_written_to_one_device_never_appears_in_another(mnt):
    payloads = {i: bytes([0x41 + i]) * 1000 + os.urandom(3 * QUANTUM + 17 * i) for i in range(4)}
    for i, data in payloads.items():
        pwrite_dev(mnt.path / f"dev/scullc{i}", data)
    for i, data in payloads.items():
        dev = mnt.path / f"dev/scullc{i}"
        assert os.stat(dev).st_size == len(data)
        assert run("cat", dev).stdout == data
        assert quanta(mnt, i) == math.ceil(len(data) / QUANTUM)
    assert objects(mnt) == sum(math.ceil(len(d) / QUANTUM) for d in payloads.values())
    sh(f": > '{mnt.path / 'dev/scullc2'}'")  # trimming one device leaves the others alone
    for i, data in payloads.items():
        expected = b"" if i == 2 else data
        assert (mnt.path / f"dev/scullc{i}").read_bytes() == expected


def test_default_io_serves_a_1mib_read_across_quanta(mnt):
    dev = mnt.path / "dev/scullc0"
    data = os.urandom(2 << 20)
    pwrite_dev(dev, data)
    fd = os.open(dev, os.O_RDONLY)
    try:
        assert os.read(fd, 1 << 20) == data[: 1 << 20]
    finally:
        os.close(fd)


def test_default_io_reads_a_hole_as_zeros(mnt):
    dev = mnt.path / "dev/scullc0"
    pwrite_dev(dev, b"x" * 100, offset=3 * QUANTUM)
    fd = os.open(dev, os.O_RDONLY)
    try:
        assert os.read(fd, 1 << 20) == bytes(3 * QUANTUM) + b"x" * 100
    finally:
        os.close(fd)


def test_ldd3_io_returns_at_most_one_quantum_per_read(mount_scullcfs, tmp_path):
    m = mount_scullcfs(ldd3_io=True)
    dev = m.path / "dev/scullc0"
    src = tmp_path / "src"
    src.write_bytes(os.urandom(10 * QUANTUM + 500))
    # dd loops over the driver's short writes (one quantum per call) until done
    run("dd", f"if={src}", f"of={dev}", "bs=1M", "status=none")
    data = src.read_bytes()
    assert os.stat(dev).st_size == len(data)
    fd = os.open(dev, os.O_RDONLY)
    try:
        first = os.read(fd, 1 << 20)
        assert first == data[:QUANTUM]
        os.lseek(fd, 1000, os.SEEK_SET)
        assert os.read(fd, 1 << 20) == data[1000:QUANTUM]  # up to the quantum's end
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            assert len(chunk) <= QUANTUM
            chunks.append(chunk)
    finally:
        os.close(fd)
    assert b"".join(chunks) == data
    assert len(chunks) == 11
    run("cmp", src, dev)  # cmp reads on across short reads


def test_ldd3_io_hole_ends_the_read(mount_scullcfs):
    m = mount_scullcfs(ldd3_io=True)
    dev = m.path / "dev/scullc0"
    pwrite_dev(dev, b"x" * 100, offset=3 * QUANTUM)
    assert os.stat(dev).st_size == 3 * QUANTUM + 100
    fd = os.open(dev, os.O_RDONLY)
    try:
        assert os.read(fd, 1 << 20) == b""  # the driver returns 0 at a hole: EOF
        os.lseek(fd, 3 * QUANTUM, os.SEEK_SET)
        assert os.read(fd, 1 << 20) == b"x" * 100
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- parameters


def test_quantum_larger_than_the_cache_objects_is_refused_with_a_log_line(mnt):
    param = mnt.path / "sys/module/scullc/parameters/scullc_quantum"
    with pytest.raises(OSError) as e:
        write_control(param, "8000")
    assert e.value.errno == errno.EINVAL
    assert read_int(param) == QUANTUM
    kmsg = (mnt.path / "proc/kmsg").read_text()
    assert any("scullc" in line and "8000" in line for line in kmsg.splitlines()), kmsg[-2000:]


def test_new_quantum_is_adopted_only_at_the_next_trim(mnt):
    param = mnt.path / "sys/module/scullc/parameters/scullc_quantum"
    dev = mnt.path / "dev/scullc0"
    data = os.urandom(3 * QUANTUM)
    pwrite_dev(dev, data)
    write_control(param, "2000")
    assert read_int(param) == 2000
    # the device keeps its quantum (and data) until trimmed
    assert scullcmem_header(mnt) == f"Device 0: qset {QSET}, quantum {QUANTUM}, sz {len(data)}"
    assert dev.read_bytes() == data
    os.close(os.open(dev, os.O_WRONLY))
    assert scullcmem_header(mnt) == f"Device 0: qset {QSET}, quantum 2000, sz 0"
    # scullc1 was never trimmed since: it keeps the old quantum
    assert scullcmem_header(mnt, 1) == f"Device 1: qset {QSET}, quantum {QUANTUM}, sz 0"
    pwrite_dev(dev, data)
    assert quanta(mnt) == 6  # 12000 bytes in 2000-byte quanta, one 4000-byte object each
    assert dev.read_bytes() == data


def test_scullcmem_shows_the_device_size_after_a_write(mnt):
    pwrite_dev(mnt.path / "dev/scullc1", os.urandom(12345))
    assert scullcmem_header(mnt, 1) == f"Device 1: qset {QSET}, quantum {QUANTUM}, sz 12345"
    assert scullcmem_header(mnt, 0) == f"Device 0: qset {QSET}, quantum {QUANTUM}, sz 0"


def test_device_gfp_reads_gfp_kernel_by_default(mnt):
    assert (mnt.path / "sys/class/scullc/scullc0/gfp").read_text() == "GFP_KERNEL\n"


@pytest.mark.parametrize("mask, shown", [
    ("GFP_KERNEL|__GFP_NOWARN", "GFP_KERNEL|__GFP_NOWARN"),   # __GFP_ZERO would BUG in cache_grow (2.6.18)
    ("0xd0", "GFP_KERNEL"),
])
def test_device_gfp_accepts_names_and_hex(mnt, mask, shown):
    gfp = mnt.path / "sys/class/scullc/scullc0/gfp"
    write_control(gfp, mask + "\n")
    assert gfp.read_text() == shown + "\n"
    data = os.urandom(2 * QUANTUM)
    pwrite_dev(mnt.path / "dev/scullc0", data)  # the device still allocates
    assert (mnt.path / "dev/scullc0").read_bytes() == data


@pytest.mark.parametrize("mask", ["__GFP_HIGHMEM", "nonsense"])
def test_device_gfp_refuses_highmem_and_nonsense(mnt, mask):
    gfp = mnt.path / "sys/class/scullc/scullc0/gfp"
    with pytest.raises(OSError) as e:
        write_control(gfp, mask + "\n")
    assert e.value.errno == errno.EINVAL
    assert gfp.read_text() == "GFP_KERNEL\n"


def test_slabinfo_write_changes_the_scullc_tunables(mnt):
    assert tunables(mnt) != (48, 24, 8)
    sh(f"echo 'scullc 48 24 8' > '{mnt.path / 'proc/slabinfo'}'")
    assert tunables(mnt) == (48, 24, 8)


def test_slabinfo_write_to_an_unknown_cache_fails_with_einval(mnt):
    before = (mnt.path / "proc/slabinfo").read_text()
    with pytest.raises(OSError) as e:
        write_control(mnt.path / "proc/slabinfo", "no_such_cache 48 24 8\n")
    assert e.value.errno == errno.EINVAL
    assert tunables(mnt) == tuple(int(x) for x in before.split("scullc", 1)[1].split("tunables")[1].split()[:3])


# --------------------------------------------------------------------------- unmount


def test_unmount_with_data_in_a_device_unloads_scullc_cleanly(mount_scullcfs, random_10mib):
    m = mount_scullcfs()
    run("dd", f"if={random_10mib}", f"of={m.path / 'dev/scullc3'}", "bs=1M", "status=none")
    pwrite_dev(m.path / "dev/scullc1", b"still here")
    assert m.unmount() == 0
    assert not is_mounted(m.path)
    log = m.log_text()
    assert "slab error" not in log, log[-3000:]
    assert "leak" not in log, log[-3000:]
    assert "unmounted" in log


def test_scullcfs_unmount_command_unmounts_and_waits_for_the_daemon(mount_scullcfs):
    m = mount_scullcfs()
    pwrite_dev(m.path / "dev/scullc0", os.urandom(3 * QUANTUM))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    r = run(sys.executable, "-m", "scullcfs", "--unmount", m.path, env=env)
    assert r.returncode == 0
    assert not is_mounted(m.path)
    m.proc.wait(timeout=20)  # --unmount waits for the daemon; this only reaps it
    assert m.unmount() == 0
    assert "slab error" not in m.log_text()


def test_fusermount_unmount_makes_the_daemon_exit_0(mount_scullcfs):
    m = mount_scullcfs()
    pwrite_dev(m.path / "dev/scullc0", os.urandom(3 * QUANTUM))
    run("fusermount3", "-u", m.path)
    assert m.proc.wait(timeout=20) == 0
    assert not is_mounted(m.path)
    assert "slab error" not in m.log_text()
