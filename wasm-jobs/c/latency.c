/* Reference job `latency` in C: p50/p95/p99 of tuning.wallclock (or the
 * field named by the config) per subtype, from the mergeable log-linear
 * histogram (epochd_sketch.h). The same result bytes as wasm-jobs/latency:
 * {"field":"tuning.wallclock","subtypes":{"app":{"p50":..,"p95":..,"p99":..,"histogram":{...}}}} */
#include <stdlib.h>
#include <string.h>

#include "epochd.h"
#include "epochd_sketch.h"

#define DEFAULT_FIELD "tuning.wallclock"

/* Histograms by subtype name (lossy UTF-8). */
typedef struct {
    epochd_map names; /* value: index into h */
    epochd_hist *h;
    size_t len, cap;
} by_name;

static epochd_hist *slot(by_name *b, const uint8_t *name, size_t n, int fresh_replace) {
    int fresh;
    uint64_t *at = epochd_map_slot(&b->names, name, n, &fresh);
    if (fresh) {
        if (b->len == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 16;
            b->h = realloc(b->h, b->cap * sizeof *b->h);
        }
        *at = b->len;
        memset(&b->h[b->len], 0, sizeof *b->h);
        b->len++;
    } else if (fresh_replace) {
        epochd_hist_free(&b->h[*at]);
    }
    return &b->h[*at];
}

static void write(const uint8_t *field, size_t field_len, by_name *b, epochd_buf *out) {
    uint32_t *order = epochd_dict_sorted_ids(&b->names.keys);
    epochd_json j;
    epochd_json_init(&j, out);
    epochd_json_object(&j);
    epochd_json_key(&j, "field");
    epochd_json_string_bytes(&j, field, field_len);
    epochd_json_key(&j, "subtypes");
    epochd_json_object(&j);
    for (uint32_t i = 0; i < b->names.len; i++) {
        const epochd_hist *h = &b->h[b->names.values[order[i]]];
        if (!h->count) continue;
        size_t n;
        const uint8_t *k = epochd_dict_get(&b->names.keys, order[i], &n);
        int ok;
        epochd_json_key_bytes(&j, k, n);
        epochd_json_object(&j);
        epochd_json_key(&j, "p50");
        epochd_json_u64(&j, epochd_hist_percentile(h, 50, &ok));
        epochd_json_key(&j, "p95");
        epochd_json_u64(&j, epochd_hist_percentile(h, 95, &ok));
        epochd_json_key(&j, "p99");
        epochd_json_u64(&j, epochd_hist_percentile(h, 99, &ok));
        epochd_json_key(&j, "histogram");
        epochd_hist_json(&j, h);
        epochd_json_end_object(&j);
    }
    epochd_json_end_object(&j);
    epochd_json_end_object(&j);
    free(order);
}

/* Unicode White_Space, as Rust's str::trim: the length of the one at p, or 0. */
static size_t space_at(const uint8_t *p, size_t n) {
    if (!n) return 0;
    uint8_t c = p[0];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d)) return 1;
    if (n >= 2 && c == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0)) return 2;
    if (n >= 3) {
        uint32_t u = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        if ((c & 0xf0) == 0xe0 && (u == 0x1680 || (u >= 0x2000 && u <= 0x200a) || u == 0x2028 || u == 0x2029 ||
                                   u == 0x202f || u == 0x205f || u == 0x3000))
            return 3;
    }
    return 0;
}
static size_t space_before(const uint8_t *p, size_t n) { /* at the end */
    if (n >= 1 && space_at(p + n - 1, 1) == 1) return 1;
    if (n >= 2 && space_at(p + n - 2, 2) == 2) return 2;
    if (n >= 3 && space_at(p + n - 3, 3) == 3) return 3;
    return 0;
}

