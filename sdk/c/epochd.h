/*
 * epochd.h: the C SDK for epochd jobs, job ABI v1 (sdk/ABI.md).
 *
 * Two layers:
 *   - epochd_sys_*: the ABI v1 imports of module "epochd", one to one;
 *   - epochd_*: an idiomatic layer (epochd.c): columns scanned in blocks,
 *     strings and dictionaries, containers, a growable buffer, a JSON
 *     writer (serde_json's compact format, byte for byte) and a small JSON
 *     reader (for merge inputs and configs), a byte-string hash map, the
 *     config, logs, emit/fail and the merge inputs.
 *
 * Build a job (one command, see sdk/c/README.md):
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 -nostartfiles \
 *     -Wl,--no-entry -Wl,--strip-all -I sdk/c job.c sdk/c/epochd.c -o job.wasm
 * wasi-libc supplies malloc/memcpy/qsort; nothing that imports WASI
 * (stdio, printf, strtod, time) may be used: the daemon refuses any import
 * outside module "epochd".
 *
 * A job defines its entry points with the macros:
 *   EPOCHD_RUN   { ... return 0; }   exports epochd_run
 *   EPOCHD_MERGE { ... }             exports epochd_merge (optional)
 *   EPOCHD_INIT  { ... }             exports epochd_init (optional)
 * epochd.c exports memory's companion epochd_abi_version (returns 1).
 */
#ifndef EPOCHD_H
#define EPOCHD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EPOCHD_ABI_VERSION 1

/* ---- error codes (negative returns of the ABI) ---- */
#define EPOCHD_NOT_FOUND (-1)
#define EPOCHD_BAD_HANDLE (-2)
#define EPOCHD_OUT_OF_RANGE (-3)
#define EPOCHD_WRONG_TYPE (-4)
#define EPOCHD_TOO_LARGE (-5)
#define EPOCHD_NOT_NOW (-6)

/* ---- value types and container kinds ---- */
#define EPOCHD_INT 0
#define EPOCHD_FLOAT 1
#define EPOCHD_BOOL 2
#define EPOCHD_STR 3
#define EPOCHD_NULL 4
#define EPOCHD_RAW 5
#define EPOCHD_MAP 0
#define EPOCHD_LIST 1

/* ---- log levels ---- */
#define EPOCHD_LOG_ERROR 0
#define EPOCHD_LOG_WARN 1
#define EPOCHD_LOG_INFO 2
#define EPOCHD_LOG_DEBUG 3

/* ---- entry points ---- */
#define EPOCHD_EXPORT(name) __attribute__((export_name(name), visibility("default")))
#define EPOCHD_RUN EPOCHD_EXPORT("epochd_run") int epochd_run(void)
#define EPOCHD_MERGE EPOCHD_EXPORT("epochd_merge") int epochd_merge(void)
#define EPOCHD_INIT EPOCHD_EXPORT("epochd_init") int epochd_init(void)

