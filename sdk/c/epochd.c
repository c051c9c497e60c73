/* epochd.c: the C SDK's implementation (see epochd.h). Uses only malloc,
 * realloc, free, aligned_alloc, memcpy, memcmp, memset and strlen of the C
 * library: none of them imports anything from WASI. */
#include "epochd.h"

#include <stdlib.h>
#include <string.h>

EPOCHD_EXPORT("epochd_abi_version") int epochd_abi_version(void) { return EPOCHD_ABI_VERSION; }

static void oom(void) {
    static const char m[] = "epochd C SDK: out of memory";
    epochd_sys_fail(m, sizeof m - 1);
    __builtin_trap();
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom();
    return q;
}

/* ---------------- buffers ---------------- */

void epochd_buf_reserve(epochd_buf *b, size_t extra) {
    if (b->cap - b->len >= extra) return;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap - b->len < extra) cap *= 2;
    b->ptr = xrealloc(b->ptr, cap);
    b->cap = cap;
}
void epochd_buf_push(epochd_buf *b, const void *p, size_t n) {
    if (!n) return;
    epochd_buf_reserve(b, n);
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
}
void epochd_buf_byte(epochd_buf *b, uint8_t c) {
    epochd_buf_reserve(b, 1);
    b->ptr[b->len++] = c;
}
void epochd_buf_str(epochd_buf *b, const char *s) { epochd_buf_push(b, s, strlen(s)); }
void epochd_buf_u64(epochd_buf *b, uint64_t v) {
    char t[20];
    int i = 20;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    epochd_buf_push(b, t + i, 20 - i);
}
void epochd_buf_prepend(epochd_buf *b, const char *s) {
    epochd_buf joined = {0};
    epochd_buf_str(&joined, s);
    epochd_buf_push(&joined, b->ptr, b->len);
    epochd_buf_free(b);
    *b = joined;
}

void epochd_buf_free(epochd_buf *b) {
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or -(length of the
 * maximal invalid subpart, >= 1). */
static int utf8_seq_ex(const uint8_t *p, size_t n, int *incomplete);
static int utf8_seq(const uint8_t *p, size_t n) {
    int inc;
    return utf8_seq_ex(p, n, &inc);
}
static int utf8_seq_ex(const uint8_t *p, size_t n, int *incomplete) {
    uint8_t c = p[0];
    *incomplete = 0;
    if (c < 0x80) return 1;
    int need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n) {
            *incomplete = 1;
            return -i;
        }
        uint8_t d = p[i];
        if (i == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return -i;
    }
    return need + 1;
}

