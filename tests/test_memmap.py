"""The page map (who owns every frame), its picture, and the extfrag index."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from allocator import Kernel, procfs
from allocator import gfp as G
from allocator import memmap as MM
from allocator import pagemap as PM
from allocator.page_alloc import MAX_ORDER, PageOwner
from conftest import tools_env

REPO = Path(__file__).resolve().parent.parent


def _fragmented_kernel(kernel) -> Kernel:
    """A 64 MiB machine with caches, kmalloc'd objects, raw pages and holes
    punched into all of them (booted by the `kernel` fixture)."""
    k = kernel(mem=64 << 20)
    demo = k.kmem_cache_create("demo", 1000, 0, 0)
    big = k.kmem_cache_create("big_objects", 9000, 0, 0)
    objs = [k.kmem_cache_alloc(demo, G.GFP_KERNEL) for _ in range(300)]
    bigs = [k.kmem_cache_alloc(big, G.GFP_KERNEL) for _ in range(20)]
    small = [k.kmalloc(size, G.GFP_KERNEL) for size in (30, 100, 700, 3000, 20000) * 40]
    dma = [k.kmalloc(200, G.GFP_DMA) for _ in range(30)]
    pages = [k.get_free_pages(G.GFP_KERNEL, order % 4) for order in range(60)]
    for objp in objs[::3]:
        k.kmem_cache_free(demo, objp)
    for objp in small[::2] + dma[::4]:
        k.kfree(objp)
    for i, addr in enumerate(pages):
        if i % 3 == 0:
            k.free_pages(addr, i % 4)
    del bigs
    return k


def _slabinfo_pages(k) -> dict:
    out = {}
    for line in procfs.slabinfo(k).splitlines()[2:]:
        head, _, rest = line.partition(" : ")
        words = head.split()
        num_slabs = int(rest.split(" : ")[1].split()[2])  # slabdata active num shared
        out[words[0]] = num_slabs * int(words[5])
    return out


def test_pagemap_runs_cover_every_frame_of_every_zone_once(kernel):
    k = _fragmented_kernel(kernel)
    runs = PM.pagemap_runs(k)
    for zone in k.zones:
        zruns = [r for r in runs if (r.node, r.zone) == (zone.node.id, zone.name)]
        assert sum(r.count for r in zruns) == zone.spanned
        pfn = zone.start_pfn
        for r in zruns:
            assert r.start_pfn == pfn, "runs must be contiguous and in pfn order"
            pfn += r.count
        assert pfn == zone.end_pfn


def test_pagemap_free_runs_match_buddyinfo(kernel):
    k = _fragmented_kernel(kernel)
    nr_free = PM.zone_nr_free(PM.pagemap_runs(k))
    for line in procfs.buddyinfo(k).splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)\s+(.*)", line)
        assert nr_free[(int(m.group(1)), m.group(2))] == [int(x) for x in m.group(3).split()]
    for zone in k.zones:
        free = sum(r.count for r in PM.pagemap_runs(k) if r.owner == "free" and r.zone == zone.name)
        assert free == zone.free_pages


def test_pagemap_free_blocks_are_aligned_buddies_of_their_order(kernel):
    k = _fragmented_kernel(kernel)
    for r in PM.pagemap_runs(k):
        if r.owner == "free":
            assert r.order is not None and 0 <= r.order < MAX_ORDER
            assert r.start_pfn % (1 << r.order) == 0 and r.count % (1 << r.order) == 0


def test_pagemap_slab_pages_match_slabinfo(kernel):
    k = _fragmented_kernel(kernel)
    pages = {}
    for r in PM.pagemap_runs(k):
        if r.owner.startswith(("slab:", "kmalloc:")):
            name = r.owner.split(":", 1)[1]
            pages[name] = pages.get(name, 0) + r.count
    expected = {name: n for name, n in _slabinfo_pages(k).items() if n}
    assert pages == expected
    assert pages["demo"] and pages["big_objects"] and pages["size-32"] and pages["size-256(DMA)"]


def test_pagemap_marks_kmalloc_caches_and_gives_slab_orders(kernel):
    k = _fragmented_kernel(kernel)
    runs = PM.pagemap_runs(k)
    owners = {r.owner for r in runs}
    assert {"slab:demo", "kmalloc:size-32", "pages", "reserved", "hole", "free"} <= owners
    assert not any(o.startswith("slab:size-") for o in owners)
    big = k.find_cache("big_objects")
    assert {r.order for r in runs if r.owner == "slab:big_objects"} == {big.gfporder}
    assert {r.order for r in runs if r.owner == "pages"} <= {0, 1, 2, 3}


def test_pagemap_text_has_a_header_and_parses_back_to_the_same_runs(kernel):
    k = _fragmented_kernel(kernel)
    text = PM.pagemap(k)
    assert text.startswith("# node zone start_pfn nr_pages owner order\n")
    assert "\n0 DMA 0 1 reserved -\n" in text
    assert PM.parse_pagemap(text) == PM.pagemap_runs(k)


def test_pagemap_names_unknown_owners_by_their_name(kernel):
    k = kernel(mem=16 << 20)
    pfn = k.alloc_pages(G.GFP_KERNEL, 1, owner=PageOwner("vmalloc"))
    runs = PM.pagemap_runs(k)
    assert [r for r in runs if r.owner == "vmalloc"] == [PM.PageRun(0, "DMA", pfn, 2, "vmalloc", None)]

    class Area:  # any owner object with a `name`
        name = "some area"
    assert PM.owner_label(Area()) == "some_area"


def test_unusable_free_index_is_the_share_of_free_pages_in_too_small_blocks():
    # 3 order-0, 1 order-1, 2 order-3 blocks: 21 free pages, 5 of them in blocks below order 3
    nr_free = [3, 1, 0, 2] + [0] * 7
    assert PM.unusable_free_index(3, nr_free) == 5 * 1000 // 21
    assert PM.unusable_free_index(0, nr_free) == 0
    assert PM.unusable_free_index(4, nr_free) == 1000
    assert PM.unusable_free_index(3, [0] * 11) == 1000  # no free memory: all unusable


def test_unusable_index_file_prints_as_debugfs_extfrag(kernel):
    k = kernel(mem=4 << 20)
    text = PM.unusable_index(k)
    # boot free lists of a 4 MiB machine once SLAB's boot metadata took its 18 pages:
    # 0, 0, 1, 2, 3, 2, 2, 1, 0, 1, 0 blocks, 900 pages; below order 3 lie 4 of them
    # (0.004), below order 5 68 (0.075)
    assert text == ("Node 0, zone      DMA 0.000 0.000 0.000 0.004 0.022 0.075 0.146 0.288"
                    " 0.431 0.431 1.000 \n")


def _tiny_kernel(kernel) -> Kernel:
    k = kernel(mem=4 << 20)
    k.kmalloc(100, G.GFP_KERNEL)                 # room in boot's size-128 slab (pfn 157)
    k.get_free_pages(G.GFP_KERNEL, 2)            # the order-2 block 268-271
    demo = k.kmem_cache_create("demo", 1000, 0, 0)
    k.kmem_cache_alloc(demo, G.GFP_KERNEL)       # pfn 144, split from the order-4 block 144-159
    return k


def test_text_map_of_a_tiny_machine_matches_the_hand_made_map(kernel):
    # 4 MiB: pfn 0 reserved, 159..255 the 640K-1M hole, 256..263 mem_map; SLAB's boot
    # metadata in 1-7, 152-158 and 264-267 (kmem_cache at 158); the rest free in
    # maximal buddy blocks; then the allocations take 268-271 and 144.
    expected = """\
