"""The memory-map picture: every page frame coloured by its owner.

Input is the runs of a pagemap (allocator/pagemap.py: `pagemap_runs(k)` for a
Kernel, `parse_pagemap(text)` for a live mount's sys/kernel/debug/scullc/pagemap).

    render_png(runs, "map.png", width=1024)   # Pillow, imported only here
    print(render_text(runs, width=64))         # a terminal map, no Pillow

The PNG has one band per zone per node, lowest pfn first, left to right and top to
bottom, each page a `cell`-pixel square; above each band its name, extent and
unusable free space index for order 3; below the bands a legend with page
counts. Colours: free blocks in greens (lighter = smaller buddy order), per-CPU
free pages pale cyan, each slab cache a stable colour from a hash of its name
(reds, yellows, magentas), the kmalloc caches (size-N) blues, vmalloc purple,
alloc_pages users orange, reserved grey, holes black. Pixels are written as runs
into one bytearray per band, so a 4 GiB machine (1M frames) renders in well
under two seconds.
"""
from __future__ import annotations

import colorsys
import zlib
from collections import Counter
from os import PathLike
from typing import TYPE_CHECKING, Any

from .page_alloc import MAX_ORDER
from .pagemap import FRAG_ORDER, PageRun, unusable_free_index, zone_nr_free
from .physmem import PAGE_SIZE

if TYPE_CHECKING:
    from PIL.Image import Image

RGB = tuple[int, int, int]
# (node, zone name, start pfn, pages, the zone's runs)
ZoneBand = tuple[int, str, int, int, list[PageRun]]
# (owner, free block order or None, pages)
LegendEntry = tuple[str, int | None, int]

BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)
TITLE_HEIGHT = 18      # px of the text strip above each band
BAND_GAP = 6           # px between a band and the next title
LEGEND_PAD = 8         # px above the legend
LEGEND_ROW = 16        # px per legend row
LEGEND_COLUMN = 256    # px per legend column
MAX_CELL = 16

FIXED_COLOURS: dict[str, RGB] = {
    "pcp": (150, 220, 225),
    "reserved": (100, 100, 100),
    "hole": (0, 0, 0),
    "pages": (255, 140, 0),
    "vmalloc": (150, 60, 200),
    "pgtable": (120, 75, 40),
}


def _rgb(values: Any) -> RGB:
    r, g, b = values
    return (int(r), int(g), int(b))


def free_colour(order: int | None) -> RGB:
    """Greens: order 0 pale, order MAX_ORDER-1 deep."""
    if order is None:
        return (230, 240, 200)
    t = order / (MAX_ORDER - 1)
    pale, deep = (205, 235, 165), (20, 115, 40)
    return _rgb(round(p + (d - p) * t) for p, d in zip(pale, deep))


def owner_colour(owner: str, order: int | None = None) -> RGB:
    """The RGB colour of a pagemap owner (and, for free pages, the block order).
    Stable: a cache's colour depends only on its name."""
    if owner == "free":
        return free_colour(order)
    fixed = FIXED_COLOURS.get(owner)
    if fixed:
        return fixed
    h = zlib.crc32(owner.encode())
    if owner.startswith("kmalloc:"):
        hue = (200 + h % 45) / 360                      # one blue family
        value = 0.55 + ((h >> 8) % 40) / 100
        rgb = colorsys.hsv_to_rgb(hue, 0.8, value)
    else:
        # reds, oranges, yellows, pinks, magentas: away from the greens and blues
        hue = ((h % 120) - 60) % 360 / 360 if (h >> 7) & 1 else (290 + h % 70) / 360
        rgb = colorsys.hsv_to_rgb(hue, 0.55 + ((h >> 9) % 40) / 100, 0.75 + ((h >> 13) % 25) / 100)
    return _rgb(round(c * 255) for c in rgb)


def zones_of(runs: list[PageRun]) -> list[ZoneBand]:
    """[(node, zone, start_pfn, nr_pages, [runs])] in the order of the runs."""
    zones: dict[tuple[int, str], ZoneBand] = {}
    for r in runs:
        key = (r.node, r.zone)
        node, zone, start, n, zruns = zones.get(key, (r.node, r.zone, r.start_pfn, 0, []))
        start = min(start, r.start_pfn)
        zruns.append(r)
        zones[key] = (node, zone, start, max(n, r.start_pfn + r.count - start), zruns)
    return list(zones.values())


