/*
 * epochd_sketch.h: the mergeable log-linear histogram of the Rust SDK
 * (epochd_job::sketch::LogHistogram) in C, header-only, byte-compatible
 * JSON: {"count":N,"min":m,"max":M,"sub_bits":6,"first":i,"counts":[...]}.
 *
 * Values below 64 have their own bucket; above, every power of two is split
 * into 64 buckets (integer arithmetic only). A percentile is the middle of
 * its bucket clamped to [min, max]: within 1/128 of the exact value, exact
 * below 128. Merging adds counts (associative, commutative, exact).
 */
#ifndef EPOCHD_SKETCH_H
#define EPOCHD_SKETCH_H

#include <stdlib.h>
#include <string.h>

#include "epochd.h"

#define EPOCHD_SUB_BITS 6
#define EPOCHD_BUCKETS ((64 - EPOCHD_SUB_BITS + 1) * 64)

typedef struct {
    uint64_t *counts; /* per bucket from 0; len without trailing zeros */
    uint32_t len, cap;
    uint64_t count, min, max;
} epochd_hist;

static inline uint32_t epochd_bucket_of(uint64_t v) {
    if (v < 64) return (uint32_t)v;
    uint32_t e = 63 - (uint32_t)__builtin_clzll(v);
    uint32_t shift = e - EPOCHD_SUB_BITS;
    uint64_t m = v >> shift;
    return (uint32_t)((shift + 1) * 64 + (m - 64));
}

static inline uint64_t epochd_bucket_value(uint32_t b) {
    if (b < 64) return b;
    uint64_t shift = b / 64 - 1, m = b % 64 + 64;
    uint64_t lo = m << shift, hi = lo + ((1ull << shift) - 1);
    return lo + (hi - lo) / 2;
}

static inline void epochd_hist_grow(epochd_hist *h, uint32_t len) {
    if (len > h->cap) {
        uint32_t cap = h->cap ? h->cap : 16;
        while (cap < len) cap *= 2;
        h->counts = (uint64_t *)realloc(h->counts, (size_t)cap * 8);
        memset(h->counts + h->cap, 0, (size_t)(cap - h->cap) * 8);
        h->cap = cap;
    }
    if (len > h->len) h->len = len;
}

static inline void epochd_hist_record_n(epochd_hist *h, uint64_t v, uint64_t n) {
    if (!n) return;
    uint32_t b = epochd_bucket_of(v);
    epochd_hist_grow(h, b + 1);
    h->counts[b] += n;
    if (!h->count) h->min = h->max = v;
    else {
        if (v < h->min) h->min = v;
        if (v > h->max) h->max = v;
    }
    h->count += n;
}
/* The rare case of epochd_hist_record, out of line: a call (and growing)
 * inside a job's loop makes the compiled loop keep its values in memory. */
static __attribute__((noinline)) void epochd_hist_record_slow(epochd_hist *h, uint64_t v) {
    epochd_hist_record_n(h, v, 1);
}

/* Counts one value. The common case, a bucket the histogram has already
 * reached, is kept small so that a job's loop over a column inlines it. */
static inline void epochd_hist_record(epochd_hist *h, uint64_t v) {
    uint32_t b = epochd_bucket_of(v);
    if (b < h->len && h->count) {
        h->counts[b]++;
        if (v < h->min) h->min = v;
        if (v > h->max) h->max = v;
        h->count++;
        return;
    }
    epochd_hist_record_slow(h, v);
}

static inline void epochd_hist_merge(epochd_hist *h, const epochd_hist *o) {
    if (!o->count) return;
    epochd_hist_grow(h, o->len);
    for (uint32_t i = 0; i < o->len; i++) h->counts[i] += o->counts[i];
    if (!h->count) {
        h->min = o->min;
        h->max = o->max;
    } else {
        if (o->min < h->min) h->min = o->min;
        if (o->max > h->max) h->max = o->max;
    }
    h->count += o->count;
}

