"""Hostile job: reads the clocks and the random stream, sleeps, and
returns it all as JSON, so a test can check that they are deterministic:
the daemon serves the epoch's second as the wall clock, a virtual
monotonic clock that moves only by sleeps, and a random stream fixed by
(job, epoch, dc).

    {"time":[t0,t1,t2],"monotonic":[m0,m1],"random":[r0,r1],"urandom":"hex","slept":s}

t0 = time.time() first, then time.monotonic() (m0), time.time() again
(t1), random.random() twice (Python seeds `random` from WASI's random
stream when the run starts, not at build time), os.urandom(8), time.sleep(0.5), then time.time() (t2) and
time.monotonic() (m1); slept = m1 - m0.
"""

import os
import random
import time

import epochd


@epochd.job
def run():
    t0 = time.time()
    m0 = time.monotonic()
    t1 = time.time()
    r = [random.random(), random.random()]
    u = os.urandom(8).hex()
    time.sleep(0.5)
    t2 = time.time()
    m1 = time.monotonic()
    return {"time": [t0, t1, t2], "monotonic": [m0, m1], "random": r, "urandom": u,
            "slept": m1 - m0, "time_ns": time.time_ns()}
