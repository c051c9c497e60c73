"""epochd jobs in Python: the SDK.

A job is a Python module built into a WebAssembly component with
componentize-py against the WIT world ``epochd:job@1.0.0``
(``sdk/wit/job.wit``): world ``mergeable-job`` when it has a merge, ``job``
otherwise. This package wraps the generated bindings::

    import epochd

    @epochd.job
    def run():
        types = epochd.row_ids("type")       # one string id per row, in bulk
        counts = types.counts()              # Counter {string or None: rows}
        return {"events": epochd.rows(), "web": counts["WEB"]}

    @epochd.merge                             # optional
    def merge(a, b):                          # two non-empty results (bytes)
        ...

``run`` returns the result: a dict, list, number... (written as compact
JSON, byte for byte as serde_json writes it: ``epochd.json``), ``bytes``
(as is), ``str`` (as UTF-8) or None (an empty result). Raising fails the
run: ``epochd.JobError("why")`` with exactly that message, any other
exception with its type, message and the line that raised it (its
traceback goes to the run's log). ``merge(a, b)`` gets two results of the
job and returns their combination; the SDK applies the empty result's
identity itself (``merge(b"", x) == x``), so it sees non-empty inputs only.

The epoch: ``epoch()``, ``seq()``, ``rows()``, ``dc()``; columns
(``column(path, INT)`` -> ``Column`` or None), string ids by row
(``row_ids(path)``), a field's values by row (``field(path)``), map and
list containers (``container(path, MAP)``), the config (``config()``,
``config_str()``, ``config_json()``) and the log (``log.info(...)``).
See README.md for the whole API and advice for fast jobs.

``epochd.json`` and ``epochd.sketch`` are pure Python and work anywhere;
``epochd.testing`` runs jobs natively over events you give it.
"""

import collections as _collections
import sys as _sys
import traceback as _traceback

from . import json, sketch
from .errors import HostError, JobError
from .json import dumpb, dumps, loads
from .sketch import LogHistogram

__all__ = [
    "INT", "FLOAT", "BOOL", "STR", "NULL", "RAW", "MAP", "LIST", "BLOCK",
    "epoch", "seq", "rows", "dc",
    "column", "container", "row_ids", "count_pairs", "field", "gather", "scatter",
    "Column", "Container", "RowIds",
    "config", "config_str", "config_json", "log",
    "job", "merge", "Job",
    "JobError", "HostError", "LogHistogram",
    "dumps", "dumpb", "loads", "json", "sketch",
]

# Value types: the ABI's type codes (and the order of the WIT enum).
INT, FLOAT, BOOL, STR, NULL, RAW = range(6)
_TYPE_NAMES = ("int", "float", "bool", "str", "null", "raw")
# Container kinds.
MAP, LIST = 0, 1
# Values read per host call: large blocks, few calls.
BLOCK = 65536

# The generated bindings (wit_world.imports.*) and the Err of
# componentize_py_types, bound at import inside a component, or by
# epochd.testing natively.
_ep = _host = _Err = None
_VT = _CK = _LV = None


def _bind(epoch_module, host_module, types_module, err_class):
    """Points the SDK at bindings (the generated ones, or a fake)."""
    global _ep, _host, _Err, _VT, _CK, _LV
    _ep, _host, _Err = epoch_module, host_module, err_class
    _VT = [types_module.ValueType(i) for i in range(6)]
    _CK = [types_module.ContainerKind(i) for i in range(2)]
    _LV = [types_module.Level(i) for i in range(4)]


try:  # inside a component built by componentize-py
    from componentize_py_types import Err as _GeneratedErr
    from wit_world.imports import epoch as _generated_epoch
    from wit_world.imports import host as _generated_host
    from wit_world.imports import types as _generated_types
except ImportError:  # plain CPython: epochd.testing binds a fake
    pass
else:
    _bind(_generated_epoch, _generated_host, _generated_types, _GeneratedErr)


