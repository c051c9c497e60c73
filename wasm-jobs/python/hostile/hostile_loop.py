"""Hostile job: loops forever in run. The daemon's deadline must stop it."""

import epochd


@epochd.job
def run():
    n = 0
    while True:
        n += 1