void epochd_buf_utf8_lossy(epochd_buf *b, const uint8_t *p, size_t n) {
    size_t i = 0;
    epochd_buf_reserve(b, n);
    while (i < n) {
        int k = utf8_seq(p + i, n - i);
        if (k > 0) {
            epochd_buf_push(b, p + i, (size_t)k);
            i += (size_t)k;
        } else {
            epochd_buf_push(b, "\xEF\xBF\xBD", 3);
            i += (size_t)-k;
        }
    }
}
int epochd_utf8_check(const uint8_t *p, size_t n, size_t *valid_up_to, size_t *error_len) {
    size_t i = 0;
    while (i < n) {
        int inc, k = utf8_seq_ex(p + i, n - i, &inc);
        if (k < 0) {
            *valid_up_to = i;
            *error_len = inc ? 0 : (size_t)-k;
            return 0;
        }
        i += (size_t)k;
    }
    return 1;
}
int epochd_utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        int k = utf8_seq(p + i, n - i);
        if (k < 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

/* Reads a variable-length value: call(dst, cap) returns the full length. */
typedef int32_t (*read_fn)(void *ctx, void *dst, int32_t cap);
static int32_t read_var(epochd_buf *out, read_fn f, void *ctx) {
    epochd_buf_reserve(out, 256);
    int32_t cap = (int32_t)(out->cap - out->len > 0x7fffffff ? 0x7fffffff : out->cap - out->len);
    int32_t n = f(ctx, out->ptr + out->len, cap);
    if (n < 0) return n;
    if (n > cap) {
        epochd_buf_reserve(out, (size_t)n);
        n = f(ctx, out->ptr + out->len, n);
        if (n < 0) return n;
    }
    out->len += (size_t)n;
    return n;
}

/* ---------------- the epoch ---------------- */

int64_t epochd_epoch(void) { return epochd_sys_epoch(); }
uint32_t epochd_seq(void) {
    int32_t s = epochd_sys_seq();
    return s < 0 ? 0 : (uint32_t)s;
}
uint32_t epochd_rows(void) {
    int32_t r = epochd_sys_rows();
    return r < 0 ? 0 : (uint32_t)r;
}
static int32_t dc_fn(void *ctx, void *dst, int32_t cap) {
    (void)ctx;
    return epochd_sys_dc(dst, cap);
}
void epochd_dc(epochd_buf *out) { read_var(out, dc_fn, NULL); }

/* ---------------- columns ---------------- */

int epochd_column_from_handle(int32_t h, int32_t type, epochd_column *out) {
    if (h < 0) return 0;
    int32_t len = epochd_sys_column_len(h);
    if (len < 0) return 0;
    out->handle = h;
    out->type = type;
    out->len = (uint32_t)len;
    out->dense = epochd_sys_column_dense(h) == 1;
    out->dict_len = -1;
    if (type == EPOCHD_STR) {
        int32_t d = epochd_sys_dict_len(h);
        out->dict_len = d >= 0 ? d : -1;
    }
    return 1;
}

int epochd_column_find(const char *path, int32_t type, epochd_column *out) {
    int32_t h = epochd_sys_column(path, (int32_t)strlen(path), type);
    return epochd_column_from_handle(h, type, out);
}

void epochd_scan_begin(epochd_scan *s, const epochd_column *col) {
    s->col = col;
    s->start = 0;
    s->n = 0;
    s->rows = aligned_alloc(4096, EPOCHD_BLOCK * 4);
    s->values = aligned_alloc(4096, EPOCHD_BLOCK * 8);
    if (!s->rows || !s->values) oom();
}

void epochd_scan_end(epochd_scan *s) {
    free(s->rows);
    free(s->values);
    s->rows = NULL;
    s->values = NULL;
    s->n = 0;
}

int epochd_scan_next(epochd_scan *s) {
    if (!s->rows) return 0;
    const epochd_column *c = s->col;
    uint32_t start = s->start + s->n;
    s->start = start;
    s->n = 0;
    if (start >= c->len) {
        epochd_scan_end(s);
        return 0;
    }
    uint32_t want = c->len - start;
    if (want > EPOCHD_BLOCK) want = EPOCHD_BLOCK;
    int32_t got = (int32_t)want;
    switch (c->type) {
    case EPOCHD_INT: got = epochd_sys_column_i64(c->handle, (int32_t)start, (int32_t)want, s->values); break;
    case EPOCHD_FLOAT: got = epochd_sys_column_f64(c->handle, (int32_t)start, (int32_t)want, s->values); break;
    case EPOCHD_BOOL: got = epochd_sys_column_u8(c->handle, (int32_t)start, (int32_t)want, s->values); break;
    case EPOCHD_STR:
        if (c->dict_len >= 0) got = epochd_sys_column_ids(c->handle, (int32_t)start, (int32_t)want, s->values);
        break;
    default: break;
    }
    if (got <= 0) {
        epochd_scan_end(s);
        return 0;
    }
    want = (uint32_t)got;
    if (c->dense) {
        for (uint32_t i = 0; i < want; i++) s->rows[i] = start + i;
    } else {
        int32_t r = epochd_sys_column_rows(c->handle, (int32_t)start, (int32_t)want, s->rows);
        if (r <= 0) {
            epochd_scan_end(s);
            return 0;
        }
        if ((uint32_t)r < want) want = (uint32_t)r;
    }
    s->n = want;
    return 1;
}

struct bytes_ctx {
    int32_t h, index;
};
static int32_t bytes_fn(void *ctx, void *dst, int32_t cap) {
    struct bytes_ctx *c = ctx;
    return epochd_sys_column_bytes(c->h, c->index, dst, cap);
}
static int32_t dict_fn(void *ctx, void *dst, int32_t cap) {
    struct bytes_ctx *c = ctx;
    return epochd_sys_dict_entry(c->h, c->index, dst, cap);
}

int32_t epochd_column_bytes(const epochd_column *col, uint32_t index, epochd_buf *out) {
    struct bytes_ctx c = {col->handle, (int32_t)index};
    if (col->type == EPOCHD_STR && col->dict_len >= 0) {
        uint32_t id;
        int32_t r = epochd_sys_column_ids(col->handle, (int32_t)index, 1, &id);
        if (r < 0) return r;
        if (r == 0) return EPOCHD_OUT_OF_RANGE;
        c.index = (int32_t)id;
        return read_var(out, dict_fn, &c);
    }
    return read_var(out, bytes_fn, &c);
}

uint32_t epochd_column_index_from(const epochd_column *col, uint32_t row) {
    if (col->dense) return row < col->len ? row : col->len;
    uint32_t lo = 0, hi = col->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2, at;
        if (epochd_sys_column_rows(col->handle, (int32_t)mid, 1, &at) == 1 && at < row) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int64_t epochd_column_index_of(const epochd_column *col, uint32_t row) {
    uint32_t index = epochd_column_index_from(col, row), at;
    if (index >= col->len) return -1;
    if (col->dense) return index == row ? (int64_t)index : -1;
    if (epochd_sys_column_rows(col->handle, (int32_t)index, 1, &at) != 1 || at != row) return -1;
    return index;
}

/* ---------------- dictionaries ---------------- */

void epochd_dict_push(epochd_dict *d, const uint8_t *p, size_t n) {
    if (d->len + 2 > d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->offsets = xrealloc(d->offsets, (size_t)d->cap * 4);
    }
    if (d->len == 0) d->offsets[0] = 0;
    epochd_buf_push(&d->bytes, p, n);
    d->offsets[++d->len] = (uint32_t)d->bytes.len;
}
/* qsort has no context argument: the dictionary being sorted. */
static const epochd_dict *sorting;
static int cmp_by_string(const void *x, const void *y) {
    size_t la, lb;
    const uint8_t *a = epochd_dict_get(sorting, *(const uint32_t *)x, &la);
    const uint8_t *b = epochd_dict_get(sorting, *(const uint32_t *)y, &lb);
    size_t n = la < lb ? la : lb;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (la < lb ? -1 : la > lb);
}
uint32_t *epochd_dict_sorted_ids(const epochd_dict *d) {
    uint32_t *ids = xrealloc(NULL, ((size_t)d->len + 1) * 4);
    for (uint32_t i = 0; i < d->len; i++) ids[i] = i;
    sorting = d;
    if (d->len) qsort(ids, d->len, 4, cmp_by_string);
    return ids;
}

const uint8_t *epochd_dict_get(const epochd_dict *d, uint32_t id, size_t *len) {
    if (id >= d->len) return NULL;
    *len = d->offsets[id + 1] - d->offsets[id];
    return d->bytes.ptr ? d->bytes.ptr + d->offsets[id] : (const uint8_t *)"";
}
int64_t epochd_dict_find(const epochd_dict *d, const void *p, size_t n) {
    for (uint32_t i = 0; i < d->len; i++) {
        size_t l;
        const uint8_t *s = epochd_dict_get(d, i, &l);
        if (l == n && memcmp(s, p, n) == 0) return i;
    }
    return -1;
}
void epochd_dict_free(epochd_dict *d) {
    epochd_buf_free(&d->bytes);
    free(d->offsets);
    memset(d, 0, sizeof *d);
}
int epochd_column_dictionary(const epochd_column *col, epochd_dict *out) {
    memset(out, 0, sizeof *out);
    if (col->type != EPOCHD_STR || col->dict_len < 0) return 0;
    epochd_buf tmp = {0};
    for (int32_t id = 0; id < col->dict_len; id++) {
        struct bytes_ctx c = {col->handle, id};
        tmp.len = 0;
        if (read_var(&tmp, dict_fn, &c) < 0) tmp.len = 0;
        epochd_dict_push(out, tmp.ptr, tmp.len);
    }
    epochd_buf_free(&tmp);
    return 1;
}

void epochd_column_by_row(const epochd_column *col, uint32_t space, epochd_row_strings *out) {
    epochd_row_ids r;
    epochd_row_ids_of(&r, col);
    out->space = space;
    out->ids = xrealloc(NULL, (size_t)space * 4);
    epochd_row_ids_read(&r, 0, space, out->ids);
    out->strings = r.strings;
    memset(&r.strings, 0, sizeof r.strings);
    epochd_row_ids_free(&r);
}

void epochd_strings_by_row(const char *path, uint32_t space, epochd_row_strings *out) {
    epochd_column col;
    epochd_column_by_row(epochd_column_find(path, EPOCHD_STR, &col) ? &col : NULL, space, out);
}
void epochd_row_strings_free(epochd_row_strings *rs) {
    free(rs->ids);
    epochd_dict_free(&rs->strings);
    memset(rs, 0, sizeof *rs);
}

/* ---------------- string ids by row, a window at a time ---------------- */

void epochd_row_ids_of(epochd_row_ids *r, const epochd_column *col) {
    memset(r, 0, sizeof *r);
    if (!col) return; /* no column: every row none, no strings */
    r->col = *col;
    r->has_col = 1;
    r->dict_len = epochd_column_dictionary(col, &r->strings) ? (int64_t)r->strings.len : -1;
}

void epochd_row_ids_open(epochd_row_ids *r, const char *path) {
    epochd_column col;
    epochd_row_ids_of(r, epochd_column_find(path, EPOCHD_STR, &col) ? &col : NULL);
}

/* The id of value `index`'s string, interned if it is new. */
static uint32_t intern(epochd_row_ids *r, uint32_t index) {
    r->bytes.len = 0;
    if (epochd_column_bytes(&r->col, index, &r->bytes) < 0) return EPOCHD_NONE;
    int fresh;
    uint64_t *slot = epochd_map_slot(&r->interned, r->bytes.ptr, r->bytes.len, &fresh);
    if (fresh) {
        *slot = r->strings.len;
        epochd_dict_push(&r->strings, r->bytes.ptr, r->bytes.len);
    }
    return (uint32_t)*slot;
}

void epochd_row_ids_read(epochd_row_ids *r, uint32_t first, uint32_t n, uint32_t *out) {
    const epochd_column *c = &r->col;
    if (r->has_col && r->dict_len >= 0 && c->dense) {
        /* Value i is row i: the ids are by row already. */
        int32_t copied = first < c->len ? epochd_sys_column_ids(c->handle, (int32_t)first, (int32_t)n, out) : 0;
        if (copied < 0) copied = 0;
        memset(out + copied, 0xff, (size_t)(n - (uint32_t)copied) * 4);
        return;
    }
    memset(out, 0xff, (size_t)n * 4);
    if (!r->has_col) return;
    if (!r->rows) {
        r->rows = xrealloc(NULL, EPOCHD_BLOCK * 4);
        r->ids = xrealloc(NULL, EPOCHD_BLOCK * 4);
    }
    uint64_t end = (uint64_t)first + n;
    uint32_t block = n == 0 ? 1 : n < EPOCHD_BLOCK ? n : EPOCHD_BLOCK;
    for (uint32_t index = epochd_column_index_from(c, first); index < c->len;) {
        uint32_t k = c->len - index < block ? c->len - index : block;
        if (r->dict_len >= 0) {
            int32_t got = epochd_sys_column_ids(c->handle, (int32_t)index, (int32_t)k, r->ids);
            if (got <= 0) return;
            k = (uint32_t)got < k ? (uint32_t)got : k;
        }
        if (c->dense) {
            for (uint32_t i = 0; i < k; i++) r->rows[i] = index + i;
        } else {
            int32_t got = epochd_sys_column_rows(c->handle, (int32_t)index, (int32_t)k, r->rows);
            if (got <= 0) return;
            k = (uint32_t)got < k ? (uint32_t)got : k;
        }
        for (uint32_t i = 0; i < k; i++) {
            if (r->rows[i] >= end) return;
            if (r->rows[i] < first) continue; /* only if the host failed the search */
            out[r->rows[i] - first] = r->dict_len >= 0 ? r->ids[i] : intern(r, index + i);
        }
        index += k;
    }
}

uint32_t epochd_row_ids_window(epochd_row_ids *r, uint32_t row) {
    if (!r->window) r->window = xrealloc(NULL, EPOCHD_BLOCK * 4);
    epochd_row_ids_read(r, row, EPOCHD_BLOCK, r->window);
    r->window_first = row;
    return r->window[0];
}

void epochd_row_ids_free(epochd_row_ids *r) {
    epochd_dict_free(&r->strings);
    epochd_map_free(&r->interned);
    epochd_buf_free(&r->bytes);
    free(r->window);
    free(r->rows);
    free(r->ids);
    memset(r, 0, sizeof *r);
}

/* ---------------- containers ---------------- */

int epochd_container_find(const char *path, int32_t kind, epochd_container *out) {
    memset(out, 0, sizeof *out);
    int32_t h = epochd_sys_container(path, (int32_t)strlen(path), kind);
    if (h < 0) return 0;
    int32_t len = epochd_sys_container_len(h);
    if (len < 0) return 0;
    out->handle = h;
    out->kind = kind;
    out->len = (uint32_t)len;
    out->rows = xrealloc(NULL, (size_t)len * 4);
    out->offsets = xrealloc(NULL, ((size_t)len + 1) * 4);
    for (uint32_t s = 0; s < (uint32_t)len;) {
        int32_t r = epochd_sys_container_rows(h, (int32_t)s, (int32_t)((uint32_t)len - s), out->rows + s);
        if (r <= 0) break;
        s += (uint32_t)r;
    }
    for (uint32_t s = 0; s < (uint32_t)len + 1;) {
        int32_t r = epochd_sys_container_offsets(h, (int32_t)s, (int32_t)((uint32_t)len + 1 - s), out->offsets + s);
        if (r <= 0) break;
        s += (uint32_t)r;
    }
    return 1;
}
int epochd_container_keys(const epochd_container *c, epochd_column *out) {
    return epochd_column_from_handle(epochd_sys_container_keys(c->handle), EPOCHD_STR, out);
}
int epochd_container_values(const epochd_container *c, int32_t type, epochd_column *out) {
    return epochd_column_from_handle(epochd_sys_container_values(c->handle, type), type, out);
}
void epochd_container_free(epochd_container *c) {
    free(c->rows);
    free(c->offsets);
    memset(c, 0, sizeof *c);
}

/* ---------------- hash map ---------------- */

static uint32_t hash_bytes(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}
static uint32_t *map_probe(const epochd_map *m, const void *key, size_t n) {
    uint32_t mask = m->cap - 1, i = hash_bytes(key, n) & mask;
    for (;;) {
        uint32_t e = m->index[i];
        if (!e) return &m->index[i];
        size_t l;
        const uint8_t *k = epochd_dict_get(&m->keys, e - 1, &l);
        if (l == n && memcmp(k, key, n) == 0) return &m->index[i];
        i = (i + 1) & mask;
    }
}
uint64_t *epochd_map_slot(epochd_map *m, const void *key, size_t n, int *fresh) {
    if ((m->len + 1) * 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 64;
        uint32_t *old = m->index, oldcap = m->cap;
        m->index = xrealloc(NULL, (size_t)cap * 4);
        memset(m->index, 0, (size_t)cap * 4);
        m->cap = cap;
        for (uint32_t i = 0; i < oldcap; i++)
            if (old[i]) {
                size_t l;
                const uint8_t *k = epochd_dict_get(&m->keys, old[i] - 1, &l);
                *map_probe(m, k, l) = old[i];
            }
        free(old);
        m->values = xrealloc(m->values, (size_t)cap * 8);
    }
    uint32_t *at = map_probe(m, key, n);
    if (*at) {
        if (fresh) *fresh = 0;
        return &m->values[*at - 1];
    }
    epochd_dict_push(&m->keys, key, n);
    *at = ++m->len;
    m->values[*at - 1] = 0;
    if (fresh) *fresh = 1;
    return &m->values[*at - 1];
}
int64_t epochd_map_find(const epochd_map *m, const void *key, size_t n) {
    if (!m->cap) return -1;
    uint32_t e = *map_probe(m, key, n);
    return e ? (int64_t)e - 1 : -1;
}
void epochd_map_free(epochd_map *m) {
    free(m->index);
    free(m->values);
    epochd_dict_free(&m->keys);
    memset(m, 0, sizeof *m);
}

/* ---------------- config, logs, output, merge ---------------- */

void epochd_config(epochd_buf *out) {
    int32_t n = epochd_sys_config_len();
    if (n <= 0) return;
    epochd_buf_reserve(out, (size_t)n);
    int32_t got = epochd_sys_config_read(out->ptr + out->len, n);
    if (got > n) got = n;
    if (got > 0) out->len += (size_t)got;
}
void epochd_log(int32_t level, const char *msg) { epochd_sys_log(level, msg, (int32_t)strlen(msg)); }
int32_t epochd_emit(const void *p, size_t n) {
    int32_t r = epochd_sys_emit(p, (int32_t)n);
    return r < 0 ? r : 0;
}
void epochd_fail(const char *msg) { epochd_sys_fail(msg, (int32_t)strlen(msg)); }
void epochd_fail_bytes(const void *p, size_t n) { epochd_sys_fail(p, (int32_t)n); }

static int32_t merge_fn(void *ctx, void *dst, int32_t cap) {
    return epochd_sys_merge_input(*(int *)ctx, dst, cap);
}
int32_t epochd_merge_input(int which, epochd_buf *out) {
    int32_t r = read_var(out, merge_fn, &which);
    return r < 0 ? r : 0;
}

int epochd_finish(const epochd_buf *out) {
    if (!out->len) return 0;
    int32_t r = epochd_sys_emit(out->ptr, (int32_t)out->len);
    if (r >= 0) return 0;
    epochd_buf m = {0};
    if (r == EPOCHD_TOO_LARGE) {
        epochd_buf_str(&m, "the result (");
        epochd_buf_u64(&m, out->len);
        epochd_buf_str(&m, " bytes) is larger than the job's maximum result size");
    } else {
        epochd_buf_str(&m, "the host answered `emit` with code -");
        epochd_buf_u64(&m, (uint64_t)(-(int64_t)r));
    }
    epochd_fail_bytes(m.ptr, m.len);
    epochd_buf_free(&m);
    return 1;
}

int epochd_merge_with(epochd_merge_fn merge) {
    epochd_buf a = {0}, b = {0}, out = {0}, err = {0};
    int rc;
    if (epochd_merge_input(0, &a) < 0 || epochd_merge_input(1, &b) < 0) {
        epochd_fail("the host answered `merge_input` with an error");
        rc = 1;
    } else if (!a.len) {
        rc = epochd_finish(&b);
    } else if (!b.len) {
        rc = epochd_finish(&a);
    } else if (merge(&a, &b, &out, &err) != 0) {
        epochd_fail_bytes(err.ptr, err.len);
        rc = 1;
    } else {
        rc = epochd_finish(&out);
    }
    epochd_buf_free(&a);
    epochd_buf_free(&b);
    epochd_buf_free(&out);
    epochd_buf_free(&err);
    return rc;
}

/* ---------------- JSON writer ---------------- */

void epochd_json_quote(epochd_buf *b, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    epochd_buf_reserve(b, n + 2);
    epochd_buf_byte(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        const char *esc = NULL;
        char u[6];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c < 0x20) {
            switch (c) {
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
            }
        } else
            continue;
        epochd_buf_push(b, p + run, i - run);
        run = i + 1;
        if (esc) epochd_buf_str(b, esc);
        else epochd_buf_push(b, u, 6);
    }
    epochd_buf_push(b, p + run, n - run);
    epochd_buf_byte(b, '"');
}

void epochd_json_init(epochd_json *j, epochd_buf *out) {
    j->out = out;
    j->first = 1;
    j->depth = 0;
    j->after_key = 0;
}
static void json_value_start(epochd_json *j) {
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        uint64_t bit = 1ull << (j->depth & 63);
        if (j->first & bit) j->first &= ~bit;
        else epochd_buf_byte(j->out, ',');
    }
}
static void json_open(epochd_json *j, uint8_t c) {
    json_value_start(j);
    epochd_buf_byte(j->out, c);
    j->depth++;
    j->first |= 1ull << (j->depth & 63);
}
void epochd_json_object(epochd_json *j) { json_open(j, '{'); }
void epochd_json_array(epochd_json *j) { json_open(j, '['); }
void epochd_json_end_object(epochd_json *j) {
    j->depth--;
    epochd_buf_byte(j->out, '}');
}
void epochd_json_end_array(epochd_json *j) {
    j->depth--;
    epochd_buf_byte(j->out, ']');
}
/* A JSON string of the bytes, invalid UTF-8 replaced (as serde does with a
 * lossy Rust string). */