/* The value of rank 1..=count; 0 and *ok = 0 outside. */
static inline uint64_t epochd_hist_rank(const epochd_hist *h, uint64_t rank, int *ok) {
    *ok = rank >= 1 && rank <= h->count;
    if (!*ok) return 0;
    if (rank == 1) return h->min;
    if (rank == h->count) return h->max;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < h->len; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t v = epochd_bucket_value(b);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* The p-th percentile (0..=100) by nearest rank: rank max(1, ceil(count * p / 100)). */
static inline uint64_t epochd_hist_percentile(const epochd_hist *h, uint64_t p, int *ok) {
    if (!h->count || p > 100) {
        *ok = 0;
        return 0;
    }
    uint64_t q = h->count / 100, r = h->count % 100;
    uint64_t rank = q * p + (r * p + 99) / 100;
    if (rank < 1) rank = 1;
    return epochd_hist_rank(h, rank, ok);
}

static inline void epochd_hist_json(epochd_json *j, const epochd_hist *h) {
    uint32_t first = 0, last;
    while (first < h->len && !h->counts[first]) first++;
    if (first == h->len) first = 0;
    last = h->len;
    while (last > first && !h->counts[last - 1]) last--;
    epochd_json_object(j);
    epochd_json_key(j, "count");
    epochd_json_u64(j, h->count);
    epochd_json_key(j, "min");
    if (h->count) epochd_json_u64(j, h->min);
    else epochd_json_null(j);
    epochd_json_key(j, "max");
    if (h->count) epochd_json_u64(j, h->max);
    else epochd_json_null(j);
    epochd_json_key(j, "sub_bits");
    epochd_json_u64(j, EPOCHD_SUB_BITS);
    epochd_json_key(j, "first");
    epochd_json_u64(j, first);
    epochd_json_key(j, "counts");
    epochd_json_array(j);
    for (uint32_t i = first; i < last; i++) epochd_json_u64(j, h->counts[i]);
    epochd_json_end_array(j);
    epochd_json_end_object(j);
}

/* Reads a histogram's JSON with the Rust SDK's checks: 1, or 0 with a
 * message in err. */
static inline int epochd_hist_parse(const epochd_jv *v, epochd_hist *h, epochd_buf *err) {
    static const char *const names[] = {"count", "min", "max", "sub_bits", "first", "counts"};
    const epochd_jv *f[6];
    uint64_t count, min = 0, max = 0, sub_bits, first;
    memset(h, 0, sizeof *h);
    if (!epochd_jv_fields(v, "HistogramJson", names, 6, f, err)) return 0;
    int has_min = f[1] && f[1]->kind != EPOCHD_J_NULL, has_max = f[2] && f[2]->kind != EPOCHD_J_NULL;
    if (!f[0] || !epochd_jv_u64(f[0], &count) || (has_min && !epochd_jv_u64(f[1], &min)) ||
        (has_max && !epochd_jv_u64(f[2], &max)) || !f[3] || !epochd_jv_u64(f[3], &sub_bits) ||
        sub_bits > 0xffffffffu || !f[4] || !epochd_jv_u64(f[4], &first) || first > 0xffffffffu || !f[5] ||
        f[5]->kind != EPOCHD_J_ARR) {
        epochd_buf_str(err, "a histogram needs count, min, max, sub_bits, first (integers) and counts (an array)");
        return 0;
    }
    if (sub_bits != EPOCHD_SUB_BITS) {
        epochd_buf_str(err, "a histogram with sub_bits ");
        epochd_buf_u64(err, sub_bits);
        epochd_buf_str(err, " cannot be read by this version (sub_bits 6)");
        return 0;
    }
    if (first + f[5]->len > EPOCHD_BUCKETS) {
        epochd_buf_str(err, "histogram buckets beyond the last (3776)");
        return 0;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < f[5]->len; i++) {
        uint64_t c;
        if (!epochd_jv_u64(&f[5]->items[i], &c)) {
            epochd_buf_str(err, "histogram counts must be u64");
            return 0;
        }
        if (sum + c < sum) {
            epochd_buf_str(err, "histogram counts overflow");
            return 0;
        }
        sum += c;
    }
    if (sum != count) {
        epochd_buf_str(err, "histogram count ");
        epochd_buf_u64(err, count);
        epochd_buf_str(err, " is not the sum of its counts (");
        epochd_buf_u64(err, sum);
        epochd_buf_str(err, ")");
        return 0;
    }
    if (!(count == 0 && !has_min && !has_max) && !(count > 0 && has_min && has_max && min <= max)) {
        epochd_buf_str(err, "histogram min/max do not fit its count");
        return 0;
    }
    if (f[5]->len) epochd_hist_grow(h, (uint32_t)(first + f[5]->len));
    for (size_t i = 0; i < f[5]->len; i++) epochd_jv_u64(&f[5]->items[i], &h->counts[first + i]);
    while (h->len && !h->counts[h->len - 1]) h->len--;
    h->count = count;
    h->min = count ? min : 0;
    h->max = count ? max : 0;
    return 1;
}

static inline void epochd_hist_free(epochd_hist *h) {
    free(h->counts);
    memset(h, 0, sizeof *h);
}

#endif
