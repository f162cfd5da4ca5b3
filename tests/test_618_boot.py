"""The memory lines of a 6.18 x86_64 boot log (issue 13, linux618/boot.py).

Format and order: the capture of this machine's real 6.18 boot
(tests/data/linux-6.18/dmesg-boot-memory, a 24 GiB Firecracker guest), which
a simulated 24 GiB machine reproduces line for line but for the Memory line's
free and reserved figures (the host's deferred_init=lazy). Other layouts:
numbers worked out by hand from the 6.12 source (mm/mm_init.c
memmap_init/init_unavailable_range, free_area_init, mm/page_alloc.c
build_all_zonelists, arch/x86/mm/numa.c, mm/numa_emulation.c), and the
kernel's own relations with /proc/zoneinfo of the same machine.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from allocator.kernel import Kernel
from allocator.linux618 import procfs as procfs_618

DATA = Path(__file__).parent / "data" / "linux-6.18"
CAPTURE = (DATA / "dmesg-boot-memory").read_text().splitlines()
# the capture's grep (dmesg-boot-memory.cmd), on lines without the timestamp
CMD = (DATA / "dmesg-boot-memory.cmd").read_text()
PATTERN = re.compile(re.search(r"grep -E '([^']*)'", CMD).group(1)
                     .replace(r"^\[[ 0-9.]*\] ", "^").replace(r"\] Memory", "^Memory"))
MEMORY = re.compile(r"Memory: (\d+)K/(\d+)K available \((\d+)K kernel code, (\d+)K rwdata, (\d+)K rodata,"
                    r" (\d+)K init, (\d+)K bss, (\d+)K reserved, (\d+)K cma-reserved\)$")


def memory_lines(k: Kernel) -> list[str]:
    return [r.text for r in k.log.records if PATTERN.search(r.text)]


def zoneinfo(k: Kernel) -> dict[tuple[int, str], dict[str, int]]:
    """(node, zone) -> spanned/present/managed/start_pfn from /proc/zoneinfo."""
    out: dict[tuple[int, str], dict[str, int]] = {}
    cur: dict[str, int] = {}
    for line in procfs_618.zoneinfo(k.page_alloc).splitlines():
        m = re.match(r"Node (\d+), zone +(\w+)", line)
        if m:
            cur = out.setdefault((int(m.group(1)), m.group(2)), {})
            continue
        m = re.match(r"\s+(spanned|present|managed|start_pfn:)\s+(\d+)$", line)
        if m:
            cur[m.group(1).rstrip(":")] = int(m.group(2))
    return out


@pytest.fixture(scope="module")
def live() -> Kernel:
    # the live machine: 24 GiB (e820 RAM 0-0x9fbff, 1M-3G, 4G-25G), 1 node, 2 CPUs
    return Kernel(mem=24 << 30, cpus=2, version="6.18")


def test_capture_grep_finds_the_captured_lines():
    assert len(CAPTURE) == 26
    assert all(PATTERN.search(x) for x in CAPTURE)


def test_lines_and_order_equal_the_live_capture(live):
    got = memory_lines(live)
    assert len(got) == len(CAPTURE)
    for g, c in zip(got[:-1], CAPTURE[:-1]):
        assert g == c
    assert MEMORY.match(got[-1]) and MEMORY.match(CAPTURE[-1])


def test_memory_line_fields(live):
    g = [int(x) for x in MEMORY.match(memory_lines(live)[-1]).groups()]
    c = [int(x) for x in MEMORY.match(CAPTURE[-1]).groups()]
    assert g[1] == c[1] == 25165432                  # K(physpages): Σ present
    assert g[2:7] == c[2:7]                          # the kernel image (the live kernel's)
    assert g[8] == c[8] == 0                         # CONFIG_CMA off
    # free and reserved differ from the host's (deferred_init=lazy leaves most of
    # Normal unfreed at the time it prints); mainline: available <= physpages - reserved
    assert g[0] <= g[1] - g[7]


def test_numbers_agree_with_zoneinfo(live):
    zi = zoneinfo(live)
    lines = memory_lines(live)
    total = int(re.search(r"Total pages: (\d+)$", next(x for x in lines if x.startswith("Built"))).group(1))
    # build_all_zonelists at boot: managed = present (zone_init_internals), watermarks 0
    assert total == sum(z["present"] for z in zi.values())
    g = [int(x) for x in MEMORY.match(lines[-1]).groups()]
    assert g[1] == 4 * sum(z["present"] for z in zi.values())
    # reserved = physpages - totalram_pages (= Σ managed)
    assert g[7] == 4 * sum(z["present"] - z["managed"] for z in zi.values())
    # the zone ranges start where zoneinfo's zones start; DMA's spanned - present
    # is the one hole inside a zone of a present section (97 pages, 0x9f-0xff)
    dma = zi[(0, "DMA")]
    assert "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]" in lines
    assert dma["start_pfn"] == 1 and dma["spanned"] - dma["present"] == 97
    initmem = next(x for x in lines if x.startswith("Initmem setup node 0"))
    end = zi[(0, "Normal")]["start_pfn"] + zi[(0, "Normal")]["spanned"]
    assert initmem == f"Initmem setup node 0 [mem 0x{4096:016x}-0x{(end << 12) - 1:016x}]"


def test_64m_machine():
    """64 MiB: RAM 0x1000-0x9efff and 1M-64M; DMA32 ends at max_pfn 0x4000, Normal
    empty (arch_zone_lowest == highest); the last section (128 MiB = 32768 pages)
    is half memory: memmap_init's tail, round_up(0x4000, 32768) - 0x4000 = 16384
    pages, goes to the last zone (DMA32); present = 158 + 16128 = 16286."""
    k = Kernel(mem=64 << 20, version="6.18")
    lines = memory_lines(k)
    assert lines[:20] == [
        "BIOS-provided physical RAM map:",
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x0000000003ffffff] usable",
        "BIOS-e820: [mem 0x00000000eec00000-0x00000000febfffff] reserved",
        "No NUMA configuration found",
        "Faking a node at [mem 0x0000000000000000-0x0000000003ffffff]",
        "Zone ranges:",
        "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
        "  DMA32    [mem 0x0000000001000000-0x0000000003ffffff]",
        "  Normal   empty",
        "  Device   empty",
        "Movable zone start for each node",
        "Early memory node ranges",
        "  node   0: [mem 0x0000000000001000-0x000000000009efff]",
        "  node   0: [mem 0x0000000000100000-0x0000000003ffffff]",
        "Initmem setup node 0 [mem 0x0000000000001000-0x0000000003ffffff]",
        "On node 0, zone DMA: 1 pages in unavailable ranges",
        "On node 0, zone DMA: 97 pages in unavailable ranges",
        "On node 0, zone DMA32: 16384 pages in unavailable ranges",
    ]
    assert lines[20:23] == ["Fallback order for Node 0: 0 ",
                            "Built 1 zonelists, mobility grouping on.  Total pages: 16286",
                            "Policy zone: DMA32"]
    assert MEMORY.match(lines[-1]).group(2) == str(16286 * 4)


def test_5g_machine_has_no_unavailable_pages_in_the_pci_hole():
    """5 GiB: 3 GiB below the hole, 2 GiB from 4 GiB; the hole's sections hold no
    memory (pfn_valid false), so only DMA's two lines; present =
    158 + (0xc0000 - 0x100) + 0x80000."""
    k = Kernel(mem=5 << 30, version="6.18")
    lines = memory_lines(k)
    assert [x for x in lines if "unavailable" in x] == ["On node 0, zone DMA: 1 pages in unavailable ranges",
                                                        "On node 0, zone DMA: 97 pages in unavailable ranges"]
    assert "BIOS-e820: [mem 0x0000000100000000-0x000000017fffffff] usable" in lines
    assert "  Normal   [mem 0x0000000100000000-0x000000017fffffff]" in lines
    assert f"Built 1 zonelists, mobility grouping on.  Total pages: {158 + 0xc0000 - 0x100 + 0x80000}" in lines


def test_two_nodes():
    """--nodes 2 is numa=fake=2 (mm/numa_emulation.c): after dummy_numa_init's lines,
    one "Faking node %d at [mem ...] (%LuMB)" per node; memblock ranges split at the
    node boundary; one Initmem line per node; two zonelists, each node's fallback
    order local first."""
    k = Kernel(mem=1 << 30, nodes=2, version="6.18")
    lines = memory_lines(k)
    zi = zoneinfo(k)
    fakes = [re.match(r"Faking node (\d) at \[mem (0x[0-9a-f]{16})-(0x[0-9a-f]{16})\] \((\d+)MB\)$", x)
             for x in lines if x.startswith("Faking node")]
    assert [m.group(1) for m in fakes] == ["0", "1"]
    assert int(fakes[0].group(2), 16) == 0 and int(fakes[1].group(3), 16) == (1 << 30) - 1
    assert int(fakes[1].group(2), 16) == int(fakes[0].group(3), 16) + 1
    for m in fakes:
        assert int(m.group(4)) == (int(m.group(3), 16) + 1 - int(m.group(2), 16)) >> 20
    for nid in (0, 1):
        zones = [z for (n, _), z in zi.items() if n == nid and z["spanned"]]
        lo = min(z["start_pfn"] for z in zones)
        hi = max(z["start_pfn"] + z["spanned"] for z in zones)
        assert f"Initmem setup node {nid} [mem 0x{lo << 12:016x}-0x{(hi << 12) - 1:016x}]" in lines
    assert "Fallback order for Node 0: 0 1 " in lines and "Fallback order for Node 1: 1 0 " in lines
    nodes = [x for x in lines if x.startswith("  node ")]
    assert [x[7:10] for x in nodes] == ["  0", "  0", "  1"]
    assert any(x.startswith("Built 2 zonelists, mobility grouping on.  Total pages: "
                            f"{sum(z['present'] for z in zi.values())}") for x in lines)


def test_2618_boot_keeps_its_lines():
    k = Kernel(mem=64 << 20)
    text = [r.text for r in k.log.records]
    assert not any(PATTERN.search(x) and not x.startswith("Memory: ") for x in text)
    assert any(re.match(r"  Node 0 DMA zone: \d+ pages$", x) for x in text)
    assert any(re.match(r"Memory: \d+k/65536k available, min_free_kbytes \d+$", x) for x in text)


def test_mounted_kmsg_shows_the_memory_lines(mount_scullcfs):
    m = mount_scullcfs(kernel="6.18", mem="256M", background="0")
    lines = [re.sub(r"^<\d>\[[ 0-9.]*\] ", "", x) for x in (m.path / "proc/kmsg").read_text().splitlines()]
    got = [x for x in lines if PATTERN.search(x)]
    # the capture's line kinds, in its order (the numbers are this machine's)

    def kind(x: str) -> str:
        return re.sub(r"0x[0-9a-f]+|\d+", "N", x)
    want = [kind(x) for x in CAPTURE if not x.startswith("BIOS-e820: [mem 0x0000000100000000")
            and not x.startswith("  node   0: [mem 0x0000000100000000")]
    want[want.index("  Normal   [mem N-N]")] = "  Normal   empty"     # 256M: all below 4G
    want[want.index("Policy zone: Normal")] = "Policy zone: DMAN"
    assert [kind(x) for x in got] == want
