/* Reference job `count` in C: events per (type, subtype); merge adds.
 * The same result bytes as wasm-jobs/count (see wasm-jobs/README.md):
 * {"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}
 * sorted by (type, subtype), null first, strings by bytes. */
#include <stdlib.h>
#include <string.h>

#include "epochd.h"

typedef struct {
    epochd_buf type, subtype; /* lossy UTF-8 */
    int has_type, has_subtype;
    uint64_t count;
} entry;

typedef struct {
    entry *v;
    size_t len, cap;
} entries;

static entry *push(entries *e) {
    if (e->len == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->v = realloc(e->v, e->cap * sizeof *e->v);
    }
    entry *x = &e->v[e->len++];
    memset(x, 0, sizeof *x);
    return x;
}

static int cmp_opt(int ha, const epochd_buf *a, int hb, const epochd_buf *b) {
    if (ha != hb) return ha ? 1 : -1; /* None first */
    if (!ha) return 0;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}
static int cmp_entry(const void *x, const void *y) {
    const entry *a = x, *b = y;
    int c = cmp_opt(a->has_type, &a->type, b->has_type, &b->type);
    return c ? c : cmp_opt(a->has_subtype, &a->subtype, b->has_subtype, &b->subtype);
}

/* Sorts, adds equal keys, writes the result. */
static void finish(entries *e, epochd_buf *out) {
    if (e->len) qsort(e->v, e->len, sizeof *e->v, cmp_entry);
    uint64_t events = 0;
    for (size_t i = 0; i < e->len; i++) events += e->v[i].count;
    epochd_json j;
    epochd_json_init(&j, out);
    epochd_json_object(&j);
    epochd_json_key(&j, "events");
    epochd_json_u64(&j, events);
    epochd_json_key(&j, "counts");
    epochd_json_array(&j);
    for (size_t i = 0; i < e->len;) {
        size_t k = i + 1;
        uint64_t n = e->v[i].count;
        while (k < e->len && cmp_entry(&e->v[i], &e->v[k]) == 0) n += e->v[k++].count;
        if (n > 0) {
            entry *x = &e->v[i];
            epochd_json_object(&j);
            epochd_json_key(&j, "type");
            if (x->has_type) epochd_json_string_bytes(&j, x->type.ptr, x->type.len);
            else epochd_json_null(&j);
            epochd_json_key(&j, "subtype");
            if (x->has_subtype) epochd_json_string_bytes(&j, x->subtype.ptr, x->subtype.len);
            else epochd_json_null(&j);
            epochd_json_key(&j, "count");
            epochd_json_u64(&j, n);
            epochd_json_end_object(&j);
        }
        i = k;
    }
    epochd_json_end_array(&j);
    epochd_json_end_object(&j);
}

static int name(const epochd_row_ids *r, uint32_t id, epochd_buf *out) {
    size_t n;
    const uint8_t *p = epochd_dict_get(&r->strings, id, &n);
    if (!p) return 0;
    epochd_buf_utf8_lossy(out, p, n);
    return 1;
}

/* Counts the pairs (t[i], s[i]) in a table of (nt + 1) x (ns + 1) cells, an
 * id past a dictionary (EPOCHD_NONE) in the last cell of its side. Unrolled
 * by eight: every loop head of a compiled job checks the run's deadline,
 * and fewer, wider iterations pay for it less often (docs/BENCHMARKS.md,
 * "Languages"). */
static void tally(uint64_t *table, uint64_t nt, uint64_t ns, const uint32_t *t, const uint32_t *s, uint32_t n) {
#define CELL(i) table[(t[i] < nt ? t[i] : nt) * (ns + 1) + (s[i] < ns ? s[i] : ns)]++
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        CELL(i); CELL(i + 1); CELL(i + 2); CELL(i + 3);
        CELL(i + 4); CELL(i + 5); CELL(i + 6); CELL(i + 7);
    }
    for (; i < n; i++) CELL(i);
#undef CELL
}

