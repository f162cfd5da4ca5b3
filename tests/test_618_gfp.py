"""Linux 6.18 GFP flags against include/linux/gfp_types.h, include/linux/gfp.h
and the live 6.18 kernel's trace print fmt (tests/data/linux-6.18 in the
proc618 captures; the values are copied here, not computed by the module)."""
from __future__ import annotations

import pytest

from allocator.linux618 import gfp as G
from allocator.linux618.gfp import F, gfp_format, gfp_format_trace, gfp_migratetype, gfp_parse, gfp_zone

# (bit, name) from the reference §2 table (enum in gfp_types.h; bit 9 unused)
BITS = [(0, "__GFP_DMA"), (1, "__GFP_HIGHMEM"), (2, "__GFP_DMA32"), (3, "__GFP_MOVABLE"),
        (4, "__GFP_RECLAIMABLE"), (5, "__GFP_HIGH"), (6, "__GFP_IO"), (7, "__GFP_FS"),
        (8, "__GFP_ZERO"), (10, "__GFP_DIRECT_RECLAIM"), (11, "__GFP_KSWAPD_RECLAIM"),
        (12, "__GFP_WRITE"), (13, "__GFP_NOWARN"), (14, "__GFP_RETRY_MAYFAIL"),
        (15, "__GFP_NOFAIL"), (16, "__GFP_NORETRY"), (17, "__GFP_MEMALLOC"), (18, "__GFP_COMP"),
        (19, "__GFP_NOMEMALLOC"), (20, "__GFP_HARDWALL"), (21, "__GFP_THISNODE"),
        (22, "__GFP_ACCOUNT"), (23, "__GFP_ZEROTAGS"), (24, "__GFP_NO_OBJ_EXT")]

COMPOSITES = {"__GFP_RECLAIM": 0xc00, "GFP_ATOMIC": 0x820, "GFP_KERNEL": 0xcc0,
              "GFP_KERNEL_ACCOUNT": 0x400cc0, "GFP_NOWAIT": 0x2800, "GFP_NOIO": 0xc00,
              "GFP_NOFS": 0xc40, "GFP_USER": 0x100cc0, "GFP_DMA": 0x1, "GFP_DMA32": 0x4,
              "GFP_HIGHUSER": 0x100cc2, "GFP_HIGHUSER_MOVABLE": 0x100cca,
              "GFP_TRANSHUGE_LIGHT": 0x1c20ca, "GFP_TRANSHUGE": 0x1c24ca}

# the __print_flags table of the live 6.18 kernel's mm_page_alloc print fmt, in order
TABLE_ORDER = ["GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER",
               "GFP_USER", "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC",
               "GFP_NOIO", "GFP_NOWAIT", "GFP_DMA", "GFP_DMA32", "__GFP_RECLAIM", "__GFP_DMA",
               "__GFP_HIGHMEM", "__GFP_DMA32", "__GFP_MOVABLE", "__GFP_RECLAIMABLE", "__GFP_HIGH",
               "__GFP_IO", "__GFP_FS", "__GFP_ZERO", "__GFP_DIRECT_RECLAIM",
               "__GFP_KSWAPD_RECLAIM", "__GFP_WRITE", "__GFP_NOWARN", "__GFP_RETRY_MAYFAIL",
               "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
               "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ACCOUNT",
               "__GFP_ZEROTAGS", "__GFP_NO_OBJ_EXT"]


@pytest.mark.parametrize(("bit", "name"), BITS)
def test_bit_values_are_the_enum_of_gfp_types_h(bit, name):
    assert G.BITS[name] == 1 << bit
    assert getattr(F, name[6:]) == 1 << bit
    assert gfp_parse(name) == 1 << bit


def test_bit_9_is_unused_and_prints_as_hex():
    assert 0x200 not in G.BITS.values()
    assert gfp_format(0x200) == "0x200"
    assert gfp_format(0xcc0 | 0x200) == "GFP_KERNEL|0x200"


@pytest.mark.parametrize(("name", "value"), sorted(COMPOSITES.items()))
def test_composites(name, value):
    assert G.NAMES[name] == value
    assert gfp_parse(name) == value


def test_table_order_is_the_live_kernels():
    assert [name for name, _ in G.GFPFLAG_NAMES] == TABLE_ORDER


