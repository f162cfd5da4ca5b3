head -2 /proc/slabinfo; grep -E '^(kmalloc|kmalloc-cg|kmalloc-rcl|dma-kmalloc)-' /proc/slabinfo