def _bindings():
    if _ep is None:
        raise RuntimeError(
            "epochd: not inside a component (build the job with componentize-py, "
            "or use epochd.testing to run it natively)")
    return _ep


def _code(err):
    """A ReadError as the WIT spells it: 'out-of-range'."""
    value = getattr(err, "value", err)
    name = getattr(value, "name", None)
    return name.lower().replace("_", "-") if name else repr(value)


_consume = _collections.deque(maxlen=0).extend


def gather(seq, indices):
    """``[seq[i] for i in indices]``, at C speed: e.g. the subtype id of
    each value's row, ``gather(subtypes.ids, col.rows())``."""
    return list(map(seq.__getitem__, indices))


def scatter(out, indices, values):
    """``out[i] = v`` for each pair of ``indices`` and ``values``, at C
    speed; returns ``out``."""
    _consume(map(out.__setitem__, indices, values))
    return out


# --- the epoch ---------------------------------------------------------

def epoch():
    """The epoch: its unix second."""
    return _bindings().epoch()


def seq():
    """0 for the primary commit, 1.. for supplementary commits of late events."""
    return _bindings().seq()


def rows():
    """The number of events (rows), numbered 0..rows()."""
    return _bindings().rows()


def dc():
    """The data centre of the commit (empty during a merge)."""
    return _bindings().dc()


def _blocks(fn, call, start, stop):
    """fn(start, count) over start..stop, in blocks of BLOCK values."""
    try:
        if stop - start <= BLOCK:
            return fn(start, stop - start) if stop > start else []
        out = []
        for s in range(start, stop, BLOCK):
            out += fn(s, min(BLOCK, stop - s))
        return out
    except Exception as e:
        if _Err is not None and isinstance(e, _Err):
            raise HostError(call, _code(e)) from None
        raise


