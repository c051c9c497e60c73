//! epochd.zig: the Zig SDK for epochd jobs, job ABI v1 (sdk/ABI.md).
//!
//! Two layers:
//!   - `sys`: the ABI v1 imports of module "epochd", one to one;
//!   - the rest: columns scanned in blocks into aligned buffers, strings and
//!     dictionaries, a string field's ids by row one window of rows at a
//!     time (`RowIds`), containers, a growable buffer, an insertion-ordered
//!     byte-string map, a JSON writer (serde_json's compact bytes, floats
//!     in ryu's shortest round-trip form), a small JSON reader (merge
//!     inputs, configs), the config, logs, emit/fail, the merge inputs, and
//!     `LogHistogram` (the Rust SDK's mergeable latency sketch).
//!
//! Build a job (see sdk/zig/README.md):
//!   python3 -m ziglang build-exe -target wasm32-freestanding -O ReleaseSmall \
//!     -fno-entry -rdynamic --dep epochd -Mroot=job.zig -Mepochd=sdk/zig/epochd.zig \
//!     -femit-bin=job.wasm
//!
//! A job exports its entry points itself:
//!   export fn epochd_run() i32 { return epochd.run(myRun); }
//!   export fn epochd_merge() i32 { return epochd.mergeWith(myMerge); }
//! This file exports `epochd_abi_version` (returns 1).
const std = @import("std");
const builtin = @import("builtin");

pub const abi_version: i32 = 1;

comptime {
    if (builtin.target.cpu.arch.isWasm()) @export(&abiVersion, .{ .name = "epochd_abi_version" });
}
fn abiVersion() callconv(.c) i32 {
    return abi_version;
}

// ---------------------------------------------------------------- the ABI

/// Negative returns of the ABI.
pub const code = struct {
    pub const not_found: i32 = -1;
    pub const bad_handle: i32 = -2;
    pub const out_of_range: i32 = -3;
    pub const wrong_type: i32 = -4;
    pub const too_large: i32 = -5;
    pub const not_now: i32 = -6;
};

/// Column value types.
pub const Type = enum(i32) { int = 0, float = 1, bool = 2, str = 3, null = 4, raw = 5 };
/// Container kinds.
pub const Kind = enum(i32) { map = 0, list = 1 };
pub const Level = enum(i32) { err = 0, warn = 1, info = 2, debug = 3 };

/// The ABI v1 imports, one to one (pointers are offsets into `memory`).
pub const sys = struct {
    pub extern "epochd" fn epoch() i64;
    pub extern "epochd" fn seq() i32;
    pub extern "epochd" fn rows() i32;
    pub extern "epochd" fn dc(dst: [*]u8, cap: i32) i32;
    pub extern "epochd" fn column(path: [*]const u8, path_len: i32, ty: i32) i32;
    pub extern "epochd" fn column_len(h: i32) i32;
    pub extern "epochd" fn column_dense(h: i32) i32;
    pub extern "epochd" fn column_rows(h: i32, start: i32, count: i32, dst: [*]u8) i32;
    pub extern "epochd" fn column_i64(h: i32, start: i32, count: i32, dst: [*]u8) i32;
    pub extern "epochd" fn column_f64(h: i32, start: i32, count: i32, dst: [*]u8) i32;
    pub extern "epochd" fn column_u8(h: i32, start: i32, count: i32, dst: [*]u8) i32;
    pub extern "epochd" fn column_ids(h: i32, start: i32, count: i32, dst: [*]u8) i32;
    pub extern "epochd" fn dict_len(h: i32) i32;
    pub extern "epochd" fn dict_entry(h: i32, id: i32, dst: [*]u8, cap: i32) i32;
    pub extern "epochd" fn column_bytes(h: i32, index: i32, dst: [*]u8, cap: i32) i32;
    pub extern "epochd" fn container(path: [*]const u8, path_len: i32, kind: i32) i32;
    pub extern "epochd" fn container_len(h: i32) i32;
    pub extern "epochd" fn container_rows(h: i32, start: i32, count: i32, dst: [*]u8) i32;
    pub extern "epochd" fn container_offsets(h: i32, start: i32, count: i32, dst: [*]u8) i32;
    pub extern "epochd" fn container_keys(h: i32) i32;
    pub extern "epochd" fn container_values(h: i32, ty: i32) i32;
    pub extern "epochd" fn emit(ptr: [*]const u8, len: i32) i32;
    pub extern "epochd" fn fail(ptr: [*]const u8, len: i32) void;
    pub extern "epochd" fn log(level: i32, ptr: [*]const u8, len: i32) void;
    pub extern "epochd" fn config_len() i32;
    pub extern "epochd" fn config_read(dst: [*]u8, cap: i32) i32;
    pub extern "epochd" fn merge_input(which: i32, dst: [*]u8, cap: i32) i32;
};

// ---------------------------------------------------------------- memory

/// The SDK's allocator: wasm's memory.grow (a fresh instance per run, so
/// jobs may simply not free). Natively (tests): the page allocator.
pub const allocator: std.mem.Allocator = if (builtin.target.cpu.arch.isWasm()) std.heap.wasm_allocator else std.heap.page_allocator;

/// Out of memory: fails the run with a message, then traps.
pub fn oom() noreturn {
    const m = "epochd Zig SDK: out of memory";
    if (builtin.target.cpu.arch.isWasm()) sys.fail(m.ptr, m.len);
    @trap();
}

/// `allocator.alloc` that fails the run on out of memory.
pub fn alloc(comptime T: type, n: usize) []T {
    return allocator.alloc(T, n) catch oom();
}

/// A growable byte buffer.
pub const Buf = struct {
    list: std.ArrayListUnmanaged(u8) = .{},

    pub fn items(self: *const Buf) []u8 {
        return self.list.items;
    }
    pub fn len(self: *const Buf) usize {
        return self.list.items.len;
    }
    pub fn reserve(self: *Buf, extra: usize) void {
        self.list.ensureUnusedCapacity(allocator, extra) catch oom();
    }
    pub fn push(self: *Buf, s: []const u8) void {
        self.list.appendSlice(allocator, s) catch oom();
    }
    pub fn byte(self: *Buf, c: u8) void {
        self.list.append(allocator, c) catch oom();
    }
    /// Decimal.
    pub fn uint(self: *Buf, v: u64) void {
        var t: [20]u8 = undefined;
        var i: usize = 20;
        var x = v;
        while (true) {
            i -= 1;
            t[i] = @intCast('0' + x % 10);
            x /= 10;
            if (x == 0) break;
        }
        self.push(t[i..]);
    }
    pub fn print(self: *Buf, comptime fmt: []const u8, args: anytype) void {
        self.list.writer(allocator).print(fmt, args) catch oom();
    }
    pub fn clear(self: *Buf) void {
        self.list.clearRetainingCapacity();
    }
    /// Puts `s` in front of the bytes (e.g. a prefix on an error message).
    pub fn prepend(self: *Buf, s: []const u8) void {
        self.list.insertSlice(allocator, 0, s) catch oom();
    }
    pub fn deinit(self: *Buf) void {
        self.list.deinit(allocator);
    }
    /// Appends bytes as UTF-8, each invalid sequence replaced by U+FFFD (as
    /// Rust's String::from_utf8_lossy).
    pub fn utf8Lossy(self: *Buf, p: []const u8) void {
        self.reserve(p.len);
        var i: usize = 0;
        while (i < p.len) {
            const s = utf8Seq(p[i..]);
            if (s.valid) self.push(p[i .. i + s.len]) else self.push("\xEF\xBF\xBD");
            i += s.len;
        }
    }
    /// Reads a variable-length ABI value: `f(ctx, dst, cap)` returns the full length.
    fn readVar(self: *Buf, ctx: anytype, comptime f: fn (@TypeOf(ctx), [*]u8, i32) i32) i32 {
        self.reserve(256);
        const free = self.list.capacity - self.list.items.len;
        const cap: i32 = @intCast(@min(free, 0x7fffffff));
        var n = f(ctx, self.list.items.ptr + self.list.items.len, cap);
        if (n < 0) return n;
        if (n > cap) {
            self.reserve(@intCast(n));
            n = f(ctx, self.list.items.ptr + self.list.items.len, n);
            if (n < 0) return n;
        }
        self.list.items.len += @intCast(n);
        return n;
    }
};

