"""Runs the Python components of wasm-jobs/out/python/ outside the daemon,
under wasmtime-py (PyPI `wasmtime`, with component-model support), and
compares their results with the Rust reference modules (wasm-jobs/out/*.wasm,
job ABI v1) over the same epochs: random epochs shaped like the reference
workload and awkward ones, every string column coded three ways, split by
dc and merged. Also runs the hostile jobs once and times `count`.

A development check until the daemon runs components (it does not replace
the conformance suite): the epoch is epochd.testing's fake, served to both
kinds of module, and WASI is wasmtime's (real clocks and randomness).

    python3 -m pip install --target wasm-jobs/target/wasmtime-py wasmtime==50.0.1
    PYTHONPATH=wasm-jobs/target/wasmtime-py python3 wasm-jobs/python/tools/check_components.py [SEED] [EPOCHS]

Times are the whole call less the host side (the fake epoch in Python and
wasmtime-py's conversion of lists), so about what the guest takes.
"""

import importlib.util
import math
import os
import random
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))

import wasmtime  # noqa: E402
import wasmtime.component as wc  # noqa: E402
import wasmtime.component._types as wc_types  # noqa: E402

from epochd import testing  # noqa: E402
from epochd.testing import Map  # noqa: E402

OUT = os.path.join(ROOT, "wasm-jobs", "out")
JOBS = ("count", "latency", "error-rate")
ENGINE = wasmtime.Engine()
host_seconds = [0.0]

# wasmtime-py converts list values element by element: count that as host time.
_convert = wc_types.ListType.convert_to_c


def _timed_convert(self, store, val, ptr):
    t = time.perf_counter()
    try:
        return _convert(self, store, val, ptr)
    finally:
        host_seconds[0] += time.perf_counter() - t


wc_types.ListType.convert_to_c = _timed_convert
_compiled = {}


def compiled(path, component):
    if path not in _compiled:
        kind = wc.Component if component else wasmtime.Module
        _compiled[path] = kind.from_file(ENGINE, path)
    return _compiled[path]


# --- the WIT world, served from an epochd.testing.Epoch ---------------------

COLUMN, CONTAINER = 1, 2


def call_component(path, ep, export="run", args=()):
    """(ok, result bytes or error message, guest seconds)."""
    objs, counter = {}, [0]

    def own(obj, ty):
        if obj is None:
            return None
        counter[0] += 1
        objs[counter[0]] = obj
        return wc.ResourceHost.own(counter[0], ty)

    def get(store, r):
        return objs[r.to_host(store).rep]

    def w(fn):
        def f(store, *a):
            t = time.perf_counter()
            try:
                return fn(store, *a)
            except testing.Err as e:
                return e.value.name.lower().replace("_", "-")
            finally:
                host_seconds[0] += time.perf_counter() - t
        return f

    vt = lambda t: testing.ValueType[t.upper()]  # noqa: E731
    linker = wc.Linker(ENGINE)
    linker.add_wasip2()
    with linker.root() as root:
        with root.add_instance("epochd:job/types@1.0.0"):
            pass
        with root.add_instance("epochd:job/epoch@1.0.0") as i:
            i.add_resource("column", wc.ResourceType.host(COLUMN), lambda s, rep: objs.pop(rep, None))
            i.add_resource("container", wc.ResourceType.host(CONTAINER), lambda s, rep: objs.pop(rep, None))
            i.add_func("epoch", w(lambda s: ep.epoch()))
            i.add_func("seq", w(lambda s: ep.seq()))
            i.add_func("rows", w(lambda s: ep.rows()))
            i.add_func("dc", w(lambda s: ep.dc()))
            i.add_func("find-column", w(lambda s, p, t: own(ep.find_column(p, vt(t)), COLUMN)))
            i.add_func("find-container", w(lambda s, p, k: own(
                ep.find_container(p, testing.ContainerKind[k.upper()]), CONTAINER)))
            i.add_func("[method]column.value-type", w(lambda s, c: get(s, c).value_type().name.lower()))
            i.add_func("[method]column.len", w(lambda s, c: get(s, c).len()))
            i.add_func("[method]column.dense", w(lambda s, c: get(s, c).dense()))
            for name in ("rows", "ints", "floats", "bools", "ids", "strings"):
                i.add_func("[method]column." + name,
                           w(lambda s, c, a, n, name=name: getattr(get(s, c), name)(a, n)))
            i.add_func("[method]column.dictionary", w(lambda s, c: get(s, c).dictionary()))
            i.add_func("[method]column.bytes", w(lambda s, c, k: get(s, c).bytes(k)))
            i.add_func("[method]container.len", w(lambda s, c: get(s, c).len()))
            i.add_func("[method]container.rows", w(lambda s, c, a, n: get(s, c).rows(a, n)))
            i.add_func("[method]container.offsets", w(lambda s, c, a, n: get(s, c).offsets(a, n)))
            i.add_func("[method]container.keys", w(lambda s, c: own(get(s, c).keys(), COLUMN)))
            i.add_func("[method]container.values", w(lambda s, c, t: own(get(s, c).values(vt(t)), COLUMN)))
        with root.add_instance("epochd:job/host@1.0.0") as i:
            i.add_func("config", w(lambda s: ep.config()))
            i.add_func("log", w(lambda s, level, m: ep.log(testing.Level[level.upper()], m)))
    store = wasmtime.Store(ENGINE)
    wasi = wasmtime.WasiConfig()
    wasi.stdout_custom = lambda b: ep.log(testing.Level.INFO, bytes(b).decode("utf-8", "replace"))
    wasi.stderr_custom = lambda b: ep.log(testing.Level.WARN, bytes(b).decode("utf-8", "replace"))
    store.set_wasi(wasi)
    instance = linker.instantiate(store, compiled(path, True))
    func = instance.get_func(store, export)
    host_seconds[0] = 0.0
    t = time.perf_counter()
    result = func(store, *args)
    elapsed = time.perf_counter() - t - host_seconds[0]
    func.post_return(store)
    if isinstance(result, str):
        return False, result, elapsed
    return True, result, elapsed


