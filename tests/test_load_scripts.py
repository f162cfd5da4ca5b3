"""tools/scullc_load and tools/scullc_unload, run for real: they daemonize scullcfs
on a mount point under tmp_path (SCULLC_MNT), with their state in tmp_path/run
(SCULLC_RUNDIR) and SCULLCFS naming a wrapper that runs this interpreter's
`-m scullcfs`.

Teardown always unloads, and if that fails unmounts lazily and SIGKILLs the
daemon named in the pidfile (a process these tests started), so no mount or
daemon outlives a test.
"""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess

import pytest

from conftest import LOAD, UNLOAD, Scripts, is_mounted, wait_gone
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


def test_load_kernel_6_18_mounts_the_6_18_machine(scripts):
    assert_ok(scripts.load("kernel=6.18"))
    mnt = scripts.mnt
    assert "Linux version 6.18-scullcfs (x86_64 simulation)" in (mnt / "proc/kmsg").read_text()
    # SLUB's slabinfo: no tunables, 0400 (mm/slab_common.c SLABINFO_RIGHTS)
    assert (mnt / "proc/slabinfo").stat().st_mode & 0o777 == 0o400
    scullc = next(line for line in (mnt / "proc/slabinfo").read_text().splitlines() if line.startswith("scullc "))
    assert scullc.split()[3:6] == ["4032", "8", "8"]
    out = assert_ok(scripts.load("kernel=6.18"))   # the same parameters: already loaded
    assert "already loaded" in out
    r = scripts.load()                              # 2.6.18 asked for: other parameters
    assert r.returncode == 1, r


def test_second_load_says_already_loaded(scripts):
    assert_ok(scripts.load())
    pid = scripts.pid()
    out = assert_ok(scripts.load())
    assert f"scullc: already loaded at {scripts.mnt}" in out
    assert f"(PID {pid})" in out
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
    assert f"scullc: not loaded at {scripts.mnt}" in out


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


# --------------------------------------------------------------------------- two mounts


@pytest.fixture
def other(fuse_environment, tmp_path):
    """A second mount point, tmp_path/other, sharing the state directory of `scripts`."""
    s = Scripts(tmp_path, "other")
    yield s
    s.cleanup()


def test_two_loads_side_by_side_unload_independently(scripts, other):
    assert_ok(scripts.load("quantum=2000"))
    out = assert_ok(other.load("devs=2"))
    assert f"scullc loaded: {other.mnt} (2 devices: {other.mnt}/dev/scullc0..1)" in out
    a, b = scripts.pid(), other.pid()
    assert a != b and daemon_running(a) and daemon_running(b)
    assert scripts.pidfile != other.pidfile  # one state per mount point
    with open(other.mnt / "dev/scullc1", "wb") as dev:
        dev.write(b"kept\n")

    out = assert_ok(scripts.unload())
    assert "scullc unloaded" in out
    assert not is_mounted(scripts.mnt)
    assert not daemon_running(a)
    assert not scripts.pidfile.exists()
    # the other mount is untouched: its daemon, its files, its state
    assert daemon_running(b)
    assert (other.mnt / "dev/scullc1").read_bytes() == b"kept\n"
    assert "quantum 4000" in (other.mnt / "proc/scullcmem").read_text()
    assert other.pid() == b

    # loading A again does not disturb B either, and B unloads on its own
    assert_ok(scripts.load())
    assert daemon_running(b)
    assert "scullc unloaded" in assert_ok(other.unload())
    assert not is_mounted(other.mnt)
    assert not daemon_running(b)
    assert is_mounted(scripts.mnt) and daemon_running(scripts.pid())


def test_unload_of_an_unloaded_mount_point_leaves_the_loaded_one_alone(scripts, other):
    assert_ok(scripts.load())
    a = scripts.pid()
    out = assert_ok(other.unload())
    assert f"scullc: not loaded at {other.mnt}" in out
    assert daemon_running(a)
    assert "MemTotal" in (scripts.mnt / "proc/meminfo").read_text()


