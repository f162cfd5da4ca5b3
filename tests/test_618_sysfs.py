"""/proc/slabinfo and /sys/kernel/slab of Linux 6.18 (allocator/linux618/sysfs.py)
against this machine's real 6.18 kernel (tests/data/linux-6.18/sysfs-slab-*,
slabinfo-merged; each with its .cmd) and against mm/slub.c / mm/slab_common.c
of 6.12.117, and the real clients run on them: the kernel's own tools/mm/slabinfo
(tools/build_slabinfo) on the sysfs layout, procps `slabtop -o` and `vmstat -m`
on /proc/slabinfo, each bind-mounted over the real file in a private mount
namespace (root only; the tests skip without it).

The expected figures of the scullc cache come from SLUB's rules (reference
§4.3), worked out in the comments, never from the renderers."""
from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from allocator.arch.x86_64 import X86_64
from allocator.fault_inject import FaultInject
from allocator.linux618 import page_alloc as PA
from allocator.linux618 import slub as S
from allocator.linux618 import sysfs
from allocator.physmem import PhysMem
from allocator.printk import KernelLog
from allocator.sched import Sched, set_current
from allocator.trace import KmemTrace
from allocator.vmscan import Vmscan
from allocator.vmstat import VmStat

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "linux-6.18"
GFP_KERNEL = 0xCC0
SLAB_HWCACHE_ALIGN = 1 << 4
# mm/slab_common.c cache_show
CACHE_SHOW = "%-17s %6d %6d %6d %4d %4d : tunables %4d %4d %4d : slabdata %6d %6d %6d"
SLABINFO_ROW = "%-21s %8d %7d %15s %14s %4d %1d %3d %3d %s"   # tools/mm/slabinfo.c slabcache()
SLABTOP_ROW = "%6u %6u %3u%% %7.2fK %6u %8u %9uK %-23s"       # procps slabtop print_details (%9luK)
VMSTAT_M_ROW = "%-24.24s %6u %6u %6u %6u"                      # procps vmstat slabformat
NUMA = re.compile(r"\d+( N\d+=\d+)*\n")                     # show_slab_objects
CPU_PARTIAL = re.compile(r"\d+\(\d+\)( C\d+=\d+\(\d+\))*\n")  # slabs_cpu_partial_show


def boot(debug: str = "", mem: int = 128 << 20) -> S.SlabAllocator:
    log = KernelLog(clock=lambda: 0.0)
    sched = Sched(2, log.uptime)
    vm = VmStat()
    faults = FaultInject(log)
    trace = KmemTrace()
    pa = PA.PageAllocator(X86_64, PhysMem(mem), log, sched, vm, faults, trace, Vmscan(vm), 1)
    sl = S.SlabAllocator(X86_64, pa, log, sched, vm, faults, trace, Vmscan(vm), debug)
    S.kmem_cache_init(sl)
    set_current(sched, 1000, "insmod")      # CPU 0
    return sl


def capture(name: str) -> dict[str, tuple[int, str]]:
    """A sysfs-slab-* capture: {attribute: (mode, contents)}."""
    out = {}
    for line in (DATA / name).read_text().splitlines():
        mode, rest = line.split(" ", 1)
        attr, value = rest.split(":", 1)
        out[attr] = (int(mode, 8), value.strip())
    return out


def read(sl: S.SlabAllocator, s: S.KmemCache, attr: str) -> str:
    return sysfs.slab_attrs(sl, s)[attr][1]()


def write(sl: S.SlabAllocator, s: S.KmemCache, attr: str, data: bytes) -> int:
    """0, or the errno of the refused write (EACCES: no store, the open fails)."""
    w = sysfs.slab_attrs(sl, s)[attr][2]
    if w is None:
        return errno.EACCES
    try:
        w(data)
    except OSError as e:
        return e.errno or -1
    return 0


