"""Mounted end-to-end tests of the proc files: their formats, their modes, the
errors at the filesystem, and the real procps/util-linux tools that read them
(`slabtop -o`, `vmstat -m` on proc/slabinfo bind-mounted over /proc/slabinfo in a
private mount namespace; `dmesg -F` on proc/kmsg).
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

SLABINFO_LINE = re.compile(
    r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)"
    r" : tunables\s+(\d+)\s+(\d+)\s+(\d+)"
    r" : slabdata\s+(\d+)\s+(\d+)\s+(\d+)$"
)
SLABINFO_FIELDS = (
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor>"
    " : slabdata <active_slabs> <num_slabs> <sharedavail>"
)
# mm/vmstat.c frag_show: "Node %d, zone %8s " then "%6lu " per order, 11 orders
BUDDYINFO_LINE = re.compile(r"^Node (\d+), zone {1,}(\S+) ((?: *\d+ ){11})$")
MEMINFO_LINE = re.compile(r"^([A-Za-z0-9_()]+):\s+(\d+)( kB)?$")
KMSG_LINE = re.compile(r"^<([0-7])>\[\s*\d+\.\d{6}\] ")


def run(*cmd, **kwargs) -> subprocess.CompletedProcess:
    """Run a command to completion; fail the test with its stderr if it fails."""
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120, **kwargs)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}: {r.stderr}"
    return r


def write_some_data(m) -> None:
    """Give the scullc cache and the kmalloc caches something to show."""
    fd = os.open(m.path / "dev/scullc0", os.O_RDWR)
    try:
        os.write(fd, os.urandom(123_456))
    finally:
        os.close(fd)


def meminfo(m) -> dict[str, int]:
    values = {}
    for line in (m.path / "proc/meminfo").read_text().splitlines():
        match = MEMINFO_LINE.match(line)
        assert match, f"proc/meminfo line does not parse: {line!r}"
        values[match[1]] = int(match[2])
    return values


def errno_as_nobody(path, mode: str = "r") -> int:
    """errno of opening `path` as uid/gid 65534 (0 when the open succeeds)."""
    code = (
        "import sys\n"
        "try:\n"
        f"    open(sys.argv[1], {mode!r}).close()\n"
        "except OSError as e:\n"
        "    print(e.errno)\n"
        "else:\n"
        "    print(0)\n"
    )
    r = run(*NOBODY, sys.executable, "-I", "-c", code, path)
    return int(r.stdout)


def in_private_mount_namespace(mnt, command: str) -> subprocess.CompletedProcess:
    """Run `command` with MNT/proc/slabinfo bind-mounted over /proc/slabinfo in a
    private mount namespace: the host's /proc/slabinfo is never touched."""
    script = f"mount --bind '{mnt.path}/proc/slabinfo' /proc/slabinfo && {command}"
    return run("unshare", "-m", "--propagation", "private", "sh", "-c", script)


# --------------------------------------------------------------------------- slabinfo


def test_slabinfo_header_is_version_2_1(mnt):
    lines = (mnt.path / "proc/slabinfo").read_text().split("\n")
    assert lines[0] == "slabinfo - version: 2.1"
    assert lines[1] == SLABINFO_FIELDS


def test_slabinfo_has_no_blank_line(mnt):
    write_some_data(mnt)
    text = (mnt.path / "proc/slabinfo").read_text()
    assert text.endswith("\n")
    assert "" not in text[:-1].split("\n")


def test_slabinfo_every_cache_line_has_the_2_1_fields(mnt):
    write_some_data(mnt)
    lines = (mnt.path / "proc/slabinfo").read_text().splitlines()[2:]
    names = []
    for line in lines:
        match = SLABINFO_LINE.match(line)
        assert match, f"slabinfo line does not parse: {line!r}"
        names.append(match[1])
        active_objs, num_objs = int(match[2]), int(match[3])
        assert active_objs <= num_objs
    assert "scullc" in names
    assert "size-2048" in names  # where the 2000-byte qset arrays come from
    assert len(names) == len(set(names))


def test_slabinfo_mode_is_0600(mnt):
    st = os.stat(mnt.path / "proc/slabinfo")
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == 0


# --------------------------------------------------------------------------- other files


def test_buddyinfo_lists_11_orders_per_populated_zone(mnt):
    zones = []
    for line in (mnt.path / "proc/buddyinfo").read_text().splitlines():
        match = BUDDYINFO_LINE.match(line)
        assert match, f"buddyinfo line does not parse: {line!r}"
        assert match[1] == "0"
        zones.append(match[2])
    # 256 MiB: DMA (16 MiB) and Normal; HighMem starts at 896 MiB so it is absent
    assert zones == ["DMA", "Normal"]


def test_meminfo_parses_with_the_required_fields(mnt):
    values = meminfo(mnt)
    for key in ("MemTotal", "MemFree", "HighTotal", "HighFree", "LowTotal", "LowFree",
                "Slab"):  # 2.6.18: no SReclaimable/SUnreclaim (2.6.19)
        assert key in values, f"{key} missing from proc/meminfo"
    assert 0 < values["MemTotal"] <= 256 * 1024
    assert values["LowTotal"] + values["HighTotal"] == values["MemTotal"]
    assert values["HighTotal"] == 0
    assert "SReclaimable" not in values and "SUnreclaim" not in values
    assert values["MemFree"] <= values["MemTotal"]


