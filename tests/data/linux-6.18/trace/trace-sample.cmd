unshare -m sh tests/data/linux-6.18/trace/capture-trace.sh | { head -12; grep -m4 each of ' kmalloc: ' ' kmem_cache_alloc: ' ' kfree: ' ' kmem_cache_free: ' ' mm_page_alloc: ' ' mm_page_free: '; }
