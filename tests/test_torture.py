"""Torture: `scullcfs stress` (with its own mount and against a mount that loses bytes
behind its back), fio's crc32c verification of every device, and a daemon
killed with SIGKILL in the middle of a write.

fio runs on every device family (`--family`): scullc, scull, scullp, scullv and
scullm each get their own mount and four jobs on their four devices.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import LOAD, REPO_ROOT, UNLOAD, is_mounted
from scullcfs.cli import daemon_running

FAMILIES = ("scullc", "scull", "scullp", "scullv", "scullm")
DEVICE_SIZE = 4 << 20


def run_stress(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`scullcfs stress ARGS`, this checkout's (cwd is first on sys.path with -m)."""
    return subprocess.run([sys.executable, "-m", "scullcfs", "stress", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)


def data_line(out: str) -> tuple[int, int, int]:
    m = re.search(r"^data:\s+(\d+) lost, (\d+) corrupted, (\d+) past the end", out, re.M)
    assert m, out
    return int(m[1]), int(m[2]), int(m[3])


# --------------------------------------------------------------------------- scullcfs stress


@pytest.mark.parametrize("kernel", ["2.6.18", "6.18"])
def test_stress_with_its_own_mount_loses_no_byte_and_unmounts_clean(fuse_environment, kernel):
    r = run_stress("-w", "4", "-r", "4", "-t", "2", "-d", "4", "--seed", "11", "--kernel", kernel)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert data_line(out) == (0, 0, 0)
    assert re.search(r"^write\s+[1-9]\d*\s", out, re.M) and re.search(r"^read\s+[1-9]\d*\s", out, re.M)
    assert re.search(r"^trim\s+[1-9]", out, re.M), out
    assert "check:       consistent" in out
    assert re.search(r"^unmount: +clean \(no leak reported\)$", out, re.M), out
    # the rows under the table (elapsed, errors, data, check, slab log, unmount) start
    # their text in one column
    rows = re.findall(r"^(?!stress:)([a-z][a-z ]*:) +\S", out, re.M)
    assert {"elapsed:", "errors:", "data:", "check:", "slab log:", "unmount:"} <= set(rows), out
    columns = {m.end() - 1 - m.start() for m in re.finditer(r"^(?!stress:)[a-z][a-z ]*: +\S", out, re.M)}
    assert len(columns) == 1, out
    assert out.rstrip().endswith("stress: PASS")
    mnt = re.search(r"^stress: (\S+) \(mounted by stress", out, re.M)[1]
    assert not is_mounted(mnt) and not os.path.exists(mnt)


def test_stress_fails_when_a_device_loses_acknowledged_bytes(mount_scullcfs):
    """Someone else trims the devices every few milliseconds (a write-only open):
    the bytes stress was told were stored are gone, and it must say so."""
    m = mount_scullcfs(mem="64M", devs=2)
    stop = threading.Event()

    def trim_behind_its_back() -> None:
        while not stop.wait(0.02):
            for dev in ("scullc0", "scullc1"):
                os.close(os.open(m.path / "dev" / dev, os.O_WRONLY))

    thief = threading.Thread(target=trim_behind_its_back)
    thief.start()
    try:
        r = run_stress(str(m.path), "-w", "2", "-r", "2", "-t", "0", "-d", "2", "--seed", "3")
    finally:
        stop.set()
        thief.join()
    assert r.returncode == 1, r.stdout + r.stderr
    lost, corrupted, _ = data_line(r.stdout)
    assert lost + corrupted > 0, r.stdout
    assert "stress: FAIL" in r.stdout


def test_stress_refuses_bad_arguments():
    r = run_stress("-w", "0", "-r", "0")
    assert r.returncode == 2 and "need at least one writer or reader" in r.stderr


# --------------------------------------------------------------------------- fio


def fio(job: Path, *args: str) -> subprocess.CompletedProcess:
    # fio leaves *-verify.state files in its working directory: keep them out of the repo
    return subprocess.run(["fio", "--verify_state_save=0", *args, str(job)], capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL, cwd=job.parent)


@pytest.mark.parametrize("kernel", ["2.6.18", "6.18"])
@pytest.mark.parametrize("family", FAMILIES)
def test_fio_crc32c_verifies_a_separate_pass_over_four_jobs(mount_scullcfs, tmp_path, family, kernel):
    """Four jobs, one per device, write random unaligned sizes (511 B..64 KiB at
    512-byte aligned random offsets) with crc32c headers; a second fio run reads
    back every block the first wrote and verifies it."""
    assert shutil.which("fio"), "fio is not installed (tools/quickstart setup installs it)"
    m = mount_scullcfs(mem="128M", family=family, kernel=kernel)
    devices = [m.path / "dev" / f"{family}{i}" for i in range(4)]
    for dev in devices:
        os.truncate(dev, DEVICE_SIZE)  # fio wants the file at its size already
    job = tmp_path / "verify.fio"
    job.write_text("[global]\nioengine=psync\nrw=randwrite\nbsrange=511-64k\nbs_unaligned=1\n"
                   f"size={DEVICE_SIZE}\nfallocate=none\nverify=crc32c\nrandseed=4242\n"
                   + "".join(f"[job{i}]\nfilename={dev}\n" for i, dev in enumerate(devices)))
    w = fio(job, "--do_verify=0")
    assert w.returncode == 0, w.stdout + w.stderr
    assert w.stdout.count("err= 0") == 4, w.stdout
    for dev in devices:
        assert dev.stat().st_size == DEVICE_SIZE
        assert int((m.path / "sys/class" / family / dev.name / "quanta").read_text()) > 0
    v = fio(job, "--verify_only")
    assert v.returncode == 0, v.stdout + v.stderr
    assert v.stdout.count("err= 0") == 4 and "verify:" not in v.stdout + v.stderr, v.stdout
    # the verify pass read as much as the write pass wrote
    written = re.findall(r"WRITE: bw=.*?io=(\S+)", w.stdout)
    read = re.findall(r"READ: bw=.*?io=(\S+)", v.stdout)
    assert written and written == read, (written, read)
    # and it does notice a change: trim one device, restore its size, verify again
    os.close(os.open(devices[2], os.O_WRONLY))
    os.truncate(devices[2], DEVICE_SIZE)
    bad = fio(job, "--verify_only", "--section=job2")
    assert bad.returncode != 0 and "verify: bad magic header" in bad.stdout + bad.stderr
    check = os.open(m.path / "sys/kernel/debug/scullc/check", os.O_WRONLY)
    try:
        os.write(check, b"1\n")
    finally:
        os.close(check)


# --------------------------------------------------------------------------- kill -9


WRITER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
block = os.urandom(1 << 20)
print("writing", flush=True)
try:
    while True:
        os.write(fd, block)
        os.lseek(fd, 0, os.SEEK_SET)
except OSError as e:
    print("error", e.errno, flush=True)
"""


def test_daemon_killed_mid_write_is_recovered_by_scullc_load(scripts):
    r = scripts.run(LOAD, "--mem", "128M")
    assert r.returncode == 0, r.stderr
    pid = scripts.pid()
    dev = scripts.mnt / "dev/scullc0"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(dev)], stdout=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL)
    try:
        assert writer.stdout.readline() == "writing\n"
        size_file = scripts.mnt / "sys/class/scullc/scullc0/size"
        deadline = time.monotonic() + 30
        while int(size_file.read_text()) == 0:  # until the first megabyte has landed
            assert time.monotonic() < deadline and writer.poll() is None, "the writer never wrote"
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        out, _ = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    # the write in flight failed: the connection to the daemon is gone
    assert out.startswith("error "), out
    deadline = time.monotonic() + 20
    while daemon_running(pid):
        assert time.monotonic() < deadline, f"daemon {pid} survived SIGKILL"
        time.sleep(0.05)
    assert is_mounted(scripts.mnt)
    with pytest.raises(OSError):
        os.stat(scripts.mnt / "proc/meminfo")  # ENOTCONN: a dead mount

    r = scripts.run(LOAD, "--mem", "128M")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "recovered a stale mount" in r.stdout
    assert scripts.pid() != pid
    data = os.urandom(300_000)
    (scripts.mnt / "dev/scullc0").write_bytes(data)
    assert (scripts.mnt / "dev/scullc0").read_bytes() == data
    assert "MemTotal" in (scripts.mnt / "proc/meminfo").read_text()
    r = scripts.run(UNLOAD)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not is_mounted(scripts.mnt)