/* ---- the raw ABI v1 imports ---- */
#define EPOCHD_IMPORT(name) __attribute__((import_module("epochd"), import_name(name)))
EPOCHD_IMPORT("epoch") int64_t epochd_sys_epoch(void);
EPOCHD_IMPORT("seq") int32_t epochd_sys_seq(void);
EPOCHD_IMPORT("rows") int32_t epochd_sys_rows(void);
EPOCHD_IMPORT("dc") int32_t epochd_sys_dc(void *dst, int32_t cap);
EPOCHD_IMPORT("column") int32_t epochd_sys_column(const void *path, int32_t path_len, int32_t type);
EPOCHD_IMPORT("column_len") int32_t epochd_sys_column_len(int32_t h);
EPOCHD_IMPORT("column_dense") int32_t epochd_sys_column_dense(int32_t h);
EPOCHD_IMPORT("column_rows") int32_t epochd_sys_column_rows(int32_t h, int32_t start, int32_t count, void *dst);
EPOCHD_IMPORT("column_i64") int32_t epochd_sys_column_i64(int32_t h, int32_t start, int32_t count, void *dst);
EPOCHD_IMPORT("column_f64") int32_t epochd_sys_column_f64(int32_t h, int32_t start, int32_t count, void *dst);
EPOCHD_IMPORT("column_u8") int32_t epochd_sys_column_u8(int32_t h, int32_t start, int32_t count, void *dst);
EPOCHD_IMPORT("column_ids") int32_t epochd_sys_column_ids(int32_t h, int32_t start, int32_t count, void *dst);
EPOCHD_IMPORT("dict_len") int32_t epochd_sys_dict_len(int32_t h);
EPOCHD_IMPORT("dict_entry") int32_t epochd_sys_dict_entry(int32_t h, int32_t id, void *dst, int32_t cap);
EPOCHD_IMPORT("column_bytes") int32_t epochd_sys_column_bytes(int32_t h, int32_t index, void *dst, int32_t cap);
EPOCHD_IMPORT("container") int32_t epochd_sys_container(const void *path, int32_t path_len, int32_t kind);
EPOCHD_IMPORT("container_len") int32_t epochd_sys_container_len(int32_t h);
EPOCHD_IMPORT("container_rows") int32_t epochd_sys_container_rows(int32_t h, int32_t start, int32_t count, void *dst);
EPOCHD_IMPORT("container_offsets") int32_t epochd_sys_container_offsets(int32_t h, int32_t start, int32_t count, void *dst);
EPOCHD_IMPORT("container_keys") int32_t epochd_sys_container_keys(int32_t h);
EPOCHD_IMPORT("container_values") int32_t epochd_sys_container_values(int32_t h, int32_t type);
EPOCHD_IMPORT("emit") int32_t epochd_sys_emit(const void *ptr, int32_t len);
EPOCHD_IMPORT("fail") void epochd_sys_fail(const void *ptr, int32_t len);
EPOCHD_IMPORT("log") void epochd_sys_log(int32_t level, const void *ptr, int32_t len);
EPOCHD_IMPORT("config_len") int32_t epochd_sys_config_len(void);
EPOCHD_IMPORT("config_read") int32_t epochd_sys_config_read(void *dst, int32_t cap);
EPOCHD_IMPORT("merge_input") int32_t epochd_sys_merge_input(int32_t which, void *dst, int32_t cap);

/* ---- a growable byte buffer (malloc'd; zero-initialise, free with epochd_buf_free) ---- */
typedef struct {
    uint8_t *ptr;
    size_t len, cap;
} epochd_buf;
void epochd_buf_reserve(epochd_buf *b, size_t extra);
void epochd_buf_push(epochd_buf *b, const void *p, size_t n);
void epochd_buf_byte(epochd_buf *b, uint8_t c);
void epochd_buf_str(epochd_buf *b, const char *s);
void epochd_buf_u64(epochd_buf *b, uint64_t v); /* decimal */
/* Puts `s` in front of the bytes (e.g. a prefix on an error message). */
void epochd_buf_prepend(epochd_buf *b, const char *s);
void epochd_buf_free(epochd_buf *b);
/* Appends bytes as UTF-8, each invalid sequence replaced by U+FFFD (as Rust's
 * String::from_utf8_lossy). */
void epochd_buf_utf8_lossy(epochd_buf *b, const uint8_t *p, size_t n);
/* 1 when the bytes are valid UTF-8. */
int epochd_utf8_valid(const uint8_t *p, size_t n);
/* 1 when valid; else 0 with where the first invalid sequence starts and its
 * length (0: the input ends inside it), as Rust's Utf8Error. */
int epochd_utf8_check(const uint8_t *p, size_t n, size_t *valid_up_to, size_t *error_len);

/* ---- the epoch ---- */
int64_t epochd_epoch(void);
uint32_t epochd_seq(void);
uint32_t epochd_rows(void);
/* The commit's dc, raw bytes (appended to out). */
void epochd_dc(epochd_buf *out);