def _legend_key(r: PageRun) -> tuple[str, int | None]:
    return (r.owner, r.order if r.owner == "free" else None)


def legend(runs: list[PageRun]) -> list[LegendEntry]:
    """[(owner, order, pages)]: free orders first, then the fixed owners, then
    caches by pages (most first)."""
    pages: Counter[tuple[str, int | None]] = Counter()
    for r in runs:
        pages[_legend_key(r)] += r.count
    rank = {"free": 0, "pcp": 1, "pages": 2, "vmalloc": 3, "pgtable": 4, "reserved": 5, "hole": 6}

    def sort_key(item: tuple[tuple[str, int | None], int]) -> tuple[int, int, int, str]:
        (owner, order), n = item
        return (rank.get(owner, 7), -1 if order is None else order, -n if owner not in rank else 0, owner)
    return [(owner, order, n) for (owner, order), n in sorted(pages.items(), key=sort_key)]


def _human(pages: int) -> str:
    kib = pages * (PAGE_SIZE >> 10)
    return f"{kib / 1024:.1f} MiB" if kib >= 1024 else f"{kib} KiB"


def choose_cell(zones: list[ZoneBand], width: int) -> int:
    """The largest cell (1..16 px, a power of two) whose bands together are no
    taller than the picture is wide."""
    cell = MAX_CELL
    while cell > 1:
        per_row = width // cell
        if sum(-(-z[3] // per_row) for z in zones) * cell <= width:
            break
        cell //= 2
    return cell


def png_size(runs: list[PageRun], width: int = 1024, cell: int | None = None) -> tuple[int, int]:
    """(width, height) of the picture render_png draws for these runs."""
    return _layout(zones_of(runs), len(legend(runs)), width, cell)[0]


def _layout(zones: list[ZoneBand], legend_entries: int, width: int,
            cell: int | None) -> tuple[tuple[int, int], int, int]:
    """((width, height), cell, pages per row)."""
    cell = cell or choose_cell(zones, width)
    per_row = max(1, width // cell)
    height = sum(TITLE_HEIGHT + -(-z[3] // per_row) * cell + BAND_GAP for z in zones)
    columns = max(1, width // LEGEND_COLUMN)
    height += LEGEND_PAD + -(-legend_entries // columns) * LEGEND_ROW
    return (width, height), cell, per_row


def zone_title(node: int, zone: str, start: int, n: int, nr_free: list[int]) -> str:
    index = unusable_free_index(FRAG_ORDER, nr_free)
    return (f"Node {node}, zone {zone}: pfn {start}-{start + n - 1}, {n} pages ({_human(n)}),"
            f" unusable index (order {FRAG_ORDER}) {index // 1000}.{index % 1000:03d}")


def render_png(runs: list[PageRun], path: str | PathLike[str], width: int = 1024,
               cell: int | None = None) -> Image:
    """Draw the memory map of `runs` into the PNG file `path` (a Pillow Image
    is returned too). `width` is the picture's width in pixels; `cell` the
    side of one page in pixels (default: the largest that keeps the bands no
    taller than the width). Needs Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    zones = zones_of(runs)
    entries = legend(runs)
    size, cell, per_row = _layout(zones, len(entries), width, cell)
    img = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    nr_free = zone_nr_free(runs)
    colours: dict[tuple[str, int | None], bytes] = {}
    y = 0
    for node, zone, start, n, zruns in zones:
        draw.text((2, y + 3), zone_title(node, zone, start, n, nr_free[(node, zone)]), fill=TEXT, font=font)
        y += TITLE_HEIGHT
        rows = -(-n // per_row)
        buf = bytearray(bytes(BACKGROUND) * (rows * per_row))
        for _, _, pfn, count, owner, order in zruns:
            rgb = colours.get((owner, order))
            if rgb is None:
                rgb = colours[(owner, order)] = bytes(owner_colour(owner, order if owner == "free" else None))
            off = (pfn - start) * 3
            buf[off:off + count * 3] = rgb * count
        band = Image.frombytes("RGB", (per_row, rows), bytes(buf))
        if cell > 1:
            band = band.resize((per_row * cell, rows * cell), Image.Resampling.NEAREST)
        img.paste(band, (0, y))
        y += rows * cell + BAND_GAP
    y += LEGEND_PAD
    columns = max(1, width // LEGEND_COLUMN)
    for i, (owner, order, pages) in enumerate(entries):
        x = (i % columns) * LEGEND_COLUMN
        ly = y + (i // columns) * LEGEND_ROW
        draw.rectangle((x + 2, ly + 2, x + 13, ly + 13), fill=owner_colour(owner, order), outline=TEXT)
        label = f"free order {order}" if owner == "free" and order is not None else owner
        draw.text((x + 18, ly + 1), f"{label}  {pages} ({_human(pages)})", fill=TEXT, font=font)
    img.save(path, "PNG")
    return img


# -- the terminal map --------------------------------------------------------------

TEXT_SYMBOLS = {"pcp": "+", "reserved": "#", "hole": "x", "pages": "@", "vmalloc": "v", "pgtable": "p"}
ORDER_SYMBOLS = "0123456789a"
SLAB_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _text_symbols(runs: list[PageRun]) -> dict[str, str]:
    """owner -> character: digits (and `a`) for free orders, `k` for every
    kmalloc cache, A..Z for other slab caches in order of first appearance."""
    symbols = dict(TEXT_SYMBOLS)
    letters = iter(SLAB_LETTERS)
    for r in runs:
        if r.owner in symbols or r.owner == "free":
            continue
        if r.owner.startswith("kmalloc:"):
            symbols[r.owner] = "k"
        elif r.owner.startswith("slab:"):
            symbols[r.owner] = next(letters, "*")
        else:
            symbols[r.owner] = "?"
    return symbols


_FREE_BYTES = frozenset(ORDER_SYMBOLS.encode() + b".")


def _cell_symbol(frames: bytes | bytearray) -> str:
    """The symbol of the owner of most frames of a cell; free frames count as
    one owner (shown by their most common order), and lose a tie."""
    counts = Counter(frames)
    free = [(n, ch) for ch, n in counts.items() if ch in _FREE_BYTES]
    used = [(n, ch) for ch, n in counts.items() if ch not in _FREE_BYTES]
    if free and (not used or sum(n for n, _ in free) > max(used)[0]):
        return chr(max(free)[1])
    return chr(max(used)[1])


def render_text(runs: list[PageRun], width: int = 64, per_char: int | None = None,
                max_rows: int = 16) -> str:
    """An ASCII map: per zone a title line and rows of `width` characters, each
    standing for `per_char` pages (default: the smallest power of two that fits
    the largest zone in `max_rows` rows) and showing the owner of most of them;
    then a legend with page counts."""
    zones = zones_of(runs)
    if per_char is None:
        biggest = max((z[3] for z in zones), default=1)
        per_char = 1
        while -(-biggest // per_char) > width * max_rows:
            per_char *= 2
    symbols = _text_symbols(runs)
    nr_free = zone_nr_free(runs)
    out = []
    for node, zone, start, n, zruns in zones:
        out.append(zone_title(node, zone, start, n, nr_free[(node, zone)])
                   + f", {per_char} page{'s' if per_char > 1 else ''} per character")
        frames = bytearray(b" " * n)
        for r in zruns:
            if r.owner == "free":
                ch = ORDER_SYMBOLS[r.order] if r.order is not None else "."
            else:
                ch = symbols[r.owner]
            off = r.start_pfn - start
            frames[off:off + r.count] = ch.encode() * r.count
        if per_char == 1:
            cells = frames.decode()
        else:
            cells = "".join(_cell_symbol(frames[i:i + per_char]) for i in range(0, n, per_char))
        out.extend(cells[i:i + width] for i in range(0, len(cells), width))
        out.append("")
    out.append("Legend:")
    counts: Counter[str] = Counter()
    for r in runs:
        counts["free" if r.owner == "free" else r.owner] += r.count
    if counts["free"]:
        out.append(f"  {'0-9a':<5} {'free, by buddy order of the block (a = 10)':<40} {counts['free']} pages")
    kmalloc = sum(n for owner, n in counts.items() if owner.startswith("kmalloc:"))
    if kmalloc:
        counts["kmalloc caches (size-N)"] = kmalloc
        symbols["kmalloc caches (size-N)"] = "k"
    rank = {owner: i for i, owner in enumerate(("pcp", "pages", "vmalloc", "pgtable", "reserved", "hole"))}
    for owner, n in sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), -kv[1], kv[0])):
        if owner == "free" or owner.startswith("kmalloc:"):
            continue
        out.append(f"  {symbols[owner]:<5} {owner:<40} {n} page{'s' if n != 1 else ''}")
    return "\n".join(out) + "\n"
