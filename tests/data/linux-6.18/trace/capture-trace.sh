set -e
mount -t tracefs nodev /sys/kernel/tracing
I=/sys/kernel/tracing/instances/h5capture
mkdir $I
for e in kmalloc kmem_cache_alloc kfree kmem_cache_free mm_page_alloc mm_page_free; do echo 1 > $I/events/kmem/$e/enable; done
cat /proc/self/status > /dev/null; ls -R /usr/share/doc > /dev/null 2>&1; sleep 0.2
echo 0 > $I/tracing_on
cat $I/trace
for e in kmalloc kmem_cache_alloc kfree kmem_cache_free mm_page_alloc mm_page_free; do echo 0 > $I/events/kmem/$e/enable; done
rmdir $I