static void quote_lossy(epochd_buf *out, const void *p, size_t n) {
    if (epochd_utf8_valid(p, n)) {
        epochd_json_quote(out, p, n);
        return;
    }
    epochd_buf t = {0};
    epochd_buf_utf8_lossy(&t, p, n);
    epochd_json_quote(out, t.ptr, t.len);
    epochd_buf_free(&t);
}
void epochd_json_key_bytes(epochd_json *j, const void *p, size_t n) {
    json_value_start(j);
    quote_lossy(j->out, p, n);
    epochd_buf_byte(j->out, ':');
    j->after_key = 1;
}
void epochd_json_key(epochd_json *j, const char *key) { epochd_json_key_bytes(j, key, strlen(key)); }
void epochd_json_string_bytes(epochd_json *j, const void *p, size_t n) {
    json_value_start(j);
    quote_lossy(j->out, p, n);
}
void epochd_json_string(epochd_json *j, const char *s) { epochd_json_string_bytes(j, s, strlen(s)); }
void epochd_json_u64(epochd_json *j, uint64_t v) {
    json_value_start(j);
    epochd_buf_u64(j->out, v);
}
void epochd_json_i64(epochd_json *j, int64_t v) {
    json_value_start(j);
    if (v < 0) {
        epochd_buf_byte(j->out, '-');
        epochd_buf_u64(j->out, (uint64_t)0 - (uint64_t)v);
    } else
        epochd_buf_u64(j->out, (uint64_t)v);
}
void epochd_json_bool(epochd_json *j, int v) {
    json_value_start(j);
    epochd_buf_str(j->out, v ? "true" : "false");
}
void epochd_json_null(epochd_json *j) {
    json_value_start(j);
    epochd_buf_str(j->out, "null");
}
void epochd_json_f64(epochd_json *j, double v) {
    json_value_start(j);
    if (v != v || v == __builtin_inf() || v == -__builtin_inf()) epochd_buf_str(j->out, "null");
    else epochd_format_f64(j->out, v);
}

