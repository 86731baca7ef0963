/* test_evacplan.c - an evacuation's plan (task/evacplan.c): where each guest goes, and when a
 * move may start, on figures the test gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "task/evacplan.h"

#define GIB (1024ULL * 1024)

static struct evac_guest guest(unsigned long long need, bool on0, bool on1)
{
    struct evac_guest g;
    memset(&g, 0, sizeof(g));
    g.need_kib = need;
    g.ready[0] = on0;
    g.ready[1] = on1;
    g.dest = -2;
    return g;
}

/* Equal hosts: the guests alternate, each to the one with more memory left. */
static void equal_hosts_take_turns(void **state)
{
    (void)state;
    struct evac_guest g[4] = {guest(GIB, true, true), guest(GIB, true, true),
                              guest(GIB, true, true), guest(GIB, true, true)};
    struct evac_dest d[2] = {{.avail_kib = 8 * GIB}, {.avail_kib = 8 * GIB}};
    evac_assign(g, 4, d, 2);
    assert_int_equal(g[0].dest, 0); /* a tie: the first */
    assert_int_equal(g[1].dest, 1);
    assert_int_equal(g[2].dest, 0);
    assert_int_equal(g[3].dest, 1);
    assert_int_equal(d[0].planned, 2);
    assert_true(d[1].planned_kib == 2 * GIB);
}

/* A guest goes only where its checks passed, even when the other host has more room. */
static void only_where_ready(void **state)
{
    (void)state;
    struct evac_guest g[2] = {guest(GIB, false, true), guest(GIB, true, false)};
    struct evac_dest d[2] = {{.avail_kib = 64 * GIB}, {.avail_kib = 2 * GIB}};
    evac_assign(g, 2, d, 2);
    assert_int_equal(g[0].dest, 1);
    assert_int_equal(g[1].dest, 0);
}

/* Memory counts what the plan already sends there: the third 3 GiB guest fits nowhere. */
static void memory_fits_beside_the_plan(void **state)
{
    (void)state;
    struct evac_guest g[3] = {guest(3 * GIB, true, true), guest(3 * GIB, true, true),
                              guest(3 * GIB, true, true)};
    struct evac_dest d[2] = {{.avail_kib = 4 * GIB}, {.avail_kib = 5 * GIB}};
    evac_assign(g, 3, d, 2);
    assert_int_equal(g[0].dest, 1); /* more free memory */
    assert_int_equal(g[1].dest, 0);
    assert_int_equal(g[2].dest, -1);
}

/* The largest guests are placed first, so a big guest is not crowded out by small ones. */
static void largest_first(void **state)
{
    (void)state;
    struct evac_guest g[3] = {guest(GIB, true, false), guest(GIB, true, false),
                              guest(4 * GIB, true, false)};
    struct evac_dest d[1] = {{.avail_kib = 5 * GIB}};
    evac_assign(g, 3, d, 1);
    assert_int_equal(g[2].dest, 0);
    assert_int_equal(g[0].dest, 0);
    assert_int_equal(g[1].dest, -1); /* the second small one is what does not fit */
}

/* A shut-off guest needs no memory there: it always fits where its checks passed. */
static void shut_off_needs_no_memory(void **state)
{
    (void)state;
    struct evac_guest g[2] = {guest(2 * GIB, true, false), guest(0, true, false)};
    struct evac_dest d[1] = {{.avail_kib = 2 * GIB}};
    evac_assign(g, 2, d, 1);
    assert_int_equal(g[0].dest, 0);
    assert_int_equal(g[1].dest, 0);
}

static void ready_nowhere(void **state)
{
    (void)state;
    struct evac_guest g[1] = {guest(GIB, false, false)};
    struct evac_dest d[2] = {{.avail_kib = 8 * GIB}, {.avail_kib = 8 * GIB}};
    evac_assign(g, 1, d, 2);
    assert_int_equal(g[0].dest, -1);
    assert_int_equal(d[0].planned + d[1].planned, 0);
}

static void limits_on_starting(void **state)
{
    (void)state;
    assert_true(evac_may_start(0, 2, 0));
    assert_true(evac_may_start(1, 2, 1));
    assert_false(evac_may_start(2, 2, 0));                 /* max_parallel leave this host */
    assert_false(evac_may_start(1, 8, EVAC_INCOMING_MAX)); /* two enter that host already */
    assert_true(evac_may_start(7, 8, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(equal_hosts_take_turns),      cmocka_unit_test(only_where_ready),
        cmocka_unit_test(memory_fits_beside_the_plan), cmocka_unit_test(largest_first),
        cmocka_unit_test(shut_off_needs_no_memory),    cmocka_unit_test(ready_nowhere),
        cmocka_unit_test(limits_on_starting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
