cat /proc/pagetypeinfo
