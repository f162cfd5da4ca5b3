dmesg | sed -n 338,391p   # a hung-task report: the 6.x Call Trace / <TASK> form (no DMI on this host, so dump_stack prints no Hardware name line)