# --- job ABI v1, served from the same epoch (the Rust modules) ----------------

def call_core(path, ep, export="epochd_run", inputs=(b"", b"")):
    """(ok, result bytes or the fail message) of an ABI v1 module."""
    I32, I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    store, linker = wasmtime.Store(ENGINE), wasmtime.Linker(ENGINE)
    st = {"emit": b"", "fail": None, "handles": {}, "objs": []}

    def mem(c):
        return c["memory"]

    def read(c, p, n):
        return bytes(mem(c).read(c, p, p + n))

    def write(c, p, data):
        if p + len(data) > mem(c).data_len(c):
            raise wasmtime.WasmtimeError("out of bounds")
        mem(c).write(c, data, p)

    def handle(key, obj):
        if obj is None:
            return -1
        if key not in st["handles"]:
            st["handles"][key] = len(st["objs"])
            st["objs"].append((key[0], obj))
        return st["handles"][key]

    def obj(h, kind):
        if 0 <= h < len(st["objs"]) and st["objs"][h][0] == kind:
            return st["objs"][h][1]
        return None

    def var(c, data, dst, cap):
        if cap:
            write(c, dst, data[:cap])
        return len(data)

    def block(c, values, fmt, start, count, dst, total):
        if dst + count * struct.calcsize("<" + fmt) > mem(c).data_len(c):
            raise wasmtime.WasmtimeError("out of bounds")
        if start > total:
            return -3
        vals = values[start:start + count]
        write(c, dst, struct.pack("<%d%s" % (len(vals), fmt), *vals))
        return len(vals)

    def define(name, params, results, fn):
        linker.define_func("epochd", name, wasmtime.FuncType(params, results), fn, access_caller=True)

    def col(fn):
        return lambda c, h, *a: -2 if obj(h, "c") is None else fn(c, obj(h, "c"), *a)

    def box(fn):
        return lambda c, h, *a: -2 if obj(h, "k") is None else fn(c, obj(h, "k"), *a)

    def typed(t, fmt, values):
        return col(lambda c, k, s, n, d: -4 if t is not None and k.t != t
                   else block(c, values(k), fmt, s, n, d, k.len()))

    def dict_entry(c, k, i, d, cap):
        entries = k.dictionary_bytes()
        if entries is None:
            return -4
        return -3 if not 0 <= i < len(entries) else var(c, entries[i], d, cap)

    def column_bytes(c, k, i, d, cap):
        if k.t not in (3, 5):
            return -4
        return -3 if not 0 <= i < k.len() else var(c, k._values[i], d, cap)

    def emit(c, p, n):
        st["emit"] = read(c, p, n)
        return 0

    def fail(c, p, n):
        st["fail"] = read(c, p, n).decode("utf-8", "replace")

    four = [I32] * 4
    define("epoch", [], [I64], lambda c: ep.epoch())
    define("seq", [], [I32], lambda c: ep.seq())
    define("rows", [], [I32], lambda c: ep.rows())
    define("dc", [I32, I32], [I32], lambda c, d, cap: var(c, ep.dc().encode(), d, cap))
    define("column", [I32] * 3, [I32], lambda c, p, n, t: -1 if not 0 <= t <= 5 else handle(
        ("c", read(c, p, n), t), ep.find_column(read(c, p, n).decode("utf-8", "replace"), t)))
    define("column_len", [I32], [I32], col(lambda c, k: k.len()))
    define("column_dense", [I32], [I32], col(lambda c, k: int(k.dense())))
    define("column_rows", four, [I32], typed(None, "I", lambda k: k._rows))
    define("column_i64", four, [I32], typed(0, "q", lambda k: k._values))
    define("column_f64", four, [I32], typed(1, "d", lambda k: k._values))
    define("column_u8", four, [I32], typed(2, "B", lambda k: [int(x) for x in k._values]))
    define("column_ids", four, [I32], col(lambda c, k, s, n, d: -4 if k.id_values() is None
                                          else block(c, k.id_values(), "I", s, n, d, k.len())))
    define("dict_len", [I32], [I32], col(lambda c, k: -4 if k.dictionary_bytes() is None
                                         else len(k.dictionary_bytes())))
    define("dict_entry", four, [I32], col(dict_entry))
    define("column_bytes", four, [I32], col(column_bytes))
    define("container", [I32] * 3, [I32], lambda c, p, n, kind: -1 if kind not in (0, 1) else handle(
        ("k", read(c, p, n), kind), ep.find_container(read(c, p, n).decode("utf-8", "replace"), kind)))
    define("container_len", [I32], [I32], box(lambda c, k: k.len()))
    define("container_rows", four, [I32], box(lambda c, k, s, n, d: block(c, k._rows, "I", s, n, d, k.len())))
    define("container_offsets", four, [I32],
           box(lambda c, k, s, n, d: block(c, k._offsets, "I", s, n, d, k.len() + 1)))
    define("container_keys", [I32], [I32], box(lambda c, k: -4 if k._keys is None
                                                else handle(("c", id(k), "keys"), k._keys)))
    define("container_values", [I32, I32], [I32],
           box(lambda c, k, t: handle(("c", id(k), t), k.values(t)) if 0 <= t <= 5 else -1))
    define("emit", [I32, I32], [I32], emit)
    define("fail", [I32, I32], [], fail)
    define("log", [I32] * 3, [], lambda c, level, p, n: ep.log(
        testing.Level(min(level, 3)), read(c, p, n).decode("utf-8", "replace")))
    define("config_len", [], [I32], lambda c: len(ep.config()))
    define("config_read", [I32, I32], [I32], lambda c, d, cap: var(c, ep.config(), d, cap))
    define("merge_input", [I32] * 3, [I32], lambda c, which, d, cap: -6 if export != "epochd_merge"
           else var(c, inputs[which], d, cap))
    instance = linker.instantiate(store, compiled(path, False))
    try:
        rc = instance.exports(store)[export](store)
    except wasmtime.Trap as e:
        return False, "trap: %s" % (st["fail"] or str(e).splitlines()[0])
    return (True, st["emit"]) if rc == 0 else (False, st["fail"])