class Column:
    """The values of one field path with one value type, in row order.

    A sequence: ``len(col)``, ``col[i]``, ``col[a:b]``, ``for v in col``
    (read from the host in blocks of ``BLOCK`` values), ``col.values()``
    (all of them, as a list). Values are ``int`` (INT), ``float`` (FLOAT),
    ``bool`` (BOOL), ``str`` (STR: invalid UTF-8 replaced by U+FFFD),
    None (NULL) or ``bytes`` (RAW: MessagePack). ``col.rows()`` gives each
    value's row; a ``dense`` column holds a value in every row of its
    space (value i is row i). A STR column that repeats its strings is
    dictionary-coded: ``ids()`` and ``dictionary()``.
    """

    __slots__ = ("_c", "path", "type", "_len", "dense", "_dict", "_space")

    def __init__(self, handle, path, vtype, space=None):
        self._c = handle
        self.path = path
        self.type = vtype
        self._len = handle.len()
        self.dense = handle.dense()
        self._dict = False  # not asked yet
        self._space = space

    def __repr__(self):
        return "<epochd.Column %r %s: %d values%s>" % (
            self.path, _TYPE_NAMES[self.type], self._len, ", dense" if self.dense else "")

    def __len__(self):
        return self._len

    def __bool__(self):
        return True

    def _range(self, start, stop):
        n = self._len
        start = 0 if start is None else max(0, min(n, start + n if start < 0 else start))
        stop = n if stop is None else max(0, min(n, stop + n if stop < 0 else stop))
        return start, max(start, stop)

    def _read(self, start, stop):
        t, c = self.type, self._c
        if t == INT:
            return _blocks(c.ints, "ints", start, stop)
        if t == FLOAT:
            return _blocks(c.floats, "floats", start, stop)
        if t == BOOL:
            return _blocks(c.bools, "bools", start, stop)
        if t == STR:
            d = self.dictionary()
            if d is not None:
                return list(map(d.__getitem__, _blocks(c.ids, "ids", start, stop)))
            return _blocks(c.strings, "strings", start, stop)
        if t == NULL:
            return [None] * (stop - start)
        return [self.bytes(i) for i in range(start, stop)]

    def values(self, start=None, stop=None):
        """The values ``start..stop`` (default: all), as a list."""
        start, stop = self._range(start, stop)
        return self._read(start, stop)

    def __iter__(self):
        for s in range(0, self._len, BLOCK):
            yield from self._read(s, min(self._len, s + BLOCK))

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop = self._range(i.start, i.stop)
            if i.step is None or i.step == 1:
                return self._read(start, stop)
            return self.values()[i]
        n = self._len
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError("column index %d out of range (%d values)" % (i, n))
        return self._read(j, j + 1)[0]

    def rows(self, start=None, stop=None):
        """The row of each value ``start..stop`` (default: all), ascending:
        a ``range`` when the column is dense, else a list."""
        start, stop = self._range(start, stop)
        if self.dense:
            return range(start, stop)
        return _blocks(self._c.rows, "rows", start, stop)

    def items(self):
        """``(row, value)`` pairs, in row order."""
        return zip(self.rows(), self.values())

    def dictionary(self):
        """The strings of a dictionary-coded STR column, by id (invalid
        UTF-8 replaced by U+FFFD); None without a dictionary."""
        if self._dict is False:
            d = None
            if self.type == STR:
                try:
                    d = self._c.dictionary()
                except Exception as e:
                    if not (_Err is not None and isinstance(e, _Err)):
                        raise
                    if _code(e) != "wrong-type":
                        raise HostError("dictionary", _code(e)) from None
            self._dict = d
        return self._dict

    @property
    def has_dictionary(self):
        return self.dictionary() is not None

    def ids(self, start=None, stop=None):
        """The dictionary ids of the values ``start..stop`` (equal strings,
        equal ids); None without a dictionary."""
        if self.dictionary() is None:
            return None
        start, stop = self._range(start, stop)
        return _blocks(self._c.ids, "ids", start, stop)

    def strings(self, start=None, stop=None):
        """The values of a STR column as str (the host looks ids up)."""
        start, stop = self._range(start, stop)
        return _blocks(self._c.strings, "strings", start, stop)

    def bytes(self, index):
        """The exact bytes of value ``index`` of a STR column (invalid UTF-8
        kept), or the MessagePack bytes of a RAW one."""
        try:
            return self._c.bytes(index)
        except Exception as e:
            if _Err is not None and isinstance(e, _Err):
                raise HostError("bytes", _code(e)) from None
            raise

    def by_row(self, fill=None):
        """A list with one item per row of the column's space (the epoch's
        rows, or a container's entries): the row's value, or ``fill``."""
        size = rows() if self._space is None else self._space()
        values = self.values()
        if self.dense and len(values) == size:
            return values
        return scatter([fill] * size, self.rows(), values)


def column(path, vtype):
    """The column of ``path`` (keys joined by ``.``, e.g.
    ``"tuning.wallclock"``) with values of type ``vtype`` (``INT``,
    ``FLOAT``, ``BOOL``, ``STR``, ``NULL``, ``RAW``); None when no event
    has one."""
    h = _bindings().find_column(path, _VT[vtype])
    return None if h is None else Column(h, path, vtype)


class RowIds:
    """A string field by row: ``ids[row]`` is an index into ``strings``,
    or None where the row holds no string there (no such field, or another
    type). Unpacks as ``ids, strings = epochd.row_ids(path)``."""

    __slots__ = ("ids", "strings")

    def __init__(self, ids, strings):
        self.ids = ids
        self.strings = strings

    def __iter__(self):
        return iter((self.ids, self.strings))

    def __eq__(self, other):
        return isinstance(other, RowIds) and (self.ids, self.strings) == (other.ids, other.strings)

    def __repr__(self):
        return "RowIds(%d rows, %d strings)" % (len(self.ids), len(self.strings))

    def name(self, i):
        """The string of id ``i``; None for None."""
        return None if i is None else self.strings[i]

    def counts(self):
        """Rows per string: a ``Counter`` ``{string or None: rows}`` (ids of
        equal strings added). Counted at C speed."""
        out = _collections.Counter()
        for i, n in _count_ids(self.ids, len(self.strings)).items():
            out[self.name(i)] += n
        return out


