"""Issue 10: a mount that is safe to use on a shared machine and has no surprises.

`>>` on a device, a --mem larger than the host, --unmount of a busy mount, the
errnos of tree operations, one-line command-line errors, and the driver's
refusals that say why.
"""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import REPO_ROOT, is_mounted, wait_gone

# --------------------------------------------------------------------------- helpers


def scullcfs(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "scullcfs", *map(str, args)], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                          **kwargs)


def bash(script: str, cwd) -> subprocess.CompletedProcess:
    r = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r


def kmsg(m) -> str:
    return (m.path / "proc/kmsg").read_text()


def write_errno(path, text: str) -> int:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)
    return 0


# --------------------------------------------------------------------------- 2. `>>`


def test_bash_append_after_a_write_holds_only_the_appended_bytes(mnt):
    # The driver ignores O_APPEND (a char device; f_pos starts at 0) and its
    # O_WRONLY open trims: `two\n`, not the kernel's stale i_size of NULs first.
    bash("echo one > dev/scullc3; echo two >> dev/scullc3", mnt.path)
    assert (mnt.path / "dev/scullc3").read_bytes() == b"two\n"


def test_appends_in_a_row_each_trim_and_one_open_appends_in_sequence(mnt):
    bash("echo one > dev/scullc2; echo two >> dev/scullc2; echo three >> dev/scullc2", mnt.path)
    assert (mnt.path / "dev/scullc2").read_bytes() == b"three\n"
    # one O_APPEND open, three writes: the driver's f_pos moves on after each
    bash("echo seed > dev/scullc2; { echo a; echo bb; echo ccc; } >> dev/scullc2", mnt.path)
    assert (mnt.path / "dev/scullc2").read_bytes() == b"a\nbb\nccc\n"
    # a builtin's append across quanta (4000 bytes each), after a longer content
    bash("head -c 20000 /dev/zero | tr '\\0' x > dev/scullc2;"
         " printf '%s' \"$(seq 3000)\" >> dev/scullc2", mnt.path)
    want = "\n".join(map(str, range(1, 3001))).encode()
    assert (mnt.path / "dev/scullc2").read_bytes() == want


def test_cat_append_after_a_reader_stores_the_bytes_exactly(mnt, tmp_path):
    # (cat fstat()s its output after the open, which refreshes the kernel's size;
    # bash's builtins above do not, and they are what left the NULs)
    data = os.urandom(10_000) + bytes(range(256)) * 40  # crosses quantum boundaries
    src = tmp_path / "src"
    src.write_bytes(data)
    bash(f"head -c 7000 /dev/urandom > dev/scullc1; cat dev/scullc1 > /dev/null;"
         f" cat {src} >> dev/scullc1", mnt.path)
    assert (mnt.path / "dev/scullc1").read_bytes() == data
    assert int((mnt.path / "sys/class/scullc/scullc1/size").read_text()) == len(data)


# --------------------------------------------------------------------------- 3. --mem


def _host_ram() -> int:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) * 1024


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_mem_larger_than_the_host_mounts_and_works(mount_scullcfs):
    assert _host_ram() < (60 << 30), "this test needs a host with less than 60 GiB"
    m = mount_scullcfs(mem="60G", background=0)
    dev = m.path / "dev/scullc0"
    dev.write_bytes(b"sixty gigabytes\n" * 1000)
    assert dev.read_bytes() == b"sixty gigabytes\n" * 1000
    meminfo = {line.split(":")[0]: int(line.split()[1])
               for line in (m.path / "proc/meminfo").read_text().splitlines()}
    # 2.6.18 i386: 60 GiB of 4 KiB pages; free_all_bootmem keeps pfn 0 and mem_map
    # (sizeof(struct page) 32) reserved; a PC's e820 map leaves 0x9f000..1 MiB out
    # (the EBDA and the ISA hole: 97 pages).
    pages = (60 << 30) // 4096
    mem_map_pages = (pages * 32 + 4095) // 4096
    hole = (0x100000 - 0x9F000) // 4096
    assert meminfo["MemTotal"] == (pages - hole - 1 - mem_map_pages) * 4
    # lazily committed: the daemon holds a tiny part of 60 GiB
    assert _rss_kb(m.proc.pid) < 512 << 10  # KiB: under 512 MiB (measured: 183 MiB)


def test_mem_the_host_cannot_map_is_one_line_exit_1(tmp_path):
    # RLIMIT_AS of 2 GiB: even an unreserved 8G mapping fails, as on a host
    # whose overcommit policy refuses it
    mnt = tmp_path / "m"
    mnt.mkdir()
    r = scullcfs(mnt, "--mem", "8G", "--foreground", preexec_fn=_limit_address_space)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "cannot map" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not is_mounted(mnt)


