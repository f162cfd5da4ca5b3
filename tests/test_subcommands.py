"""The installed `scullcfs` command: its subcommands, --help, --version, argument
errors (one line, exit 2), the tools/ wrappers, and a mount point named like a
subcommand."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, is_mounted, tools_env
from scullcfs.mount import Daemon, scullcfs_argv, unescape_mountinfo

NAMES = ("top", "memmap", "slabtop", "stress", "bench", "compare", "gfp-tour")
WRAPPERS = {"memmap": "memmap", "slabtop": "slabtop", "stress": "stress", "bench": "bench",
            "compare": "compare", "gfp-tour": "gfp_tour"}


def scullcfs(*args: str, cwd: Path = REPO_ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "scullcfs", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd, env=env)


def test_help_lists_every_subcommand_with_a_one_line_description():
    r = scullcfs("--help")
    assert r.returncode == 0, r.stderr
    listed = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"  scullcfs (\S+) +(\S.*)", line)
        if m:
            listed[m[1]] = m[2]
    assert tuple(listed) == NAMES, r.stdout
    assert all(len(text) > 10 for text in listed.values()), listed
    assert "./NAME" in r.stdout or "./top" in r.stdout  # how to mount on ./top


@pytest.mark.parametrize("name", NAMES)
def test_every_subcommand_has_its_own_help(name):
    r = scullcfs(name, "--help")
    assert r.returncode == 0, r.stderr
    assert f"scullcfs {name}" in r.stdout, r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("name, args", [
    ("top", ("--interval", "x")),
    ("memmap", ("--width", "x")),
    ("stress", ("--writers", "x")),
    ("bench", ("--max-tasks", "x")),
    ("compare", ("--quantum", "x")),
    ("gfp-tour", ("--bogus",)),
    ("top", ("--no-such-option",)),
    ("top", ("/nonexistent", "--interval", "0")),   # checked before the mount is looked at
    ("memmap", ("--cell", "0")),
    ("bench", ("--only", "nosuchsection")),
])
def test_subcommand_argument_errors_are_one_line_and_exit_2(name, args):
    r = scullcfs(name, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"scullcfs {name}: ") and lines[0].endswith("; see --help"), lines[0]


def test_version_names_the_package_version_and_the_simulated_kernel():
    from importlib import metadata
    r = scullcfs("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"scullcfs {metadata.version('scullcfs')}, ")
    assert "Linux 2.6.18 (i386, SLAB), 6.18 (x86_64, SLUB); default 2.6.18" in r.stdout
    assert len(r.stdout.splitlines()) == 1
    # which allocator build runs: the daemon's is this interpreter's (same environment)
    import allocator
    assert r.stdout.rstrip().endswith(f"; allocator {allocator.BUILD}")
    assert allocator.BUILD.startswith("compiled (mypyc)" if allocator.COMPILED else "pure Python")


def test_an_unknown_kernel_version_is_one_line_exit_2_naming_the_known_ones(tmp_path):
    r = scullcfs(str(tmp_path), "--kernel", "2.4.0")
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        "scullcfs: --kernel: unknown kernel version '2.4.0' (known: 2.6.18, 6.18); see --help"]
    assert not is_mounted(tmp_path)


def test_kernel_6_18_mounts_with_slub_and_says_so_in_its_boot_log(mount_scullcfs):
    m = mount_scullcfs(kernel="6.18")
    assert "Linux version 6.18-scullcfs (x86_64 simulation)" in (m.path / "proc/kmsg").read_text()
    slabinfo = (m.path / "proc/slabinfo").read_text().splitlines()
    assert slabinfo[0] == "slabinfo - version: 2.1"
    # SLUB: LDD3's cache is 8 objects of 4032 bytes per order-3 slab (reference/linux-6.18.md §4.6)
    scullc = next(line.split() for line in slabinfo if line.startswith("scullc "))
    assert scullc[3:6] == ["4032", "8", "8"] and scullc[6:10] == [":", "tunables", "0", "0"] and scullc[10] == "0"


def test_kernel_2_6_18_mounts_and_says_so_in_its_boot_log(mount_scullcfs):
    m = mount_scullcfs(kernel="2.6.18")
    assert "Linux version 2.6.18-scullcfs (i386 simulation)" in (m.path / "proc/kmsg").read_text()
    assert (m.path / "proc/slabinfo").read_text().startswith("slabinfo - version: 2.1\n")


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_tools_wrappers_run_the_subcommand_of_their_checkout(name, tmp_path):
    """tools/NAME is `scullcfs NAME "$@"` of this checkout, from any directory."""
    r = subprocess.run([str(REPO_ROOT / "tools" / WRAPPERS[name]), "--help"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path, env=tools_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == scullcfs(name, "--help").stdout


def test_tools_wrapper_says_when_there_is_no_scullcfs(tmp_path):
    """A copy of the wrapper and its finder in a tree without .venv, and no
    scullcfs on PATH: one line, exit 1."""
    tools = tmp_path / "repo/tools"
    tools.mkdir(parents=True)
    for f in ("stress", "find_scullcfs"):
        (tools / f).write_bytes((REPO_ROOT / "tools" / f).read_bytes())
        (tools / f).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SCULLCFS"}
    env["PATH"] = "/usr/bin:/bin"
    r = subprocess.run([str(tools / "stress")], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f"stress: scullcfs not found: neither {tmp_path}/repo/.venv/bin/scullcfs"
                                     " nor scullcfs on PATH (run tools/quickstart setup)"]


def test_mountinfo_paths_are_unescaped():
    # fs/proc_namespace.c mangle(): space, tab, newline and backslash as \ooo
    assert unescape_mountinfo(r"/tmp/a\040b\011c\012d\134e") == "/tmp/a b\tc\nd\\e"
    assert unescape_mountinfo(r"/tmp/\04") == r"/tmp/\04"


@pytest.mark.fuse
def test_a_mount_point_named_like_a_subcommand_mounts_as_dot_slash_name(fuse_environment, tmp_path):
    top = Path(tempfile.mkdtemp(prefix="scullcfs-sub-")) / "top"
    top.mkdir()
    d = Daemon(scullcfs_argv("./top", "--mem", "64M"), top, cwd=top.parent,
               output=tmp_path / "daemon.out")
    try:
        d.start()
        d.wait_ready()
        assert is_mounted(top)
        assert "MemTotal:" in (top / "proc/meminfo").read_text()
    finally:
        problems = d.unmount()
        os.rmdir(top.parent)
    assert problems == [] and d.returncode == 0, (problems, d.output_text())


@pytest.mark.fuse
def test_the_harness_sees_a_mount_point_with_a_space_and_unmounts_only_it(fuse_environment, tmp_path):
    base = Path(tempfile.mkdtemp(prefix="scullcfs-sub-"))
    a, b = base / "a b", base / "a"
    a.mkdir()
    b.mkdir()
    da = Daemon(scullcfs_argv(a, "--mem", "64M"), a, output=tmp_path / "a.out")
    db = Daemon(scullcfs_argv(b, "--mem", "64M"), b, output=tmp_path / "b.out")
    try:
        da.start().wait_ready()
        db.start().wait_ready()
        assert is_mounted(a) and is_mounted(b)
        assert da.unmount() == []
        assert da.returncode == 0 and not is_mounted(a) and not a.exists()
        assert is_mounted(b) and db.running()           # the neighbour is untouched
        assert (b / "proc/meminfo").read_text().startswith("MemTotal:")
    finally:
        da.unmount()
        problems = db.unmount()
        os.rmdir(base)
    assert problems == [] and db.returncode == 0
