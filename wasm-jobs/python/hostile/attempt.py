"""What the hostile file and socket jobs share: an attempt, and what it got
as JSON ({"error": ..., "errno": ..., "errno_name": ..., "message": ...} or
the attempt's own answer). Imported at build time, like every module a job
needs."""

import errno


def failure(e):
    """An exception as JSON: its type, its errno and errno name when it has
    one, its message."""
    out = {"error": type(e).__name__}
    code = getattr(e, "errno", None)
    if isinstance(code, int):
        out["errno"] = code
        out["errno_name"] = errno.errorcode.get(code, "")
    out["message"] = str(e)
    return out


def attempt(fn):
    """``fn()``, or what it raised, as JSON: whatever it is, the job goes on."""
    try:
        return fn()
    except BaseException as e:  # noqa: B036: report whatever it is
        return failure(e)
