/* Reference job `error-rate` in C: the share of WEB events whose
 * tuning.status is an integer >= 500, per dc; merge adds per dc and
 * recomputes the rates. The same result bytes as wasm-jobs/error-rate:
 * {"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}} */
#include <stdlib.h>
#include <string.h>

#include "epochd.h"

#define ERROR_STATUS 500

/* dc (lossy UTF-8) -> entry; values[i] = web, errs[i] = errors. */
typedef struct {
    epochd_map dcs; /* value: index into web/errs */
    uint64_t *web, *errs;
    size_t len, cap;
} rates;

static void add(rates *r, const uint8_t *dc, size_t n, uint64_t web, uint64_t errors, int replace) {
    int fresh;
    uint64_t *slot = epochd_map_slot(&r->dcs, dc, n, &fresh);
    if (fresh) {
        if (r->len == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 8;
            r->web = realloc(r->web, r->cap * 8);
            r->errs = realloc(r->errs, r->cap * 8);
        }
        *slot = r->len;
        r->web[r->len] = r->errs[r->len] = 0;
        r->len++;
    }
    if (replace) r->web[*slot] = r->errs[*slot] = 0;
    r->web[*slot] += web;
    r->errs[*slot] += errors;
}

static void rate(epochd_json *j, uint64_t web, uint64_t errors) {
    epochd_json_key(j, "web");
    epochd_json_u64(j, web);
    epochd_json_key(j, "errors");
    epochd_json_u64(j, errors);
    epochd_json_key(j, "rate");
    if (web > 0) epochd_json_f64(j, (double)errors / (double)web);
    else epochd_json_null(j);
}

static void write(rates *r, epochd_buf *out) {
    uint64_t web = 0, errors = 0;
    for (size_t i = 0; i < r->len; i++) {
        web += r->web[i];
        errors += r->errs[i];
    }
    uint32_t *order = epochd_dict_sorted_ids(&r->dcs.keys);
    epochd_json j;
    epochd_json_init(&j, out);
    epochd_json_object(&j);
    rate(&j, web, errors);
    epochd_json_key(&j, "dcs");
    epochd_json_object(&j);
    for (uint32_t i = 0; i < r->dcs.len; i++) {
        size_t n;
        const uint8_t *k = epochd_dict_get(&r->dcs.keys, order[i], &n);
        uint64_t at = r->dcs.values[order[i]];
        epochd_json_key_bytes(&j, k, n);
        epochd_json_object(&j);
        rate(&j, r->web[at], r->errs[at]);
        epochd_json_end_object(&j);
    }
    epochd_json_end_object(&j);
    epochd_json_end_object(&j);
    free(order);
}

/* How many of ids[0..n] are `id`. In chunks of 64: each loop head of a
 * compiled job checks the run's deadline, and the vector sums live across
 * that check are stored and reloaded each iteration, so each iteration does
 * 16 vector compares into one sum rather than 4 into 4 (docs/BENCHMARKS.md,
 * "Languages"). */
static uint64_t count_equal(const uint32_t *ids, uint32_t n, uint32_t id) {
    uint64_t total = 0;
    uint32_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t in_chunk = 0;
        for (uint32_t j = 0; j < 64; j++) in_chunk += ids[i + j] == id;
        total += in_chunk;
    }
    for (; i < n; i++) total += ids[i] == id;
    return total;
}

EPOCHD_RUN {
    /* WEB events counted on the ids of `type`, read a block of rows at a
     * time; then the type of each error looked up (errors are few). */
    uint32_t rows = epochd_rows();
    epochd_row_ids types;
    epochd_row_ids_open(&types, "type");
    uint64_t web = 0, errors = 0;
    int64_t web_id = -1;
    uint32_t *ids = malloc(EPOCHD_BLOCK * 4);
    for (uint32_t first = 0; first < rows; first += EPOCHD_BLOCK) {
        uint32_t n = rows - first < EPOCHD_BLOCK ? rows - first : EPOCHD_BLOCK;
        epochd_row_ids_read(&types, first, n, ids);
        /* Known from the start with a dictionary; else once a row has it. */
        if (web_id < 0) web_id = epochd_dict_find(&types.strings, "WEB", 3);
        if (web_id >= 0) web += count_equal(ids, n, (uint32_t)web_id);
    }
    free(ids);
    epochd_column status;
    if (web_id >= 0 && epochd_column_find("tuning.status", EPOCHD_INT, &status)) {
        epochd_scan s;
        epochd_scan_begin(&s, &status);
        while (epochd_scan_next(&s))
            for (uint32_t i = 0; i < s.n; i++)
                if (s.i64[i] >= ERROR_STATUS && epochd_row_ids_get(&types, s.rows[i]) == (uint32_t)web_id) errors++;
    }
    epochd_row_ids_free(&types);
    epochd_buf dc = {0}, name = {0}, out = {0};
    epochd_dc(&dc);
    epochd_buf_utf8_lossy(&name, dc.ptr, dc.len);
    rates r = {0};
    add(&r, name.ptr, name.len, web, errors, 0);
    write(&r, &out);
    return epochd_finish(&out);
}

static int is_f64(const epochd_jv *v) { return !v || v->kind == EPOCHD_J_NULL || v->kind == EPOCHD_J_NUM; }

/* One result's counts, added to r. */
static int parse(const epochd_buf *in, rates *r, epochd_buf *err) {
    static const char *const top[] = {"web", "errors", "rate", "dcs"};
    static const char *const fields[] = {"web", "errors", "rate"};
    epochd_jv root;
    const epochd_jv *f[4];
    uint64_t web, errors;
    rates mine = {0};
    int ok = 0;
    if (!epochd_json_parse(in->ptr, in->len, &root, err)) goto out;
    if (!epochd_jv_fields(&root, "ErrorRate", top, 4, f, err)) goto out;
    if (!f[0] || !f[1] || !f[3] || !epochd_jv_u64(f[0], &web) || !epochd_jv_u64(f[1], &errors) || !is_f64(f[2]) ||
        f[3]->kind != EPOCHD_J_OBJ) {
        epochd_buf_str(err, "expected web, errors (u64), rate (f64 or null), dcs (object)");
        goto out;
    }
    for (size_t i = 0; i < f[3]->len; i++) {
        const epochd_jv *c[3];
        if (!epochd_jv_fields(&f[3]->items[i], "Rate", fields, 3, c, err)) goto out;
        if (!c[0] || !c[1] || !epochd_jv_u64(c[0], &web) || !epochd_jv_u64(c[1], &errors) || !is_f64(c[2])) {
            epochd_buf_str(err, "expected web, errors (u64), rate (f64 or null)");
            goto out;
        }
        /* A repeated dc within one result: the last one counts (serde's map). */
        add(&mine, f[3]->keys[i].ptr, f[3]->keys[i].len, web, errors, 1);
    }
    for (uint32_t i = 0; i < mine.dcs.len; i++) {
        size_t n;
        const uint8_t *k = epochd_dict_get(&mine.dcs.keys, i, &n);
        uint64_t at = mine.dcs.values[i];
        add(r, k, n, mine.web[at], mine.errs[at], 0);
    }
    ok = 1;
out:
    epochd_jv_free(&root);
    if (!ok) epochd_buf_prepend(err, "JSON: "); /* as the Rust job's messages */
    return ok;
}

static int merge(const epochd_buf *a, const epochd_buf *b, epochd_buf *out, epochd_buf *err) {
    rates r = {0};
    if (!parse(a, &r, err) || !parse(b, &r, err)) return 1;
    write(&r, out);
    return 0;
}

EPOCHD_MERGE { return epochd_merge_with(merge); }
