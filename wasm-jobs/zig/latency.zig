//! Reference job `latency` in Zig: p50/p95/p99 of tuning.wallclock (or the
//! field named by the config) per subtype, from the mergeable log-linear
//! histogram (epochd.LogHistogram). The same result bytes as wasm-jobs/latency:
//! {"field":"tuning.wallclock","subtypes":{"app":{"p50":..,"p95":..,"p99":..,"histogram":{...}}}}
const std = @import("std");
const epochd = @import("epochd");
const Hist = epochd.LogHistogram;

const default_field = "tuning.wallclock";

export fn epochd_run() i32 {
    return epochd.run(run);
}
export fn epochd_merge() i32 {
    return epochd.mergeWith(merge);
}

/// Histograms by subtype name (UTF-8), in insertion order.
const ByName = struct {
    names: epochd.Map = .{},
    hists: std.ArrayListUnmanaged(Hist) = .{},

    /// The histogram of a name (new and empty when missing; emptied when `reset`).
    fn slot(b: *ByName, name: []const u8, reset: bool) *Hist {
        const s = b.names.slot(name);
        if (s.fresh) {
            s.value.* = b.hists.items.len;
            b.hists.append(epochd.allocator, .{}) catch epochd.oom();
        } else if (reset) {
            b.hists.items[@intCast(s.value.*)] = .{};
        }
        return &b.hists.items[@intCast(s.value.*)];
    }
    fn mergeInto(from: *const ByName, to: *ByName) void {
        for (from.names.keys(), from.names.values()) |k, at| to.slot(k, false).merge(&from.hists.items[@intCast(at)]);
    }
};

fn write(field: []const u8, b: *const ByName, out: *epochd.Buf) void {
    var j = epochd.Json.init(out);
    j.beginObject();
    j.key("field");
    j.string(field);
    j.key("subtypes");
    j.beginObject();
    for (b.names.sortedOrder()) |i| {
        const h = &b.hists.items[@intCast(b.names.values()[i])];
        if (h.count == 0) continue;
        j.key(b.names.keys()[i]);
        j.beginObject();
        j.key("p50");
        j.uint(h.percentile(50).?);
        j.key("p95");
        j.uint(h.percentile(95).?);
        j.key("p99");
        j.uint(h.percentile(99).?);
        j.key("histogram");
        h.writeJson(&j);
        j.endObject();
    }
    j.endObject();
    j.endObject();
}

