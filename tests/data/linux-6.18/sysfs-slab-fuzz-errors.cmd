cd /sys/kernel/slab/kmalloc-64 && python3 -c '
import errno, os
MIB = 1 << 20
BAD = {"newline": b"\n", "blank": b" \t \n", "word": b"nonsense\n", "sign only": b"-\n", "plus only": b"+\n",
       "hex prefix only": b"0x\n", "overflow": b"9" * 40 + b"\n", "NUL": b"\x00", "binary": bytes(range(256)),
       "latin-1": "\xe9t\xe9\n".encode("latin-1"), "huge digits": b"9" * MIB,
       "huge binary": bytes(range(256)) * (MIB // 256)}
for attr in ("min_partial", "cpu_partial", "shrink", "validate", "remote_node_defrag_ratio"):
    for name, data in BAD.items():
        fd = os.open(attr, os.O_WRONLY)
        try:
            r = os.write(fd, data)
        except OSError as e:
            r = errno.errorcode[e.errno]
        finally:
            os.close(fd)
        print(f"{attr} <- {name}: {r}")
'