# --------------------------------------------------------------------------- 4. --unmount


def test_unmount_of_a_busy_mount_is_refused_naming_the_holder(mnt):
    holder = subprocess.Popen(["sleep", "60"], cwd=mnt.path / "dev")
    try:
        daemon = mnt.proc.pid
        r = scullcfs("--unmount", mnt.path)
        assert r.returncode != 0
        assert r.stderr.count("\n") == 1, r.stderr
        assert f"{holder.pid} (sleep)" in r.stderr and "busy" in r.stderr
        assert is_mounted(mnt.path) and mnt.proc.poll() is None, "the daemon was ended"
        assert (mnt.path / "proc/meminfo").read_text().startswith("MemTotal")
        os.kill(daemon, 0)
    finally:
        holder.kill()
        holder.wait()
    assert scullcfs("--unmount", mnt.path).returncode == 0
    assert not is_mounted(mnt.path)


def test_unmount_names_a_process_that_only_maps_a_file(mnt):
    import mmap
    fd = os.open(mnt.path / "proc/kmsg", os.O_RDONLY)  # dmesg -F maps it
    mapped = mmap.mmap(fd, os.fstat(fd).st_size, prot=mmap.PROT_READ)
    os.close(fd)
    try:
        r = scullcfs("--unmount", mnt.path)
        assert r.returncode != 0 and f"{os.getpid()} (" in r.stderr, r.stderr
        assert is_mounted(mnt.path)
    finally:
        mapped.close()


def test_unmount_force_ends_a_busy_mount_and_says_so(mnt):
    fd = os.open(mnt.path / "proc/meminfo", os.O_RDONLY)
    try:
        r = scullcfs("--unmount", "--force", mnt.path)
        assert r.returncode == 0, r.stderr
        assert f"{os.getpid()} (" in r.stderr and "SIGTERM" in r.stderr, r.stderr
        assert wait_gone(mnt.proc.pid)
        assert not is_mounted(mnt.path)
        with pytest.raises(OSError) as e:  # what the message says the holders get
            os.read(fd, 10)
        assert e.value.errno == errno.ENOTCONN
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


# --------------------------------------------------------------------------- 7. tree operations

# Measured on this machine's kernel (Linux 6.18.44, as root, the owner of
# /proc and /sys) with os.unlink/rmdir/rename/link/mkdir/symlink/mknod and
# open(O_CREAT), e.g. `python3 -c 'import os; os.unlink("/proc/meminfo")'`:
#
#   operation                         /proc      /proc/sys/vm   /sys/kernel, /sys/class
#   unlink FILE (rm)                  EPERM      EACCES         EPERM
#   rmdir DIR                         EPERM (/proc/sys)  EACCES (/proc/sys/vm)  EPERM
#   mkdir DIR/x                       ENOENT     ENOENT         EPERM
#   open(O_CREAT) DIR/new (touch)     ENOENT     ENOENT         EACCES
#   symlink x DIR/lnk (ln -s)         ENOENT     ENOENT         EPERM
#   mknod DIR/nod p                   ENOENT     ENOENT         EPERM
#   link FILE DIR/hard (ln)           ENOENT     -              EPERM
#   rename FILE DIR/new (mv)          ENOENT     ENOENT         EPERM
#   rename FILE onto an existing one  EPERM      EACCES         EPERM
#   rename /proc/meminfo /sys/kernel/x: EXDEV
#   chmod/chown FILE (unchanged)      ok         EPERM          ok
#   utime FILE (touch -c)             ok         ok             ok
#
# dev/ (our decision, README): like /dev to a user other than root: EACCES.
MEASURED = [
    # (command, path of the errno's directory, errno)
    (["rm", "proc/meminfo"], errno.EPERM),
    (["rmdir", "proc/sys"], errno.EPERM),
    (["mkdir", "proc/x"], errno.ENOENT),
    (["touch", "proc/newfile"], errno.ENOENT),
    (["ln", "-s", "x", "proc/lnk"], errno.ENOENT),
    (["mknod", "proc/nod", "p"], errno.ENOENT),
    (["ln", "proc/meminfo", "proc/hard"], errno.ENOENT),
    (["mv", "-T", "proc/meminfo", "proc/renamed"], errno.ENOENT),
    (["mv", "-T", "proc/meminfo", "proc/vmstat"], errno.EPERM),
    (["rm", "proc/sys/vm/drop_caches"], errno.EACCES),
    (["rmdir", "proc/sys/vm"], errno.EACCES),
    (["mkdir", "proc/sys/vm/x"], errno.ENOENT),
    (["touch", "proc/sys/vm/newfile"], errno.ENOENT),
    (["mv", "-T", "proc/sys/vm/drop_caches", "proc/sys/vm/min_free_kbytes"], errno.EACCES),
    (["rm", "sys/kernel/debug/scullc/daemon_pid"], errno.EPERM),
    (["rmdir", "sys/class/scullc"], errno.EPERM),
    (["mkdir", "sys/kernel/x"], errno.EPERM),
    (["touch", "sys/kernel/newfile"], errno.EACCES),
    (["ln", "-s", "x", "sys/kernel/lnk"], errno.EPERM),
    (["mknod", "sys/class/nod", "p"], errno.EPERM),
    (["mkdir", "sys/class/x"], errno.EPERM),
    (["touch", "sys/class/newfile"], errno.EACCES),
    (["ln", "sys/class/scullc/scullc0/size", "sys/class/hard"], errno.EPERM),
    (["mv", "-T", "sys/class/scullc", "sys/class/renamed"], errno.EPERM),
    (["rm", "dev/scullc0"], errno.EACCES),
    (["touch", "dev/scullc9"], errno.EACCES),
    (["mkdir", "dev/x"], errno.EACCES),
    (["mknod", "dev/nod", "p"], errno.EACCES),
    (["ln", "-s", "scullc0", "dev/lnk"], errno.EACCES),
    (["mv", "-T", "dev/scullc0", "dev/renamed"], errno.EACCES),
]


