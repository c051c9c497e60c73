"""Run jobs natively (plain CPython) over events you give: a fake of the
bindings componentize-py generates, over an epoch decoded as the daemon
decodes one (a column per field path and value type, dictionary-coded
strings, map and list containers).

    import epochd.testing
    import app                                   # the job's module

    with epochd.testing.Epoch([{"type": "WEB", "tuning": {"wallclock": 12}},
                               {"type": "AV"}], dc="ams4") as ep:
        print(ep.run(app))                       # the result bytes
    print(epochd.testing.merge(app, a, b))

Events are dicts; nested dicts are fields below (``tuning.wallclock``);
``Map({...})`` is a map with varying keys (a map container), a list an
array (a list container); ``bytes`` a string of those exact bytes (maybe
invalid UTF-8); ints above 2**63 - 1 are RAW (MessagePack), as are values
inside arrays and maps with no column form. ``dictionary`` chooses which
STR columns are dictionary-coded: ``"auto"`` (those whose strings repeat,
as the daemon does), ``"all"`` or ``"none"``: a job must give the same
result for all three.

Also what the SDK's own tests use. Pure Python.
"""

import enum
import struct
import sys
import types as _types

import epochd

__all__ = ["Epoch", "Map", "run", "merge", "Err"]


class Map(dict):
    """A map with varying keys: a map container (as ``experiments``)."""


class Err(Exception):
    """componentize_py_types.Err: a WIT ``result``'s error."""

    def __init__(self, value):
        Exception.__init__(self, value)
        self.value = value


class ValueType(enum.Enum):
    INT = 0
    FLOAT = 1
    BOOL = 2
    STR = 3
    NULL = 4
    RAW = 5


class ContainerKind(enum.Enum):
    MAP = 0
    LIST = 1


class ReadError(enum.Enum):
    NOT_FOUND = 0
    BAD_HANDLE = 1
    OUT_OF_RANGE = 2
    WRONG_TYPE = 3
    TOO_LARGE = 4
    NOT_NOW = 5


class Level(enum.Enum):
    ERROR = 0
    WARN = 1
    INFO = 2
    DEBUG = 3


def msgpack(v):
    """MessagePack bytes of a value (what RAW values are)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        if v >= -32:
            return struct.pack(">b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, (str, bytes)):
        b = v.encode("utf-8") if isinstance(v, str) else v
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, (list, tuple)):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(msgpack(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(
            msgpack(k) + msgpack(x) for k, x in v.items())
    raise TypeError("no MessagePack form for %r" % (v,))


def _type_of(v):
    """The column type of a scalar value (None: not a scalar)."""
    if v is None:
        return 4
    if isinstance(v, bool):
        return 2
    if isinstance(v, int):
        return 0 if -(1 << 63) <= v < (1 << 63) else 5
    if isinstance(v, float):
        return 1
    if isinstance(v, (str, bytes)):
        return 3
    return None


def _value(t, v):
    if t == 3:
        return v.encode("utf-8") if isinstance(v, str) else bytes(v)
    if t == 5:
        return msgpack(v)
    return v


class FakeColumn:
    """A column: the host side of the WIT resource ``column``."""

    def __init__(self, t, rows, values, space, dictionary):
        self.t, self._rows, self._values, self.space = t, rows, values, space
        self._dict = None
        if t == 3 and dictionary != "none":
            distinct = list(dict.fromkeys(values))
            if dictionary == "all" or len(distinct) * 2 <= len(values):
                self._dict = distinct
                index = {s: i for i, s in enumerate(distinct)}
                self._ids = [index[s] for s in values]

    def _clip(self, start, count):
        n = len(self._values)
        if start > n:
            raise Err(ReadError.OUT_OF_RANGE)
        return start, min(n, start + count)

    def value_type(self):
        return ValueType(self.t)

    def len(self):
        return len(self._values)

    def dense(self):
        return len(self._values) == self.space

    def rows(self, start, count):
        a, b = self._clip(start, count)
        return self._rows[a:b]

    def _typed(self, t, start, count):
        if self.t != t:
            raise Err(ReadError.WRONG_TYPE)
        a, b = self._clip(start, count)
        return self._values[a:b]

    def ints(self, start, count):
        return self._typed(0, start, count)

    def floats(self, start, count):
        return self._typed(1, start, count)

    def bools(self, start, count):
        return self._typed(2, start, count)

    def ids(self, start, count):
        if self._dict is None:
            raise Err(ReadError.WRONG_TYPE)
        a, b = self._clip(start, count)
        return self._ids[a:b]

    def dictionary(self):
        if self._dict is None:
            raise Err(ReadError.WRONG_TYPE)
        return [s.decode("utf-8", "replace") for s in self._dict]

    def strings(self, start, count):
        return [s.decode("utf-8", "replace") for s in self._typed(3, start, count)]

    def bytes(self, index):
        if self.t not in (3, 5):
            raise Err(ReadError.WRONG_TYPE)
        if index >= len(self._values):
            raise Err(ReadError.OUT_OF_RANGE)
        return self._values[index]

    def dictionary_bytes(self):
        """The dictionary's exact bytes (for ABI v1 hosts), or None."""
        return self._dict

    def id_values(self):
        return None if self._dict is None else self._ids


