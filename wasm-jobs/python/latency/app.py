"""Reference job `latency` in Python: p50, p95 and p99 of
`tuning.wallclock` (or the field the config names) per subtype, from a
log-bucketed histogram that merges exactly. The same result bytes as
wasm-jobs/latency (see wasm-jobs/README.md):

    {"field":"tuning.wallclock","subtypes":{"app":{"p50":148,"p95":540,"p99":930,"histogram":{...}}}}

Values: the field's INT values >= 0 and its FLOAT values >= 0 truncated
toward zero (saturating at 2**64 - 1); events without a string subtype are
not counted.
"""

from collections import Counter, defaultdict
import math
import unicodedata

import epochd
from epochd.sketch import U64_MAX, LogHistogram

DEFAULT_FIELD = "tuning.wallclock"


def field():
    """The config (UTF-8, trimmed as Rust's str::trim), or the default."""
    return epochd.trim(epochd.config_str()) or DEFAULT_FIELD


def _summaries(field, histograms):
    """The result of {subtype: histogram}, empty histograms left out."""
    subtypes = {}
    for name in sorted(histograms):
        h = histograms[name]
        if h.count:
            subtypes[name] = {
                "p50": h.percentile(50),
                "p95": h.percentile(95),
                "p99": h.percentile(99),
                "histogram": h.to_json(),
            }
    return {"field": field, "subtypes": subtypes}


def _float_value(v):
    """A FLOAT value as the job counts it: None unless finite and >= 0."""
    if v >= 0.0 and not math.isinf(v):
        return min(int(v), U64_MAX)
    return None  # negative, NaN or infinite


def _pairs(name, vtype, subtypes):
    """How many times each (subtype id, value) pair occurs in the column of
    ``name`` with values of ``vtype``, counted at C speed: values repeat, so
    the histograms then record each distinct pair once, with its count."""
    col = epochd.column(name, vtype)
    if col is None:
        return Counter()
    ids = subtypes.ids if col.dense and len(col) == len(subtypes.ids) \
        else epochd.gather(subtypes.ids, col.rows())
    return Counter(zip(ids, col.values()))


@epochd.job
def run():
    name = field()
    subtypes = epochd.row_ids("subtype")
    pairs = _pairs(name, epochd.INT, subtypes)
    for (i, v), n in _pairs(name, epochd.FLOAT, subtypes).items():
        u = _float_value(v)
        if u is not None:
            pairs[(i, u)] += n
    histograms = defaultdict(LogHistogram)
    for (i, v), n in pairs.items():
        if i is not None and v >= 0:
            histograms[subtypes.strings[i]].record(v, n)
    return _summaries(name, histograms)


def _rust_debug(s):
    """A string as Rust's {:?} writes it (for the refusal message)."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c == 0:
            out.append("\\0")
        elif c < 0x20 or c == 0x7F or (c >= 0x80 and (
                unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Mn", "Me")
                or (unicodedata.category(ch) == "Zs"))):
            out.append("\\u{%x}" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _parse(data):
    """A result's field and {subtype: histogram}."""
    result = epochd.loads(data)
    if not isinstance(result, dict) or set(result) != {"field", "subtypes"} \
            or not isinstance(result["field"], str) or not isinstance(result["subtypes"], dict):
        raise epochd.JobError("JSON: expected field (a string) and subtypes (an object)")
    histograms = {}
    for name, s in result["subtypes"].items():
        if not isinstance(s, dict) or set(s) != {"p50", "p95", "p99", "histogram"} \
                or not all(epochd.json.is_u64(s[p]) for p in ("p50", "p95", "p99")):
            raise epochd.JobError("JSON: expected p50, p95, p99 (u64) and histogram")
        histograms[name] = LogHistogram.from_json(s["histogram"])
    return result["field"], histograms


@epochd.merge
def merge(a, b):
    field_a, ha = _parse(a)
    field_b, hb = _parse(b)
    if field_a != field_b:
        raise epochd.JobError("cannot merge latencies of %s and %s"
                              % (_rust_debug(field_a), _rust_debug(field_b)))
    histograms = defaultdict(LogHistogram)
    for part in (ha, hb):
        for name, h in part.items():
            histograms[name].merge(h)
    return _summaries(field_a, histograms)