def slabinfo_rows(text: str) -> dict[str, list[int]]:
    rows = {}
    for line in text.splitlines()[2:]:
        name, *rest = line.split()
        rows[name] = [int(x) for x in rest if x.isdigit()]
    return rows


# -- attributes against the live kernel -------------------------------------------

LIVE_KMALLOC_64 = capture("sysfs-slab-kmalloc-64")
LIVE_MERGED_64 = capture("sysfs-slab-merged-0000064")
# attributes whose value is the cache's shape, not its load
STATIC = ("aliases", "align", "cache_dma", "cpu_partial", "ctor", "destroy_by_rcu", "hwcache_align",
          "min_partial", "object_size", "objs_per_slab", "order", "poison", "reclaim_account", "red_zone",
          "remote_node_defrag_ratio", "sanity_checks", "sheaf_capacity", "shrink", "slab_size", "store_user",
          "trace", "usersize", "validate")


def test_the_captures_have_their_commands():
    for name in ("sysfs-slab-kmalloc-64", "sysfs-slab-merged-0000064", "sysfs-slab-layout",
                 "slabinfo-merged", "sysfs-slab-write-errors"):
        assert (DATA / f"{name}.cmd").read_text().strip()


def test_attribute_names_and_modes_equal_the_live_kernel():
    sl = boot()
    k64 = S.find_cache(sl, "kmalloc-64")
    assert k64 is not None
    attrs = sysfs.slab_attrs(sl, k64)
    assert {a: m for a, (m, _, _) in attrs.items()} == {a: m for a, (m, _) in LIVE_KMALLOC_64.items()}
    # a writable file has a store, a 0400 one none
    assert all((w is not None) == (m == 0o600) for m, _, w in attrs.values())
    assert set(LIVE_MERGED_64) == set(LIVE_KMALLOC_64)


def test_kmalloc_64_values_equal_the_live_kernel():
    sl = boot()
    k64 = S.find_cache(sl, "kmalloc-64")
    assert k64 is not None
    for attr in STATIC:
        assert read(sl, k64, attr).rstrip("\n") == LIVE_KMALLOC_64[attr][1], attr
    for attr in ("objects", "objects_partial", "partial", "slabs", "total_objects", "cpu_slabs"):
        assert NUMA.fullmatch(read(sl, k64, attr)), attr
        assert NUMA.fullmatch(LIVE_KMALLOC_64[attr][1] + "\n"), attr
    assert CPU_PARTIAL.fullmatch(read(sl, k64, "slabs_cpu_partial"))
    assert CPU_PARTIAL.fullmatch(LIVE_KMALLOC_64["slabs_cpu_partial"][1] + "\n")


def test_a_mergeable_cache_and_its_alias_as_the_live_kernel_shows_them():
    sl = boot()
    a = S.kmem_cache_create(sl, "h3_first", 64, 0, SLAB_HWCACHE_ALIGN)
    b = S.kmem_cache_create(sl, "h3_second", 60, 0, SLAB_HWCACHE_ALIGN)
    assert a is not None and b is a      # find_mergeable: ALIGN(ALIGN(60, 8), 64) = 64 <= 64 < 72
    layout = sysfs.sysfs_layout(sl)
    # live: the :-directory, every name merged into it a symlink to it (sysfs-slab-layout)
    live = [line.split() for line in (DATA / "sysfs-slab-layout").read_text().splitlines()]
    live_links = {w[-3].strip("'"): w[-1].strip("'") for w in live if w[0] == "symbolic"}
    assert live_links["jbd2_inode"] == ":0000064" and ["directory", "755", "':0000064'"] == live[0]
    assert layout.dirs[":0000064"] is a
    assert layout.links["h3_first"] == ":0000064" and layout.links["h3_second"] == ":0000064"
    assert "h3_first" not in layout.dirs and "h3_second" not in layout.dirs
    # its attributes: the live :0000064 (a HWCACHE_ALIGN cache of 64-byte objects)
    for attr in STATIC:
        value = read(sl, a, attr).rstrip("\n")
        if attr == "aliases":
            assert value == "1" and LIVE_MERGED_64[attr][1] == "6"      # refcount - 1
        else:
            assert value == LIVE_MERGED_64[attr][1], attr
    # /proc/slabinfo: one line, under the first name (live: dmaengine-unmap-2 of the seven)
    names_live = {line.split()[0] for line in (DATA / "slabinfo-merged").read_text().splitlines()[2:]}
    aliases_live = {n for n, d in live_links.items() if d == ":0000064"}
    assert names_live & aliases_live == {"dmaengine-unmap-2"}
    rows = slabinfo_rows(sysfs.slabinfo_show(sl))
    assert "h3_first" in rows and "h3_second" not in rows


