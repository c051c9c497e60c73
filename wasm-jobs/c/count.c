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

static int name(const epochd_row_strings *rs, uint32_t id, epochd_buf *out) {
    size_t n;
    const uint8_t *p = epochd_dict_get(&rs->strings, id, &n);
    if (!p) return 0;
    epochd_buf_utf8_lossy(out, p, n);
    return 1;
}

EPOCHD_RUN {
    uint32_t rows = epochd_rows();
    epochd_row_strings types, subtypes;
    epochd_strings_by_row("type", rows, &types);
    epochd_strings_by_row("subtype", rows, &subtypes);
    uint64_t nt = types.strings.len, ns = subtypes.strings.len;
    entries e = {0};
    if ((nt + 1) * (ns + 1) <= (1u << 16)) {
        uint64_t *table = calloc((size_t)((nt + 1) * (ns + 1)), 8);
        for (uint32_t r = 0; r < rows; r++) {
            uint64_t t = types.ids[r] < nt ? types.ids[r] : nt;
            uint64_t s = subtypes.ids[r] < ns ? subtypes.ids[r] : ns;
            table[t * (ns + 1) + s]++;
        }
        for (uint64_t i = 0; i < (nt + 1) * (ns + 1); i++) {
            if (!table[i]) continue;
            entry *x = push(&e);
            x->has_type = name(&types, (uint32_t)(i / (ns + 1)), &x->type);
            x->has_subtype = name(&subtypes, (uint32_t)(i % (ns + 1)), &x->subtype);
            x->count = table[i];
        }
        free(table);
    } else {
        epochd_map pairs = {0};
        for (uint32_t r = 0; r < rows; r++) {
            uint32_t key[2] = {types.ids[r], subtypes.ids[r]};
            (*epochd_map_slot(&pairs, key, 8, NULL))++;
        }
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