/* Shortest round-trip digits (Steele & White / dragon4 free format, exact
 * big-integer arithmetic), laid out as ryu's pretty format (what serde_json
 * prints). */
#define BIG_LIMBS 80
typedef struct {
    uint32_t n;
    uint32_t d[BIG_LIMBS];
} big;
static void big_set(big *a, uint64_t v) {
    a->n = 0;
    while (v) {
        a->d[a->n++] = (uint32_t)v;
        v >>= 32;
    }
}
static void big_mul_small(big *a, uint32_t m) {
    uint64_t carry = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        uint64_t t = (uint64_t)a->d[i] * m + carry;
        a->d[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry) a->d[a->n++] = (uint32_t)carry;
}
static void big_shl(big *a, uint32_t s) {
    if (!a->n) return;
    uint32_t w = s / 32, bits = s % 32;
    if (bits) {
        uint32_t carry = 0;
        for (uint32_t i = 0; i < a->n; i++) {
            uint32_t nc = a->d[i] >> (32 - bits);
            a->d[i] = (a->d[i] << bits) | carry;
            carry = nc;
        }
        if (carry) a->d[a->n++] = carry;
    }
    if (w) {
        for (uint32_t i = a->n; i-- > 0;) a->d[i + w] = a->d[i];
        for (uint32_t i = 0; i < w; i++) a->d[i] = 0;
        a->n += w;
    }
}
static int big_cmp(const big *a, const big *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (uint32_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}
static void big_add(big *r, const big *a, const big *b) {
    const big *x = a->n >= b->n ? a : b, *y = a->n >= b->n ? b : a;
    uint64_t carry = 0;
    uint32_t n = x->n;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t t = (uint64_t)x->d[i] + (i < y->n ? y->d[i] : 0) + carry;
        r->d[i] = (uint32_t)t;
        carry = t >> 32;
    }
    r->n = n;
    if (carry) r->d[r->n++] = (uint32_t)carry;
}
static void big_sub(big *a, const big *b) { /* a -= b, a >= b */
    int64_t borrow = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
        borrow = t < 0;
        a->d[i] = (uint32_t)(t + (borrow << 32));
    }
    while (a->n && !a->d[a->n - 1]) a->n--;
}

