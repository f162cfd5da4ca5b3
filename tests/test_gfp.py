"""GFP flags: the 2.6 include/linux/gfp.h values, parsing and printing."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocator import gfp as G


def test_gfp_single_bits_have_the_2_6_values():
    expected = {
        "__GFP_DMA": 0x01, "__GFP_HIGHMEM": 0x02, "__GFP_WAIT": 0x10, "__GFP_HIGH": 0x20,
        "__GFP_IO": 0x40, "__GFP_FS": 0x80, "__GFP_COLD": 0x100, "__GFP_NOWARN": 0x200,
        "__GFP_REPEAT": 0x400, "__GFP_NOFAIL": 0x800, "__GFP_NORETRY": 0x1000,
        "__GFP_NO_GROW": 0x2000, "__GFP_COMP": 0x4000, "__GFP_ZERO": 0x8000,
        "__GFP_NOMEMALLOC": 0x10000, "__GFP_HARDWALL": 0x20000,
    }
    for name, value in expected.items():
        assert getattr(G, name) == value, name
        assert G.gfp_parse(name) == value, name
        assert getattr(G.F, name[6:]) == value, name  # the unmangled alias for classes


def test_gfp_composites_have_the_2_6_values():
    assert G.GFP_NOWAIT == 0
    assert G.GFP_ATOMIC == 0x20
    assert G.GFP_NOIO == 0x10
    assert G.GFP_NOFS == 0x50
    assert G.GFP_KERNEL == 0xD0
    assert G.GFP_USER == 0x200D0
    assert G.GFP_HIGHUSER == 0x200D2
    assert G.GFP_DMA == 0x01
    for name in ("GFP_ATOMIC", "GFP_NOIO", "GFP_NOFS", "GFP_KERNEL", "GFP_USER",
                 "GFP_HIGHUSER", "GFP_NOWAIT"):
        assert G.gfp_parse(name) == getattr(G, name), name


def test_gfp_parse_joins_names_with_a_bar():
    assert G.gfp_parse("GFP_KERNEL|__GFP_ZERO") == 0xD0 | 0x8000
    assert G.gfp_parse("GFP_ATOMIC|__GFP_NOWARN|__GFP_DMA") == 0x20 | 0x200 | 0x01
    # a name repeated, or a bit already in the composite, is harmless
    assert G.gfp_parse("GFP_KERNEL|__GFP_WAIT|GFP_KERNEL") == 0xD0


def test_gfp_parse_accepts_hex_and_decimal():
    assert G.gfp_parse("0xd0") == 0xD0
    assert G.gfp_parse("0XD0") == 0xD0
    assert G.gfp_parse("208") == 0xD0
    assert G.gfp_parse("0x8000|GFP_KERNEL") == 0x80D0
    assert G.gfp_parse("32|__GFP_NOWARN") == 0x220


def test_gfp_parse_ignores_surrounding_white_space_and_the_newline_of_echo():
    assert G.gfp_parse("GFP_KERNEL | __GFP_ZERO\n") == 0x80D0
    assert G.gfp_parse("  0x20\n") == 0x20


@pytest.mark.parametrize("text", ["GFP_KERNAL", "__GFP_ZER0", "gfp_kernel", "GFP_KERNEL|bogus",
                                  "GFP_KERNEL|", "|GFP_KERNEL", "0xzz", "1.5"])
def test_gfp_parse_rejects_unknown_tokens_naming_them(text):
    with pytest.raises(ValueError) as e:
        G.gfp_parse(text)
    bad = [t.strip() for t in text.split("|") if t.strip() not in G.NAMES]
    assert repr(bad[0]) in str(e.value)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_gfp_parse_rejects_an_empty_mask(text):
    with pytest.raises(ValueError):
        G.gfp_parse(text)


@pytest.mark.parametrize("text", ["0x40000", "0x80000000", "-1", "-0x10", "262144"])
def test_gfp_parse_rejects_numbers_outside_the_2_6_bits(text):
    with pytest.raises(ValueError):
        G.gfp_parse(text)


def test_gfp_format_prints_the_composite_then_the_extra_bits():
    assert G.gfp_format(G.GFP_KERNEL | G.__GFP_ZERO) == "GFP_KERNEL|__GFP_ZERO"
    assert G.gfp_format(G.GFP_KERNEL) == "GFP_KERNEL"
    assert G.gfp_format(G.GFP_ATOMIC) == "GFP_ATOMIC"
    assert G.gfp_format(G.GFP_ATOMIC | G.__GFP_NOWARN) == "GFP_ATOMIC|__GFP_NOWARN"
    assert G.gfp_format(G.GFP_HIGHUSER) == "GFP_HIGHUSER"
    assert G.gfp_format(G.GFP_USER) == "GFP_USER"
    assert G.gfp_format(G.GFP_NOFS) == "GFP_NOFS"
    assert G.gfp_format(G.GFP_KERNEL | G.__GFP_DMA) == "GFP_KERNEL|__GFP_DMA"
    assert G.gfp_format(0) == "GFP_NOWAIT"


def test_gfp_format_uses_single_bits_when_no_composite_fits():
    assert G.gfp_format(G.__GFP_ZERO | G.__GFP_COLD) == "__GFP_COLD|__GFP_ZERO"
    assert G.gfp_format(G.__GFP_HIGHMEM) == "__GFP_HIGHMEM"


@given(st.integers(min_value=0, max_value=G.ALL_BITS).map(lambda m: m & G.ALL_BITS))
def test_gfp_format_then_parse_gives_back_the_mask(mask):
    text = G.gfp_format(mask)
    assert G.gfp_parse(text) == mask
    assert " " not in text


def test_gfp_zone_is_the_highest_zone_a_mask_may_use():
    assert G.gfp_zone(G.GFP_KERNEL) == 1
    assert G.gfp_zone(G.GFP_ATOMIC) == 1
    assert G.gfp_zone(G.GFP_KERNEL | G.__GFP_DMA) == 0
    assert G.gfp_zone(G.GFP_HIGHUSER) == 2
    # __GFP_DMA wins over __GFP_HIGHMEM, as in 2.6 gfp_zone's table order
    assert G.gfp_zone(G.__GFP_DMA | G.__GFP_HIGHMEM) == 0