def _count_ids(ids, n):
    """``Counter(ids)``, faster when the ids fit in a byte (no None)."""
    if 0 < n <= 256:
        try:
            b = bytes(ids)
        except (TypeError, ValueError):  # a None, or an id above 255
            pass
        else:
            present = range(n) if n <= 64 else set(b)
            return {i: c for i in present for c in (b.count(i),) if c}
    return _collections.Counter(ids)


def count_pairs(a, b):
    """Rows per pair of strings of two fields (``RowIds`` of the same
    epoch): a ``Counter`` ``{(string or None, string or None): rows}``,
    e.g. ``count_pairs(row_ids("type"), row_ids("subtype"))``. The same as
    counting ``zip(a.ids, b.ids)`` and looking the ids up; when both fields
    are dense and have few strings (at most 256 pairs of them), computed on
    bytes (about 5 ms for 100,000 rows in a component, 5 times faster)."""
    na, nb = len(a.strings), len(b.strings)
    counted = None
    if 0 < na * nb <= 256 and len(a.ids) == len(b.ids):
        try:
            ab, bb = bytes(a.ids), bytes(b.ids)
        except (TypeError, ValueError):  # a None: a sparse field
            pass
        else:
            # One byte per row, a * nb + b (< 256: no carry between rows),
            # made with integer arithmetic on the rows as base-256 digits.
            codes = (int.from_bytes(ab, "little") * nb + int.from_bytes(bb, "little")
                     ).to_bytes(len(ab), "little")
            present = range(na * nb) if na * nb <= 64 else set(codes)
            counted = {divmod(code, nb): codes.count(code) for code in present}
    if counted is None:
        counted = _collections.Counter(zip(a.ids, b.ids))
    out = _collections.Counter()
    for (i, j), n in counted.items():
        if n:
            out[(a.name(i), b.name(j))] += n
    return out


def row_ids(path):
    """The strings of ``path`` by row, as ids: ``RowIds(ids, strings)``,
    ``len(ids) == rows()``. With a dictionary the ids are the column's
    (read in bulk, no string touched); without one, strings get ids in
    order of first appearance. Group and count by id (a ``Counter`` of the
    ids, or of ``zip`` of two fields' ids), then look each id up once."""
    n = rows()
    col = column(path, STR)
    if col is None:
        return RowIds([None] * n, [])
    strings = col.dictionary()
    if strings is not None:
        ids = col.ids()
    else:
        index = {}
        ids = [index.setdefault(s, len(index)) for s in col.strings()]
        strings = list(index)
    if col.dense and len(ids) == n:
        return RowIds(ids, strings)
    return RowIds(scatter([None] * n, col.rows(), ids), strings)


def field(path, types=(INT, FLOAT, BOOL, STR, RAW)):
    """The values of ``path``, one per row: int, float, bool, str,
    bytes (RAW) or None (no value, or null). Convenient; for speed read
    the one column you need."""
    out = [None] * rows()
    for t in types:
        col = column(path, t)
        if col is not None:
            scatter(out, col.rows(), col.values())
    return out