def test_unmergeable_caches_are_directories_under_their_names():
    sl = boot()
    layout = sysfs.sysfs_layout(sl)
    for name in ("kmalloc-64", "kmalloc-cg-64", "dma-kmalloc-64", "kmem_cache", "kmem_cache_node"):
        assert name in layout.dirs and name not in layout.links
    # the live kernel: kmalloc-64, kmalloc-cg-64, dma-kmalloc-64 are directories
    live = (DATA / "sysfs-slab-layout").read_text()
    for name in ("kmalloc-64", "kmalloc-cg-64", "dma-kmalloc-64"):
        assert f"directory 755 '{name}'" in live
    # on a debug kernel nothing merges: every cache is a directory
    dl = boot(debug="FZPU")
    S.kmem_cache_create(dl, "h3_a", 64, 0, SLAB_HWCACHE_ALIGN)
    S.kmem_cache_create(dl, "h3_b", 60, 0, SLAB_HWCACHE_ALIGN)
    layout = sysfs.sysfs_layout(dl)
    assert "h3_a" in layout.dirs and "h3_b" in layout.dirs and not layout.links


def test_the_writes_the_live_kernel_refuses():
    sl = boot()
    k64 = S.find_cache(sl, "kmalloc-64")
    assert k64 is not None
    for line in (DATA / "sysfs-slab-write-errors").read_text().splitlines():
        m = re.fullmatch(r"(\S+) <- (\S+): (\S+)", line)
        assert m, line
        attr, value, err = m.groups()
        assert write(sl, k64, attr, value.encode() + b"\n") == getattr(errno, err), line
    # nothing changed
    assert [read(sl, k64, a) for a in ("min_partial", "cpu_partial", "remote_node_defrag_ratio")] == \
        ["5\n", "120\n", "100\n"]


def test_the_writes_it_takes():
    sl = boot()
    k64 = S.find_cache(sl, "kmalloc-64")
    assert k64 is not None
    assert write(sl, k64, "min_partial", b"7\n") == 0 and read(sl, k64, "min_partial") == "7\n"
    assert write(sl, k64, "min_partial", b"+8") == 0 and read(sl, k64, "min_partial") == "8\n"  # kstrtoul
    assert write(sl, k64, "remote_node_defrag_ratio", b"50\n") == 0
    assert read(sl, k64, "remote_node_defrag_ratio") == "50\n" and k64.remote_node_defrag_ratio == 500
    # cpu_partial: slub_set_cpu_partial, cpu_partial_slabs = DIV_ROUND_UP(2 * 30, 64) = 1
    assert write(sl, k64, "cpu_partial", b"30\n") == 0
    assert (read(sl, k64, "cpu_partial"), k64.cpu_partial_slabs) == ("30\n", 1)
    assert write(sl, k64, "shrink", b"1\n") == 0
    assert write(sl, k64, "min_partial", b"1 2") == errno.EINVAL
    assert write(sl, k64, "remote_node_defrag_ratio", b"4294967296") == errno.ERANGE
    # a debug cache has no CPU partial slabs: only 0 is taken
    dl = boot(debug="FZPU")
    d64 = S.find_cache(dl, "kmalloc-64")
    assert d64 is not None
    assert write(dl, d64, "cpu_partial", b"1") == errno.EINVAL
    assert write(dl, d64, "cpu_partial", b"0") == 0
    assert write(dl, d64, "validate", b"1") == 0
    assert [read(dl, d64, a) for a in ("sanity_checks", "red_zone", "poison", "store_user", "trace")] == \
        ["1\n", "1\n", "1\n", "1\n", "0\n"]


