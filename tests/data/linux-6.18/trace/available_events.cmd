unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && grep ^kmem: /sys/kernel/tracing/available_events'