/* ---- columns ---- */
typedef struct {
    int32_t handle;
    int32_t type;
    uint32_t len;     /* values */
    int dense;        /* value i is row i */
    int32_t dict_len; /* STR with a dictionary: its size; else -1 */
} epochd_column;
/* Finds the column of (path, type): 1 and *out filled, or 0 when none. */
int epochd_column_find(const char *path, int32_t type, epochd_column *out);
/* Wraps a handle the host returned (e.g. container_keys). */
int epochd_column_from_handle(int32_t handle, int32_t type, epochd_column *out);

/* Scans a column in blocks of up to EPOCHD_BLOCK values, into 4 KiB-aligned
 * buffers:
 *   epochd_scan s; epochd_scan_begin(&s, &col);
 *   while (epochd_scan_next(&s))
 *       for (uint32_t i = 0; i < s.n; i++) use(s.rows[i], s.i64[i]);
 * (the loop frees the buffers when it ends; call epochd_scan_end to stop
 * early). Values: i64 for INT, f64 FLOAT, u8 BOOL, ids (u32) for a STR with
 * a dictionary; nothing for NULL (rows only) and plain STR/RAW. */
#define EPOCHD_BLOCK 8192
typedef struct {
    const epochd_column *col;
    uint32_t start, n; /* values start..start+n are in the buffers */
    uint32_t *rows;
    union {
        void *values;
        int64_t *i64;
        double *f64;
        uint8_t *u8;
        uint32_t *ids;
    };
} epochd_scan;
void epochd_scan_begin(epochd_scan *s, const epochd_column *col);
int epochd_scan_next(epochd_scan *s);
void epochd_scan_end(epochd_scan *s);

/* The bytes of value `index` of a STR or RAW column (appended); the length,
 * or a negative code. */
int32_t epochd_column_bytes(const epochd_column *col, uint32_t index, epochd_buf *out);
/* The index of the value at `row` (binary search over host calls; direct
 * when dense), or -1. */
int64_t epochd_column_index_of(const epochd_column *col, uint32_t row);
/* The index of the first value at `row` or after it (len when none): where a
 * window of rows starts in the column's values. */
uint32_t epochd_column_index_from(const epochd_column *col, uint32_t row);

/* ---- strings: dictionaries ---- */
typedef struct {
    epochd_buf bytes;
    uint32_t *offsets; /* len + 1 */
    uint32_t len, cap;
} epochd_dict;
void epochd_dict_push(epochd_dict *d, const uint8_t *p, size_t n);
/* The ids 0..len sorted by their strings' bytes (shorter first on a common
 * prefix, as Rust orders byte strings); malloc'd, free it. */
uint32_t *epochd_dict_sorted_ids(const epochd_dict *d);
/* String `id`: pointer and length, or NULL beyond the end. */
const uint8_t *epochd_dict_get(const epochd_dict *d, uint32_t id, size_t *len);
/* The id of a string, or -1 (linear search). */
int64_t epochd_dict_find(const epochd_dict *d, const void *p, size_t n);
void epochd_dict_free(epochd_dict *d);
/* The dictionary of a STR column (one host call per entry); 0 if it has none. */
int epochd_column_dictionary(const epochd_column *col, epochd_dict *out);

/* For every row of a space, the id of its string at `path` (or
 * EPOCHD_NONE): dictionary ids, or strings interned in order of first
 * appearance when the column has no dictionary. `space`: epochd_rows() for a
 * field of the events. All EPOCHD_NONE when no event has a string there. */
#define EPOCHD_NONE UINT32_MAX
typedef struct {
    uint32_t *ids;
    uint32_t space;
    epochd_dict strings;
} epochd_row_strings;
void epochd_strings_by_row(const char *path, uint32_t space, epochd_row_strings *out);
void epochd_column_by_row(const epochd_column *col, uint32_t space, epochd_row_strings *out);
void epochd_row_strings_free(epochd_row_strings *rs);

