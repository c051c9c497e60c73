//! Reference job `count` in Zig: events per (type, subtype); merge adds.
//! The same result bytes as wasm-jobs/count (see wasm-jobs/README.md):
//! {"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}
//! sorted by (type, subtype), null first, strings by bytes.
const std = @import("std");
const epochd = @import("epochd");

export fn epochd_run() i32 {
    return epochd.run(run);
}
export fn epochd_merge() i32 {
    return epochd.mergeWith(merge);
}

/// One (type, subtype) pair; strings are valid UTF-8 (lossy when read from the epoch).
const Entry = struct { type: ?[]const u8, subtype: ?[]const u8, count: u64 };
const Entries = std.ArrayListUnmanaged(Entry);

fn orderOpt(a: ?[]const u8, b: ?[]const u8) std.math.Order {
    const x = a orelse return if (b == null) .eq else .lt; // None first
    const y = b orelse return .gt;
    return std.mem.order(u8, x, y);
}
fn orderEntry(a: Entry, b: Entry) std.math.Order {
    const c = orderOpt(a.type, b.type);
    return if (c != .eq) c else orderOpt(a.subtype, b.subtype);
}
fn lessThan(_: void, a: Entry, b: Entry) bool {
    return orderEntry(a, b) == .lt;
}

/// Sorts, adds equal keys, writes the result.
fn write(entries: []Entry, out: *epochd.Buf) void {
    std.mem.sort(Entry, entries, {}, lessThan);
    var events: u64 = 0;
    for (entries) |x| events += x.count;
    var j = epochd.Json.init(out);
    j.beginObject();
    j.key("events");
    j.uint(events);
    j.key("counts");
    j.beginArray();
    var i: usize = 0;
    while (i < entries.len) {
        var k = i + 1;
        var n = entries[i].count;
        while (k < entries.len and orderEntry(entries[i], entries[k]) == .eq) : (k += 1) n += entries[k].count;
        if (n > 0) {
            j.beginObject();
            j.key("type");
            j.optString(entries[i].type);
            j.key("subtype");
            j.optString(entries[i].subtype);
            j.key("count");
            j.uint(n);
            j.endObject();
        }
        i = k;
    }
    j.endArray();
    j.endObject();
}

/// String `id` of a field's strings as lossy UTF-8, or null (`none`).
fn name(r: *const epochd.RowIds, id: u64) ?[]const u8 {
    if (id > std.math.maxInt(u32)) return null;
    const p = r.strings.get(@intCast(id)) orelse return null;
    var b = epochd.Buf{};
    b.utf8Lossy(p);
    return b.items();
}

/// Counts the pairs (t[i], s[i]) in a table of (nt + 1) x (ns + 1) cells, an
/// id past a dictionary (`none`) in the last cell of its side. Unrolled by
/// eight: every loop head of a compiled job checks the run's deadline, and
/// fewer, wider iterations pay for it less often (docs/BENCHMARKS.md,
/// "Languages").
noinline fn tally(table: []u64, nt: u32, ns: u32, t: []const u32, s: []const u32) void {
    const w: usize = @as(usize, ns) + 1;
    const n = @min(t.len, s.len);
    var i: usize = 0;
    while (i + 8 <= n) : (i += 8) {
        inline for (0..8) |k| table[@as(usize, @min(t[i + k], nt)) * w + @min(s[i + k], ns)] += 1;
    }
    while (i < n) : (i += 1) table[@as(usize, @min(t[i], nt)) * w + @min(s[i], ns)] += 1;
}

fn run(out: *epochd.Buf, _: *epochd.Buf) !void {
    // Both fields read by row a block at a time, side by side (no per-row
    // array of the whole epoch), and their pairs of string ids counted: in a
    // table when both are dictionary-coded with few strings, else a map.
    const rows = epochd.rows();
    var types = epochd.rowIds("type");
    var subtypes = epochd.rowIds("subtype");
    const nt: u32 = types.dict_len orelse 0;
    const ns: u32 = subtypes.dict_len orelse 0;
    var table: ?[]u64 = null;
    if (types.dict_len != null and subtypes.dict_len != null and (@as(u64, nt) + 1) * (@as(u64, ns) + 1) <= 1 << 16) {
        const cells = epochd.alloc(u64, (@as(usize, nt) + 1) * (@as(usize, ns) + 1));
        @memset(cells, 0);
        table = cells;
    }
    var pairs = std.AutoArrayHashMapUnmanaged(u64, u64){};
    const t = epochd.alloc(u32, epochd.block);
    const s = epochd.alloc(u32, epochd.block);
    var first: u32 = 0;
    while (first < rows) : (first += epochd.block) {
        const n = @min(rows - first, epochd.block);
        types.read(first, t[0..n]);
        subtypes.read(first, s[0..n]);
        if (table) |cells| {
            tally(cells, nt, ns, t[0..n], s[0..n]);
        } else {
            for (t[0..n], s[0..n]) |a, b| {
                const g = pairs.getOrPut(epochd.allocator, @as(u64, a) << 32 | b) catch epochd.oom();
                if (!g.found_existing) g.value_ptr.* = 0;
                g.value_ptr.* += 1;
            }
        }
    }
    var entries = Entries{};
    const push = struct {
        fn f(list: *Entries, e: Entry) void {
            list.append(epochd.allocator, e) catch epochd.oom();
        }
    }.f;
    if (table) |cells| {
        const w: usize = @as(usize, ns) + 1;
        for (cells, 0..) |c, i| {
            if (c == 0) continue;
            push(&entries, .{ .type = name(&types, i / w), .subtype = name(&subtypes, i % w), .count = c });
        }
    } else {
        for (pairs.keys(), pairs.values()) |k, c|
            push(&entries, .{ .type = name(&types, k >> 32), .subtype = name(&subtypes, k & 0xffffffff), .count = c });
    }
    write(entries.items, out);
}

/// Reads a result's entries into `entries`.
fn parse(in: []const u8, entries: *Entries, err: *epochd.Buf) !void {
    errdefer err.prepend("JSON: "); // as the Rust job's messages
    const root = epochd.parseJson(in, err) orelse return error.Json;
    const f = root.fields("Counts", &.{ "events", "counts" }, err) orelse return error.Json;
    _ = (f[0] orelse return bad(err, "`events` must be a u64")).asU64() orelse return bad(err, "`events` must be a u64");
    const counts = switch ((f[1] orelse return bad(err, "`counts` must be an array")).*) {
        .array => |a| a,
        else => return bad(err, "`counts` must be an array"),
    };
    for (counts) |*item| {
        const c = item.fields("Count", &.{ "type", "subtype", "count" }, err) orelse return error.Json;
        var e = Entry{ .type = null, .subtype = null, .count = 0 };
        inline for (.{ "type", "subtype" }, 0..) |field, k| {
            if (c[k]) |v| switch (v.*) {
                .string => |s| @field(e, field) = s,
                .null => {},
                else => return bad(err, "`type` and `subtype` must be strings or null"),
            };
        }
        e.count = (c[2] orelse return bad(err, "`count` must be a u64")).asU64() orelse return bad(err, "`count` must be a u64");
        entries.append(epochd.allocator, e) catch epochd.oom();
    }
}

fn bad(err: *epochd.Buf, msg: []const u8) error{Json} {
    err.push(msg);
    return error.Json;
}

fn merge(a: []const u8, b: []const u8, out: *epochd.Buf, err: *epochd.Buf) !void {
    var entries = Entries{};
    try parse(a, &entries, err);
    try parse(b, &entries, err);
    write(entries.items, out);
}
