// The raw job ABI v1 imports (sdk/ABI.md), one to one: pointers are byte
// offsets into the module's memory, results >= 0 are values, < 0 error codes.

@external("epochd", "epoch") export declare function epoch(): i64;
@external("epochd", "seq") export declare function seq(): i32;
@external("epochd", "rows") export declare function rows(): i32;
@external("epochd", "dc") export declare function dc(dst: usize, cap: i32): i32;

@external("epochd", "column") export declare function column(path: usize, pathLen: i32, type: i32): i32;
@external("epochd", "column_len") export declare function column_len(h: i32): i32;
@external("epochd", "column_dense") export declare function column_dense(h: i32): i32;
@external("epochd", "column_rows") export declare function column_rows(h: i32, start: i32, count: i32, dst: usize): i32;
@external("epochd", "column_i64") export declare function column_i64(h: i32, start: i32, count: i32, dst: usize): i32;
@external("epochd", "column_f64") export declare function column_f64(h: i32, start: i32, count: i32, dst: usize): i32;
@external("epochd", "column_u8") export declare function column_u8(h: i32, start: i32, count: i32, dst: usize): i32;
@external("epochd", "column_ids") export declare function column_ids(h: i32, start: i32, count: i32, dst: usize): i32;
@external("epochd", "dict_len") export declare function dict_len(h: i32): i32;
@external("epochd", "dict_entry") export declare function dict_entry(h: i32, id: i32, dst: usize, cap: i32): i32;
@external("epochd", "column_bytes") export declare function column_bytes(h: i32, index: i32, dst: usize, cap: i32): i32;

@external("epochd", "container") export declare function container(path: usize, pathLen: i32, kind: i32): i32;
@external("epochd", "container_len") export declare function container_len(h: i32): i32;
@external("epochd", "container_rows") export declare function container_rows(h: i32, start: i32, count: i32, dst: usize): i32;
@external("epochd", "container_offsets") export declare function container_offsets(h: i32, start: i32, count: i32, dst: usize): i32;
@external("epochd", "container_keys") export declare function container_keys(h: i32): i32;
@external("epochd", "container_values") export declare function container_values(h: i32, type: i32): i32;

@external("epochd", "emit") export declare function emit(ptr: usize, len: i32): i32;
@external("epochd", "fail") export declare function fail(ptr: usize, len: i32): void;
@external("epochd", "log") export declare function log(level: i32, ptr: usize, len: i32): void;
@external("epochd", "config_len") export declare function config_len(): i32;
@external("epochd", "config_read") export declare function config_read(dst: usize, cap: i32): i32;
@external("epochd", "merge_input") export declare function merge_input(which: i32, dst: usize, cap: i32): i32;