/* The field: the config (UTF-8, trimmed) or DEFAULT_FIELD. 0 on bad UTF-8. */
static int field_of(epochd_buf *field) {
    epochd_buf c = {0};
    epochd_config(&c);
    size_t at, len;
    if (!epochd_utf8_check(c.ptr, c.len, &at, &len)) {
        epochd_buf m = {0};
        if (!len) {
            epochd_buf_str(&m, "invalid UTF-8: incomplete utf-8 byte sequence from index ");
            epochd_buf_u64(&m, at);
        } else {
            epochd_buf_str(&m, "invalid UTF-8: invalid utf-8 sequence of ");
            epochd_buf_u64(&m, len);
            epochd_buf_str(&m, " bytes from index ");
            epochd_buf_u64(&m, at);
        }
        epochd_fail_bytes(m.ptr, m.len);
        return 0;
    }
    const uint8_t *p = c.ptr;
    size_t n = c.len, s;
    while ((s = space_at(p, n))) p += s, n -= s;
    while ((s = space_before(p, n))) n -= s;
    if (n) epochd_buf_push(field, p, n);
    else epochd_buf_str(field, DEFAULT_FIELD);
    return 1;
}

/* One histogram per subtype id, grown as ids appear (without a dictionary,
 * strings get ids as rows are read). */
typedef struct {
    epochd_hist *v;
    uint32_t len, cap;
} hists;

static __attribute__((noinline)) epochd_hist *hist_grow(hists *h, uint32_t id) {
    if (id >= h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        if (cap <= id) cap = id + 1;
        h->v = realloc(h->v, (size_t)cap * sizeof *h->v);
        if (!h->v) abort();
        memset(h->v + h->cap, 0, (size_t)(cap - h->cap) * sizeof *h->v);
        h->cap = cap;
    }
    if (id >= h->len) h->len = id + 1;
    return &h->v[id];
}

/* Subtype id's histogram; the growing is out of line (see
 * epochd_hist_record_slow). */
static inline epochd_hist *hist(hists *h, uint32_t id) {
    return id < h->len ? &h->v[id] : hist_grow(h, id);
}

EPOCHD_RUN {
    epochd_buf field = {0};
    if (!field_of(&field)) return 1;
    epochd_buf_byte(&field, 0);
    field.len--;
    /* The subtype of each value's row, read a window of rows at a time as
     * the values' rows ascend. */
    epochd_row_ids subtypes;
    epochd_row_ids_open(&subtypes, "subtype");
    hists hs = {0};
    epochd_column col;
    epochd_scan s;
    if (epochd_column_find((const char *)field.ptr, EPOCHD_INT, &col)) {
        epochd_scan_begin(&s, &col);
        while (epochd_scan_next(&s)) {
            const uint32_t *rows = s.rows;
            const int64_t *values = s.i64;
            for (uint32_t i = 0, n = s.n; i < n; i++) {
                uint32_t id = epochd_row_ids_get(&subtypes, rows[i]);
                if (id == EPOCHD_NONE || values[i] < 0) continue;
                epochd_hist_record(hist(&hs, id), (uint64_t)values[i]);
            }
        }
    }
    if (epochd_column_find((const char *)field.ptr, EPOCHD_FLOAT, &col)) {
        epochd_scan_begin(&s, &col);
        while (epochd_scan_next(&s))
            for (uint32_t i = 0; i < s.n; i++) {
                uint32_t id = epochd_row_ids_get(&subtypes, s.rows[i]);
                double v = s.f64[i];
                if (id == EPOCHD_NONE) continue;
                if (!(v >= 0.0) || v == __builtin_inf()) continue; /* NaN, negative, infinite */
                /* truncated toward zero, saturating at 2^64 - 1 */
                uint64_t u = v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
                epochd_hist_record(hist(&hs, id), u);
            }
    }
    uint32_t ns = hs.len;
    by_name b = {0};
    epochd_buf name = {0};
    for (uint32_t id = 0; id < ns; id++) {
        size_t n;
        const uint8_t *p = epochd_dict_get(&subtypes.strings, id, &n);
        name.len = 0;
        epochd_buf_utf8_lossy(&name, p, n);
        epochd_hist_merge(slot(&b, name.ptr, name.len, 0), &hs.v[id]);
    }
    epochd_buf out = {0};
    write(field.ptr, field.len, &b, &out);
    return epochd_finish(&out);
}

