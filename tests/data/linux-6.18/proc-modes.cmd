ls -l /proc/meminfo /proc/zoneinfo /proc/vmstat /proc/buddyinfo /proc/pagetypeinfo /proc/slabinfo /proc/vmallocinfo
