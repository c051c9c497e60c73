"""Hostile job: tries to read /etc/passwd and to list /, and reports what
each attempt got as JSON, e.g.

    {"open":{"error":"FileNotFoundError","errno":44,"errno_name":"ENOENT"},"listdir":{...}}

(a success would read {"ok":true,"bytes":N} or {"ok":true,"entries":[...]}).
The daemon serves no files: every attempt must fail, and the job must not
crash."""

import os

import epochd
from attempt import attempt as _try


def _read():
    with open("/etc/passwd", "rb") as f:
        return {"ok": True, "bytes": len(f.read())}


def _listdir():
    return {"ok": True, "entries": sorted(os.listdir("/"))[:20]}


def _write():
    with open("/tmp/epochd-hostile-file", "wb") as f:
        f.write(b"x")
    return {"ok": True}


@epochd.job
def run():
    return {
        "open": _try(_read),
        "listdir": _try(_listdir),
        "listdir_cwd": _try(lambda: {"ok": True, "entries": sorted(os.listdir("."))[:20]}),
        "write": _try(_write),
    }
