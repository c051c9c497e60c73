"""Reference job `error-rate` in Python: the share of WEB events (`type` =
"WEB") whose `tuning.status` is an integer >= 500, per dc; merge adds the
counts per dc and recomputes the rates. The same result bytes as
wasm-jobs/error-rate (see wasm-jobs/README.md):

    {"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}

`rate` is errors / web as a JSON float, null when web is 0.
"""

import epochd

ERROR_STATUS = 500


def _rate(web, errors):
    return {"web": web, "errors": errors,
            "rate": float(errors) / float(web) if web > 0 else None}


def _write(dcs):
    """The result of {dc: (web, errors)}."""
    web = sum(w for w, _ in dcs.values())
    errors = sum(e for _, e in dcs.values())
    out = _rate(web, errors)
    out["dcs"] = {dc: _rate(*dcs[dc]) for dc in sorted(dcs)}
    return out


@epochd.job
def run():
    types = epochd.row_ids("type")
    web_ids = [i for i, s in enumerate(types.strings) if s == "WEB"]
    web = errors = 0
    if web_ids:
        web_id = web_ids[0]  # strings are distinct: "WEB" has one id
        web = types.ids.count(web_id)
        status = epochd.column("tuning.status", epochd.INT)
        if status is not None:
            # The rows of the errors, then their types (errors are few).
            rows = [r for r, s in zip(status.rows(), status.values()) if s >= ERROR_STATUS]
            errors = epochd.gather(types.ids, rows).count(web_id)
    return _write({epochd.dc(): (web, errors)})


def _check_rate(r, what):
    if not isinstance(r, dict) or set(r) - {"web", "errors", "rate"} \
            or not all(k in r for k in ("web", "errors")) \
            or not epochd.json.is_u64(r["web"]) or not epochd.json.is_u64(r["errors"]) \
            or not (r.get("rate") is None or epochd.json.is_number(r["rate"])):
        raise epochd.JobError("JSON: %s: expected web, errors (u64) and rate (a number or null)"
                              % what)


def _parse(data, dcs):
    result = epochd.loads(data)
    if not isinstance(result, dict) or set(result) - {"web", "errors", "rate", "dcs"} \
            or not isinstance(result.get("dcs"), dict):
        raise epochd.JobError("JSON: expected web, errors, rate and dcs (an object)")
    _check_rate({k: v for k, v in result.items() if k != "dcs"}, "the totals")
    for dc, r in result["dcs"].items():
        _check_rate(r, "dc %s" % epochd.json.quote(dc))
        w, e = dcs.get(dc, (0, 0))
        dcs[dc] = (w + r["web"], e + r["errors"])


@epochd.merge
def merge(a, b):
    dcs = {}
    _parse(a, dcs)
    _parse(b, dcs)
    return _write(dcs)