/// Unicode White_Space, as Rust's str::trim: the length of the one at the start of p, or 0.
fn spaceAt(p: []const u8) usize {
    if (p.len == 0) return 0;
    const c = p[0];
    if (c == ' ' or (c >= 0x09 and c <= 0x0d)) return 1;
    if (p.len >= 2 and c == 0xC2 and (p[1] == 0x85 or p[1] == 0xA0)) return 2;
    if (p.len >= 3 and (c & 0xf0) == 0xe0) {
        const u = @as(u32, c & 0x0f) << 12 | @as(u32, p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        if (u == 0x1680 or (u >= 0x2000 and u <= 0x200a) or u == 0x2028 or u == 0x2029 or
            u == 0x202f or u == 0x205f or u == 0x3000) return 3;
    }
    return 0;
}
/// The length of a White_Space at the end of p, or 0.
fn spaceBefore(p: []const u8) usize {
    var n: usize = 1;
    while (n <= 3) : (n += 1) {
        if (p.len >= n and spaceAt(p[p.len - n ..]) == n) return n;
    }
    return 0;
}

/// The field: the config (UTF-8, trimmed) or the default.
fn fieldOf(err: *epochd.Buf) ![]const u8 {
    var c = epochd.Buf{};
    epochd.config(&c);
    if (epochd.utf8Check(c.items())) |e| {
        if (e.error_len) |l|
            err.print("invalid UTF-8: invalid utf-8 sequence of {d} bytes from index {d}", .{ l, e.valid_up_to })
        else
            err.print("invalid UTF-8: incomplete utf-8 byte sequence from index {d}", .{e.valid_up_to});
        return error.Config;
    }
    var p: []const u8 = c.items();
    while (true) {
        const s = spaceAt(p);
        if (s == 0) break;
        p = p[s..];
    }
    while (true) {
        const s = spaceBefore(p);
        if (s == 0) break;
        p = p[0 .. p.len - s];
    }
    return if (p.len > 0) p else default_field;
}

/// One histogram per subtype id, grown as ids appear (without a dictionary,
/// strings get ids as rows are read).
const Hists = std.ArrayListUnmanaged(Hist);

/// Subtype id's histogram; the growing is out of line (see `LogHistogram.record`).
inline fn hist(hs: *Hists, id: u32) *Hist {
    if (id < hs.items.len) return &hs.items[id];
    return histGrow(hs, id);
}
noinline fn histGrow(hs: *Hists, id: u32) *Hist {
    @branchHint(.cold);
    hs.appendNTimes(epochd.allocator, .{}, @as(usize, id) + 1 - hs.items.len) catch epochd.oom();
    return &hs.items[id];
}

fn run(out: *epochd.Buf, err: *epochd.Buf) !void {
    const field = try fieldOf(err);
    // The subtype of each value's row, read a window of rows at a time as
    // the values' rows ascend.
    var subtypes = epochd.rowIds("subtype");
    var hs = Hists{};
    if (epochd.Column.find(field, .int)) |col| {
        var s = col.scan();
        defer s.deinit();
        while (s.next()) {
            for (s.rowSlice(), s.i64s()) |row, v| {
                const id = subtypes.get(row);
                if (id == epochd.none or v < 0) continue;
                hist(&hs, id).record(@intCast(v));
            }
        }
    }
    if (epochd.Column.find(field, .float)) |col| {
        var s = col.scan();
        defer s.deinit();
        while (s.next()) {
            for (s.rowSlice(), s.f64s()) |row, v| {
                const id = subtypes.get(row);
                if (id == epochd.none) continue;
                if (!(v >= 0.0) or std.math.isInf(v)) continue; // NaN, negative, infinite
                // truncated toward zero, saturating at 2^64 - 1 (Rust's `as u64`)
                const u: u64 = if (v >= 18446744073709551616.0) std.math.maxInt(u64) else @intFromFloat(v);
                hist(&hs, id).record(u);
            }
        }
    }
    // Distinct raw strings with the same lossy UTF-8 form are one subtype.
    var b = ByName{};
    var name = epochd.Buf{};
    for (hs.items, 0..) |*h, id| {
        const p = subtypes.strings.get(@intCast(id)) orelse continue;
        name.clear();
        name.utf8Lossy(p);
        b.slot(name.items(), false).merge(h);
    }
    write(field, &b, out);
}

/// Rust's {:?} of a string (printable non-ASCII characters kept as is).
fn debugStr(m: *epochd.Buf, p: []const u8) void {
    const hex = "0123456789abcdef";
    m.byte('"');
    for (p) |c| switch (c) {
        '"' => m.push("\\\""),
        '\\' => m.push("\\\\"),
        '\n' => m.push("\\n"),
        '\r' => m.push("\\r"),
        '\t' => m.push("\\t"),
        0 => m.push("\\0"),
        1...8, 0x0b, 0x0c, 0x0e...0x1f, 0x7f => {
            m.push("\\u{");
            if (c >> 4 != 0) m.byte(hex[c >> 4]);
            m.byte(hex[c & 15]);
            m.byte('}');
        },
        else => m.byte(c),
    };
    m.byte('"');
}

fn bad(err: *epochd.Buf, msg: []const u8) error{Json} {
    err.push(msg);
    return error.Json;
}

/// One result: its field, and its histograms added to b.
fn parse(in: []const u8, b: *ByName, err: *epochd.Buf) ![]const u8 {
    errdefer err.prepend("JSON: "); // as the Rust job's messages
    const root = epochd.parseJson(in, err) orelse return error.Json;
    const f = root.fields("Latency", &.{ "field", "subtypes" }, err) orelse return error.Json;
    const shape = "expected field (a string) and subtypes (an object)";
    const field = switch ((f[0] orelse return bad(err, shape)).*) {
        .string => |s| s,
        else => return bad(err, shape),
    };
    const subtypes = switch ((f[1] orelse return bad(err, shape)).*) {
        .object => |o| o,
        else => return bad(err, shape),
    };
    var mine = ByName{};
    for (subtypes.keys, subtypes.values) |k, *v| {
        const s = v.fields("Summary", &.{ "p50", "p95", "p99", "histogram" }, err) orelse return error.Json;
        const summary = "expected p50, p95, p99 (u64) and histogram";
        for (s[0..3]) |p| _ = (p orelse return bad(err, summary)).asU64() orelse return bad(err, summary);
        const h = Hist.parse(s[3] orelse return bad(err, summary), err) orelse return error.Json;
        // A repeated subtype within one result: the last one counts (serde's map).
        mine.slot(k, true).* = h;
    }
    mine.mergeInto(b);
    return field;
}

fn merge(a: []const u8, b: []const u8, out: *epochd.Buf, err: *epochd.Buf) !void {
    var all = ByName{};
    var other = ByName{};
    const fa = try parse(a, &all, err);
    const fb = try parse(b, &other, err);
    if (!std.mem.eql(u8, fa, fb)) {
        err.push("cannot merge latencies of ");
        debugStr(err, fa);
        err.push(" and ");
        debugStr(err, fb);
        return error.Fields;
    }
    other.mergeInto(&all);
    write(fa, &all, out);
}