def _errno_of(argv, cwd) -> int:
    """Run the operation as a syscall, as the measurement did (coreutils may retry
    differently, e.g. mv falling back to a copy on EXDEV)."""
    op, *rest = argv
    calls = {
        "rm": lambda p: os.unlink(p), "rmdir": lambda p: os.rmdir(p), "mkdir": lambda p: os.mkdir(p),
        "touch": lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)),
        "mknod": lambda p, _t: os.mknod(p, 0o644 | 0o010000),
        "ln": lambda *a: os.symlink(a[1], a[2]) if a[0] == "-s" else os.link(a[0], a[1]),
        "mv": lambda _t, a, b: os.rename(a, b),
    }
    old = os.getcwd()
    os.chdir(cwd)
    try:
        calls[op](*rest)
    except OSError as e:
        return e.errno
    finally:
        os.chdir(old)
    return 0


def test_tree_operations_return_the_kernels_errnos(mnt):
    got = {" ".join(argv): errno.errorcode.get(_errno_of(argv, mnt.path), "0") for argv, _ in MEASURED}
    want = {" ".join(argv): errno.errorcode[e] for argv, e in MEASURED}
    assert got == want
    # nothing changed: the devices and files are all still there
    assert (mnt.path / "dev/scullc0").exists() and (mnt.path / "proc/meminfo").exists()


def test_real_commands_say_what_the_kernels_trees_say(mnt):
    for argv, message in [(["rm", "-f", "proc/meminfo"], "Operation not permitted"),
                          (["mkdir", "proc/x"], "No such file or directory"),
                          (["touch", "sys/kernel/newfile"], "Permission denied"),
                          (["ln", "-s", "x", "sys/class/lnk"], "Operation not permitted")]:
        r = subprocess.run(argv, cwd=mnt.path, capture_output=True, text=True)
        assert r.returncode != 0 and message in r.stderr, (argv, r.stderr)
        assert "Function not implemented" not in r.stderr


def test_rename_across_proc_and_sys_is_exdev(mnt):
    with pytest.raises(OSError) as e:
        os.rename(mnt.path / "proc/meminfo", mnt.path / "sys/kernel/x")
    assert e.value.errno == errno.EXDEV


def test_chmod_chown_utime_behave_as_the_kernel_and_keep_the_data(mnt):
    dev = mnt.path / "dev/scullc0"
    dev.write_bytes(b"keep me\n")
    os.chmod(dev, 0o600)
    os.chown(dev, os.getuid(), os.getgid())
    os.utime(dev, (1_000_000_000, 1_000_000_000))
    st = os.stat(dev)
    assert st.st_mode & 0o7777 == 0o600 and st.st_mtime == 1_000_000_000
    assert dev.read_bytes() == b"keep me\n"
    # procfs and sysfs files: chmod works for their owner; sysctl entries refuse it
    os.chmod(mnt.path / "proc/meminfo", 0o400)
    assert os.stat(mnt.path / "proc/meminfo").st_mode & 0o7777 == 0o400
    assert "MemTotal" in (mnt.path / "proc/meminfo").read_text()
    os.chmod(mnt.path / "sys/class/scullc/scullc0/size", 0o440)
    assert os.stat(mnt.path / "sys/class/scullc/scullc0/size").st_mode & 0o7777 == 0o440
    with pytest.raises(OSError) as e:
        os.chmod(mnt.path / "proc/sys/vm/min_free_kbytes", 0o600)
    assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        os.chown(mnt.path / "proc/sys/vm/min_free_kbytes", os.getuid(), os.getgid())
    assert e.value.errno == errno.EPERM
    os.utime(mnt.path / "proc/sys/vm/min_free_kbytes")  # timestamps: allowed everywhere