def test_a_page_of_digits_is_erange_without_a_long_parse():
    """lib/kstrtox.c _parse_integer_limit keeps a 64-bit value and only flags the
    overflow: a write of a run of digits (kernfs hands a store up to PAGE_SIZE of
    them; the mount may hand it more) is ERANGE after one pass. Parsing it into
    an ever-growing integer took minutes for 1 MiB and hung the writer."""
    sl = boot()
    k64 = S.find_cache(sl, "kmalloc-64")
    assert k64 is not None
    for attr in ("cpu_partial", "min_partial", "remote_node_defrag_ratio"):
        start = time.perf_counter()
        assert write(sl, k64, attr, b"9" * (64 << 10)) == errno.ERANGE
        assert time.perf_counter() - start < 0.5, attr
    # leading zeros are not an overflow (the value is 7), and the limit is exact
    assert write(sl, k64, "min_partial", b"0" * 5000 + b"7\n") == 0 and read(sl, k64, "min_partial") == "7\n"
    assert write(sl, k64, "min_partial", b"18446744073709551615") == 0
    assert write(sl, k64, "min_partial", b"18446744073709551616") == errno.ERANGE
    assert write(sl, k64, "cpu_partial", b"4294967296\n") == errno.ERANGE


# -- /proc/slabinfo ---------------------------------------------------------------------


def test_the_header_and_the_line_format_of_the_live_kernel():
    live = (DATA / "slabinfo-merged").read_text().splitlines()
    sl = boot()
    text = sysfs.slabinfo_show(sl)
    assert text.splitlines()[:2] == live[:2]
    # cache_show's format reproduces the live lines from their fields
    for line in live[2:]:
        name, *fields = line.split()
        nums = [int(x) for x in fields if x.isdigit()]
        assert CACHE_SHOW % (name, *nums) == line
    # the static fields of kmalloc-64 equal the live kernel's: objsize objperslab
    # pagesperslab, tunables 0 0 0, sharedavail 0
    live_k64 = slabinfo_rows("\n".join(live))["kmalloc-64"]
    ours = slabinfo_rows(text)["kmalloc-64"]
    assert ours[2:8] == live_k64[2:8] == [64, 64, 1, 0, 0, 0] and ours[10] == live_k64[10] == 0


def test_newest_first_and_boot_caches_last():
    sl = boot()
    S.kmem_cache_create(sl, "h3_old", 100, 0, 0)
    S.kmem_cache_create(sl, "h3_new", 3000, 0, 0)
    names = list(slabinfo_rows(sysfs.slabinfo_show(sl)))
    assert names[:2] == ["h3_new", "h3_old"]
    assert names[-2:] == ["kmem_cache_node", "kmem_cache"]       # live: slabinfo-boot-order.txt
    boot_order = (DATA / "slabinfo-boot-order.txt").read_text().split()
    assert names[-len(boot_order):] == boot_order


def test_slabinfo_is_0400_and_refuses_writes():
    assert sysfs.SLABINFO_MODE == 0o400                  # proc-modes capture of H1b: -r--------
    with pytest.raises(OSError) as e:
        sysfs.slabinfo_write(b"scullc 1 1 1\n")
    assert e.value.errno == errno.EIO                    # live: `echo 1 > /proc/slabinfo` is EIO