/* Rust's {:?} of a string (printable non-ASCII characters kept as is). */
static void debug_str(epochd_buf *m, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    epochd_buf_byte(m, '"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"') epochd_buf_str(m, "\\\"");
        else if (c == '\\') epochd_buf_str(m, "\\\\");
        else if (c == '\n') epochd_buf_str(m, "\\n");
        else if (c == '\r') epochd_buf_str(m, "\\r");
        else if (c == '\t') epochd_buf_str(m, "\\t");
        else if (c == 0) epochd_buf_str(m, "\\0");
        else if (c < 0x20 || c == 0x7f) {
            epochd_buf_str(m, "\\u{");
            if (c >> 4) epochd_buf_byte(m, (uint8_t)hex[c >> 4]);
            epochd_buf_byte(m, (uint8_t)hex[c & 15]);
            epochd_buf_byte(m, '}');
        } else
            epochd_buf_byte(m, c);
    }
    epochd_buf_byte(m, '"');
}

static int parse(const epochd_buf *in, epochd_buf *field, by_name *b, epochd_buf *err) {
    static const char *const top[] = {"field", "subtypes"};
    static const char *const sum[] = {"p50", "p95", "p99", "histogram"};
    epochd_jv root;
    const epochd_jv *f[4];
    by_name mine = {0};
    int ok = 0;
    if (!epochd_json_parse(in->ptr, in->len, &root, err)) goto out;
    if (!epochd_jv_fields(&root, "Latency", top, 2, f, err)) goto out;
    if (!f[0] || f[0]->kind != EPOCHD_J_STR || !f[1] || f[1]->kind != EPOCHD_J_OBJ) {
        epochd_buf_str(err, "expected field (a string) and subtypes (an object)");
        goto out;
    }
    epochd_buf_push(field, f[0]->str, f[0]->len);
    for (size_t i = 0; i < f[1]->len; i++) {
        const epochd_jv *s[4];
        uint64_t p;
        if (!epochd_jv_fields(&f[1]->items[i], "Summary", sum, 4, s, err)) goto out;
        if (!s[0] || !s[1] || !s[2] || !s[3] || !epochd_jv_u64(s[0], &p) || !epochd_jv_u64(s[1], &p) ||
            !epochd_jv_u64(s[2], &p)) {
            epochd_buf_str(err, "expected p50, p95, p99 (u64) and histogram");
            goto out;
        }
        epochd_hist h;
        if (!epochd_hist_parse(s[3], &h, err)) goto out;
        /* A repeated subtype within one result: the last one counts (serde's map). */
        epochd_hist *at = slot(&mine, f[1]->keys[i].ptr, f[1]->keys[i].len, 1);
        *at = h;
    }
    for (uint32_t i = 0; i < mine.names.len; i++) {
        size_t n;
        const uint8_t *k = epochd_dict_get(&mine.names.keys, i, &n);
        epochd_hist_merge(slot(b, k, n, 0), &mine.h[mine.names.values[i]]);
    }
    ok = 1;
out:
    epochd_jv_free(&root);
    if (!ok) epochd_buf_prepend(err, "JSON: "); /* as the Rust job's messages */
    return ok;
}

static int merge(const epochd_buf *a, const epochd_buf *b, epochd_buf *out, epochd_buf *err) {
    epochd_buf fa = {0}, fb = {0};
    by_name all = {0}, other = {0};
    if (!parse(a, &fa, &all, err) || !parse(b, &fb, &other, err)) return 1;
    if (fa.len != fb.len || (fa.len && memcmp(fa.ptr, fb.ptr, fa.len) != 0)) {
        epochd_buf_str(err, "cannot merge latencies of ");
        debug_str(err, fa.ptr, fa.len);
        epochd_buf_str(err, " and ");
        debug_str(err, fb.ptr, fb.len);
        return 1;
    }
    for (uint32_t i = 0; i < other.names.len; i++) {
        size_t n;
        const uint8_t *k = epochd_dict_get(&other.names.keys, i, &n);
        epochd_hist_merge(slot(&all, k, n, 0), &other.h[other.names.values[i]]);
    }
    write(fa.ptr, fa.len, &all, out);
    return 0;
}

EPOCHD_MERGE { return epochd_merge_with(merge); }
