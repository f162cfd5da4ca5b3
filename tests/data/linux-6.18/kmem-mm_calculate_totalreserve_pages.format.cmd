unshare -m sh -c 'mount -t tracefs nodev /mnt && cat /mnt/events/kmem/mm_calculate_totalreserve_pages/format'
