cat /proc/sys/vm/percpu_pagelist_high_fraction
