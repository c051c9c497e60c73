"""Reference job `count` in Python: events per (type, subtype); merge adds.
The same result bytes as wasm-jobs/count (see wasm-jobs/README.md):

    {"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}

sorted by (type, subtype), null (no string there) first, strings by bytes.
"""

from collections import Counter

import epochd


def _sort_key(pair):
    # null first, then strings by bytes (str order is code point order,
    # which is UTF-8 byte order).
    t, s = pair
    return (t is not None, t or "", s is not None, s or "")


def _write(counts):
    """The result of a {(type, subtype): count} map."""
    keys = sorted(counts, key=_sort_key)
    return {
        "events": sum(counts.values()),
        "counts": [{"type": t, "subtype": s, "count": counts[(t, s)]}
                   for (t, s) in keys if counts[(t, s)] > 0],
    }


@epochd.job
def run():
    # Both fields as string ids by row, read in bulk, and their pairs
    # counted without a per-row Python loop (count_pairs: on bytes when
    # both are dense with few strings, else a Counter over zip); each id is
    # looked up once, ids of equal strings added.
    return _write(epochd.count_pairs(epochd.row_ids("type"), epochd.row_ids("subtype")))


def _parse(data, counts):
    """Adds a result's counts to `counts`."""
    result = epochd.loads(data)
    if not isinstance(result, dict):
        raise epochd.JobError("JSON: invalid type: expected struct Counts")
    for k in result:
        if k not in ("events", "counts"):
            raise epochd.JobError("JSON: unknown field `%s`, expected `events` or `counts`" % k)
    for k in ("events", "counts"):
        if k not in result:
            raise epochd.JobError("JSON: missing field `%s`" % k)
    if not epochd.json.is_u64(result["events"]):
        raise epochd.JobError("JSON: `events` must be a u64")
    if not isinstance(result["counts"], list):
        raise epochd.JobError("JSON: `counts` must be an array")
    for c in result["counts"]:
        if not isinstance(c, dict):
            raise epochd.JobError("JSON: invalid type: expected struct Count")
        for k in c:
            if k not in ("type", "subtype", "count"):
                raise epochd.JobError(
                    "JSON: unknown field `%s`, expected one of `type`, `subtype`, `count`" % k)
        t, s, n = c.get("type"), c.get("subtype"), c.get("count")
        if not (t is None or isinstance(t, str)) or not (s is None or isinstance(s, str)):
            raise epochd.JobError("JSON: `type` and `subtype` must be strings or null")
        if "count" not in c:
            raise epochd.JobError("JSON: missing field `count`")
        if not epochd.json.is_u64(n):
            raise epochd.JobError("JSON: `count` must be a u64")
        counts[(t, s)] += n


@epochd.merge
def merge(a, b):
    counts = Counter()
    _parse(a, counts)
    _parse(b, counts)
    return _write(counts)