# -- the scullc cache under load -------------------------------------------------------
#
# kmem_cache_create("scullc", 4000, 0, SLAB_HWCACHE_ALIGN): size 4032, 8 objects per
# order-3 slab, cpu_partial 24 -> cpu_partial_slabs DIV_ROUND_UP(48, 8) = 6 (reference §4.6).
# 24 allocations on CPU 0: slab 1 becomes the CPU slab, its 8 objects go; each next
# allocation finds the CPU freelist and the slab's own empty, drops the full slab and
# takes a new one: 3 slabs, full, none on a list, slab 3 still the CPU slab.
# Freeing one object of slab 1 (full, not frozen): __slab_free puts it on CPU 0's
# partial chain (put_cpu_partial), so the node lists stay empty: active_objs = 24.


def scullc_loaded(sl: S.SlabAllocator) -> tuple[S.KmemCache, list[int]]:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN)
    assert s is not None and (s.size, s.objects, s.order, s.cpu_partial_slabs) == (4032, 8, 3, 6)
    objs = []
    for _ in range(24):
        p = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
        assert p is not None
        objs.append(p)
    return s, objs


def test_scullc_figures_follow_the_rules():
    sl = boot()
    s, objs = scullc_loaded(sl)
    first_slab = objs[0] & ~((4096 << 3) - 1)
    r = {a: read(sl, s, a) for a in ("objects", "total_objects", "slabs", "partial", "objects_partial",
                                     "cpu_slabs", "slabs_cpu_partial", "aliases", "object_size", "slab_size")}
    assert r == {"objects": "24 N0=24\n", "total_objects": "24 N0=24\n", "slabs": "3 N0=3\n", "partial": "0\n",
                 "objects_partial": "0\n", "cpu_slabs": "1 N0=1\n", "slabs_cpu_partial": "0(0)\n",
                 "aliases": "0\n", "object_size": "4000\n", "slab_size": "4032\n"}
    S.kmem_cache_free(sl, s, objs[3])            # slab 1: full -> CPU 0's partial chain
    assert (objs[3] & ~((4096 << 3) - 1)) == first_slab
    # cpu_slabs: the CPU slab + the chain's `slabs` (1); slabs_cpu_partial: 1 * 8 / 2 = 4
    assert read(sl, s, "cpu_slabs") == "2 N0=2\n"
    assert read(sl, s, "slabs_cpu_partial") == "4(1) C0=4(1)\n"
    assert read(sl, s, "objects") == "24 N0=24\n"           # the free one is on a CPU list
    assert slabinfo_rows(sysfs.slabinfo_show(sl))["scullc"] == [24, 24, 4032, 8, 8, 0, 0, 0, 3, 3, 0]
    line = next(x for x in sysfs.slabinfo_show(sl).splitlines() if x.startswith("scullc "))
    assert line == CACHE_SHOW % ("scullc", 24, 24, 4032, 8, 8, 0, 0, 0, 3, 3, 0)
    # shrink: flush_all deactivates the CPU slab (full: off every list) and puts slab 1
    # (7 in use) on the node partial list; it has 1 free object, so it stays
    assert write(sl, s, "shrink", b"1") == 0
    r = {a: read(sl, s, a) for a in ("objects", "partial", "objects_partial", "cpu_slabs", "slabs_cpu_partial",
                                     "slabs")}
    assert r == {"objects": "23 N0=23\n", "partial": "1 N0=1\n", "objects_partial": "7 N0=7\n",
                 "cpu_slabs": "0\n", "slabs_cpu_partial": "0(0)\n", "slabs": "3 N0=3\n"}
    assert slabinfo_rows(sysfs.slabinfo_show(sl))["scullc"] == [23, 24, 4032, 8, 8, 0, 0, 0, 3, 3, 0]


# -- the real clients --------------------------------------------------------------------


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


needs_root_ns = pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare -m (a private mount namespace)")


