grep -i vmalloc /proc/meminfo
