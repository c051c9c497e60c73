"""Compact JSON, byte for byte what Rust's serde_json writes.

The Rust SDK's results are serde_json's compact output; this module writes
the same bytes for the same values, so a Python job's result can equal a
Rust job's:

- no spaces (separators ``,`` and ``:``), keys in the order given (a
  ``dict`` keeps insertion order: sort a map's keys yourself when the
  format says "sorted"; ``sorted()`` on ``str`` is byte order, as Rust's
  ``BTreeMap<String, _>``);
- strings escaped as serde_json escapes them: ``\\"`` ``\\\\`` ``\\b`` ``\\f``
  ``\\n`` ``\\r`` ``\\t``, other control characters as ``\\u00XX``, all else
  (DEL and non-ASCII included) as is;
- floats in the shortest form that parses back to the same double, laid
  out as serde_json (ryu) writes an ``f64``: ``0.0075``, ``1.0``, ``1e-7``,
  ``0.00001``, ``12340000000.0``, ``1e16``, ``1.5e300``, ``-0.0``; a NaN or
  an infinity is ``null`` (Python's ``json`` writes ``1e-07``, ``1e+16``,
  ``NaN``);
- ``True``/``False``/``None`` as ``true``/``false``/``null``, ints as
  decimal, lists and tuples as arrays, dicts as objects (keys ``str``, or
  ``int`` written as a string, as serde_json writes integer map keys);
- any other object with a ``__json__()`` method is written as what that
  returns (``epochd.sketch.LogHistogram`` has one).

``loads`` parses a result back (a merge input), strictly: UTF-8, no
duplicate keys, no ``NaN``/``Infinity``; its errors are ``JobError``s
whose message starts with ``JSON:``, as the Rust SDK's.

Pure Python (standard library only): usable, and tested, outside a job.
"""

import json as _json
import math as _math

from .errors import JobError

__all__ = ["dumps", "dumpb", "format_float", "quote", "loads"]

# json's own string escaper (C-accelerated, the ensure_ascii=False one):
# it escapes exactly what serde_json escapes, in the same spelling
# (\u001f: lowercase hex).
quote = _json.encoder.encode_basestring

_INF = float("inf")


def format_float(v):
    """The shortest decimal that parses back to ``v``, as serde_json (ryu)
    writes an f64: ``0.0075``, ``1.0``, ``1e-7``, ``1e16``, ``-0.0``;
    ``null`` when ``v`` is not finite."""
    v = float(v)
    if v != v or v == _INF or v == -_INF:
        return "null"
    # repr is the shortest round-trip form too, only laid out otherwise:
    # '1e-07', '1.5e+300', '12340000000.0', '0.0075'. Take its digits and
    # the position of the decimal point: v = 0.DIGITS * 10**point.
    r = repr(v)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mantissa, _, exp = r.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return sign + "0.0"
    nd, kk = len(digits), point
    if nd <= kk <= 16:
        return sign + digits + "0" * (kk - nd) + ".0"
    if 0 < kk <= 16:
        return sign + digits[:kk] + "." + digits[kk:]
    if -5 < kk <= 0:
        return sign + "0." + "0" * (-kk) + digits
    out = sign + digits[0]
    if nd > 1:
        out += "." + digits[1:]
    return out + "e" + str(kk - 1)


def _key(k):
    if type(k) is str:
        return quote(k)
    if isinstance(k, str):
        return quote(str.__str__(k))
    if isinstance(k, int) and not isinstance(k, bool):
        return '"' + int.__repr__(k) + '"'
    raise TypeError("a JSON object key must be a str (or an int), not %s" % type(k).__name__)


def _encode(v, out):
    t = type(v)
    if t is str:
        out(quote(v))
    elif t is int:
        out(int.__repr__(v))
    elif t is float:
        out(format_float(v))
    elif t is dict:
        if not v:
            out("{}")
            return
        first = True
        for k, x in v.items():
            out(("{" if first else ",") + _key(k) + ":")
            first = False
            _encode(x, out)
        out("}")
    elif t is list or t is tuple:
        if not v:
            out("[]")
            return
        first = True
        for x in v:
            out("[" if first else ",")
            first = False
            _encode(x, out)
        out("]")
    elif v is None:
        out("null")
    elif v is True:
        out("true")
    elif v is False:
        out("false")
    elif isinstance(v, str):
        out(quote(str.__str__(v)))
    elif isinstance(v, int):
        out(int.__repr__(v))
    elif isinstance(v, float):
        out(format_float(v))
    elif isinstance(v, dict):
        _encode(dict(v), out)
    elif isinstance(v, (list, tuple)):
        _encode(list(v), out)
    elif hasattr(v, "__json__"):
        _encode(v.__json__(), out)
    else:
        raise TypeError("%s cannot be written as JSON" % t.__name__)


def dumps(value):
    """``value`` as compact JSON text, as serde_json writes it."""
    parts = []
    _encode(value, parts.append)
    return "".join(parts)


def dumpb(value):
    """``dumps(value)`` as UTF-8 bytes: a job's result."""
    return dumps(value).encode("utf-8")


def _pairs(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError("duplicate key %s" % quote(k))
        obj[k] = v
    return obj


def _constant(name):
    raise ValueError("%s is not JSON" % name)


def loads(data):
    """Parses JSON (bytes or str), strictly: a ``JobError`` ("JSON: ...")
    when it is not one valid JSON value, has a key twice in an object, or
    uses ``NaN``/``Infinity``."""
    try:
        if not isinstance(data, str):
            data = bytes(data).decode("utf-8")
        return _json.loads(data, object_pairs_hook=_pairs, parse_constant=_constant)
    except UnicodeDecodeError as e:
        raise JobError("JSON: invalid UTF-8 at byte %d" % e.start) from None
    except ValueError as e:
        raise JobError("JSON: %s" % e) from None
    except RecursionError:
        raise JobError("JSON: nested too deeply") from None


def is_u64(v):
    """Whether ``v`` is a JSON integer that fits a u64 (not a bool, not a
    float): what serde accepts for a ``u64`` field."""
    return type(v) is int and 0 <= v < 1 << 64


def is_number(v):
    """Whether ``v`` is a JSON number (int or float, not a bool): what
    serde accepts for an ``f64`` field."""
    return (type(v) is int or type(v) is float) and not _math.isnan(v)