def in_namespace(mounts: list[tuple[Path, str]], argv: list[str]) -> str:
    """Run argv in a private mount namespace with each (source, target) bind-mounted."""
    script = "".join(f'mount --bind "{src}" "{dst}" && ' for src, dst in mounts) + 'exec "$@"'
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *argv],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def store_size(value: int) -> str:
    """tools/mm/slabinfo.c store_size: K/M/G with one decimal from value / 100, 100000, 100000000."""
    for limit, div, t in ((1000000000, 100000000, "G"), (1000000, 100000, "M"), (1000, 100, "K")):
        if value > limit:
            digits = str(value // div)
            return digits[:-1] + "." + digits[-1] + t
    return str(value)


@needs_root_ns
def test_tools_mm_slabinfo_reads_the_layout(tmp_path: Path):
    built = subprocess.run([str(REPO / "tools" / "build_slabinfo"), str(tmp_path / "build")],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    binary = built.stdout.strip().splitlines()[-1]
    sl = boot()
    s, objs = scullc_loaded(sl)
    S.kmem_cache_free(sl, s, objs[3])
    root = tmp_path / "slab"
    root.mkdir()
    sysfs.materialise(sl, str(root))
    assert (root / ":0004032").is_dir() and os.readlink(root / "scullc") == ":0004032"
    out = in_namespace([(root, "/sys/kernel/slab")], [binary])
    header, *rows = out.splitlines()
    assert header == "Name                   Objects Objsize           Space Slabs/Part/Cpu  O/S O %Fr %Ef Flg"
    row = next(r for r in rows if r.split()[0] == "scullc")    # the :-dir renamed to its one alias
    # from the rules above: objects 24 (total - free on node partial lists), object_size
    # 4000, 3 slabs of 8 pages = 98304 bytes, slabs - cpu_slabs = 3 - 2, partial 0,
    # cpu_slabs 2; 8 objects, order 3; %Fr 0; %Ef = 24 * 4000 * 100 / 98304 = 97; A
    expected = SLABINFO_ROW % (
        "scullc", 24, 4000, store_size(3 * 32768), "1/0/2", 8, 3, 0, 24 * 4000 * 100 // 98304, "A")
    assert row == expected
    # the caches of the layout with slabs, sorted by name, each once
    names = [r.split()[0] for r in rows]
    assert names == sorted(names) and "kmalloc-64" in names


@needs_root_ns
def test_slabtop_and_vmstat_read_the_slabinfo(tmp_path: Path):
    if not (shutil.which("slabtop") and shutil.which("vmstat")):
        pytest.skip("procps slabtop and vmstat are not installed")
    sl = boot()
    s, objs = scullc_loaded(sl)
    S.kmem_cache_free(sl, s, objs[3])
    S.kmem_cache_free(sl, s, objs[4])
    write(sl, s, "shrink", b"1")    # slab 1 on the node list with 6 in use: active 22 of 24
    f = tmp_path / "slabinfo"
    f.write_text(sysfs.slabinfo_show(sl))
    f.chmod(0o400)
    top = in_namespace([(f, "/proc/slabinfo")], ["slabtop", "-o", "-s", "n"])
    row = next(r for r in top.splitlines() if r.rstrip().endswith(" scullc"))
    # procps slabtop print_details "%6u %6u %3u%% %7.2fK %6u %8u %9luK %-23s": use =
    # 100 * active / num (22/24 -> 91), objsize 4032 / 1024, cache size = slabs * pages * 4096
    assert row == SLABTOP_ROW % (24, 22, 91, 4032 / 1024, 3, 8, 3 * 8 * 4, "scullc")
    vm = in_namespace([(f, "/proc/slabinfo")], ["vmstat", "-m"])
    lines = vm.splitlines()
    assert lines[0] == "Cache                       Num  Total   Size  Pages"
    # vmstat slabformat "%-24.24s %6u %6u %6u %6u": active, num, objsize, objperslab
    assert VMSTAT_M_ROW % ("scullc", 22, 24, 4032, 8) in lines