/* ---- containers: maps with varying keys, and arrays ---- */
typedef struct {
    int32_t handle;
    int32_t kind;
    uint32_t len;      /* holding rows */
    uint32_t *rows;    /* len holding rows */
    uint32_t *offsets; /* len + 1: entries of rows[i] are offsets[i]..offsets[i+1] */
} epochd_container;
/* Finds a container and reads its rows and offsets: 1, or 0 when none. */
int epochd_container_find(const char *path, int32_t kind, epochd_container *out);
/* The keys of a map container (a dense STR column over the entries). */
int epochd_container_keys(const epochd_container *c, epochd_column *out);
/* The entries' values of one type. */
int epochd_container_values(const epochd_container *c, int32_t type, epochd_column *out);
void epochd_container_free(epochd_container *c);

/* ---- a hash map from byte strings to a uint64_t slot ---- */
typedef struct {
    uint32_t *index; /* cap slots: entry + 1, 0 = empty */
    uint32_t cap, len;
    epochd_dict keys; /* entry i's key */
    uint64_t *values; /* entry i's value */
} epochd_map;
/* The slot of a key, created (0) when missing; *fresh = 1 then. Entries keep
 * insertion order: entry i is keys' id i. */
uint64_t *epochd_map_slot(epochd_map *m, const void *key, size_t n, int *fresh);
/* The entry number of a key, or -1. */
int64_t epochd_map_find(const epochd_map *m, const void *key, size_t n);
void epochd_map_free(epochd_map *m);

/* ---- a string field's ids by row, one window of rows at a time ----
 * What
 * epochd_row_strings holds for the whole epoch, without its 4 * rows bytes,
 * so that several fields (and numeric columns) can be read side by side in
 * blocks of rows that stay in the cache:
 *   epochd_row_ids t;
 *   epochd_row_ids_open(&t, "type");
 *   epochd_row_ids_read(&t, first_row, n, ids); // ids of rows first_row..+n
 *   uint32_t id = epochd_row_ids_get(&t, row);  // EPOCHD_NONE where none
 *   ... t.strings: the strings behind the ids ...
 *   epochd_row_ids_free(&t);
 * With a dictionary, ids are its own and t.strings holds every string from
 * the start (t.dict_len >= 0, 0 without a column). Without one (mostly
 * distinct strings, t.dict_len == -1), strings are interned as the windows
 * meet them, in order of first appearance, so a string keeps its id.
 * Per window: one host copy for a dense dictionary-coded field (the usual
 * type, subtype, dc); a binary search and the rows and ids of its values
 * for a sparse one; one host call per value without a dictionary.
 * epochd_row_ids_get reads a window of EPOCHD_BLOCK rows from `row` when
 * `row` is not in the last one, so rows in ascending order are cheap. */
typedef struct {
    epochd_column col;
    int has_col;
    int64_t dict_len;
    epochd_dict strings;
    epochd_map interned;  /* without a dictionary: string -> id */
    uint32_t *window;     /* EPOCHD_BLOCK ids of rows window_first.. */
    uint32_t window_first;
    uint32_t *rows, *ids; /* scratch, EPOCHD_BLOCK each */
    epochd_buf bytes;     /* scratch: one value */
} epochd_row_ids;
void epochd_row_ids_open(epochd_row_ids *r, const char *path);
/* Over a column (container keys, say); NULL: every row none. */
void epochd_row_ids_of(epochd_row_ids *r, const epochd_column *col);
void epochd_row_ids_read(epochd_row_ids *r, uint32_t first_row, uint32_t n, uint32_t *out);
uint32_t epochd_row_ids_window(epochd_row_ids *r, uint32_t row);
static inline uint32_t epochd_row_ids_get(epochd_row_ids *r, uint32_t row) {
    uint32_t at = row - r->window_first;
    return r->window && at < EPOCHD_BLOCK ? r->window[at] : epochd_row_ids_window(r, row);
}
void epochd_row_ids_free(epochd_row_ids *r);

/* ---- config, logs, output, merge inputs ---- */
void epochd_config(epochd_buf *out); /* the config bytes (appended) */
void epochd_log(int32_t level, const char *msg);
/* Sets the result; 0, or EPOCHD_TOO_LARGE (the run fails then). */
int32_t epochd_emit(const void *p, size_t n);
void epochd_fail(const char *msg);
void epochd_fail_bytes(const void *p, size_t n);
/* Reads merge input 0 or 1 (appended); 0, or a negative code. */
int32_t epochd_merge_input(int which, epochd_buf *out);
/* Finishes an entry point: emits `out` (nothing when empty) and returns 0;
 * on a TOO_LARGE emit, fails with the Rust SDK's message and returns 1. */