EPOCHD_RUN {
    /* Both fields read by row a block at a time, side by side (no per-row
     * array of the whole epoch), and their pairs of string ids counted: in a
     * table when both are dictionary-coded with few strings, else a map. */
    uint32_t rows = epochd_rows();
    epochd_row_ids types, subtypes;
    epochd_row_ids_open(&types, "type");
    epochd_row_ids_open(&subtypes, "subtype");
    int64_t nt = types.dict_len, ns = subtypes.dict_len;
    uint64_t *table = NULL;
    if (nt >= 0 && ns >= 0 && (nt + 1) * (ns + 1) <= (1 << 16)) table = calloc((size_t)((nt + 1) * (ns + 1)), 8);
    epochd_map pairs = {0};
    uint32_t *t = malloc(EPOCHD_BLOCK * 4), *s = malloc(EPOCHD_BLOCK * 4);
    for (uint32_t first = 0; first < rows; first += EPOCHD_BLOCK) {
        uint32_t n = rows - first < EPOCHD_BLOCK ? rows - first : EPOCHD_BLOCK;
        epochd_row_ids_read(&types, first, n, t);
        epochd_row_ids_read(&subtypes, first, n, s);
        if (table) {
            tally(table, (uint64_t)nt, (uint64_t)ns, t, s, n);
        } else {
            for (uint32_t i = 0; i < n; i++) {
                uint32_t key[2] = {t[i], s[i]};
                (*epochd_map_slot(&pairs, key, 8, NULL))++;
            }
        }
    }
    free(t);
    free(s);
    entries e = {0};
    if (table) {
        for (uint64_t i = 0; i < (uint64_t)((nt + 1) * (ns + 1)); i++) {
            if (!table[i]) continue;
            entry *x = push(&e);
            x->has_type = name(&types, (uint32_t)(i / (uint64_t)(ns + 1)), &x->type);
            x->has_subtype = name(&subtypes, (uint32_t)(i % (uint64_t)(ns + 1)), &x->subtype);
            x->count = table[i];
        }
        free(table);
    } else {
        for (uint32_t i = 0; i < pairs.len; i++) {
            size_t n;
            uint32_t key[2];
            memcpy(key, epochd_dict_get(&pairs.keys, i, &n), 8);
            entry *x = push(&e);
            x->has_type = name(&types, key[0], &x->type);
            x->has_subtype = name(&subtypes, key[1], &x->subtype);
            x->count = pairs.values[i];
        }
        epochd_map_free(&pairs);
    }
    epochd_row_ids_free(&types);
    epochd_row_ids_free(&subtypes);
    epochd_buf out = {0};
    finish(&e, &out);
    return epochd_finish(&out);
}

/* Reads a result's entries into e. */
static int parse(const epochd_buf *in, entries *e, epochd_buf *err) {
    epochd_jv root;
    static const char *const top[] = {"events", "counts"};
    static const char *const fields[] = {"type", "subtype", "count"};
    const epochd_jv *f[3];
    uint64_t n;
    int ok = 0;
    if (!epochd_json_parse(in->ptr, in->len, &root, err)) goto out;
    if (!epochd_jv_fields(&root, "Counts", top, 2, f, err)) goto out;
    if (!f[0] || !epochd_jv_u64(f[0], &n)) {
        epochd_buf_str(err, "`events` must be a u64");
        goto out;
    }
    if (!f[1] || f[1]->kind != EPOCHD_J_ARR) {
        epochd_buf_str(err, "`counts` must be an array");
        goto out;
    }
    for (size_t i = 0; i < f[1]->len; i++) {
        const epochd_jv *c[3];
        if (!epochd_jv_fields(&f[1]->items[i], "Count", fields, 3, c, err)) goto out;
        entry *x = push(e);
        for (int k = 0; k < 2; k++) {
            const epochd_jv *s = c[k];
            if (s && s->kind == EPOCHD_J_STR) {
                epochd_buf *b = k ? &x->subtype : &x->type;
                epochd_buf_push(b, s->str, s->len);
                *(k ? &x->has_subtype : &x->has_type) = 1;
            } else if (s && s->kind != EPOCHD_J_NULL) {
                epochd_buf_str(err, "`type` and `subtype` must be strings or null");
                goto out;
            }
        }
        if (!c[2] || !epochd_jv_u64(c[2], &x->count)) {
            epochd_buf_str(err, "`count` must be a u64");
            goto out;
        }
    }
    ok = 1;
out:
    epochd_jv_free(&root);
    if (!ok) epochd_buf_prepend(err, "JSON: "); /* as the Rust job's messages */
    return ok;
}

static int merge(const epochd_buf *a, const epochd_buf *b, epochd_buf *out, epochd_buf *err) {
    entries e = {0};
    if (!parse(a, &e, err) || !parse(b, &e, err)) return 1;
    finish(&e, out);
    return 0;
}

EPOCHD_MERGE { return epochd_merge_with(merge); }