def test_meminfo_slab_grows_by_the_device_quanta(mnt):
    before = meminfo(mnt)
    fd = os.open(mnt.path / "dev/scullc0", os.O_RDWR)
    try:
        os.write(fd, os.urandom(4 << 20))
    finally:
        os.close(fd)
    after = meminfo(mnt)
    quanta = -(-(4 << 20) // 4000)  # 1049, one 4 KiB page per 4032-byte object
    # slack for the reaper (it may free another cache's empty slabs in between) and
    # for pages taken from the per-CPU page lists, which MemFree never counted
    slack = 64
    assert after["Slab"] - before["Slab"] >= (quanta - slack) * 4
    assert before["MemFree"] - after["MemFree"] >= (quanta - slack) * 4


def test_scullcmem_lists_every_device(mnt):
    text = (mnt.path / "proc/scullcmem").read_text()
    for i in range(4):
        assert f"\nDevice {i}: qset 500, quantum 4000, sz 0\n" in text


def test_kmsg_lines_have_priority_and_timestamp(mnt):
    lines = (mnt.path / "proc/kmsg").read_text().splitlines()
    assert lines
    for line in lines:
        assert KMSG_LINE.match(line), f"kmsg line does not parse: {line!r}"
    assert "Linux version 2.6.18-scullcfs" in lines[0]


def test_two_opens_of_a_proc_file_show_two_snapshots(mnt):
    path = mnt.path / "proc/scullcmem"
    with open(path) as before:
        write_some_data(mnt)
        with open(path) as after:
            assert "sz 0\n" in before.read().split("Device 1")[0]
            assert "sz 123456\n" in after.read().split("Device 1")[0]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["proc/nonexistent", "dev/scullc4", "sys/kernel/slab/no_such_cache",
                                  "sys/class/scullc/scullc0/nothing"])
def test_unknown_path_is_enoent(mnt, name):
    with pytest.raises(OSError) as e:
        os.stat(mnt.path / name)
    assert e.value.errno == errno.ENOENT
    with pytest.raises(OSError) as e:
        open(mnt.path / name, "rb")
    assert e.value.errno == errno.ENOENT


def test_read_only_proc_file_refuses_a_write_with_eacces(mnt):
    with pytest.raises(OSError) as e:
        os.open(mnt.path / "proc/meminfo", os.O_WRONLY)
    assert e.value.errno == errno.EACCES


def test_non_root_user_cannot_read_slabinfo(mount_scullcfs):
    m = mount_scullcfs(allow_other=True)
    # the mount is visible to the user at all (0444 files read fine) ...
    assert errno_as_nobody(m.path / "proc/meminfo") == 0
    assert errno_as_nobody(m.path / "proc/scullcmem") == 0
    # ... but the mode bits keep root's files root's
    assert errno_as_nobody(m.path / "proc/slabinfo") == errno.EACCES
    assert errno_as_nobody(m.path / "proc/kmsg") == errno.EACCES
    assert errno_as_nobody(m.path / "sys/module/scullc/parameters/scullc_quantum", "w") == errno.EACCES
    assert errno_as_nobody(m.path / "dev/scullc0", "w") == errno.EACCES  # 0664 root:root
    assert errno_as_nobody(m.path / "dev/scullc0") == 0


# --------------------------------------------------------------------------- real tools


@pytest.fixture
def procps():
    missing = [t for t in ("slabtop", "vmstat", "unshare", "dmesg") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not on PATH (apt-get install procps util-linux)",
                    pytrace=False)


def test_slabtop_parses_the_bind_mounted_slabinfo(mnt, procps):
    write_some_data(mnt)
    r = in_private_mount_namespace(mnt, "slabtop -o")
    lines = r.stdout.splitlines()
    assert any(line.split()[-1:] == ["scullc"] for line in lines), r.stdout
    assert any(line.split()[-1:] == ["size-2048"] for line in lines), r.stdout
    # objects = 31 quanta of 123456 bytes; "OBJS ACTIVE USE OBJ SIZE ..." columns
    scullc = next(line.split() for line in lines if line.split()[-1:] == ["scullc"])
    assert int(scullc[1]) >= 31


def test_vmstat_m_parses_the_bind_mounted_slabinfo(mnt, procps):
    write_some_data(mnt)
    r = in_private_mount_namespace(mnt, "vmstat -m")
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:] if line.strip()}
    assert "scullc" in rows, r.stdout
    # Cache Num Total Size Pages: the object size shown is the padded 4032
    assert rows["scullc"][3] == "4032"
    assert int(rows["scullc"][1]) >= 31


def test_dmesg_reads_kmsg_with_the_boot_line(mnt, procps):
    r = run("dmesg", "-F", mnt.path / "proc/kmsg")
    assert "Linux version 2.6.18-scullcfs" in r.stdout
    # and a line logged later is there in the next read
    with pytest.raises(OSError):
        fd = os.open(mnt.path / "sys/module/scullc/parameters/scullc_quantum", os.O_WRONLY)
        try:
            os.write(fd, b"9000")
        finally:
            os.close(fd)
    r = run("dmesg", "-F", mnt.path / "proc/kmsg")
    assert "quantum 9000 refused" in r.stdout