class FakeContainer:
    """A container: the host side of the WIT resource ``container``."""

    def __init__(self, kind, rows, offsets, keys, values):
        self.kind, self._rows, self._offsets = kind, rows, offsets
        self._keys, self._values = keys, values

    def len(self):
        return len(self._rows)

    def rows(self, start, count):
        if start > len(self._rows):
            raise Err(ReadError.OUT_OF_RANGE)
        return self._rows[start:start + count]

    def offsets(self, start, count):
        if start > len(self._offsets):
            raise Err(ReadError.OUT_OF_RANGE)
        return self._offsets[start:start + count]

    def keys(self):
        if self._keys is None:
            raise Err(ReadError.WRONG_TYPE)
        return self._keys

    def values(self, t):
        return self._values.get(t.value if isinstance(t, enum.Enum) else t)


def _columns(items, space, dictionary):
    """Columns of (index, value) pairs: {type: FakeColumn}."""
    by_type = {}
    for i, v in items:
        t = _type_of(v)
        if t is None:
            t = 5
        by_type.setdefault(t, ([], []))
        by_type[t][0].append(i)
        by_type[t][1].append(_value(t, v))
    return {t: FakeColumn(t, r, vals, space, dictionary) for t, (r, vals) in by_type.items()}


class Epoch:
    """A decoded epoch over ``events``, served through fake bindings while
    active (``with Epoch(...) as ep:``, or ``activate()``)."""

    def __init__(self, events=(), epoch=1700000000, seq=0, dc="dc1", config=b"",
                 dictionary="auto", merging=False):
        self.events = list(events)
        self.epoch_s, self.seq_n, self.dc_name = epoch, seq, dc
        self.config_bytes = config.encode("utf-8") if isinstance(config, str) else bytes(config)
        self.merging = merging
        self.logs = []
        self.columns = {}
        self.containers = {}
        fields = {}
        for row, ev in enumerate(self.events):
            self._flatten(row, ev, "", fields)
        for path, items in fields.items():
            for t, col in _columns(items, len(self.events), dictionary).items():
                self.columns[(path, t)] = col
        for (path, kind), held in list(self.containers.items()):
            rows_, offsets, keys, values = [], [0], [], []
            for row, entries in held:
                rows_.append(row)
                for k, v in entries:
                    keys.append(k)
                    values.append(v)
                offsets.append(len(values))
            n = len(values)
            key_col = None
            if kind == 0:
                key_col = FakeColumn(3, list(range(n)), [_value(3, k) for k in keys], n, dictionary)
            value_cols = _columns(list(enumerate(values)), n, dictionary)
            self.containers[(path, kind)] = FakeContainer(kind, rows_, offsets, key_col, value_cols)

    def _flatten(self, row, obj, prefix, fields):
        for k, v in obj.items():
            path = prefix + k
            if isinstance(v, Map):
                self.containers.setdefault((path, 0), []).append((row, list(v.items())))
            elif isinstance(v, dict):
                self._flatten(row, v, path + ".", fields)
            elif isinstance(v, (list, tuple)):
                self.containers.setdefault((path, 1), []).append((row, [(None, x) for x in v]))
            else:
                fields.setdefault(path, []).append((row, v))

    # --- the fake wit_world.imports.epoch ---
    def epoch(self):
        return self.epoch_s

    def seq(self):
        return 0 if self.merging else self.seq_n

    def rows(self):
        return 0 if self.merging else len(self.events)

    def dc(self):
        return "" if self.merging else self.dc_name

    def find_column(self, path, t):
        if self.merging:
            return None
        return self.columns.get((path, t.value if isinstance(t, enum.Enum) else t))

    def find_container(self, path, kind):
        if self.merging:
            return None
        return self.containers.get((path, kind.value if isinstance(kind, enum.Enum) else kind))

    # --- the fake wit_world.imports.host ---
    def config(self):
        return self.config_bytes

    def log(self, level, message):
        self.logs.append((level.name.lower(), message))

    def activate(self):
        ep, host = _types.SimpleNamespace(), _types.SimpleNamespace()
        for name in ("epoch", "seq", "rows", "dc", "find_column", "find_container"):
            setattr(ep, name, getattr(self, name))
        host.config, host.log = self.config, self.log
        tys = _types.SimpleNamespace(ValueType=ValueType, ContainerKind=ContainerKind,
                                     ReadError=ReadError, Level=Level)
        self._saved = (epochd._ep, epochd._host, epochd._Err, epochd._VT, epochd._CK, epochd._LV)
        epochd._bind(ep, host, tys, Err)
        return self

    def deactivate(self):
        (epochd._ep, epochd._host, epochd._Err, epochd._VT, epochd._CK, epochd._LV) = self._saved

    def __enter__(self):
        return self.activate()

    def __exit__(self, *exc):
        self.deactivate()
        return False

    def run(self, module):
        """Calls the job's run as the daemon would: the result bytes; a
        failure raises ``Err`` (its ``value`` is the message)."""
        return _world(module).run()


def _world(module):
    if isinstance(module, str):
        __import__(module)
        module = sys.modules[module]
    cls = getattr(module, "WitWorld", None)
    if cls is None:
        raise AttributeError("%s has no WitWorld: no @epochd.job, or no epochd.Job subclass"
                             % module.__name__)
    return cls()


def run(module, events=(), **kwargs):
    """The result bytes of ``module``'s run over ``events`` (see Epoch)."""
    with Epoch(events, **kwargs) as ep:
        return ep.run(module)


def merge(module, a, b, epoch=1700000000, config=b""):
    """``module``'s merge of two results, as the daemon calls it."""
    with Epoch((), epoch=epoch, config=config, merging=True):
        return _world(module).merge(a, b)