# --------------------------------------------------------------------------- 8. one-line CLI errors


@pytest.fixture
def tmpdir_mnt():
    d = tempfile.mkdtemp(prefix="scullcfs-cli-")
    yield d
    os.rmdir(d)


@pytest.mark.parametrize("args, expect", [
    (["--mem", "10Q"], "scullcfs: --mem: not a size: '10Q' (use K, M or G); see --help"),
    (["--mem", "65G"], "--mem: 65G is outside 4M..64G"),
    (["--nodes", "x"], "--nodes: not a number: 'x'"),
    (["--quantum", "0"], "--quantum: 0 is outside 1..131072"),
    (["--background", "95"], "--background: 95 is outside 0..90"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--family", "bogus"], "scullc,scull,scullp,scullv,scullm"),
    (["--param", "nosuch=1"], "scull_quantum"),
    (["--family", "scull", "--param", "scull_quantum=x"], "--param scull_quantum: not a number"),
    (["--param", "scullv_order=2"], "scullv driver is not loaded"),
    (["--force"], "--force: only with --unmount"),
])
def test_argument_errors_are_one_line_exit_2(tmpdir_mnt, args, expect):
    t = time.monotonic()
    r = scullcfs(tmpdir_mnt, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("scullcfs: "), r.stderr
    assert expect in r.stderr
    assert not is_mounted(tmpdir_mnt)
    if "--family" in args or "--param" in args:
        # checked before booting (a 256M boot alone takes longer than this)
        assert "Traceback" not in r.stderr and time.monotonic() - t < 20


def _limit_address_space():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_family_and_param_are_checked_before_the_kernel_boots(tmpdir_mnt):
    # with 2 GiB of address space a 60G kernel cannot even map its RAM: the
    # argument error must come first
    for args, expect in ((["--family", "bogus"], "--family"), (["--param", "nosuch=1"], "--param")):
        r = scullcfs(tmpdir_mnt, "--mem", "60G", "--foreground", *args, preexec_fn=_limit_address_space)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(f"scullcfs: {expect}"), r.stderr


def test_missing_mount_point_says_does_not_exist(tmp_path):
    r = scullcfs(tmp_path / "nosuch")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "does not exist" in r.stderr and "not a directory" not in r.stderr
    f = tmp_path / "file"
    f.write_text("")
    r = scullcfs(f)
    assert r.returncode == 2 and "not a directory" in r.stderr


def test_subcommand_argument_errors_are_one_line_exit_2():
    r = scullcfs("top", "--interval", "x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("scullcfs top: --interval: ")


def test_no_mount_point_is_one_line_exit_2():
    r = scullcfs()
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "mountpoint" in r.stderr


def test_help_lists_every_subcommand():
    from scullcfs.cli import SUBCOMMANDS
    r = scullcfs("--help")
    assert r.returncode == 0
    assert "top" in SUBCOMMANDS
    for name in SUBCOMMANDS:
        assert f"scullcfs {name}" in r.stdout
    assert "--unmount" in r.stdout and "--force" in r.stdout


# --------------------------------------------------------------------------- 9. refusals that say why


def test_misbehave_on_an_empty_device_says_why_and_commits_nothing(mount_scullcfs):
    m = mount_scullcfs(slab_debug=True, mem="64M")
    assert write_errno(m.path / "sys/kernel/debug/scullc/misbehave", "use-after-free scullc1") \
        == errno.ENODATA
    log = kmsg(m)
    assert "scullc1 holds no quantum: write to it first" in log
    assert "commits a bug" not in log


def test_negative_quantum_is_einval_naming_the_range(mnt):
    param = mnt.path / "sys/module/scullc/parameters/scullc_quantum"
    for value in ("-5", "0"):
        assert write_errno(param, value) == errno.EINVAL
    log = kmsg(mnt)
    assert "scullc_quantum -5 refused: must be 1..4000" in log
    assert "divide by zero" not in log
    assert param.read_text() == "4000\n"
