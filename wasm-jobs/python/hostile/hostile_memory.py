"""Hostile job: allocates 1 MiB after 1 MiB, writing every byte, without
bound. The daemon's memory cap must stop it (kind `memory`)."""

import epochd

MIB = 1 << 20


@epochd.job
def run():
    blocks = []
    while True:
        blocks.append(bytearray(b"\xa5") * MIB)
