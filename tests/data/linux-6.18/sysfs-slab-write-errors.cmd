cd /sys/kernel/slab/kmalloc-64 && for w in "order 1" "shrink 2" "validate 1" "remote_node_defrag_ratio 101" "min_partial abc" "min_partial 99999999999999999999999" "cpu_partial 99999999999" "cpu_partial -1"; do set -- $w; printf "%s <- %s: " $1 $2; python3 -c "import os,sys
try:
    fd=os.open(sys.argv[1], os.O_WRONLY); os.write(fd, sys.argv[2].encode()+b\"\\n\"); print(\"ok\")
except OSError as e: print(__import__(\"errno\").errorcode[e.errno])" $1 $2; done