Node 0, zone DMA: pfn 0-1023, 1024 pages (4.0 MiB), unusable index (order 3) 0.007, 1 page per character
#kkkkkkk333333334444444444444444
55555555555555555555555555555555
66666666666666666666666666666666
66666666666666666666666666666666
4444444444444444A0112222kkkkkkBx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
########kkkk@@@@4444444444444444
55555555555555555555555555555555
66666666666666666666666666666666
66666666666666666666666666666666
""" + ("7" * 32 + "\n") * 4 + ("9" * 32 + "\n") * 16 + """
Legend:
  0-9a  free, by buddy order of the block (a = 10) 895 pages
  @     pages                                    4 pages
  #     reserved                                 9 pages
  x     hole                                     97 pages
  k     kmalloc caches (size-N)                  17 pages
  A     slab:demo                                1 page
  B     slab:kmem_cache                          1 page
"""
    assert MM.render_text(PM.pagemap_runs(_tiny_kernel(kernel)), width=32, per_char=1) == expected


def test_text_map_cells_show_the_owner_of_most_of_their_pages(kernel):
    runs = PM.pagemap_runs(_tiny_kernel(kernel))
    text = MM.render_text(runs, width=8, per_char=128)
    # 128-page cells: free (most in order 6), hole (97 of 128), free (most in order 6),
    # free order 7, then four of free order 9
    assert text.splitlines()[1] == "6x679999"


def test_png_has_the_expected_size_and_the_colours_of_the_owners(tmp_path, kernel):
    import PIL.Image as PIL  # a dependency of scullcfs, so never skipped
    k = _tiny_kernel(kernel)
    runs = PM.pagemap_runs(k)
    img = MM.render_png(runs, tmp_path / "map.png", width=256)
    # 1024 pages at 8x8 px: 32 per row, 32 rows; one band, then a one-column legend:
    # free orders 0-7 and 9, pages, reserved, hole, 7 kmalloc caches, slab:demo, slab:kmem_cache
    legend = MM.legend(runs)
    assert len(legend) == 21
    height = MM.TITLE_HEIGHT + 32 * 8 + MM.BAND_GAP + MM.LEGEND_PAD + 21 * MM.LEGEND_ROW
    on_disk = PIL.open(tmp_path / "map.png")
    assert on_disk.size == img.size == (256, height) == MM.png_size(runs, 256)
    band = on_disk.convert("RGB").crop((0, MM.TITLE_HEIGHT, 256, MM.TITLE_HEIGHT + 256))
    colours = {rgb for _, rgb in band.getcolors(1 << 16)}
    assert colours == {MM.owner_colour(owner, order) for owner, order, _ in legend}

    def pixel(pfn):
        return band.getpixel(((pfn % 32) * 8 + 4, (pfn // 32) * 8 + 4))
    assert pixel(0) == MM.owner_colour("reserved")
    assert pixel(144) == MM.owner_colour("slab:demo")
    assert pixel(268) == MM.owner_colour("pages")
    assert pixel(157) == MM.owner_colour("kmalloc:size-128")
    assert pixel(200) == MM.owner_colour("hole") == (0, 0, 0)
    assert pixel(600) == MM.owner_colour("free", 9)


def test_owner_colours_are_stable_and_kmalloc_caches_are_blue():
    assert MM.owner_colour("slab:scullc") == MM.owner_colour("slab:scullc")
    for size in (32, 64, 4096, 131072):
        r, g, b = MM.owner_colour(f"kmalloc:size-{size}")
        assert b > r and b > g
    shades = [MM.free_colour(o) for o in range(MAX_ORDER)]
    assert len(set(shades)) == MAX_ORDER
    assert all(g > r and g > b for r, g, b in shades)


# -- on a mount ----------------------------------------------------------------

def _consistent_snapshot(path: Path) -> tuple:
    """pagemap, buddyinfo and slabinfo of one moment: the reaper may run between
    two reads, so read until buddyinfo is the same before and after."""
    for _ in range(20):
        before = (path / "proc/buddyinfo").read_text()
        slabinfo = (path / "proc/slabinfo").read_text()
        pagemap = (path / "sys/kernel/debug/scullc/pagemap").read_text()
        after = (path / "proc/buddyinfo").read_text()
        if before == after and slabinfo == (path / "proc/slabinfo").read_text():
            return pagemap, before, slabinfo
    pytest.fail("the allocator state never held still for three reads")


def test_mounted_pagemap_agrees_with_buddyinfo_and_slabinfo(mnt):
    with open(mnt.path / "dev/scullc0", "wb") as f:
        f.write(b"x" * 100_000)
    pagemap, buddyinfo, slabinfo = _consistent_snapshot(mnt.path)
    runs = PM.parse_pagemap(pagemap)
    nr_free = PM.zone_nr_free(runs)
    for line in buddyinfo.splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)\s+(.*)", line)
        assert nr_free[(int(m.group(1)), m.group(2))] == [int(x) for x in m.group(3).split()]
    pages = {}
    for r in runs:
        if ":" in r.owner:
            pages[r.owner.split(":", 1)[1]] = pages.get(r.owner.split(":", 1)[1], 0) + r.count
    for line in slabinfo.splitlines()[2:]:
        head, _, rest = line.partition(" : ")
        words = head.split()
        assert pages.get(words[0], 0) == int(rest.split(" : ")[1].split()[2]) * int(words[5]), words[0]
    assert pages["scullc"] >= 25  # 100 kB in 4000-byte quanta, one per page


def test_mounted_unusable_index_has_a_line_per_zone(mnt):
    text = (mnt.path / "sys/kernel/debug/extfrag/unusable_index").read_text()
    lines = text.splitlines()
    assert [line[:21] for line in lines] == ["Node 0, zone      DMA", "Node 0, zone   Normal"]
    for line in lines:
        assert re.fullmatch(r"Node 0, zone +\S+ (\d\.\d{3} ){11}", line)


def test_memmap_tool_draws_a_live_mount(mnt, tmp_path):
    out = tmp_path / "live.png"
    r = subprocess.run([sys.executable, "-m", "scullcfs", "memmap", str(mnt.path), "-o", str(out), "--text"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "Node 0, zone Normal: pfn 4096-65535, 61440 pages" in r.stdout
    assert "slab:dentry_cache" in r.stdout
    from PIL import Image
    assert Image.open(out).size[0] == 1024
    assert f"wrote {out}" in r.stderr


def test_memmap_tool_says_when_nothing_is_mounted(tmp_path):
    r = subprocess.run([str(REPO / "tools/memmap"), str(tmp_path), "--text"],  # the wrapper
                       capture_output=True, text=True, timeout=60, env=tools_env())
    assert r.returncode == 1
    assert "is a scullcfs mounted at" in r.stderr