void epochd_format_f64(epochd_buf *b, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (bits >> 63) epochd_buf_byte(b, '-');
    bits &= ~(1ull << 63);
    if (!bits) {
        epochd_buf_str(b, "0.0");
        return;
    }
    int be = (int)(bits >> 52);
    uint64_t f = bits & ((1ull << 52) - 1);
    int e;
    if (be) {
        f |= 1ull << 52;
        e = be - 1075;
    } else
        e = -1074;
    int even = !(f & 1);
    int unequal = be > 1 && f == (1ull << 52);
    big R, S, Mp, Mm, T;
    /* v = R / S; the half-gaps above and below are Mp / S and Mm / S. */
    if (!unequal && e >= 0) {
        /* R = 2f*2^e, S = 2, Mp = Mm = 2^e. */
        big_set(&R, f);
        big_shl(&R, (uint32_t)e + 1);
        big_set(&S, 2);
        big_set(&Mp, 1);
        big_shl(&Mp, (uint32_t)e);
        big_set(&Mm, 1);
        big_shl(&Mm, (uint32_t)e);
    } else if (!unequal) {
        /* R = 2f, S = 2^(1-e), Mp = Mm = 1. */
        big_set(&R, f);
        big_shl(&R, 1);
        big_set(&S, 1);
        big_shl(&S, (uint32_t)(1 - e));
        big_set(&Mp, 1);
        big_set(&Mm, 1);
    } else if (e >= 0) {
        /* lower gap is half the upper: R = 4f*2^e, S = 4, Mp = 2^(e+1), Mm = 2^e. */
        big_set(&R, f);
        big_shl(&R, (uint32_t)e + 2);
        big_set(&S, 4);
        big_set(&Mp, 1);
        big_shl(&Mp, (uint32_t)e + 1);
        big_set(&Mm, 1);
        big_shl(&Mm, (uint32_t)e);
    } else {
        big_set(&R, f);
        big_shl(&R, 2);
        big_set(&S, 1);
        big_shl(&S, (uint32_t)(2 - e));
        big_set(&Mp, 2);
        big_set(&Mm, 1);
    }
    /* k: the smallest with v + gap < 10^k (<= when even). */
    int k = 0;
    for (;;) {
        big_add(&T, &R, &Mp);
        int c = big_cmp(&T, &S);
        if (even ? c >= 0 : c > 0) {
            big_mul_small(&S, 10);
            k++;
        } else
            break;
    }
    for (;;) {
        big_add(&T, &R, &Mp);
        big_mul_small(&T, 10);
        int c = big_cmp(&T, &S);
        if (even ? c < 0 : c <= 0) {
            big_mul_small(&R, 10);
            big_mul_small(&Mp, 10);
            big_mul_small(&Mm, 10);
            k--;
        } else
            break;
    }
    char digits[40];
    int nd = 0;
    for (;;) {
        big_mul_small(&R, 10);
        big_mul_small(&Mp, 10);
        big_mul_small(&Mm, 10);
        int d = 0;
        while (big_cmp(&R, &S) >= 0) {
            big_sub(&R, &S);
            d++;
        }
        int c1 = big_cmp(&R, &Mm);
        int low = even ? c1 <= 0 : c1 < 0;
        big_add(&T, &R, &Mp);
        int c2 = big_cmp(&T, &S);
        int high = even ? c2 >= 0 : c2 > 0;
        if (low || high || nd >= 17) {
            if (high && low) {
                /* Round to the nearer (2R vs S); an exact tie to the even
                 * digit, as ryu (serde_json's printer) does. */
                big_add(&T, &R, &R);
                int nearer = big_cmp(&T, &S);
                if (nearer > 0 || (nearer == 0 && (d & 1))) d++;
            } else if (high)
                d++;
            digits[nd++] = (char)('0' + d);
            break;
        }
        digits[nd++] = (char)('0' + d);
    }
    /* A carry (9 + 1) ripples up. */
    for (int i = nd - 1; i > 0 && digits[i] > '9'; i--) {
        digits[i] = '0';
        digits[i - 1]++;
    }
    if (digits[0] > '9') {
        digits[0] = '1';
        for (int i = 1; i < nd; i++) digits[i] = '0';
        k++;
    }
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    /* v = 0.d1..dn * 10^k; ryu's kk = k. */
    int kk = k;
    if (kk >= nd && kk <= 16) { /* integer: 1234e7 -> 12340000000.0 */
        epochd_buf_push(b, digits, (size_t)nd);
        for (int i = nd; i < kk; i++) epochd_buf_byte(b, '0');
        epochd_buf_str(b, ".0");
    } else if (kk > 0 && kk <= 16) { /* 1234e-2 -> 12.34 */
        epochd_buf_push(b, digits, (size_t)kk);
        epochd_buf_byte(b, '.');
        epochd_buf_push(b, digits + kk, (size_t)(nd - kk));
    } else if (kk > -5 && kk <= 0) { /* 1234e-6 -> 0.001234 */
        epochd_buf_str(b, "0.");
        for (int i = kk; i < 0; i++) epochd_buf_byte(b, '0');
        epochd_buf_push(b, digits, (size_t)nd);
    } else {
        epochd_buf_byte(b, (uint8_t)digits[0]);
        if (nd > 1) {
            epochd_buf_byte(b, '.');
            epochd_buf_push(b, digits + 1, (size_t)(nd - 1));
        }
        epochd_buf_byte(b, 'e');
        int x = kk - 1;
        if (x < 0) {
            epochd_buf_byte(b, '-');
            x = -x;
        }
        epochd_buf_u64(b, (uint64_t)x);
    }
}

