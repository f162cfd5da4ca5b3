cat /proc/sys/vm/lowmem_reserve_ratio