// ---------------------------------------------------------------- UTF-8

const Seq = struct { len: usize, valid: bool, incomplete: bool = false };

/// The UTF-8 sequence at p[0]: its length when valid, else the length of
/// the maximal invalid subpart (>= 1).
fn utf8Seq(p: []const u8) Seq {
    const c = p[0];
    if (c < 0x80) return .{ .len = 1, .valid = true };
    var need: usize = undefined;
    var lo: u8 = 0x80;
    var hi: u8 = 0xBF;
    if (c >= 0xC2 and c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 and c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 and c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return .{ .len = 1, .valid = false };
    var i: usize = 1;
    while (i <= need) : (i += 1) {
        if (i >= p.len) return .{ .len = i, .valid = false, .incomplete = true };
        const d = p[i];
        const bad = if (i == 1) (d < lo or d > hi) else (d < 0x80 or d > 0xBF);
        if (bad) return .{ .len = i, .valid = false };
    }
    return .{ .len = need + 1, .valid = true };
}

pub fn utf8Valid(p: []const u8) bool {
    return utf8Check(p) == null;
}

/// Where bytes stop being UTF-8, as Rust's Utf8Error.
pub const Utf8Error = struct { valid_up_to: usize, error_len: ?usize };
pub fn utf8Check(p: []const u8) ?Utf8Error {
    var i: usize = 0;
    while (i < p.len) {
        const s = utf8Seq(p[i..]);
        if (!s.valid) return .{ .valid_up_to = i, .error_len = if (s.incomplete) null else s.len };
        i += s.len;
    }
    return null;
}

// ---------------------------------------------------------------- the epoch

pub fn epoch() i64 {
    return sys.epoch();
}
pub fn seq() u32 {
    return @intCast(@max(sys.seq(), 0));
}
pub fn rows() u32 {
    return @intCast(@max(sys.rows(), 0));
}
fn dcFn(_: void, dst: [*]u8, cap: i32) i32 {
    return sys.dc(dst, cap);
}
/// The commit's dc, raw bytes (appended to out).
pub fn dc(out: *Buf) void {
    _ = out.readVar({}, dcFn);
}

// ---------------------------------------------------------------- columns

/// Values per block of a Scan.
pub const block = 8192;
pub const none: u32 = std.math.maxInt(u32);

pub const Column = struct {
    handle: i32,
    ty: Type,
    /// Values.
    len: u32,
    /// Value i is row i.
    dense: bool,
    /// STR with a dictionary: its size.
    dict_len: ?u32,

    /// The column of (path, type), or null when none.
    pub fn find(path: []const u8, ty: Type) ?Column {
        return fromHandle(sys.column(path.ptr, @intCast(path.len), @intFromEnum(ty)), ty);
    }
    /// Wraps a handle the host returned (e.g. container keys).
    pub fn fromHandle(h: i32, ty: Type) ?Column {
        if (h < 0) return null;
        const n = sys.column_len(h);
        if (n < 0) return null;
        var d: ?u32 = null;
        if (ty == .str) {
            const l = sys.dict_len(h);
            if (l >= 0) d = @intCast(l);
        }
        return .{ .handle = h, .ty = ty, .len = @intCast(n), .dense = sys.column_dense(h) == 1, .dict_len = d };
    }
    /// Blocks of up to `block` values: `var s = col.scan(); defer s.deinit(); while (s.next()) ...`.
    pub fn scan(self: Column) Scan {
        return Scan.init(self);
    }
    /// The bytes of value `index` of a STR or RAW column (appended): the length, or a negative code.
    pub fn bytes(self: Column, index: u32, out: *Buf) i32 {
        if (self.ty == .str and self.dict_len != null) {
            var id: u32 align(4) = undefined;
            const r = sys.column_ids(self.handle, @intCast(index), 1, @ptrCast(&id));
            if (r < 0) return r;
            if (r == 0) return code.out_of_range;
            return out.readVar(Entry{ .h = self.handle, .i = @intCast(id) }, Entry.dict);
        }
        return out.readVar(Entry{ .h = self.handle, .i = @intCast(index) }, Entry.value);
    }
    /// The index of the value at `row`, or null (binary search; direct when dense).
    pub fn indexOf(self: Column, row: u32) ?u32 {
        const index = self.indexFrom(row);
        if (index >= self.len) return null;
        if (self.dense) return if (index == row) index else null;
        var at: u32 align(4) = undefined;
        if (sys.column_rows(self.handle, @intCast(index), 1, @ptrCast(&at)) != 1 or at != row) return null;
        return index;
    }
    /// The index of the first value at `row` or after it (`len` when none):
    /// where a window of rows starts in the column's values (binary search
    /// over host calls; direct when dense).
    pub fn indexFrom(self: Column, row: u32) u32 {
        if (self.dense) return @min(row, self.len);
        var lo: u32 = 0;
        var hi: u32 = self.len;
        while (lo < hi) {
            const mid = lo + (hi - lo) / 2;
            var at: u32 align(4) = undefined;
            if (sys.column_rows(self.handle, @intCast(mid), 1, @ptrCast(&at)) == 1 and at < row) lo = mid + 1 else hi = mid;
        }
        return lo;
    }
    /// The dictionary of a STR column (one host call per entry), or null if it has none.
    pub fn dictionary(self: Column) ?Dict {
        const n = self.dict_len orelse return null;
        if (self.ty != .str) return null;
        var d = Dict{};
        var tmp = Buf{};
        defer tmp.deinit();
        var id: u32 = 0;
        while (id < n) : (id += 1) {
            tmp.clear();
            if (tmp.readVar(Entry{ .h = self.handle, .i = @intCast(id) }, Entry.dict) < 0) tmp.clear();
            d.push(tmp.items());
        }
        return d;
    }
    /// For every row of `space` rows, the id of its string (or `none`):
    /// dictionary ids, or strings interned in order of first appearance
    /// (one `RowIds.read` over the whole space; see `RowIds`).
    pub fn byRow(self: Column, space: u32) RowStrings {
        return rowStringsOf(self, space);
    }
};

const Entry = struct {
    h: i32,
    i: i32,
    fn dict(e: Entry, dst: [*]u8, cap: i32) i32 {
        return sys.dict_entry(e.h, e.i, dst, cap);
    }
    fn value(e: Entry, dst: [*]u8, cap: i32) i32 {
        return sys.column_bytes(e.h, e.i, dst, cap);
    }
};

/// A column in blocks of up to `block` values, in 4 KiB-aligned buffers:
/// values `start .. start + n` with their rows (`rowSlice`) and values
/// (`i64s` INT, `f64s` FLOAT, `u8s` BOOL, `ids` STR with a dictionary;
/// rows only for NULL, plain STR and RAW).
pub const Scan = struct {
    col: Column,
    start: u32 = 0,
    n: u32 = 0,
    done: bool = false,
    rows: []align(4096) u32,
    values: []align(4096) u64,

    pub fn init(col: Column) Scan {
        return .{
            .col = col,
            .rows = allocator.alignedAlloc(u32, 4096, block) catch oom(),
            .values = allocator.alignedAlloc(u64, 4096, block) catch oom(),
        };
    }
    pub fn deinit(self: *Scan) void {
        allocator.free(self.rows);
        allocator.free(self.values);
        self.rows = &.{};
        self.values = &.{};
        self.done = true;
    }
    /// The next block: false at the end.
    pub fn next(self: *Scan) bool {
        if (self.done) return false;
        const c = self.col;
        const start = self.start + self.n;
        self.start = start;
        self.n = 0;
        if (start >= c.len) {
            self.done = true;
            return false;
        }
        var want: u32 = @min(c.len - start, block);
        const dst: [*]u8 = @ptrCast(self.values.ptr);
        const s: i32 = @intCast(start);
        const w: i32 = @intCast(want);
        const got: i32 = switch (c.ty) {
            .int => sys.column_i64(c.handle, s, w, dst),
            .float => sys.column_f64(c.handle, s, w, dst),
            .bool => sys.column_u8(c.handle, s, w, dst),
            .str => if (c.dict_len != null) sys.column_ids(c.handle, s, w, dst) else w,
            else => w,
        };
        if (got <= 0) {
            self.done = true;
            return false;
        }
        want = @intCast(got);
        if (c.dense) {
            for (self.rows[0..want], 0..) |*r, i| r.* = start + @as(u32, @intCast(i));
        } else {
            const r = sys.column_rows(c.handle, s, @intCast(want), @ptrCast(self.rows.ptr));
            if (r <= 0) {
                self.done = true;
                return false;
            }
            want = @min(want, @as(u32, @intCast(r)));
        }
        self.n = want;
        return true;
    }
    pub fn rowSlice(self: *const Scan) []const u32 {
        return self.rows[0..self.n];
    }
    pub fn i64s(self: *const Scan) []const i64 {
        return @as([*]const i64, @ptrCast(self.values.ptr))[0..self.n];
    }
    pub fn f64s(self: *const Scan) []const f64 {
        return @as([*]const f64, @ptrCast(self.values.ptr))[0..self.n];
    }
    pub fn u8s(self: *const Scan) []const u8 {
        return @as([*]const u8, @ptrCast(self.values.ptr))[0..self.n];
    }
    pub fn ids(self: *const Scan) []const u32 {
        return @as([*]const u32, @ptrCast(self.values.ptr))[0..self.n];
    }
};

// ---------------------------------------------------------------- strings

/// A list of byte strings, numbered from 0.
pub const Dict = struct {
    bytes: Buf = .{},
    offsets: std.ArrayListUnmanaged(u32) = .{},

    pub fn len(self: *const Dict) u32 {
        const n = self.offsets.items.len;
        return if (n == 0) 0 else @intCast(n - 1);
    }
    pub fn push(self: *Dict, s: []const u8) void {
        if (self.offsets.items.len == 0) self.offsets.append(allocator, 0) catch oom();
        self.bytes.push(s);
        self.offsets.append(allocator, @intCast(self.bytes.len())) catch oom();
    }
    /// String `id`, or null beyond the end.
    pub fn get(self: *const Dict, id: u32) ?[]const u8 {
        if (id >= self.len()) return null;
        return self.bytes.items()[self.offsets.items[id]..self.offsets.items[id + 1]];
    }
    /// The id of a string (linear search).
    pub fn find(self: *const Dict, s: []const u8) ?u32 {
        var i: u32 = 0;
        while (i < self.len()) : (i += 1) {
            if (std.mem.eql(u8, self.get(i).?, s)) return i;
        }
        return null;
    }
    pub fn deinit(self: *Dict) void {
        self.bytes.deinit();
        self.offsets.deinit(allocator);
    }
};

/// Per row, a string id into `strings`, or `none`.
pub const RowStrings = struct {
    ids: []u32,
    strings: Dict = .{},

    /// The string of a row, or null.
    pub fn get(self: *const RowStrings, row: u32) ?[]const u8 {
        if (row >= self.ids.len) return null;
        return self.strings.get(self.ids[row]);
    }
    pub fn deinit(self: *RowStrings) void {
        allocator.free(self.ids);
        self.strings.deinit();
    }
};

/// For every row of `space` (`rows()` for a field of the events), the id
/// of its string at `path`, or `none` (all `none` when no event has a
/// string there). `RowIds` reads the same ids a window of rows at a time.
pub fn stringsByRow(path: []const u8, space: u32) RowStrings {
    return rowStringsOf(Column.find(path, .str), space);
}

/// `RowStrings` of a column (null: every row `none`): one read over the space.
fn rowStringsOf(col: ?Column, space: u32) RowStrings {
    var r = RowIds.of(col);
    const ids = alloc(u32, space);
    r.read(0, ids); // interns plain strings into r.strings
    const out = RowStrings{ .ids = ids, .strings = r.strings };
    r.strings = .{};
    r.deinit();
    return out;
}

/// A string field's ids by row, read one window of rows at a time: what
/// `RowStrings` holds for the whole epoch, without its 4 * rows bytes, so
/// that several fields (and numeric columns) can be read side by side in
/// blocks of rows that stay in the cache:
///   var t = epochd.rowIds("type");
///   defer t.deinit();
///   t.read(first_row, ids[0..n]); // ids of rows first_row..first_row+n
///   const id = t.get(row);        // `none` where none
///   ... t.strings: the strings behind the ids ...
/// With a dictionary, ids are its own and `strings` holds every string from
/// the start (`dict_len` is its size; 0 without a column). Without one
/// (mostly distinct strings, `dict_len` null), strings are interned as the
/// windows meet them, in order of first appearance, so a string keeps its
/// id across windows; `strings` then holds those met so far.
/// Per window: one host copy for a dense dictionary-coded field (the usual
/// type, subtype, dc); a binary search and the rows and ids of its values
/// for a sparse one; one host call per value without a dictionary.
/// `get` reads a window of `block` rows from `row` when `row` is not in the
/// last one, so rows in ascending order are cheap.
pub const RowIds = struct {
    col: ?Column,
    /// The number of strings when every id is known before any read: the
    /// size of the dictionary (0 without a column), null without one. Ids
    /// are below it, so a job can size a table by it.
    dict_len: ?u32,
    /// The strings behind the ids (see above for which).
    strings: Dict = .{},
    /// Without a dictionary: string -> id.
    interned: Map = .{},
    /// The last window `get` read: the ids of rows `window_first ..`
    /// (empty before the first).
    window: []u32 = &.{},
    window_first: u32 = 0,
    /// Scratch: the rows and ids of a block of values, and one value's bytes.
    rows: []u32 = &.{},
    ids: []u32 = &.{},
    bytes: Buf = .{},

    /// The field at `path` (a STR column); every row `none` when there is none.
    pub fn open(path: []const u8) RowIds {
        return of(Column.find(path, .str));
    }
    /// Over a column (container keys, say); null: every row `none`, no strings.
    pub fn of(col: ?Column) RowIds {
        const c = col orelse return .{ .col = null, .dict_len = 0 };
        var r = RowIds{ .col = c, .dict_len = null };
        if (c.dictionary()) |d| {
            r.strings = d;
            r.dict_len = d.len();
        }
        return r;
    }

    /// Writes the id of each row `first_row .. first_row + out.len` into
    /// `out`: `none` where the row holds no string (or is past the end).
    pub fn read(self: *RowIds, first_row: u32, out: []u32) void {
        const c = self.col orelse {
            @memset(out, none);
            return;
        };
        const dictionary = self.dict_len != null;
        if (dictionary and c.dense) {
            // Value i is row i: the ids are by row already, one host copy.
            var copied: usize = 0;
            if (first_row < c.len and out.len > 0) {
                const want: i32 = @intCast(@min(out.len, std.math.maxInt(i32)));
                const got = sys.column_ids(c.handle, @intCast(first_row), want, @ptrCast(out.ptr));
                if (got > 0) copied = @min(out.len, @as(usize, @intCast(got)));
            }
            @memset(out[copied..], none);
            return;
        }
        @memset(out, none);
        if (self.rows.len == 0) {
            self.rows = alloc(u32, block);
            self.ids = alloc(u32, block);
        }
        const end = @as(u64, first_row) + out.len;
        const most: u32 = @intCast(std.math.clamp(out.len, 1, block));
        var index = c.indexFrom(first_row);
        while (index < c.len) {
            var k = @min(c.len - index, most);
            if (dictionary) {
                const got = sys.column_ids(c.handle, @intCast(index), @intCast(k), @ptrCast(self.ids.ptr));
                if (got <= 0) return;
                k = @min(k, @as(u32, @intCast(got)));
            }
            if (c.dense) {
                for (self.rows[0..k], 0..) |*r, i| r.* = index + @as(u32, @intCast(i));
            } else {
                const got = sys.column_rows(c.handle, @intCast(index), @intCast(k), @ptrCast(self.rows.ptr));
                if (got <= 0) return;
                k = @min(k, @as(u32, @intCast(got)));
            }
            for (self.rows[0..k], 0..) |row, i| {
                if (row >= end) return;
                if (row < first_row) continue; // only when the host failed the search
                out[row - first_row] = if (dictionary) self.ids[i] else self.intern(c, index + @as(u32, @intCast(i)));
            }
            index += k;
        }
    }

    /// The id of the string at `row`, or `none`. Reads a window of `block`
    /// rows from `row` when `row` is not in the last one read, so rows
    /// visited in ascending order (another column's rows, say) cost one
    /// `read` per window.
    pub inline fn get(self: *RowIds, row: u32) u32 {
        const at = row -% self.window_first;
        if (at < self.window.len) return self.window[at];
        return self.readWindow(row);
    }

    /// Reads the window of rows from `row`; returns `row`'s id. Out of line:
    /// in a compiled job, a call inside a loop makes the loop keep its
    /// values in memory, so `get`'s loop only calls on a new window.
    noinline fn readWindow(self: *RowIds, row: u32) u32 {
        @branchHint(.cold);
        if (self.window.len == 0) self.window = alloc(u32, block);
        self.read(row, self.window);
        self.window_first = row;
        return self.window[0];
    }

    /// The id of value `index`'s string, interned if it is new.
    fn intern(self: *RowIds, c: Column, index: u32) u32 {
        self.bytes.clear();
        if (c.bytes(index, &self.bytes) < 0) return none;
        const s = self.interned.slot(self.bytes.items());
        if (s.fresh) {
            s.value.* = self.strings.len();
            self.strings.push(self.bytes.items());
        }
        return @intCast(s.value.*);
    }

    pub fn deinit(self: *RowIds) void {
        self.strings.deinit();
        self.interned.deinit();
        self.bytes.deinit();
        allocator.free(self.window);
        allocator.free(self.rows);
        allocator.free(self.ids);
        self.* = .{ .col = null, .dict_len = 0 };
    }
};

/// The ids of the string field at `path` by row, a window at a time (`RowIds.open`).
pub fn rowIds(path: []const u8) RowIds {
    return RowIds.open(path);
}

// ---------------------------------------------------------------- containers

/// A map with varying keys, or an array, with its holding rows and offsets read whole.
pub const Container = struct {
    handle: i32,
    kind: Kind,
    /// Holding rows.
    rows: []u32,
    /// rows.len + 1: the entries of rows[i] are offsets[i]..offsets[i+1].
    offsets: []u32,

    pub fn find(path: []const u8, kind: Kind) ?Container {
        const h = sys.container(path.ptr, @intCast(path.len), @intFromEnum(kind));
        if (h < 0) return null;
        const n = sys.container_len(h);
        if (n < 0) return null;
        const len: u32 = @intCast(n);
        const c = Container{ .handle = h, .kind = kind, .rows = alloc(u32, len), .offsets = alloc(u32, len + 1) };
        @memset(c.offsets, 0);
        var s: u32 = 0;
        while (s < len) {
            const r = sys.container_rows(h, @intCast(s), @intCast(len - s), @ptrCast(c.rows.ptr + s));
            if (r <= 0) break;
            s += @intCast(r);
        }
        s = 0;
        while (s < len + 1) {
            const r = sys.container_offsets(h, @intCast(s), @intCast(len + 1 - s), @ptrCast(c.offsets.ptr + s));
            if (r <= 0) break;
            s += @intCast(r);
        }
        return c;
    }
    /// A map's keys: a dense STR column over the entries.
    pub fn keys(self: Container) ?Column {
        return Column.fromHandle(sys.container_keys(self.handle), .str);
    }
    /// The entries' values of one type (a column over the entries).
    pub fn values(self: Container, ty: Type) ?Column {
        return Column.fromHandle(sys.container_values(self.handle, @intFromEnum(ty)), ty);
    }
    pub fn deinit(self: *Container) void {
        allocator.free(self.rows);
        allocator.free(self.offsets);
    }
};

// ---------------------------------------------------------------- a map

/// Byte strings to u64, insertion-ordered (entry i is keys()[i]).
pub const Map = struct {
    inner: std.StringArrayHashMapUnmanaged(u64) = .{},

    pub const Slot = struct { value: *u64, index: u32, fresh: bool };
    /// The slot of a key, created (0) when missing (`fresh` then). The
    /// pointer is valid until the next insertion.
    pub fn slot(self: *Map, key: []const u8) Slot {
        const g = self.inner.getOrPut(allocator, key) catch oom();
        if (!g.found_existing) {
            g.key_ptr.* = allocator.dupe(u8, key) catch oom();
            g.value_ptr.* = 0;
        }
        return .{ .value = g.value_ptr, .index = @intCast(g.index), .fresh = !g.found_existing };
    }
    /// The entry number of a key.
    pub fn find(self: *const Map, key: []const u8) ?u32 {
        return if (self.inner.getIndex(key)) |i| @intCast(i) else null;
    }
    pub fn count(self: *const Map) u32 {
        return @intCast(self.inner.count());
    }
    pub fn keys(self: *const Map) [][]const u8 {
        return self.inner.keys();
    }
    pub fn values(self: *const Map) []u64 {
        return self.inner.values();
    }
    /// Entry numbers in the keys' byte order.
    pub fn sortedOrder(self: *const Map) []u32 {
        const order = alloc(u32, self.count());
        for (order, 0..) |*o, i| o.* = @intCast(i);
        std.mem.sort(u32, order, self.keys(), struct {
            fn lt(k: [][]const u8, a: u32, b: u32) bool {
                return std.mem.order(u8, k[a], k[b]) == .lt;
            }
        }.lt);
        return order;
    }
    pub fn deinit(self: *Map) void {
        for (self.inner.keys()) |k| allocator.free(k);
        self.inner.deinit(allocator);
    }
};

// ---------------------------------------------------------------- config, logs, output, merge

/// The config bytes given at submission (appended).
pub fn config(out: *Buf) void {
    const n = sys.config_len();
    if (n <= 0) return;
    out.reserve(@intCast(n));
    const got = @min(sys.config_read(out.list.items.ptr + out.list.items.len, n), n);
    if (got > 0) out.list.items.len += @intCast(got);
}
pub fn log(level: Level, msg: []const u8) void {
    sys.log(@intFromEnum(level), msg.ptr, @intCast(msg.len));
}
pub fn logFmt(level: Level, comptime fmt: []const u8, args: anytype) void {
    var b = Buf{};
    defer b.deinit();
    b.print(fmt, args);
    log(level, b.items());
}
/// Sets the result: 0, or `code.too_large` (the run fails then).
pub fn emit(bytes: []const u8) i32 {
    const r = sys.emit(bytes.ptr, @intCast(bytes.len));
    return if (r < 0) r else 0;
}
/// Sets the failure message; return non-zero from the entry point after it.
pub fn fail(msg: []const u8) void {
    sys.fail(msg.ptr, @intCast(msg.len));
}
pub fn failFmt(comptime fmt: []const u8, args: anytype) void {
    var b = Buf{};
    defer b.deinit();
    b.print(fmt, args);
    fail(b.items());
}
fn mergeFn(which: i32, dst: [*]u8, cap: i32) i32 {
    return sys.merge_input(which, dst, cap);
}
/// Merge input 0 or 1 (appended): 0, or a negative code.
pub fn mergeInput(which: u1, out: *Buf) i32 {
    const r = out.readVar(@as(i32, which), mergeFn);
    return if (r < 0) r else 0;
}

/// Ends an entry point: emits `out` (nothing when empty) and returns 0; on
/// a refused emit, fails with the Rust SDK's message and returns 1.
pub fn finish(out: []const u8) i32 {
    if (out.len == 0) return 0;
    const r = sys.emit(out.ptr, @intCast(out.len));
    if (r >= 0) return 0;
    if (r == code.too_large) {
        failFmt("the result ({d} bytes) is larger than the job's maximum result size", .{out.len});
    } else {
        failFmt("the host answered `emit` with code {d}", .{r});
    }
    return 1;
}

/// A run: `fn (out: *Buf, err: *Buf) anyerror!void` writes the result to
/// `out`, or a message to `err` and returns an error.
pub const RunFn = fn (out: *Buf, err: *Buf) anyerror!void;
/// The body of an `epochd_run` (or `epochd_init`): calls f, emits its
/// result (0), or fails with its message (1).
pub fn run(comptime f: RunFn) i32 {
    var out = Buf{};
    var err = Buf{};
    f(&out, &err) catch |e| {
        if (err.len() == 0) err.push(@errorName(e));
        fail(err.items());
        return 1;
    };
    return finish(out.items());
}

/// A merge of two non-empty results into `out` (or a message in `err` and an error).
pub const MergeFn = fn (a: []const u8, b: []const u8, out: *Buf, err: *Buf) anyerror!void;
/// The body of an `epochd_merge` that obeys the ABI's identity law byte for
/// byte: reads both inputs; when one is empty emits the other unchanged;
/// otherwise calls `merge`.
pub fn mergeWith(comptime merge: MergeFn) i32 {
    var a = Buf{};
    var b = Buf{};
    if (mergeInput(0, &a) < 0 or mergeInput(1, &b) < 0) {
        fail("the host answered `merge_input` with an error");
        return 1;
    }
    if (a.len() == 0) return finish(b.items());
    if (b.len() == 0) return finish(a.items());
    var out = Buf{};
    var err = Buf{};
    merge(a.items(), b.items(), &out, &err) catch |e| {
        if (err.len() == 0) err.push(@errorName(e));
        fail(err.items());
        return 1;
    };
    return finish(out.items());
}

// ---------------------------------------------------------------- JSON writer

/// Appends a JSON string literal of (valid UTF-8) bytes, escaped as serde_json does.
pub fn jsonQuote(b: *Buf, p: []const u8) void {
    const hex = "0123456789abcdef";
    b.reserve(p.len + 2);
    b.byte('"');
    var run_start: usize = 0;
    for (p, 0..) |c, i| {
        var u: [6]u8 = undefined;
        const esc: []const u8 = switch (c) {
            '"' => "\\\"",
            '\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            0...0x07, 0x0b, 0x0e...0x1f => blk: {
                u = .{ '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
                break :blk &u;
            },
            else => continue,
        };
        b.push(p[run_start..i]);
        run_start = i + 1;
        b.push(esc);
    }
    b.push(p[run_start..]);
    b.byte('"');
}

/// Appends the shortest round-trip form of a finite double as serde_json
/// (ryu) prints it: 0.0075, 1.0, 1e-7, 1.5e300, 12340000000.0.
pub fn formatF64(b: *Buf, v: f64) void {
    var tmp: [64]u8 = undefined;
    // Scientific, shortest round-trip digits (ryu): "-7.5e-3", "1e0".
    const s = std.fmt.formatFloat(&tmp, v, .{ .mode = .scientific }) catch unreachable;
    var i: usize = 0;
    if (s[0] == '-') {
        b.byte('-');
        i = 1;
    }
    var digits: [32]u8 = undefined;
    var nd: usize = 0;
    while (i < s.len and s[i] != 'e') : (i += 1) {
        if (s[i] != '.') {
            digits[nd] = s[i];
            nd += 1;
        }
    }
    const exp = std.fmt.parseInt(i32, s[i + 1 ..], 10) catch unreachable;
    while (nd > 1 and digits[nd - 1] == '0') nd -= 1;
    if (nd == 1 and digits[0] == '0') {
        b.push("0.0");
        return;
    }
    const d = digits[0..nd];
    // v = 0.d1..dn * 10^kk
    const kk: i32 = exp + 1;
    const n: i32 = @intCast(nd);
    if (kk >= n and kk <= 16) {
        b.push(d);
        var k = n;
        while (k < kk) : (k += 1) b.byte('0');
        b.push(".0");
    } else if (kk > 0 and kk <= 16) {
        const at: usize = @intCast(kk);
        b.push(d[0..at]);
        b.byte('.');
        b.push(d[at..]);
    } else if (kk > -5 and kk <= 0) {
        b.push("0.");
        var k = kk;
        while (k < 0) : (k += 1) b.byte('0');
        b.push(d);
    } else {
        b.byte(d[0]);
        if (nd > 1) {
            b.byte('.');
            b.push(d[1..]);
        }
        b.byte('e');
        const x = kk - 1;
        if (x < 0) b.byte('-');
        b.uint(@abs(x));
    }
}

/// A compact JSON writer, byte for byte serde_json's output.
pub const Json = struct {
    out: *Buf,
    /// bit d: nothing written yet at depth d.
    first: u64 = 1,
    depth: u32 = 0,
    after_key: bool = false,

    pub fn init(out: *Buf) Json {
        return .{ .out = out };
    }
    fn valueStart(j: *Json) void {
        if (j.after_key) {
            j.after_key = false;
            return;
        }
        if (j.depth > 0) {
            const bit = @as(u64, 1) << @intCast(j.depth & 63);
            if (j.first & bit != 0) j.first &= ~bit else j.out.byte(',');
        }
    }
    fn open(j: *Json, c: u8) void {
        j.valueStart();
        j.out.byte(c);
        j.depth += 1;
        j.first |= @as(u64, 1) << @intCast(j.depth & 63);
    }
    pub fn beginObject(j: *Json) void {
        j.open('{');
    }
    pub fn beginArray(j: *Json) void {
        j.open('[');
    }
    pub fn endObject(j: *Json) void {
        j.depth -= 1;
        j.out.byte('}');
    }
    pub fn endArray(j: *Json) void {
        j.depth -= 1;
        j.out.byte(']');
    }
    fn quoteLossy(j: *Json, p: []const u8) void {
        if (utf8Valid(p)) return jsonQuote(j.out, p);
        var t = Buf{};
        defer t.deinit();
        t.utf8Lossy(p);
        jsonQuote(j.out, t.items());
    }
    /// An object key (invalid UTF-8 replaced by U+FFFD).
    pub fn key(j: *Json, k: []const u8) void {
        j.valueStart();
        j.quoteLossy(k);
        j.out.byte(':');
        j.after_key = true;
    }
    /// A string (invalid UTF-8 replaced by U+FFFD).
    pub fn string(j: *Json, s: []const u8) void {
        j.valueStart();
        j.quoteLossy(s);
    }
    pub fn optString(j: *Json, s: ?[]const u8) void {
        if (s) |x| j.string(x) else j.null_();
    }
    pub fn uint(j: *Json, v: u64) void {
        j.valueStart();
        j.out.uint(v);
    }
    pub fn int(j: *Json, v: i64) void {
        j.valueStart();
        if (v < 0) j.out.byte('-');
        j.out.uint(@abs(v));
    }
    /// Shortest round-trip form; null when not finite.
    pub fn float(j: *Json, v: f64) void {
        j.valueStart();
        if (std.math.isFinite(v)) formatF64(j.out, v) else j.out.push("null");
    }
    pub fn boolean(j: *Json, v: bool) void {
        j.valueStart();
        j.out.push(if (v) "true" else "false");
    }
    pub fn null_(j: *Json) void {
        j.valueStart();
        j.out.push("null");
    }
};

// ---------------------------------------------------------------- JSON reader

/// A parsed JSON value: strings decoded, numbers kept as their text.
pub const Value = union(enum) {
    null,
    bool: bool,
    number: []const u8,
    string: []const u8,
    array: []Value,
    object: Object,

    /// A non-negative integer token that fits u64 (as serde reads a u64).
    pub fn asU64(v: *const Value) ?u64 {
        const t = switch (v.*) {
            .number => |t| t,
            else => return null,
        };
        if (t.len == 0 or t[0] == '-') return null;
        var x: u64 = 0;
        for (t) |c| {
            if (c < '0' or c > '9') return null;
            x = std.math.mul(u64, x, 10) catch return null;
            x = std.math.add(u64, x, c - '0') catch return null;
        }
        return x;
    }
    pub fn isNull(v: *const Value) bool {
        return v.* == .null;
    }
    /// The value of `key` in an object (the last one if repeated), or null.
    pub fn get(v: *const Value, k: []const u8) ?*const Value {
        const o = switch (v.*) {
            .object => |o| o,
            else => return null,
        };
        var found: ?*const Value = null;
        for (o.keys, o.values) |kk, *vv| {
            if (std.mem.eql(u8, kk, k)) found = vv;
        }
        return found;
    }
    /// Checks an object against struct fields as serde's
    /// deny_unknown_fields does (an unknown or repeated field is an
    /// error): the value of each name, or null (a message in err).
    pub fn fields(v: *const Value, what: []const u8, comptime names: []const []const u8, err: *Buf) ?[names.len]?*const Value {
        var out = [_]?*const Value{null} ** names.len;
        const o = switch (v.*) {
            .object => |o| o,
            else => {
                err.print("invalid type: expected struct {s}", .{what});
                return null;
            },
        };
        for (o.keys, o.values) |k, *val| {
            const hit = for (names, 0..) |n, i| {
                if (std.mem.eql(u8, k, n)) break i;
            } else {
                err.print("unknown field `{s}` in {s}", .{ k, what });
                return null;
            };
            if (out[hit] != null) {
                err.print("duplicate field `{s}` in {s}", .{ names[hit], what });
                return null;
            }
            out[hit] = val;
        }
        return out;
    }
};
pub const Object = struct { keys: [][]const u8, values: []Value };

/// Parses a whole JSON text (nesting up to 128 levels), or null with a
/// message in err. The tree is allocated and never freed (fresh instance per run).
pub fn parseJson(text: []const u8, err: *Buf) ?Value {
    var p = Parser{ .s = text, .err = err };
    const v = p.value() orelse return null;
    p.ws();
    if (p.i != text.len) return p.failAt("trailing characters");
    return v;
}

const Parser = struct {
    s: []const u8,
    i: usize = 0,
    depth: u32 = 0,
    err: *Buf,

    fn failAt(p: *Parser, msg: []const u8) ?Value {
        if (p.err.len() == 0) p.err.print("{s} at byte {d}", .{ msg, p.i });
        return null;
    }
    fn ws(p: *Parser) void {
        while (p.i < p.s.len) : (p.i += 1) {
            switch (p.s[p.i]) {
                ' ', '\n', '\r', '\t' => {},
                else => return,
            }
        }
    }
    fn peek(p: *Parser) ?u8 {
        return if (p.i < p.s.len) p.s[p.i] else null;
    }
    fn hex4(p: *Parser) ?u32 {
        if (p.s.len - p.i < 4) {
            _ = p.failAt("EOF while parsing a string");
            return null;
        }
        const v = std.fmt.parseInt(u32, p.s[p.i .. p.i + 4], 16) catch {
            _ = p.failAt("invalid escape");
            return null;
        };
        if (p.s[p.i] == '+' or p.s[p.i] == '-') {
            _ = p.failAt("invalid escape");
            return null;
        }
        p.i += 4;
        return v;
    }
    fn string(p: *Parser) ?[]const u8 { // at the opening quote
        p.i += 1;
        var out = Buf{};
        while (true) {
            const c = p.peek() orelse {
                _ = p.failAt("EOF while parsing a string");
                return null;
            };
            if (c == '"') {
                p.i += 1;
                return out.items();
            }
            if (c < 0x20) {
                _ = p.failAt("control character (\\u0000-\\u001F) found while parsing a string");
                return null;
            }
            if (c == '\\') {
                p.i += 1;
                const e = p.peek() orelse {
                    _ = p.failAt("EOF while parsing a string");
                    return null;
                };
                p.i += 1;
                switch (e) {
                    '"', '\\', '/' => out.byte(e),
                    'b' => out.byte(0x08),
                    'f' => out.byte(0x0c),
                    'n' => out.byte('\n'),
                    'r' => out.byte('\r'),
                    't' => out.byte('\t'),
                    'u' => {
                        var u = p.hex4() orelse return null;
                        if (u >= 0xDC00 and u <= 0xDFFF) {
                            _ = p.failAt("lone leading surrogate in hex escape");
                            return null;
                        }
                        if (u >= 0xD800 and u <= 0xDBFF) {
                            if (p.s.len - p.i < 2 or p.s[p.i] != '\\' or p.s[p.i + 1] != 'u') {
                                _ = p.failAt("unexpected end of hex escape");
                                return null;
                            }
                            p.i += 2;
                            const l = p.hex4() orelse return null;
                            if (l < 0xDC00 or l > 0xDFFF) {
                                _ = p.failAt("lone leading surrogate in hex escape");
                                return null;
                            }
                            u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
                        }
                        var t: [4]u8 = undefined;
                        const n = std.unicode.utf8Encode(@intCast(u), &t) catch unreachable;
                        out.push(t[0..n]);
                    },
                    else => {
                        _ = p.failAt("invalid escape");
                        return null;
                    },
                }
                continue;
            }
            const s = utf8Seq(p.s[p.i..]);
            if (!s.valid) {
                _ = p.failAt("invalid unicode code point");
                return null;
            }
            out.push(p.s[p.i .. p.i + s.len]);
            p.i += s.len;
        }
    }
    fn digits(p: *Parser) usize {
        const at = p.i;
        while (p.i < p.s.len and p.s[p.i] >= '0' and p.s[p.i] <= '9') p.i += 1;
        return p.i - at;
    }
    fn value(p: *Parser) ?Value {
        p.ws();
        const c = p.peek() orelse return p.failAt("EOF while parsing a value");
        if (c == '{' or c == '[') {
            p.depth += 1;
            if (p.depth > 128) return p.failAt("recursion limit exceeded");
            const is_obj = c == '{';
            const close: u8 = if (is_obj) '}' else ']';
            p.i += 1;
            var keys: std.ArrayListUnmanaged([]const u8) = .{};
            var vals: std.ArrayListUnmanaged(Value) = .{};
            p.ws();
            if (p.peek() == close) {
                p.i += 1;
            } else while (true) {
                if (is_obj) {
                    p.ws();
                    if (p.peek() != '"') return p.failAt("key must be a string");
                    const k = p.string() orelse return null;
                    keys.append(allocator, k) catch oom();
                    p.ws();
                    if (p.peek() != ':') return p.failAt("expected `:`");
                    p.i += 1;
                }
                const v = p.value() orelse return null;
                vals.append(allocator, v) catch oom();
                p.ws();
                const d = p.peek() orelse return p.failAt("EOF while parsing a list or an object");
                p.i += 1;
                if (d == ',') continue;
                if (d == close) break;
                p.i -= 1;
                return p.failAt("expected `,` or the end of a list or an object");
            }
            p.depth -= 1;
            if (is_obj) return .{ .object = .{ .keys = keys.items, .values = vals.items } };
            return .{ .array = vals.items };
        }
        if (c == '"') return .{ .string = p.string() orelse return null };
        const words = [_][]const u8{ "null", "true", "false" };
        for (words, 0..) |w, i| {
            if (std.mem.startsWith(u8, p.s[p.i..], w)) {
                p.i += w.len;
                return switch (i) {
                    0 => .null,
                    else => .{ .bool = i == 1 },
                };
            }
        }
        if (c == '-' or (c >= '0' and c <= '9')) {
            const at = p.i;
            if (c == '-') p.i += 1;
            const first = p.peek() orelse return p.failAt("invalid number");
            if (first == '0') {
                p.i += 1;
                if (p.peek()) |n| if (n >= '0' and n <= '9') return p.failAt("invalid number");
            } else if (p.digits() == 0) return p.failAt("invalid number");
            if (p.peek() == '.') {
                p.i += 1;
                if (p.digits() == 0) return p.failAt("invalid number");
            }
            if (p.peek() == 'e' or p.peek() == 'E') {
                p.i += 1;
                if (p.peek() == '+' or p.peek() == '-') p.i += 1;
                if (p.digits() == 0) return p.failAt("invalid number");
            }
            return .{ .number = p.s[at..p.i] };
        }
        return p.failAt("expected value");
    }
};

// ---------------------------------------------------------------- LogHistogram

/// The Rust SDK's mergeable log-linear histogram (epochd_job::sketch::LogHistogram),
/// same buckets, percentiles and JSON:
/// {"count":N,"min":m,"max":M,"sub_bits":6,"first":i,"counts":[...]}.
/// Values below 64 have their own bucket; above, every power of two is
/// split into 64 buckets. A percentile is the middle of its bucket clamped
/// to [min, max]. Merging adds counts (associative, commutative, exact).
pub const LogHistogram = struct {
    pub const sub_bits = 6;
    pub const buckets = (64 - sub_bits + 1) * 64;

    /// Per bucket from 0 (trailing zeros possible).
    counts: std.ArrayListUnmanaged(u64) = .{},
    count: u64 = 0,
    min: u64 = 0,
    max: u64 = 0,

    pub fn bucketOf(v: u64) u32 {
        if (v < 64) return @intCast(v);
        const e: u32 = 63 - @as(u32, @clz(v));
        const shift = e - sub_bits;
        const m = v >> @intCast(shift);
        return @intCast((shift + 1) * 64 + (m - 64));
    }
    pub fn bucketValue(b: u32) u64 {
        if (b < 64) return b;
        const shift: u6 = @intCast(b / 64 - 1);
        const m: u64 = b % 64 + 64;
        const lo = m << shift;
        const hi = lo + ((@as(u64, 1) << shift) - 1);
        return lo + (hi - lo) / 2;
    }
    fn grow(h: *LogHistogram, len: usize) void {
        if (len > h.counts.items.len) h.counts.appendNTimes(allocator, 0, len - h.counts.items.len) catch oom();
    }
    pub fn recordN(h: *LogHistogram, v: u64, n: u64) void {
        if (n == 0) return;
        const b = bucketOf(v);
        h.grow(b + 1);
        h.counts.items[b] += n;
        if (h.count == 0) {
            h.min = v;
            h.max = v;
        } else {
            h.min = @min(h.min, v);
            h.max = @max(h.max, v);
        }
        h.count += n;
    }
    /// Counts one value. Inlined for the common case, a bucket the
    /// histogram has already reached: a job's loop over a column records
    /// without a call (in a compiled job, values live across a call are
    /// kept in memory); the rest is out of line.
    pub inline fn record(h: *LogHistogram, v: u64) void {
        const b = bucketOf(v);
        if (b < h.counts.items.len and h.count != 0) {
            h.counts.items[b] += 1;
            h.min = @min(h.min, v);
            h.max = @max(h.max, v);
            h.count += 1;
            return;
        }
        h.recordSlow(v);
    }
    noinline fn recordSlow(h: *LogHistogram, v: u64) void {
        @branchHint(.cold);
        h.recordN(v, 1);
    }
    pub fn merge(h: *LogHistogram, o: *const LogHistogram) void {
        if (o.count == 0) return;
        h.grow(o.counts.items.len);
        for (o.counts.items, 0..) |c, i| h.counts.items[i] += c;
        if (h.count == 0) {
            h.min = o.min;
            h.max = o.max;
        } else {
            h.min = @min(h.min, o.min);
            h.max = @max(h.max, o.max);
        }
        h.count += o.count;
    }
    /// The value of rank 1..=count, or null.
    pub fn rank(h: *const LogHistogram, r: u64) ?u64 {
        if (r < 1 or r > h.count) return null;
        if (r == 1) return h.min;
        if (r == h.count) return h.max;
        var seen: u64 = 0;
        for (h.counts.items, 0..) |c, b| {
            seen += c;
            if (seen >= r) return std.math.clamp(bucketValue(@intCast(b)), h.min, h.max);
        }
        return h.max;
    }
    /// The p-th percentile (0..=100) by nearest rank: rank max(1, ceil(count * p / 100)).
    pub fn percentile(h: *const LogHistogram, p: u64) ?u64 {
        if (h.count == 0 or p > 100) return null;
        const q = h.count / 100;
        const r = h.count % 100;
        return h.rank(@max(1, q * p + (r * p + 99) / 100));
    }
    pub fn writeJson(h: *const LogHistogram, j: *Json) void {
        const c = h.counts.items;
        var first: usize = 0;
        while (first < c.len and c[first] == 0) first += 1;
        if (first == c.len) first = 0;
        var last = c.len;
        while (last > first and c[last - 1] == 0) last -= 1;
        j.beginObject();
        j.key("count");
        j.uint(h.count);
        j.key("min");
        if (h.count > 0) j.uint(h.min) else j.null_();
        j.key("max");
        if (h.count > 0) j.uint(h.max) else j.null_();
        j.key("sub_bits");
        j.uint(sub_bits);
        j.key("first");
        j.uint(first);
        j.key("counts");
        j.beginArray();
        for (c[first..last]) |x| j.uint(x);
        j.endArray();
        j.endObject();
    }
    /// Reads a histogram's JSON with the Rust SDK's checks, or null with a message in err.
    pub fn parse(v: *const Value, err: *Buf) ?LogHistogram {
        const f = v.fields("HistogramJson", &.{ "count", "min", "max", "sub_bits", "first", "counts" }, err) orelse return null;
        const has_min = f[1] != null and !f[1].?.isNull();
        const has_max = f[2] != null and !f[2].?.isNull();
        const shape = "a histogram needs count, min, max, sub_bits, first (integers) and counts (an array)";
        const count = (f[0] orelse return bad(err, shape)).asU64() orelse return bad(err, shape);
        const min: u64 = if (has_min) f[1].?.asU64() orelse return bad(err, shape) else 0;
        const max: u64 = if (has_max) f[2].?.asU64() orelse return bad(err, shape) else 0;
        const sb = (f[3] orelse return bad(err, shape)).asU64() orelse return bad(err, shape);
        const first = (f[4] orelse return bad(err, shape)).asU64() orelse return bad(err, shape);
        if (sb > 0xffffffff or first > 0xffffffff) return bad(err, shape);
        const arr = switch ((f[5] orelse return bad(err, shape)).*) {
            .array => |a| a,
            else => return bad(err, shape),
        };
        if (sb != sub_bits) {
            err.print("a histogram with sub_bits {d} cannot be read by this version (sub_bits 6)", .{sb});
            return null;
        }
        if (first + arr.len > buckets) return bad(err, "histogram buckets beyond the last (3776)");
        var sum: u64 = 0;
        for (arr) |*x| {
            const c = x.asU64() orelse return bad(err, "histogram counts must be u64");
            sum = std.math.add(u64, sum, c) catch return bad(err, "histogram counts overflow");
        }
        if (sum != count) {
            err.print("histogram count {d} is not the sum of its counts ({d})", .{ count, sum });
            return null;
        }
        if (!(count == 0 and !has_min and !has_max) and !(count > 0 and has_min and has_max and min <= max))
            return bad(err, "histogram min/max do not fit its count");
        var h = LogHistogram{ .count = count, .min = if (count > 0) min else 0, .max = if (count > 0) max else 0 };
        if (arr.len > 0) h.grow(@intCast(first + arr.len));
        for (arr, 0..) |*x, i| h.counts.items[@intCast(first + i)] = x.asU64().?;
        return h;
    }
    fn bad(err: *Buf, msg: []const u8) ?LogHistogram {
        err.push(msg);
        return null;
    }
    pub fn deinit(h: *LogHistogram) void {
        h.counts.deinit(allocator);
    }
};

test "formatF64 as serde_json" {
    const cases = [_]struct { f64, []const u8 }{
        .{ 0.0075, "0.0075" }, .{ 1.0, "1.0" },          .{ 1e-7, "1e-7" },   .{ 1.5e300, "1.5e300" },
        .{ 0.0, "0.0" },       .{ -0.0, "-0.0" },         .{ 1e16, "1e16" },   .{ 1234e7, "12340000000.0" },
        .{ 0.1, "0.1" },       .{ 1.0 / 3.0, "0.3333333333333333" }, .{ 123.456, "123.456" }, .{ 1e-5, "0.00001" }, .{ 1e-6, "1e-6" },
        .{ 0.0001, "0.0001" }, .{ 5e-324, "5e-324" },      .{ 1.7976931348623157e308, "1.7976931348623157e308" },
        .{ 9007199254740993.0, "9007199254740992.0" }, .{ 1e15, "1000000000000000.0" }, .{ 100.0, "100.0" },
    };
    for (cases) |c| {
        var b = Buf{};
        defer b.deinit();
        formatF64(&b, c[0]);
        try std.testing.expectEqualStrings(c[1], b.items());
    }
}