/* ---------------- JSON reader ---------------- */

typedef struct {
    const uint8_t *p, *end, *start;
    epochd_buf *err;
    int depth;
} jparser;

static int jfail(jparser *ps, const char *msg) {
    if (ps->err && !ps->err->len) {
        epochd_buf_str(ps->err, msg);
        epochd_buf_str(ps->err, " at byte ");
        epochd_buf_u64(ps->err, (uint64_t)(ps->p - ps->start));
    }
    return 0;
}
static void jws(jparser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')) ps->p++;
}
static int jhex4(jparser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) return jfail(ps, "EOF while parsing a string");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return jfail(ps, "invalid escape");
    }
    *out = v;
    return 1;
}
static void put_utf8(epochd_buf *b, uint32_t c) {
    uint8_t t[4];
    int n;
    if (c < 0x80) t[0] = (uint8_t)c, n = 1;
    else if (c < 0x800) t[0] = (uint8_t)(0xC0 | c >> 6), t[1] = (uint8_t)(0x80 | (c & 63)), n = 2;
    else if (c < 0x10000)
        t[0] = (uint8_t)(0xE0 | c >> 12), t[1] = (uint8_t)(0x80 | ((c >> 6) & 63)), t[2] = (uint8_t)(0x80 | (c & 63)), n = 3;
    else
        t[0] = (uint8_t)(0xF0 | c >> 18), t[1] = (uint8_t)(0x80 | ((c >> 12) & 63)), t[2] = (uint8_t)(0x80 | ((c >> 6) & 63)),
        t[3] = (uint8_t)(0x80 | (c & 63)), n = 4;
    epochd_buf_push(b, t, (size_t)n);
}
static int jstring(jparser *ps, epochd_buf *out) { /* at the opening quote */
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end) return jfail(ps, "EOF while parsing a string");
        uint8_t c = *ps->p;
        if (c == '"') {
            ps->p++;
            return 1;
        }
        if (c < 0x20) return jfail(ps, "control character (\\u0000-\\u001F) found while parsing a string");
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end) return jfail(ps, "EOF while parsing a string");
            uint8_t e = *ps->p++;
            switch (e) {
            case '"': epochd_buf_byte(out, '"'); break;
            case '\\': epochd_buf_byte(out, '\\'); break;
            case '/': epochd_buf_byte(out, '/'); break;
            case 'b': epochd_buf_byte(out, '\b'); break;
            case 'f': epochd_buf_byte(out, '\f'); break;
            case 'n': epochd_buf_byte(out, '\n'); break;
            case 'r': epochd_buf_byte(out, '\r'); break;
            case 't': epochd_buf_byte(out, '\t'); break;
            case 'u': {
                uint32_t u;
                if (!jhex4(ps, &u)) return 0;
                if (u >= 0xDC00 && u <= 0xDFFF) return jfail(ps, "lone leading surrogate in hex escape");
                if (u >= 0xD800 && u <= 0xDBFF) {
                    uint32_t l;
                    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                        return jfail(ps, "unexpected end of hex escape");
                    ps->p += 2;
                    if (!jhex4(ps, &l)) return 0;
                    if (l < 0xDC00 || l > 0xDFFF) return jfail(ps, "lone leading surrogate in hex escape");
                    u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
                }
                put_utf8(out, u);
                break;
            }
            default: return jfail(ps, "invalid escape");
            }
            continue;
        }
        int k = utf8_seq(ps->p, (size_t)(ps->end - ps->p));
        if (k < 0) return jfail(ps, "invalid unicode code point");
        epochd_buf_push(out, ps->p, (size_t)k);
        ps->p += k;
    }
}
static int jvalue(jparser *ps, epochd_jv *v);
static int jpush(epochd_jv *v, size_t *cap) {
    if (v->len == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        v->items = xrealloc(v->items, *cap * sizeof *v->items);
        if (v->kind == EPOCHD_J_OBJ) v->keys = xrealloc(v->keys, *cap * sizeof *v->keys);
    }
    memset(&v->items[v->len], 0, sizeof *v->items);
    if (v->kind == EPOCHD_J_OBJ) memset(&v->keys[v->len], 0, sizeof *v->keys);
    return 1;
}
static int jvalue(jparser *ps, epochd_jv *v) {
    memset(v, 0, sizeof *v);
    jws(ps);
    if (ps->p >= ps->end) return jfail(ps, "EOF while parsing a value");
    uint8_t c = *ps->p;
    if (c == '{' || c == '[') {
        if (++ps->depth > 128) return jfail(ps, "recursion limit exceeded");
        v->kind = c == '{' ? EPOCHD_J_OBJ : EPOCHD_J_ARR;
        uint8_t close = c == '{' ? '}' : ']';
        ps->p++;
        size_t cap = 0;
        jws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ps->depth--;
            return 1;
        }
        for (;;) {
            jpush(v, &cap);
            if (v->kind == EPOCHD_J_OBJ) {
                jws(ps);
                if (ps->p >= ps->end || *ps->p != '"') return jfail(ps, "key must be a string");
                if (!jstring(ps, &v->keys[v->len])) return 0;
                jws(ps);
                if (ps->p >= ps->end || *ps->p != ':') return jfail(ps, "expected `:`");
                ps->p++;
            }
            v->len++;
            if (!jvalue(ps, &v->items[v->len - 1])) return 0;
            jws(ps);
            if (ps->p >= ps->end) return jfail(ps, "EOF while parsing a list or an object");
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == close) {
                ps->p++;
                ps->depth--;
                return 1;
            }
            return jfail(ps, "expected `,` or the end of a list or an object");
        }
    }
    if (c == '"') {
        v->kind = EPOCHD_J_STR;
        epochd_buf s = {0};
        int ok = jstring(ps, &s);
        v->str = s.ptr;
        v->len = s.len;
        return ok;
    }
    static const char *const words[] = {"null", "true", "false"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(words[i]);
        if ((size_t)(ps->end - ps->p) >= l && memcmp(ps->p, words[i], l) == 0) {
            ps->p += l;
            v->kind = i == 0 ? EPOCHD_J_NULL : EPOCHD_J_BOOL;
            v->b = i == 1;
            return 1;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const uint8_t *s = ps->p;
        if (*ps->p == '-') ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return jfail(ps, "invalid number");
        if (*ps->p == '0') {
            ps->p++;
            if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') return jfail(ps, "invalid number");
        } else
            while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
        if (ps->p < ps->end && *ps->p == '.') {
            ps->p++;
            if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return jfail(ps, "invalid number");
            while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
            ps->p++;
            if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
            if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return jfail(ps, "invalid number");
            while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
        }
        v->kind = EPOCHD_J_NUM;
        v->len = (size_t)(ps->p - s);
        v->str = xrealloc(NULL, v->len);
        memcpy(v->str, s, v->len);
        return 1;
    }
    return jfail(ps, "expected value");
}

