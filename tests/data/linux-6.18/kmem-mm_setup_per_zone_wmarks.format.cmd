unshare -m sh -c 'mount -t tracefs nodev /mnt && cat /mnt/events/kmem/mm_setup_per_zone_wmarks/format'
