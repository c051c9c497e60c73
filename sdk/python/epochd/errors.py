"""The exceptions of the epochd SDK. Pure Python."""

__all__ = ["JobError", "HostError"]


class JobError(Exception):
    """A failure the job describes itself: raise it in ``run`` or ``merge``
    and the run fails with exactly ``str(error)`` as its message (any other
    exception fails it too, with its type, message and where it was
    raised)."""


class HostError(JobError):
    """The host answered a read with an error the SDK did not expect there
    (``call`` and ``code``: a ``ReadError`` name such as ``"out-of-range"``).
    A bug in the SDK or the host, or a read past the values."""

    def __init__(self, call, code):
        self.call = call
        self.code = code
        JobError.__init__(self, "the host answered `%s` with %s" % (call, code))