int epochd_finish(const epochd_buf *out);
/* The body of an epochd_merge that obeys the ABI's identity law byte for
 * byte: reads both inputs; when one is empty emits the other unchanged;
 * otherwise calls merge(a, b, out, err): 0 = emit out, non-zero = fail(err). */
typedef int (*epochd_merge_fn)(const epochd_buf *a, const epochd_buf *b, epochd_buf *out, epochd_buf *err);
int epochd_merge_with(epochd_merge_fn merge);

/* ---- JSON writer: compact, exactly as serde_json writes ---- */
typedef struct {
    epochd_buf *out;
    uint64_t first; /* bit d: nothing written yet at depth d */
    int depth;
    int after_key;
} epochd_json;
void epochd_json_init(epochd_json *j, epochd_buf *out);
void epochd_json_object(epochd_json *j); /* { */
void epochd_json_array(epochd_json *j);  /* [ */
void epochd_json_end_object(epochd_json *j);
void epochd_json_end_array(epochd_json *j);
void epochd_json_key(epochd_json *j, const char *key);
void epochd_json_key_bytes(epochd_json *j, const void *p, size_t n); /* lossy UTF-8, escaped */
void epochd_json_string(epochd_json *j, const char *s);
void epochd_json_string_bytes(epochd_json *j, const void *p, size_t n);
void epochd_json_u64(epochd_json *j, uint64_t v);
void epochd_json_i64(epochd_json *j, int64_t v);
/* Shortest round-trip form as serde_json (ryu) prints it: 0.0075, 1.0,
 * 1e-7, 1.5e300; null when not finite. */
void epochd_json_f64(epochd_json *j, double v);
void epochd_json_bool(epochd_json *j, int v);
void epochd_json_null(epochd_json *j);
/* Appends a JSON string literal (escaped as serde_json does) to a buffer. */
void epochd_json_quote(epochd_buf *b, const uint8_t *p, size_t n);
/* Appends the shortest round-trip digits of a finite double, ryu style. */
void epochd_format_f64(epochd_buf *b, double v);

/* ---- JSON reader: a small tree ---- */
enum { EPOCHD_J_NULL, EPOCHD_J_BOOL, EPOCHD_J_NUM, EPOCHD_J_STR, EPOCHD_J_ARR, EPOCHD_J_OBJ };
typedef struct epochd_jv {
    int kind;
    int b;               /* BOOL */
    uint8_t *str;        /* STR: decoded UTF-8; NUM: the token's text */
    size_t len;          /* STR/NUM: bytes; ARR/OBJ: items */
    struct epochd_jv *items;
    epochd_buf *keys;    /* OBJ: keys[i] is item i's key (decoded) */
} epochd_jv;
/* Parses a whole JSON text (nesting up to 128 levels): 1, or 0 with a
 * message in err. Free the tree with epochd_jv_free. */
int epochd_json_parse(const uint8_t *p, size_t n, epochd_jv *out, epochd_buf *err);
void epochd_jv_free(epochd_jv *v);
/* The value of `key` in an object (the last one if repeated), or NULL. */
const epochd_jv *epochd_jv_get(const epochd_jv *obj, const char *key);
/* A non-negative integer token that fits u64 (as serde reads a u64): 1, else 0. */
int epochd_jv_u64(const epochd_jv *v, uint64_t *out);
/* Checks an object against struct fields as serde's deny_unknown_fields
 * does: an unknown or repeated field is an error. fields[i] gets the value
 * of names[i] or NULL. 1, or 0 with a message in err (`what` names the
 * struct). */
int epochd_jv_fields(const epochd_jv *obj, const char *what, const char *const *names, int n,
                     const epochd_jv **fields, epochd_buf *err);

#ifdef __cplusplus
}
#endif
#endif
