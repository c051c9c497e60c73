"""Hostile job: asks for the same column again and again, keeping every
handle, until the daemon gives no more; emits how many it held, e.g.
{"held":65530}. The handles live in the host's memory, outside the job's
memory cap, so the daemon bounds them per run (65,536, streams included):
the run must end with that bound reached, not grow the host until its
deadline."""

import epochd


@epochd.job
def run():
    held = []
    while True:
        col = epochd.column("type", epochd.STR)
        if col is None:
            break
        held.append(col)
    return {"held": len(held)}