def test_unload_does_not_trust_a_pidfile_naming_another_mounts_daemon(scripts, other):
    assert_ok(scripts.load())
    a = scripts.pid()
    other.pidfile.write_text(f"{a}\n")  # B's pidfile names A's daemon
    out = assert_ok(other.unload())
    assert f"removed stale pidfile {other.pidfile}" in out
    assert not other.pidfile.exists()
    assert daemon_running(a)
    assert "MemTotal" in (scripts.mnt / "proc/meminfo").read_text()
    # and load at B does not take A's daemon for its own
    other.pidfile.write_text(f"{a}\n")
    out = assert_ok(other.load())
    assert f"scullc loaded: {other.mnt}" in out
    assert other.pid() != a and daemon_running(a)


def test_two_loads_at_once_at_one_mount_point_start_one_daemon(scripts):
    procs = [subprocess.Popen([str(LOAD), "--mem", "256M"], env=scripts.env, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    outs = sorted((out for out, _ in results), key=lambda out: "already" in out)
    assert outs[0].startswith(f"scullc loaded: {scripts.mnt} "), outs
    assert outs[1].startswith(f"scullc: already loaded at {scripts.mnt} with "), outs
    mounts = [line for line in open("/proc/self/mountinfo") if f" {scripts.mnt} " in line]
    assert len(mounts) == 1, mounts  # not two scullcfs stacked on one mount point
    assert daemon_running(scripts.pid())
    assert "scullc unloaded" in assert_ok(scripts.unload())
    assert not is_mounted(scripts.mnt)


def test_state_files_are_named_from_the_mount_path_as_systemd_escape_names_it(tmp_path, fuse_environment):
    tool = shutil.which("systemd-escape")
    if tool is None:
        pytest.skip("systemd-escape is not installed")
    s = Scripts(tmp_path, "a b-c.d")
    try:
        assert_ok(s.load())
        name = subprocess.run([tool, "--path", str(s.mnt)], capture_output=True, text=True,
                              check=True).stdout.strip()
        files = sorted(os.listdir(s.rundir))
        assert f"{name}.pid" in files and f"{name}.log" in files and f"{name}.params" in files
        assert int((s.rundir / f"{name}.pid").read_text()) == s.pid()
        assert f"mounted {s.mnt}" in (s.rundir / f"{name}.log").read_text()
    finally:
        s.cleanup()


# --------------------------------------------------------------------------- loading again


def one_line(r: subprocess.CompletedProcess) -> str:
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"stderr is not one line:\n{r.stderr}"
    return lines[0]


def test_reload_with_other_parameters_fails_and_names_the_loaded_ones(scripts):
    assert_ok(scripts.load("quantum=2000"))
    pid = scripts.pid()
    r = scripts.load("quantum=8000")
    assert r.returncode == 1, r
    line = one_line(r)
    assert line.startswith(f"scullc_load: {scripts.mnt} is already loaded with quantum=2000 qset=500 devs=4 --mem 256M")
    assert "quantum=8000" in line
    assert "tools/scullc_unload" in line
    # nothing changed
    assert scripts.pid() == pid
    assert "quantum 2000" in (scripts.mnt / "proc/scullcmem").read_text()
    # a scullcfs option that differs conflicts too
    r = scripts.load("quantum=2000", "--ldd3-io")
    assert r.returncode == 1
    assert "--ldd3-io" in one_line(r)
    r = scripts.run(LOAD, "--mem", "512M", "quantum=2000")
    assert r.returncode == 1
    assert "--mem 512M" in one_line(r)


def test_reload_with_the_same_parameters_succeeds_and_says_what_is_loaded(scripts):
    assert_ok(scripts.run(LOAD, "--mem", "256M", "quantum=2000", "--ldd3-io", "devs=2"))
    pid = scripts.pid()
    # the same request spelled differently: order, --opt=value, bytes, scullc_ prefix
    out = assert_ok(scripts.run(LOAD, "scullc_devs=2", "--ldd3-io", "--mem=268435456", "--quantum", "2000"))
    assert (f"scullc: already loaded at {scripts.mnt} with quantum=2000 qset=500 devs=2"
            f" --ldd3-io --mem 256M (PID {pid})") in out
    assert scripts.pid() == pid


def test_reload_compares_with_the_module_parameters_as_they_are_now(scripts):
    assert_ok(scripts.load("quantum=2000"))
    (scripts.mnt / "sys/module/scullc/parameters/scullc_quantum").write_text("1000\n")
    r = scripts.load("quantum=2000")
    assert r.returncode == 1
    assert "already loaded with quantum=1000 " in one_line(r)
    assert "already loaded" in assert_ok(scripts.load("quantum=1000"))


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("args, message", [
    (["--mem", "10Q"], "scullc_load: --mem: not a size: '10Q' (use K, M or G); see --help"),
    (["--mem=0"], "scullc_load: --mem: size must be positive: '0'; see --help"),
    (["--mem"], "scullc_load: --mem: needs a value; see --help"),
    (["quantom=2000"], "scullc_load: unknown parameter 'quantom' (valid: quantum, qset, devs, kernel,"
                       " or scullc_quantum, scullc_qset, scullc_devs); see --help"),
    (["kernel=2.4"], "--kernel: unknown kernel version '2.4' (known: 2.6.18, 6.18)"),
    (["qset=many"], "scullc_load: qset: not a number: 'many'; see --help"),
    (["quantum=0"], "scullc_load: quantum: 0 is outside 1..131072; see --help"),
    (["--devs", "65"], "scullc_load: --devs: 65 is outside 1..64; see --help"),
    (["stray"], "scullc_load: unexpected argument 'stray' (expected name=value or --option); see --help"),
    (["--foreground"], None),
    (["--pidfile", "x"], None),
    # refused by scullcfs itself: its error, one line, exit 2
    (["--nodes", "0"], "--nodes"),
    (["--no-such-option"], "--no-such-option"),
])
def test_bad_arguments_exit_2_with_one_line(scripts, args, message):
    r = scripts.run(LOAD, *args)
    assert r.returncode == 2, r
    line = one_line(r)
    assert line.startswith("scullc_load: ")
    if message is not None and message.startswith("scullc_load: "):
        assert line == message
    elif message is not None:
        assert message in line
    assert r.stdout == ""
    assert not is_mounted(scripts.mnt)
    left = [p.name for p in scripts.rundir.glob("*")] if scripts.rundir.exists() else []
    assert not [n for n in left if n.endswith((".pid", ".params", ".logpos"))], left


def test_bad_arguments_exit_2_when_already_loaded(scripts):
    assert_ok(scripts.load())
    r = scripts.run(LOAD, "--mem", "10Q")
    assert r.returncode == 2
    assert one_line(r) == "scullc_load: --mem: not a size: '10Q' (use K, M or G); see --help"
    assert daemon_running(scripts.pid())


def test_unload_refuses_an_argument_with_one_line_exit_2(scripts):
    r = scripts.run(UNLOAD, str(scripts.mnt))
    assert r.returncode == 2
    assert one_line(r).startswith(f"scullc_unload: unexpected argument '{scripts.mnt}'")


@pytest.mark.parametrize("script", [LOAD, UNLOAD], ids=["scullc_load", "scullc_unload"])
def test_help_is_the_comment_block_without_shell_lines(scripts, script):
    out = assert_ok(scripts.run(script, "--help"))
    lines = out.rstrip("\n").splitlines()
    assert lines[0].startswith(f"tools/{script.name} - ")
    assert lines[-1].strip() != "set -euo pipefail"
    assert not any(line.startswith(("set ", "#!")) for line in lines)
    assert "SCULLC_RUNDIR" in out
    assert "Exit status" in out


def test_a_killed_daemon_is_recovered_without_touching_the_other_mount(scripts, other):
    assert_ok(scripts.load())
    assert_ok(other.load())
    b = other.pid()
    kill_daemon(scripts)
    out = assert_ok(scripts.unload())
    assert f"recovered a stale mount at {scripts.mnt}" in out
    assert not is_mounted(scripts.mnt) and not scripts.pidfile.exists()
    assert daemon_running(b) and other.pid() == b
    assert "MemTotal" in (other.mnt / "proc/meminfo").read_text()
