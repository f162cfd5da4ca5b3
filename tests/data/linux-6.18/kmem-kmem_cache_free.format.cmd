unshare -m sh -c 'mount -t tracefs nodev /mnt && cat /mnt/events/kmem/kmem_cache_free/format'
