"""The /proc renderers: byte formats that procps and the kernel's own readers expect."""
from __future__ import annotations

import re

import pytest

from allocator import gfp as G
from allocator import procfs

SLABINFO_HEADER = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor>"
    " : slabdata <active_slabs> <num_slabs> <sharedavail>\n")
# procps library/slabinfo.c parse_slabinfo20:
# "%128s" "%u %u %u %u %u : tunables %*u %*u %*u : slabdata %u %u %*u" (8 fields)
PROCPS_LINE = re.compile(
    r"^(\S{1,128})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) : tunables\s+\d+\s+\d+\s+\d+"
    r" : slabdata\s+(\d+)\s+(\d+)\s+\d+$")


@pytest.fixture
def k(kernel):
    return kernel(mem=64 << 20, cpus=2)


def test_slabinfo_header_is_the_2_1_text(k):
    assert procfs.slabinfo(k).startswith(SLABINFO_HEADER)


def test_slabinfo_lists_the_newest_cache_first(k):
    k.kmem_cache_create("older_cache", 100, 0, 0)
    k.kmem_cache_create("newest_cache", 100, 0, 0)
    lines = procfs.slabinfo(k).splitlines()
    assert lines[2].split()[0] == "newest_cache"
    assert lines[3].split()[0] == "older_cache"
    assert lines[-1].split()[0] == "kmem_cache"   # cache_cache is the oldest


def test_slabinfo_has_no_blank_line_anywhere(k):
    k.kmalloc(100, G.GFP_KERNEL)
    text = procfs.slabinfo(k)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "" not in text[:-1].split("\n")


def test_every_slabinfo_line_parses_as_procps_does(k):
    k.kmem_cache_create("a_rather_long_cache_name_over_17", 100, 0, 0)
    for size in (10, 100, 1000, 10000, 100000):
        k.kmalloc(size, G.GFP_KERNEL)
    lines = procfs.slabinfo(k).splitlines()
    assert len(lines) == 2 + len(k.cache_chain)
    for line in lines[2:]:
        m = PROCPS_LINE.match(line)
        assert m, line
        name = m.group(1)
        cache = k.find_cache(name)
        num_slabs, active_slabs, num_objs, active_objs = cache.slab_counts()
        assert [int(x) for x in m.groups()[1:]] == [
            active_objs, num_objs, cache.buffer_size, cache.num, 1 << cache.gfporder,
            active_slabs, num_slabs]


def test_slabinfo_columns_have_the_kernel_widths(k):
    line = next(line for line in procfs.slabinfo(k).splitlines() if line.startswith("size-4096 "))
    # "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu"
    assert line == ("size-4096              0      0   4096    1    1 : tunables   24   12    8"
                    " : slabdata      0      0      0")
    k.kmem_cache_create("a_rather_long_cache_name_over_17", 100, 0, 0)
    long_line = procfs.slabinfo(k).splitlines()[2]
    assert long_line.startswith("a_rather_long_cache_name_over_17      0      0    100")


def test_slabinfo_counts_follow_allocations(k):
    objs = [k.kmalloc(150, G.GFP_KERNEL) for _ in range(200)]   # size-192 holds no slab metadata
    line = next(line for line in procfs.slabinfo(k).splitlines() if line.startswith("size-192 "))
    fields = PROCPS_LINE.match(line).groups()
    active, total = int(fields[1]), int(fields[2])
    assert total % 20 == 0 and active >= 200 and total >= active
    for o in objs:
        k.kfree(o)
    k.kmem_cache_shrink(k.find_cache("size-192"))
    line = next(line for line in procfs.slabinfo(k).splitlines() if line.startswith("size-192 "))
    assert PROCPS_LINE.match(line).groups()[1:3] == ("0", "0")


def test_buddyinfo_lines_have_11_counts_and_end_with_a_space(k):
    k.alloc_pages(G.GFP_KERNEL, 3)
    lines = procfs.buddyinfo(k).split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == len(k.zones)
    for line, zone in zip(lines, k.zones):
        # "Node %d, zone %8s " then "%6lu " per order
        head = f"Node {zone.node.id}, zone {zone.name:>8} "
        assert line.startswith(head) and line.endswith(" ")
        counts = line[len(head):]
        assert len(counts) == 11 * 7
        assert [int(counts[i:i + 7]) for i in range(0, 77, 7)] == [zone.nr_free(o) for o in range(11)]
        assert all(counts[i + 6] == " " for i in range(0, 77, 7))


def test_buddyinfo_shows_only_populated_zones(kernel):
    k = kernel(mem=8 << 20)
    assert procfs.buddyinfo(k).startswith("Node 0, zone      DMA ")
    assert procfs.buddyinfo(k).count("\n") == 1


def test_meminfo_lines_are_labels_padded_to_14_and_8_digit_kb(k):
    text = procfs.meminfo(k)
    assert text.endswith(" kB\n")
    for line in text.splitlines():
        label, value = line[:14], line[14:]  # 2.6.18 proc_misc.c: "MemTotal:     %8lu kB\n"
        assert re.fullmatch(r"[A-Za-z0-9_()]+: *", label), line
        assert re.fullmatch(r" *\d+ kB", value) and len(value) == 8 + 3, line


def test_meminfo_totals_match_the_allocator(k):
    k.alloc_pages(G.GFP_KERNEL, 4)
    k.kmalloc(5000, G.GFP_KERNEL)
    rows = {line.split(":")[0]: int(line.split()[1]) for line in procfs.meminfo(k).splitlines()}
    assert list(rows)[:2] == ["MemTotal", "MemFree"]
    assert rows["MemTotal"] == sum(z.managed for z in k.zones) * 4
    assert rows["MemFree"] == k.nr_free_pages() * 4
    assert rows["Slab"] == k.nr_slab_pages() * 4 > 0  # 2.6.18: NR_SLAB, no SReclaimable/SUnreclaim
    assert rows["LowTotal"] == rows["MemTotal"] and rows["HighTotal"] == 0


def test_meminfo_on_a_highmem_machine_splits_low_and_high(kernel):
    k = kernel(mem=1 << 30)
    rows = {line.split(":")[0]: int(line.split()[1]) for line in procfs.meminfo(k).splitlines()}
    assert rows["HighTotal"] == 32768 * 4
    assert rows["LowTotal"] == rows["MemTotal"] - rows["HighTotal"]
    assert rows["LowFree"] == rows["MemFree"] - rows["HighFree"]


def test_vmstat_is_name_space_value_lines(k):
    k.alloc_pages(G.GFP_KERNEL, 0)
    for line in procfs.vmstat(k).splitlines():
        assert re.fullmatch(r"[a-z_0-9]+ \d+", line), line  # pgalloc_dma32
    rows = dict(line.split() for line in procfs.vmstat(k).splitlines())
    assert int(rows["nr_slab"]) == k.nr_slab_pages()  # 2.6.18 has no nr_free_pages
    assert int(rows["pgalloc_normal"]) >= 1


def test_kmsg_lines_carry_priority_and_timestamp(k):
    while k.alloc_pages(G.GFP_ATOMIC | G.__GFP_DMA, 10) is not None:
        pass                         # the failure adds a multi-line Mem-Info report
    text = procfs.kmsg(k)
    assert "<4>[" in text and "page allocation failure. order:10, mode:0x21" in text
    for line in text.splitlines():
        assert re.fullmatch(r"<[0-7]>\[ *\d+\.\d{6}\] .*", line), line