# --- epochs -----------------------------------------------------------------

def workload_event(rng):
    if rng.random() < 0.4:
        status = 200 if rng.random() < 0.97 else rng.choice([302, 302, 404, 500, 301])
        return {"type": "WEB", "subtype": rng.choice(["app", "ajax", "secure", "api", "mobile"]),
                "tuning": {"wallclock": max(1, round(math.exp(rng.gauss(5.0, 0.8)))), "status": status},
                "experiments": Map({"exp_%d" % rng.randrange(80): rng.randrange(3)})}
    return {"type": "AV", "subtype": "availability_cluster"}


def awkward_event(rng):
    ev = {}
    t = rng.choice(["WEB", "AV", "é", b"W\xffB", b"\xff\xfe", "", None, 7, "WEB"])
    if t is not None:
        ev["type"] = t
    s = rng.choice(["app", "api", "ä", b"a\x80", "", None, 5, 1.5, True])
    if s is not None:
        ev["subtype"] = s
    tuning = {}
    w = rng.choice([rng.randrange(400), rng.randrange(1 << 40), -1, (1 << 63) - 1, rng.random() * 500,
                    -0.0, -2.5, float("inf"), float("nan"), 1e30, 1.8446744073709552e19, "12", None, 0])
    if w != 0:
        tuning["wallclock"] = w
    st = rng.choice([200, 500, 503, 499, 500.0, "500", -1, None])
    if st is not None:
        tuning["status"] = st
    if tuning:
        ev["tuning"] = tuning
    if rng.random() < 0.1:
        ev["latency_ms"] = rng.randrange(1000)
    return ev


