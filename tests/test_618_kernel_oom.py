"""Kernel(version="6.18") boots with 6.18's OOM killer wired into the page
allocator's __alloc_pages_may_oom (mm/page_alloc.c 6.12): a GFP_KERNEL order-0
allocation that reclaim cannot satisfy runs out_of_memory, which chooses the
only task that holds memory. Expected text: mm/oom_kill.c dump_header and
__oom_kill_process's format strings (reference linux-6.18.md §3.8)."""
from __future__ import annotations

from allocator import Kernel


def test_a_6_18_kernel_kills_the_task_that_holds_the_memory():
    k = Kernel(version="6.18", mem=64 << 20)
    k.set_current(4242, "hog")
    held = 0
    while k.alloc_pages(k.gfp.GFP_KERNEL, 0) is not None:
        held += 1
        assert held < 64 << 8, "64 MiB of RAM cannot hold this many pages"
    text = "\n".join(r.text for r in k.log.records)
    assert "hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0" in text
    assert "Out of memory: Killed process 4242 (hog) total-vm:" in text
    assert k.vm_events["oom_kill"] == 1


def test_the_2_6_18_kernel_keeps_its_own_oom_killer():
    k = Kernel(mem=64 << 20)
    k.set_current(4242, "hog")
    while k.alloc_pages(k.gfp.GFP_KERNEL, 0) is not None:
        pass
    text = "\n".join(r.text for r in k.log.records)
    # 2.6.18 mm/oom_kill.c out_of_memory / oom_kill_process
    assert "oom-killer: gfp_mask=0xd0, order=0" in text
    assert "Out of Memory: Kill process 4242 (hog) score" in text