@pytest.mark.parametrize(("mask", "text"), [
    (0xdc0, "GFP_KERNEL|__GFP_ZERO"),             # reference §2 examples
    (0x2820, "GFP_ATOMIC|__GFP_NOWARN"),
    (0xcc0, "GFP_KERNEL"),                        # warn_alloc example: mode:0xcc0(GFP_KERNEL)
    (0x40cc0, "GFP_KERNEL|__GFP_COMP"),
    (0x140cca, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"),
    (0x1c24ca, "GFP_TRANSHUGE"),
    (0x1c20ca, "GFP_TRANSHUGE_LIGHT"),
    (0x400cc0, "GFP_KERNEL_ACCOUNT"),
    (0x400dc0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO"),
    (0x2800, "GFP_NOWAIT"),
    (0xcc1, "GFP_KERNEL|GFP_DMA"),                # GFP_DMA comes before __GFP_DMA
    (0xcc4, "GFP_KERNEL|GFP_DMA32"),
    (0x800, "__GFP_KSWAPD_RECLAIM"),
    (0x400, "__GFP_DIRECT_RECLAIM"),
    (0xc00, "GFP_NOIO"),                          # GFP_NOIO == __GFP_RECLAIM: the first name wins
    (0x2dc2, "GFP_KERNEL|__GFP_HIGHMEM|__GFP_ZERO|__GFP_NOWARN"),
    (0x1000000 | 0x820, "GFP_ATOMIC|__GFP_NO_OBJ_EXT"),
    (0x4000000, "0x4000000"),                     # above ___GFP_LAST_BIT
])
def test_pGg(mask, text):
    assert gfp_format(mask) == text


def test_zero_prints_empty_in_pGg_and_none_in_trace():
    assert gfp_format(0) == ""
    assert gfp_format_trace(0) == "none"
    assert gfp_format_trace(0xcc0) == "GFP_KERNEL"


def test_parse_names_and_numbers():
    assert gfp_parse("GFP_KERNEL|__GFP_ZERO") == 0xdc0
    assert gfp_parse(" GFP_ATOMIC | __GFP_NOWARN ") == 0x2820
    assert gfp_parse("0xdc0") == 0xdc0
    assert gfp_parse("3520") == 0xdc0
    assert gfp_parse("GFP_KERNEL|0x100") == 0xdc0


@pytest.mark.parametrize(("name", "successor"), [
    ("__GFP_REPEAT", "__GFP_RETRY_MAYFAIL"),
    ("__GFP_COLD", "gone"),
    ("__GFP_WAIT", "__GFP_DIRECT_RECLAIM"),
    ("__GFP_NO_GROW", "gone"),
])
def test_2_6_flags_are_refused_naming_their_successor(name, successor):
    with pytest.raises(ValueError, match=successor):
        gfp_parse(f"GFP_KERNEL|{name}")


@pytest.mark.parametrize("text", ["", "GFP_BOGUS", "0x200", "0x2000000", "-1"])
def test_bad_masks(text):
    with pytest.raises(ValueError):
        gfp_parse(text)


@pytest.mark.parametrize(("mask", "zone"), [
    (0, 2), (0x1, 0), (0x4, 1), (0x2, 2), (0x8, 2), (0x9, 0), (0xa, 3), (0xc, 1),
    (0xcc0, 2), (0x100cca, 3),                   # GFP_HIGHUSER_MOVABLE: ZONE_MOVABLE
])
def test_gfp_zone_table(mask, zone):
    """GFP_ZONE_TABLE on x86_64: ZONE_DMA 0, DMA32 1, NORMAL 2, MOVABLE 3."""
    assert gfp_zone(mask) == zone


@pytest.mark.parametrize("mask", [0x3, 0x5, 0x6, 0x7, 0xb, 0xd, 0xe, 0xf])
def test_gfp_zone_bad(mask):
    """GFP_ZONE_BAD: DMA|HIGHMEM, DMA|DMA32, DMA32|HIGHMEM, all three, and those with MOVABLE."""
    assert G.gfp_zone_bad(mask)
    with pytest.raises(ValueError, match="GFP_ZONE_BAD"):
        gfp_zone(mask)


@pytest.mark.parametrize(("mask", "mt"), [(0xcc0, 0), (0x100cca, 1), (0xcd0, 2), (0x820, 0)])
def test_gfp_migratetype(mask, mt):
    assert gfp_migratetype(mask) == mt
