/* filter.c - collection filters as Wok applies them: every query parameter not starting with
 * '_' names a field; an item is kept when it has that field and the field equals the value
 * or the value, read as a regular expression, matches at the start of the field (Python's
 * re.match: anchored at the start only). Kimchi's UI finds its tasks this way, e.g.
 * ?status=running&target_uri=^/plugins/kimchi/vms/.+/clone.
 *
 * Patterns are PCRE2 (Perl-compatible, as close to Python's re as C gets: \d, (?:...), lazy
 * quantifiers), never glibc's POSIX regex: any logged-in user writes them, and glibc's
 * regexec crashes on back-references such as (|)(\1\1)* (CVE-2019-9192) and grows without
 * bound on nested counted repeats. Every pattern is bounded: its length and nesting when it
 * compiles, and each match's backtracking steps, recursion depth and heap; a pattern that
 * crosses a bound is a 400 that names it, and so is a request whose patterns, each within its
 * bounds, together need more than REQUEST_BUDGET_MS of this thread's CPU over every item of
 * the list (8 patterns x 1,000 tasks x 100,000 steps would be seconds). `\C` (one byte of a
 * UTF-8 character) is refused: it can end a match inside a character. No JIT: the JIT ignores
 * the depth limit. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_priv.h"

#define MAX_FILTERS 8
#define MAX_PATTERN 256      /* characters: Kimchi's UI sends patterns of under 60 */
#define MAX_PARENS 32        /* nesting of parentheses */
#define MATCH_LIMIT 100000   /* backtracking steps per field */
#define DEPTH_LIMIT 1000     /* backtracking depth per field */
#define HEAP_LIMIT_KIB 1024  /* heap for one match's backtracking frames */
#define REQUEST_BUDGET_MS 20 /* CPU for all of one request's matching */

struct filters {
    size_t n;
    char keys[MAX_FILTERS][64];
    char values[MAX_FILTERS][MAX_PATTERN + 1];
    pcre2_code *re[MAX_FILTERS];
    pcre2_match_context *limits;
    pcre2_match_data *md;
    bool bad; /* a filter was refused (the reason is in e) */
    struct err *e;
    struct timespec started; /* this thread's CPU clock when matching began */
};

static long long cpu_ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (now.tv_sec - t0->tv_sec) * 1000LL + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void refuse_regex(struct filters *f, const char *key, const char *value, int code,
                         size_t offset)
{
    PCRE2_UCHAR why[120];
    if (pcre2_get_error_message(code, why, sizeof(why)) < 0)
        snprintf((char *)why, sizeof(why), "error %d", code);
    err_set(f->e, ERR_INVALID, M_API_FILTER_REGEX,
            "The filter %s=\"%.200s\" is not a valid regular expression (%s, at character "
            "%zu). Fix the pattern, or filter by the exact value.",
            key, value, (const char *)why, offset);
    f->bad = true;
}

static bool too_long(struct filters *f, const char *key, const char *value)
{
    if (f->n == MAX_FILTERS) {
        err_set(f->e, ERR_INVALID, M_API_FILTER_LIMIT,
                "Too many filters: give at most %d query parameters.", MAX_FILTERS);
    } else if (strlen(key) >= sizeof(f->keys[0])) {
        err_set(f->e, ERR_INVALID, M_API_FILTER_LIMIT,
                "The filter name \"%.64s...\" is too long: field names are under %zu "
                "characters.",
                key, sizeof(f->keys[0]));
    } else if (strlen(value) > MAX_PATTERN) {
        err_set(f->e, ERR_INVALID, M_API_FILTER_LIMIT,
                "The filter %s is %zu characters long: a pattern may have at most %d.", key,
                strlen(value), MAX_PATTERN);
    } else {
        return false;
    }
    f->bad = true;
    return true;
}

/* A compile context that refuses deep nesting (the pattern's length is checked before). */
static pcre2_code *compile(const char *value, int *code, PCRE2_SIZE *offset)
{
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        *code = PCRE2_ERROR_NOMEMORY;
        *offset = 0;
        return NULL;
    }
    pcre2_set_parens_nest_limit(cc, MAX_PARENS);
    pcre2_set_max_pattern_length(cc, MAX_PATTERN);
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED,
                      PCRE2_ANCHORED | PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C, code, offset, cc);
    pcre2_compile_context_free(cc);
    return re;
}

