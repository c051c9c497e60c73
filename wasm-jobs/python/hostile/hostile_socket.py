"""Hostile job: tries to connect to 127.0.0.1:80 and to make a socket, and
reports what each attempt got as JSON, e.g.

    {"import":{"ok":true},"create_connection":{"error":"OSError",...},"socket":{...}}

The daemon serves no network: every attempt must fail, and the job must
not crash."""

import epochd
from attempt import attempt

try:
    import socket
    # What create_connection needs first: a module imported at run time
    # cannot be loaded (the build snapshots the imports; no files at run
    # time), and without it the attempt fails before reaching the network.
    import encodings.idna  # noqa: F401
    _IMPORT = {"ok": True}
except BaseException as e:  # noqa: B036: report whatever it is
    socket = None
    _IMPORT = {"error": type(e).__name__, "message": str(e)}


def _try(fn):
    if socket is None:
        return {"error": "no socket module"}
    return attempt(fn)


def _connect():
    s = socket.create_connection(("127.0.0.1", 80), timeout=1)
    s.close()
    return {"ok": True}


def _socket():
    s = socket.socket()
    s.close()
    return {"ok": True}


@epochd.job
def run():
    return {"import": _IMPORT, "create_connection": _try(_connect), "socket": _try(_socket)}