def load(job):
    name = "job_" + job.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "wasm-jobs", "python", job, "app.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    rng = random.Random(seed)
    compared = mismatches = 0
    for n in range(epochs):
        make = workload_event if n % 2 == 0 else awkward_event
        events = [make(rng) for _ in range(rng.choice([0, 3, 100, 2000]))]
        mode = ("auto", "all", "none")[n % 3]
        config = rng.choice([b"", b"", b" latency_ms\n"])
        parts = {}
        for ev in events:
            parts.setdefault(rng.choice(["ams4", "fra1", "lhr4"]), []).append(ev)
        for job in JOBS:
            rust, py = [], []
            for dc in sorted(parts) or ["ams4"]:
                ep = testing.Epoch(parts.get(dc, []), dc=dc, dictionary=mode, config=config)
                r = call_core(os.path.join(OUT, job + ".wasm"), ep)
                p = call_component(os.path.join(OUT, "python", job + ".wasm"), ep)[:2]
                compared += 1
                if r != p:
                    mismatches += 1
                    print("MISMATCH run %s %s %s\n rust:   %r\n python: %r" % (job, mode, dc, r[1][:300], p[1][:300]))
                rust.append(r[1])
                py.append(p[1])
            acc_r, acc_p = rust[0], py[0]
            for x_r, x_p in zip(rust[1:], py[1:]):
                merging = testing.Epoch((), merging=True, config=config)
                ok_r, acc_r = call_core(os.path.join(OUT, job + ".wasm"), merging, "epochd_merge", (acc_r, x_r))
                ok_p, acc_p, _ = call_component(os.path.join(OUT, "python", job + ".wasm"), merging,
                                                "merge", (acc_p, x_p))
                compared += 1
                if (ok_r, acc_r) != (ok_p, acc_p):
                    mismatches += 1
                    print("MISMATCH merge %s\n rust:   %r\n python: %r" % (job, acc_r[:300], acc_p[:300]))
                    break
    print("compared %d results (runs and merges) of %s: %d mismatches" % (compared, ", ".join(JOBS), mismatches))

    for job in ("hostile-file", "hostile-socket", "hostile-clock"):
        ok, out, _ = call_component(os.path.join(OUT, "python", job + ".wasm"), testing.Epoch([], dc="x"))
        print("%s: %s %s" % (job, "ok" if ok else "failed", out.decode() if ok else out))

    big = testing.Epoch([workload_event(random.Random(seed)) for _ in range(100000)], dc="ams4")
    for job in JOBS:
        times = [call_component(os.path.join(OUT, "python", job + ".wasm"), big)[2] for _ in range(3)]
        print("%s over 100,000 workload events: %.1f ms in the guest (best of 3)" % (job, min(times) * 1e3))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