class Container:
    """A map with varying keys (``MAP``) or an array (``LIST``) at one
    path: the rows holding it, each with a run of entries; the entries'
    keys and values are columns over the entries (their "rows" are entry
    numbers). ``len()`` is the number of holding rows; iterating gives
    ``(row, entries)`` with ``entries`` a range of entry numbers."""

    __slots__ = ("_c", "path", "kind", "_len", "_offsets")

    def __init__(self, handle, path, kind):
        self._c = handle
        self.path = path
        self.kind = kind
        self._len = handle.len()
        self._offsets = None

    def __repr__(self):
        return "<epochd.Container %r %s: %d rows>" % (
            self.path, ("map", "list")[self.kind], self._len)

    def __len__(self):
        return self._len

    def __bool__(self):
        return True

    def rows(self):
        """The holding rows, ascending."""
        return _blocks(self._c.rows, "rows", 0, self._len)

    def offsets(self):
        """``len() + 1`` entry offsets: the entries of the i-th holding row
        are ``offsets[i]..offsets[i + 1]``."""
        if self._offsets is None:
            self._offsets = _blocks(self._c.offsets, "offsets", 0, self._len + 1)
        return self._offsets

    def entries(self):
        """The number of entries (of all holding rows)."""
        off = self.offsets()
        return off[-1] if off else 0

    def __iter__(self):
        off = self.offsets()
        for i, row in enumerate(self.rows()):
            yield row, range(off[i], off[i + 1])

    def keys(self):
        """A map's keys: a dense STR column over the entries."""
        try:
            h = self._c.keys()
        except Exception as e:
            if _Err is not None and isinstance(e, _Err):
                raise HostError("keys", _code(e)) from None
            raise
        return Column(h, self.path, STR, self.entries)

    def values(self, vtype):
        """The entries' values of type ``vtype``, a column over the
        entries; None when no entry has one."""
        h = self._c.values(_VT[vtype])
        return None if h is None else Column(h, self.path, vtype, self.entries)

    def entry_values(self):
        """Every entry's value (any type; None for null), a list over the
        entries. Values with no column form (nested maps or arrays) are
        MessagePack bytes."""
        out = [None] * self.entries()
        for t in (INT, FLOAT, BOOL, STR, RAW):
            col = self.values(t)
            if col is not None:
                scatter(out, col.rows(), col.values())
        return out

    def by_row(self):
        """One item per epoch row: None where the row does not hold it,
        else a dict (a map: key -> value) or a list (an array)."""
        out = [None] * rows()
        off, values = self.offsets(), self.entry_values()
        keys = self.keys().values() if self.kind == MAP else None
        for i, row in enumerate(self.rows()):
            a, b = off[i], off[i + 1]
            out[row] = dict(zip(keys[a:b], values[a:b])) if keys is not None else values[a:b]
        return out


def container(path, kind):
    """The container (``MAP`` or ``LIST``) at ``path``; None when no event
    has one."""
    h = _bindings().find_container(path, _CK[kind])
    return None if h is None else Container(h, path, kind)


# --- config and log ----------------------------------------------------

def config():
    """The config bytes given at submission (empty when none)."""
    _bindings()
    return bytes(_host.config())


# Rust's str::trim: Unicode White_Space (Python's str.strip() also strips
# U+001C..U+001F, which Rust keeps).
_WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def trim(s):
    """``s`` without leading and trailing Unicode White_Space, as Rust's
    ``str::trim``."""
    return s.strip(_WHITE_SPACE)


def utf8(data):
    """``data`` decoded as strict UTF-8; a ``JobError`` worded as the Rust
    SDK's ("invalid UTF-8: invalid utf-8 sequence of 1 bytes from index
    3") when it is not."""
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":
            raise JobError("invalid UTF-8: incomplete utf-8 byte sequence from index %d"
                           % e.start) from None
        raise JobError("invalid UTF-8: invalid utf-8 sequence of %d bytes from index %d"
                       % (e.end - e.start, e.start)) from None


def config_str():
    """The config as UTF-8 text (a ``JobError`` when it is not)."""
    return utf8(config())


def config_json():
    """The config parsed as JSON; None when it is empty (or whitespace)."""
    data = config()
    if not data.strip(b" \t\n\r\x0b\x0c"):
        return None
    try:
        return loads(data)
    except JobError as e:
        raise JobError("the job's config is not the JSON it expects: %s"
                       % str(e)[len("JSON: "):]) from None


class _Log:
    """The run's log: ``log.info("read", n, "rows")`` (arguments joined by
    spaces, as print). Levels: error, warn (warning), info, debug; at most
    64 lines and 16 KiB per run are kept. ``print`` works too (standard
    output: info; standard error: warn)."""

    def __call__(self, level, *args):
        _bindings()
        _host.log(_LV[level], " ".join(map(str, args)))

    ERROR, WARN, INFO, DEBUG = range(4)

    def error(self, *args):
        self(0, *args)

    def warn(self, *args):
        self(1, *args)

    warning = warn

    def info(self, *args):
        self(2, *args)

    def debug(self, *args):
        self(3, *args)