int epochd_json_parse(const uint8_t *p, size_t n, epochd_jv *out, epochd_buf *err) {
    jparser ps = {p, p + n, p, err, 0};
    if (!jvalue(&ps, out)) return 0;
    jws(&ps);
    if (ps.p != ps.end) return jfail(&ps, "trailing characters");
    return 1;
}

void epochd_jv_free(epochd_jv *v) {
    if (v->kind == EPOCHD_J_ARR || v->kind == EPOCHD_J_OBJ) {
        size_t cap = v->len;
        for (size_t i = 0; i < cap; i++) {
            epochd_jv_free(&v->items[i]);
            if (v->keys) epochd_buf_free(&v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    } else
        free(v->str);
    memset(v, 0, sizeof *v);
}

const epochd_jv *epochd_jv_get(const epochd_jv *obj, const char *key) {
    if (obj->kind != EPOCHD_J_OBJ) return NULL;
    size_t l = strlen(key);
    const epochd_jv *found = NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (obj->keys[i].len == l && memcmp(obj->keys[i].ptr, key, l) == 0) found = &obj->items[i];
    return found;
}

int epochd_jv_u64(const epochd_jv *v, uint64_t *out) {
    if (v->kind != EPOCHD_J_NUM || !v->len || v->str[0] == '-') return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        uint8_t c = v->str[i];
        if (c < '0' || c > '9') return 0;
        if (x > (UINT64_MAX - (c - '0')) / 10) return 0;
        x = x * 10 + (c - '0');
    }
    *out = x;
    return 1;
}

int epochd_jv_fields(const epochd_jv *obj, const char *what, const char *const *names, int n,
                     const epochd_jv **fields, epochd_buf *err) {
    for (int i = 0; i < n; i++) fields[i] = NULL;
    if (obj->kind != EPOCHD_J_OBJ) {
        epochd_buf_str(err, "invalid type: expected struct ");
        epochd_buf_str(err, what);
        return 0;
    }
    for (size_t k = 0; k < obj->len; k++) {
        int hit = -1;
        for (int i = 0; i < n; i++)
            if (obj->keys[k].len == strlen(names[i]) && memcmp(obj->keys[k].ptr, names[i], obj->keys[k].len) == 0) hit = i;
        if (hit < 0) {
            epochd_buf_str(err, "unknown field `");
            epochd_buf_push(err, obj->keys[k].ptr, obj->keys[k].len);
            epochd_buf_str(err, "` in ");
            epochd_buf_str(err, what);
            return 0;
        }
        if (fields[hit]) {
            epochd_buf_str(err, "duplicate field `");
            epochd_buf_str(err, names[hit]);
            epochd_buf_str(err, "` in ");
            epochd_buf_str(err, what);
            return 0;
        }
        fields[hit] = &obj->items[k];
    }
    return 1;
}
