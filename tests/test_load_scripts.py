"""tools/scullc_load and tools/scullc_unload, run for real: they daemonize scullcfs
on a mount point under tmp_path (SCULLC_MNT, SCULLC_PIDFILE, SCULLC_LOG), with
SCULLCFS naming a wrapper that runs this interpreter's `-m scullcfs`.

Teardown always unloads, and if that fails unmounts lazily and SIGKILLs the
daemon named in the pidfile (a process these tests started), so no mount or
daemon outlives a test.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess

import pytest

from conftest import is_mounted, wait_gone
from scullcfs.cli import daemon_running

pytestmark = pytest.mark.fuse

def assert_ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


# --------------------------------------------------------------------------- load


def test_load_mounts_and_prints_the_mount_path(scripts):
    out = assert_ok(scripts.load())
    mnt = scripts.mnt
    assert f"scullc loaded: {mnt} (4 devices: {mnt}/dev/scullc0..3)" in out
    assert is_mounted(mnt)
    assert "MemTotal" in (mnt / "proc/meminfo").read_text()
    assert daemon_running(scripts.pid())


def test_load_passes_quantum_qset_and_devs_to_the_driver(scripts):
    out = assert_ok(scripts.load("quantum=2000", "qset=100", "devs=2"))
    mnt = scripts.mnt
    assert f"(2 devices: {mnt}/dev/scullc0..1)" in out
    assert sorted(os.listdir(mnt / "dev")) == ["scullc0", "scullc1"]
    assert "Device 1: qset 100, quantum 2000, sz 0" in (mnt / "proc/scullcmem").read_text()
    params = mnt / "sys/module/scullc/parameters"
    assert (params / "scullc_quantum").read_text() == "2000\n"
    assert (params / "scullc_qset").read_text() == "100\n"
    assert (params / "scullc_devs").read_text() == "2\n"


def test_second_load_says_already_loaded(scripts):
    assert_ok(scripts.load())
    pid = scripts.pid()
    out = assert_ok(scripts.load())
    assert f"scullc: already loaded at {scripts.mnt}" in out
    assert scripts.pid() == pid  # no second daemon
    assert daemon_running(pid)


def test_load_refuses_an_unknown_parameter(scripts):
    r = scripts.load("quantom=2000")
    assert r.returncode == 2
    assert "unknown parameter 'quantom'" in r.stderr
    assert not is_mounted(scripts.mnt)


# --------------------------------------------------------------------------- unload


def test_unload_unmounts_and_waits_for_the_daemon_to_exit(scripts):
    assert_ok(scripts.load())
    pid = scripts.pid()
    with open(scripts.mnt / "dev/scullc0", "r+b") as dev:
        dev.write(os.urandom(100_000))  # data still held at unload: trimmed cleanly
    out = assert_ok(scripts.unload())
    assert "scullc unloaded" in out
    assert "reports" not in out  # no "slab error" / "BUG" shown from the log
    assert not is_mounted(scripts.mnt)
    assert not daemon_running(pid)  # unload returned only once the daemon was done
    assert not scripts.pidfile.exists()
    log = scripts.log.read_text()
    assert "slab error" not in log
    assert f"unmounted {scripts.mnt}" in log


def test_unload_when_not_loaded_says_so(scripts):
    out = assert_ok(scripts.unload())
    assert "scullc: not loaded" in out


# --------------------------------------------------------------------------- a killed daemon


def kill_daemon(scripts) -> None:
    """SIGKILL the daemon these tests loaded: its mount stays behind, dead."""
    pid = scripts.pid()
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid), f"daemon {pid} still running after SIGKILL"
    assert is_mounted(scripts.mnt)
    with pytest.raises(OSError) as e:
        os.stat(scripts.mnt / "proc/meminfo")
    assert e.value.errno == errno.ENOTCONN


def test_load_recovers_the_dead_mount_of_a_killed_daemon(scripts):
    assert_ok(scripts.load())
    old_pid = scripts.pid()
    kill_daemon(scripts)
    out = assert_ok(scripts.load())
    assert f"recovered a stale mount at {scripts.mnt}" in out
    assert f"scullc loaded: {scripts.mnt}" in out
    assert scripts.pid() != old_pid
    assert "MemTotal" in (scripts.mnt / "proc/meminfo").read_text()
    assert "scullc unloaded" in assert_ok(scripts.unload())
    assert not is_mounted(scripts.mnt)


def test_unload_recovers_the_dead_mount_of_a_killed_daemon(scripts):
    assert_ok(scripts.load())
    kill_daemon(scripts)
    out = assert_ok(scripts.unload())
    assert f"recovered a stale mount at {scripts.mnt}" in out
    assert not is_mounted(scripts.mnt)
    assert not scripts.pidfile.exists()