log = _Log()


# --- the exports -------------------------------------------------------

def _result(out):
    if out is None:
        return b""
    if type(out) is bytes:
        return out
    if isinstance(out, (bytes, bytearray, memoryview)):
        return bytes(out)
    if isinstance(out, str):
        return out.encode("utf-8")
    return dumpb(out)


def _describe(e, tb):
    """A failure's message: a JobError's own; else type, message and the
    innermost line (the traceback, from ``tb``, is logged)."""
    if isinstance(e, JobError):
        return str(e)
    text = str(e)
    message = "%s: %s" % (type(e).__name__, text) if text else type(e).__name__
    if isinstance(e, SystemExit):
        message = "sys.exit(%r)" % (e.code,)
    frames = _traceback.extract_tb(tb)
    if frames:
        f = frames[-1]
        name = f.filename.replace("\\", "/").rsplit("/", 1)[-1]
        message += " (at %s:%d in %s)" % (name, f.lineno, f.name)
    try:
        lines = _traceback.format_exception(type(e), e, tb)
        log.error("".join(lines).rstrip())
    except Exception:
        pass
    return message


def _call(fn, *args):
    """Calls a job's function; its result as bytes, or raises Err(why)."""
    try:
        out = fn(*args)
    except BaseException as e:  # noqa: B036 (SystemExit too: a failure)
        if _Err is not None and isinstance(e, _Err) or isinstance(e, KeyboardInterrupt):
            raise
        # The traceback from the job's function (this frame left out).
        raise _Err(_describe(e, e.__traceback__.tb_next)) from None
    try:
        return _result(out)
    except Exception as e:
        raise _Err("the result cannot be written as JSON: %s: %s" % (type(e).__name__, e)) from None


def _merge_call(fn, a, b):
    a, b = bytes(a), bytes(b)
    if not a:
        return b
    if not b:
        return a
    return _call(fn, a, b)


class _Exports:
    """What componentize-py calls: the app module's ``WitWorld``."""

    _run_fn = None
    _merge_fn = None

    def run(self):
        fn = type(self)._run_fn
        if fn is None:
            raise _Err("this job defines no run function (@epochd.job)")
        return _call(fn)

    def merge(self, a, b):
        fn = type(self)._merge_fn
        if fn is None:
            raise _Err("this job defines no merge function (@epochd.merge)")
        return _merge_call(fn, a, b)


def _exports_of(module_name):
    module = _sys.modules[module_name]
    cls = module.__dict__.get("WitWorld")
    if not (isinstance(cls, type) and issubclass(cls, _Exports)):
        cls = type("WitWorld", (_Exports,), {"__module__": module_name})
        module.WitWorld = cls
    return cls


def job(fn):
    """Decorates the job's ``run()``: called once per commit, it returns
    the result (dict/list/... as JSON, bytes, str, or None). Also makes
    the module's ``WitWorld``, the class componentize-py exports."""
    _exports_of(fn.__module__)._run_fn = staticmethod(fn)
    return fn


def merge(fn):
    """Decorates the job's ``merge(a, b)``: two non-empty results (bytes)
    in, their combination out (as ``run``'s). Build with world
    ``mergeable-job``."""
    _exports_of(fn.__module__)._merge_fn = staticmethod(fn)
    return fn


class Job(_Exports):
    """The other way to write a job: ``class WitWorld(epochd.Job)`` with
    methods ``run(self)`` and (optionally) ``merge(self, a, b)``, which
    get what ``@epochd.job`` and ``@epochd.merge`` functions get."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own_run, own_merge = cls.__dict__.get("run"), cls.__dict__.get("merge")
        if own_run is not None:
            cls.run = lambda self: _call(own_run, self)
        if own_merge is not None:
            cls.merge = lambda self, a, b: _merge_call(lambda x, y: own_merge(self, x, y), a, b)
