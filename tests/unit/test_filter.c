/* test_filter.c - Wok's collection filters (api/filter.c): re.match semantics in PCRE2, and
 * every hostile pattern answered with a 400 in bounded time and memory, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "api/api_priv.h"

struct query {
    const char *kv[8][2];
};

static void each(void *cls, bool (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    struct query *q = cls;
    for (size_t i = 0; i < 8 && q->kv[i][0]; i++)
        if (!fn(ctx, q->kv[i][0], q->kv[i][1]))
            return;
}

static json_t *tasks(void)
{
    return json_pack("[{s:s,s:s,s:i},{s:s,s:s,s:i},{s:s,s:s,s:i}]", "target_uri",
                     "/plugins/kimchi/vms/vm-one/migrate", "status", "finished", "id", 1,
                     "target_uri", "/plugins/kimchi/vms/vm-two/clone", "status", "running", "id", 2,
                     "target_uri",
                     "/plugins/kimchi/vms/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"
                     "/clone",
                     "status", "failed", "id", 3);
}

/* The ids api_filter keeps for one key=value, or -1 for a refusal (its 400 in e). */
static int filter_one(const char *key, const char *value, struct err *e, char *ids, size_t n)
{
    struct query q = {{{key, value}}};
    struct api_request req = {.method = "GET", .query_each = each, .query_cls = &q};
    json_t *out = api_filter(&req, tasks(), e);
    if (!out)
        return -1;
    ids[0] = '\0';
    for (size_t i = 0; i < json_array_size(out); i++) {
        size_t l = strlen(ids);
        snprintf(ids + l, n - l, "%s%lld", l ? "," : "",
                 (long long)json_integer_value(json_object_get(json_array_get(out, i), "id")));
    }
    json_decref(out);
    return 0;
}

static void filter_is_python_re_match(void **state)
{
    (void)state;
    struct err e;
    char ids[64];
    const char *cases[][3] = {
        {"target_uri", "^/plugins/kimchi/vms/.+/clone", "2,3"},
        {"target_uri", "/plugins/kimchi/vms/.+/migrate", "1"},     /* anchored at the start */
        {"target_uri", "vms/", ""},                                /* not a search */
        {"target_uri", "(?:/plugins)/kimchi/vms/vm-\\w+/", "1,2"}, /* Python's syntax */
        {"target_uri", "/plugins/kimchi/vms/.+?/clone", "2,3"},    /* lazy */
        {"id", "\\d", "1,2,3"},
        {"id", "2", "2"},
        {"status", "running", "2"},
        {"nosuchfield", ".*", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(filter_one(cases[i][0], cases[i][1], &e, ids, sizeof(ids)), 0);
        assert_string_equal(ids, cases[i][2]);
    }
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A refusal within a second and without growing the process by more than 32 MiB. */
static void refused(const char *value, const char *id, const char *words)
{
    struct err e = {0};
    char ids[64];
    struct timespec t0, t1;
    long rss0 = max_rss_kib();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(filter_one("target_uri", value, &e, ids, sizeof(ids)), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s < 1.0);
    assert_true(max_rss_kib() - rss0 < 32 * 1024);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, id));
    assert_non_null(strstr(e.msg, words));
}

static void filter_survives_glibcs_crash_pattern(void **state)
{
    (void)state; /* CVE-2019-9192: glibc's regexec recursed until kimchid crashed. PCRE2
                    matches it (the empty string, at the start of every field) in a few steps */
    struct err e = {0};
    char ids[64];
    assert_int_equal(filter_one("target_uri", "(|)(\\1\\1)*", &e, ids, sizeof(ids)), 0);
    assert_string_equal(ids, "1,2,3");
    assert_int_equal(filter_one("target_uri", "(|)(\\1\\1)*x", &e, ids, sizeof(ids)), 0);
    assert_string_equal(ids, "");
}

static void filter_refuses_nested_counted_repeats(void **state)
{
    (void)state; /* glibc grew to gigabytes compiling this; PCRE2 finds it too large */
    refused("((((a{0,99}){0,99}){0,99}){0,99})", "KCHAPI0015E", "too large");
}

static void filter_stops_catastrophic_backtracking(void **state)
{
    (void)state;
    refused("/plugins/kimchi/vms/(a|aa)+$", "KCHAPI0018E", "backtracking");
    refused("/plugins/kimchi/vms/(a*)*$", "KCHAPI0018E", "needs more");
}

static void filter_refuses_bad_and_oversized_patterns(void **state)
{
    (void)state;
    refused("(", "KCHAPI0015E", "not a valid regular expression");
    refused("\xff\xfe", "KCHAPI0015E", "UTF-8");
    char deep[80] = "";
    for (int i = 0; i < 36; i++)
        strcat(deep, "(");
    refused(deep, "KCHAPI0015E", "parentheses");
    char longp[300];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    refused(longp, "KCHAPI0014E", "at most 256");
}

static void filter_allows_at_most_eight(void **state)
{
    (void)state;
    struct query q = {{{"a", "1"},
                       {"b", "1"},
                       {"c", "1"},
                       {"d", "1"},
                       {"e", "1"},
                       {"f", "1"},
                       {"g", "1"},
                       {"h", "1"}}};
    struct api_request req = {.method = "GET", .query_each = each, .query_cls = &q};
    struct err e;
    json_t *out = api_filter(&req, tasks(), &e);
    assert_non_null(out); /* eight is the limit, not past it */
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(filter_is_python_re_match),
        cmocka_unit_test(filter_survives_glibcs_crash_pattern),
        cmocka_unit_test(filter_refuses_nested_counted_repeats),
        cmocka_unit_test(filter_stops_catastrophic_backtracking),
        cmocka_unit_test(filter_refuses_bad_and_oversized_patterns),
        cmocka_unit_test(filter_allows_at_most_eight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
