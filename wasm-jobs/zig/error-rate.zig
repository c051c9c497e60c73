//! Reference job `error-rate` in Zig: the share of WEB events whose
//! tuning.status is an integer >= 500, per dc; merge adds per dc and
//! recomputes the rates. The same result bytes as wasm-jobs/error-rate:
//! {"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}
const std = @import("std");
const epochd = @import("epochd");

const error_status = 500;

export fn epochd_run() i32 {
    return epochd.run(run);
}
export fn epochd_merge() i32 {
    return epochd.mergeWith(merge);
}

const Rate = struct { web: u64 = 0, errors: u64 = 0 };

/// dc (UTF-8) -> counts, in insertion order.
const Rates = struct {
    dcs: epochd.Map = .{},
    counts: std.ArrayListUnmanaged(Rate) = .{},

    fn add(r: *Rates, dc: []const u8, x: Rate, replace: bool) void {
        const s = r.dcs.slot(dc);
        if (s.fresh) {
            s.value.* = r.counts.items.len;
            r.counts.append(epochd.allocator, .{}) catch epochd.oom();
        }
        const at = &r.counts.items[@intCast(s.value.*)];
        if (replace) at.* = .{};
        at.web += x.web;
        at.errors += x.errors;
    }
};

fn rate(j: *epochd.Json, x: Rate) void {
    j.key("web");
    j.uint(x.web);
    j.key("errors");
    j.uint(x.errors);
    j.key("rate");
    if (x.web > 0) j.float(@as(f64, @floatFromInt(x.errors)) / @as(f64, @floatFromInt(x.web))) else j.null_();
}

fn write(r: *const Rates, out: *epochd.Buf) void {
    var total = Rate{};
    for (r.counts.items) |x| {
        total.web += x.web;
        total.errors += x.errors;
    }
    var j = epochd.Json.init(out);
    j.beginObject();
    rate(&j, total);
    j.key("dcs");
    j.beginObject();
    for (r.dcs.sortedOrder()) |i| {
        j.key(r.dcs.keys()[i]);
        j.beginObject();
        rate(&j, r.counts.items[@intCast(r.dcs.values()[i])]);
        j.endObject();
    }
    j.endObject();
    j.endObject();
}

/// How many of `ids` are `id`. In chunks of 64: each loop head of a
/// compiled job checks the run's deadline, and the sums live across that
/// check are stored and reloaded each iteration, so each iteration counts a
/// whole chunk into one sum (docs/BENCHMARKS.md, "Languages").
fn countEqual(ids: []const u32, id: u32) u64 {
    var total: u64 = 0;
    var i: usize = 0;
    while (i + 64 <= ids.len) : (i += 64) {
        var in_chunk: u32 = 0;
        for (ids[i .. i + 64]) |x| in_chunk += @intFromBool(x == id);
        total += in_chunk;
    }
    for (ids[i..]) |x| total += @intFromBool(x == id);
    return total;
}

fn run(out: *epochd.Buf, _: *epochd.Buf) !void {
    // WEB events counted on the ids of `type`, read a block of rows at a
    // time; then the type of each error looked up (errors are few).
    const rows = epochd.rows();
    var types = epochd.rowIds("type");
    var x = Rate{};
    var web_id: ?u32 = null;
    const ids = epochd.alloc(u32, epochd.block);
    var first: u32 = 0;
    while (first < rows) : (first += epochd.block) {
        const n = @min(rows - first, epochd.block);
        types.read(first, ids[0..n]);
        // Known from the start with a dictionary; else once a row has it.
        if (web_id == null) web_id = types.strings.find("WEB");
        if (web_id) |w| x.web += countEqual(ids[0..n], w);
    }
    if (web_id) |w| {
        if (epochd.Column.find("tuning.status", .int)) |status| {
            var s = status.scan();
            defer s.deinit();
            while (s.next()) {
                for (s.rowSlice(), s.i64s()) |row, v| {
                    if (v >= error_status and types.get(row) == w) x.errors += 1;
                }
            }
        }
    }
    var dc = epochd.Buf{};
    epochd.dc(&dc);
    var name = epochd.Buf{};
    name.utf8Lossy(dc.items());
    var r = Rates{};
    r.add(name.items(), x, false);
    write(&r, out);
}

fn bad(err: *epochd.Buf, msg: []const u8) error{Json} {
    err.push(msg);
    return error.Json;
}
/// An f64 or null (or absent: serde's Option).
fn isF64(v: ?*const epochd.Value) bool {
    const x = v orelse return true;
    return x.* == .null or x.* == .number;
}

/// One result's counts, added to r.
fn parse(in: []const u8, r: *Rates, err: *epochd.Buf) !void {
    errdefer err.prepend("JSON: "); // as the Rust job's messages
    const root = epochd.parseJson(in, err) orelse return error.Json;
    const f = root.fields("ErrorRate", &.{ "web", "errors", "rate", "dcs" }, err) orelse return error.Json;
    const shape = "expected web, errors (u64), rate (f64 or null), dcs (object)";
    _ = (f[0] orelse return bad(err, shape)).asU64() orelse return bad(err, shape);
    _ = (f[1] orelse return bad(err, shape)).asU64() orelse return bad(err, shape);
    if (!isF64(f[2])) return bad(err, shape);
    const dcs = switch ((f[3] orelse return bad(err, shape)).*) {
        .object => |o| o,
        else => return bad(err, shape),
    };
    var mine = Rates{};
    for (dcs.keys, dcs.values) |k, *v| {
        const c = v.fields("Rate", &.{ "web", "errors", "rate" }, err) orelse return error.Json;
        const one = "expected web, errors (u64), rate (f64 or null)";
        const web = (c[0] orelse return bad(err, one)).asU64() orelse return bad(err, one);
        const errors = (c[1] orelse return bad(err, one)).asU64() orelse return bad(err, one);
        if (!isF64(c[2])) return bad(err, one);
        // A repeated dc within one result: the last one counts (serde's map).
        mine.add(k, .{ .web = web, .errors = errors }, true);
    }
    for (mine.dcs.keys(), mine.dcs.values()) |k, at| r.add(k, mine.counts.items[@intCast(at)], false);
}

fn merge(a: []const u8, b: []const u8, out: *epochd.Buf, err: *epochd.Buf) !void {
    var r = Rates{};
    try parse(a, &r, err);
    try parse(b, &r, err);
    write(&r, out);
}