static bool collect(void *ctx, const char *key, const char *value)
{
    struct filters *f = ctx;
    if (key[0] == '_')
        return true; /* Wok's flags, not fields */
    if (too_long(f, key, value))
        return false;
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = compile(value, &code, &offset);
    if (!re) {
        refuse_regex(f, key, value, code, offset);
        return false;
    }
    snprintf(f->keys[f->n], sizeof(f->keys[0]), "%s", key);
    snprintf(f->values[f->n], sizeof(f->values[0]), "%s", value);
    f->re[f->n++] = re;
    return true;
}

static const char *limit_name(int rc)
{
    switch (rc) {
    case PCRE2_ERROR_MATCHLIMIT:
        return "backtracking steps";
    case PCRE2_ERROR_DEPTHLIMIT:
        return "backtracking depth";
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_NOMEMORY:
        return "memory";
    default:
        return NULL;
    }
}

/* 1 kept, 0 not, -1 the pattern crossed a limit (the 400 is in f->e). */
static int field_matches(struct filters *f, size_t i, json_t *item)
{
    json_t *v = json_object_get(item, f->keys[i]);
    char num[32];
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    }
    if (!s)
        return 0;
    if (strcmp(s, f->values[i]) == 0)
        return 1;
    int rc = pcre2_match(f->re[i], (PCRE2_SPTR)s, strlen(s), 0, 0, f->md, f->limits);
    if (cpu_ms_since(&f->started) > REQUEST_BUDGET_MS) {
        err_set(f->e, ERR_INVALID, M_API_FILTER_COSTLY,
                "The filters of this request need more work than kimchid allows one request "
                "(%d ms of matching over the whole list). Write simpler patterns (without "
                "nested repeats or back-references), or filter by exact values.",
                REQUEST_BUDGET_MS);
        return -1;
    }
    if (rc >= 0)
        return 1;
    const char *limit = limit_name(rc);
    if (!limit)
        return 0; /* no match (or a subject PCRE2 will not read: not kept) */
    err_set(f->e, ERR_INVALID, M_API_FILTER_COSTLY,
            "The filter %s=\"%.200s\" needs more %s than kimchid allows one pattern. Write a "
            "simpler pattern (without nested repeats or back-references), or filter by the "
            "exact value.",
            f->keys[i], f->values[i], limit);
    return -1;
}

static int limits_new(struct filters *f)
{
    f->limits = pcre2_match_context_create(NULL);
    f->md = pcre2_match_data_create(1, NULL);
    if (!f->limits || !f->md) {
        err_oom(f->e);
        return -1;
    }
    pcre2_set_match_limit(f->limits, MATCH_LIMIT);
    pcre2_set_depth_limit(f->limits, DEPTH_LIMIT);
    pcre2_set_heap_limit(f->limits, HEAP_LIMIT_KIB);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &f->started);
    return 0;
}

static void filters_free(struct filters *f)
{
    for (size_t i = 0; i < f->n; i++)
        pcre2_code_free(f->re[i]);
    pcre2_match_data_free(f->md);
    pcre2_match_context_free(f->limits);
}

/* The items of `list` every filter keeps (a new array), or NULL with the 400 in f->e. */
static json_t *kept(struct filters *f, json_t *list)
{
    json_t *out = json_array();
    for (size_t k = 0; out && k < json_array_size(list); k++) {
        json_t *item = json_array_get(list, k);
        int keep = 1;
        for (size_t i = 0; i < f->n && keep == 1; i++)
            keep = field_matches(f, i, item);
        if (keep < 0) {
            json_decref(out);
            return NULL;
        }
        if (keep)
            json_array_append(out, item);
    }
    if (!out)
        err_oom(f->e);
    return out;
}

json_t *api_filter(const struct api_request *req, json_t *list, struct err *e)
{
    struct filters f = {.e = e};
    if (req->query_each)
        req->query_each(req->query_cls, collect, &f);
    json_t *out = NULL;
    if (!f.bad && f.n == 0) {
        out = list;
        list = NULL;
    } else if (!f.bad && limits_new(&f) == 0) {
        out = kept(&f, list);
    }
    json_decref(list);
    filters_free(&f);
    return out;
}
