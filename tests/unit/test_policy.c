/* test_policy.c - the migration policy (move/policy.c), branch by branch, on figures and times
 * given by the test: when a move is stalled, whether it converges, when it switches to
 * post-copy, when it is stopped as not converging or past its time budget, and when a stopped
 * move's hung incoming copy is ended. Each of these took a lab run of minutes before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "move/move_priv.h"

#define MIB (1024LL * 1024)

/* A job in its memory phase: `remaining` bytes left after `pass` passes. */
static struct virt_job_info memory(long long remaining, long long pass, int throttle)
{
    struct virt_job_info i;
    virt_job_unknown(&i);
    i.phase = "memory";
    i.data_remaining = remaining;
    i.iteration = pass;
    i.throttle_pct = throttle;
    i.remaining_ms = 1234;
    return i;
}

/* One look at the job at time t: its figures into *i (may be NULL), what the policy wants. */
static unsigned int look(struct virt_converge *c, long long remaining, long long pass, int throttle,
                         long long t, struct virt_job_info *i)
{
    struct virt_job_info mine = memory(remaining, pass, throttle);
    unsigned int acts = virt_converge_decide(c, &mine, t);
    if (i)
        *i = mine;
    return acts;
}

/* A move under policy `p` and converge timeout `timeout_ms`, started at 0. */
static struct virt_converge started(struct virt_policy p, long timeout_ms)
{
    struct virt_converge c;
    virt_converge_start(&c, &p, timeout_ms, 150, 0);
    return c;
}

static void stall_moving_slowly_is_fine(void **state)
{
    (void)state;
    struct virt_stall s;
    virt_stall_start(&s, 10000, 0);
    for (long long t = 0; t <= 60000; t += 500) /* 1 byte per look: slow, never stalled */
        assert_false(virt_stall_decide(&s, t / 500 + 1, t));
}

static void stall_nothing_moved_for_the_timeout_stops_once(void **state)
{
    (void)state;
    struct virt_stall s;
    virt_stall_start(&s, 10000, 0);
    assert_false(virt_stall_decide(&s, 5 * MIB, 1000));
    assert_false(virt_stall_decide(&s, 5 * MIB, 10999)); /* 9.999 s since it last grew */
    assert_true(virt_stall_decide(&s, 5 * MIB, 11000));
    s.stalled = true; /* libvirt accepted the stop */
    s.stalled_at = 11000;
    assert_false(virt_stall_decide(&s, 5 * MIB, 12000)); /* never a second stop */
}

static void stall_no_job_seen_counts_as_nothing_moved(void **state)
{
    (void)state;
    struct virt_stall s;
    virt_stall_start(&s, 2000, 0);
    assert_false(virt_stall_decide(&s, -1, 1999));
    assert_true(virt_stall_decide(&s, -1, 2000)); /* a job that never started */
}

static void stall_rule_off_never_stops(void **state)
{
    (void)state;
    struct virt_stall s;
    virt_stall_start(&s, 0, 0); /* a post-copy recovery: libvirt cannot stop it */
    assert_false(virt_stall_decide(&s, -1, 3600000));
}

static void unstick_after_the_stop_was_not_honoured(void **state)
{
    (void)state;
    struct virt_stall s;
    virt_stall_start(&s, 1000, 0);
    assert_false(virt_unstick_due(&s, false, 100000)); /* not stopped: nothing to unstick */
    s.stalled = true;
    s.stalled_at = 5000;
    assert_false(virt_unstick_due(&s, false, 5000 + VIRT_UNSTICK_AFTER_MS - 1));
    assert_true(virt_unstick_due(&s, false, 5000 + VIRT_UNSTICK_AFTER_MS));
    assert_false(virt_unstick_due(&s, true, 5000 + 2 * VIRT_UNSTICK_AFTER_MS)); /* once */
}

static void converge_unknown_before_the_second_pass(void **state)
{
    (void)state;
    struct virt_converge c;
    struct virt_policy p = {.auto_converge = true};
    virt_converge_start(&c, &p, 30000, 150, 0);
    struct virt_job_info i;
    virt_job_unknown(&i);
    i.phase = "disks"; /* not the memory phase: no verdict, whatever the time */
    assert_int_equal(virt_converge_decide(&c, &i, 100000), 0);
    assert_int_equal(i.converging, -1);
    i = memory(100 * MIB, 1, 0); /* the first pass sends everything once: no verdict yet */
    assert_int_equal(virt_converge_decide(&c, &i, 200000), 0);
    assert_int_equal(i.converging, -1);
}

static void converge_shrinking_is_converging(void **state)
{
    (void)state;
    struct virt_converge c;
    struct virt_policy p = {0};
    virt_converge_start(&c, &p, 30000, 150, 0);
    long long left = 100 * MIB;
    for (long long t = 0; t < 60000; t += 500, left -= left / 10) {
        struct virt_job_info i = memory(left, 2, 0);
        assert_int_equal(virt_converge_decide(&c, &i, t), 0);
        assert_int_equal(i.converging, 1);
        assert_int_equal(i.remaining_ms, 1234); /* the estimate is kept */
    }
}

static void converge_jitter_is_not_progress(void **state)
{
    (void)state;
    struct virt_converge c;
    struct virt_policy p = {0};
    virt_converge_start(&c, &p, 0, 150, 0);
    struct virt_job_info i = memory(100 * MIB, 2, 0);
    virt_converge_decide(&c, &i, 0);
    i = memory(96 * MIB, 3, 0); /* 4% less: within 1/20, not a new least */
    virt_converge_decide(&c, &i, 4999);
    assert_int_equal(i.converging, 1);
    i = memory(96 * MIB, 4, 0);
    virt_converge_decide(&c, &i, 5000);
    assert_int_equal(i.converging, 0);    /* 5 s without a real new least */
    assert_int_equal(i.remaining_ms, -1); /* no honest estimate then */
    i = memory(90 * MIB, 5, 0);           /* 10% less: progress, the clock restarts */
    virt_converge_decide(&c, &i, 6000);
    assert_int_equal(i.converging, 1);
}

static void converge_switches_to_postcopy_only_when_allowed(void **state)
{
    (void)state;
    struct virt_policy with = {.postcopy = true}, without = {0};
    struct virt_converge c;
    virt_converge_start(&c, &with, 0, 150, 0);
    struct virt_job_info i = memory(100 * MIB, 2, 0);
    assert_int_equal(virt_converge_decide(&c, &i, 0), 0);
    i = memory(100 * MIB, 3, 0);
    assert_int_equal(virt_converge_decide(&c, &i, 2999), 0);
    i = memory(100 * MIB, 3, 0);
    assert_int_equal(virt_converge_decide(&c, &i, 3000), VIRT_CONVERGE_POSTCOPY);
    c.switched = true; /* libvirt switched: the phase says so from then on */
    i = memory(100 * MIB, 3, 0);
    assert_int_equal(virt_converge_decide(&c, &i, 3500), 0);
    assert_string_equal(i.phase, "postcopy");
    assert_int_equal(i.converging, 1);
    virt_converge_start(&c, &without, 0, 150, 0);
    i = memory(100 * MIB, 2, 0);
    virt_converge_decide(&c, &i, 0);
    i = memory(100 * MIB, 3, 0);
    assert_int_equal(virt_converge_decide(&c, &i, 600000), 0); /* never without the request */
}

static void converge_all_sent_is_finishing(void **state)
{
    (void)state;
    struct virt_converge c;
    struct virt_policy p = {.postcopy = true};
    virt_converge_start(&c, &p, 1000, 150, 0);
    struct virt_job_info i = memory(0, 7, 0);
    assert_int_equal(virt_converge_decide(&c, &i, 900000), 0);
    assert_string_equal(i.phase, "finishing");
    assert_int_equal(i.converging, 1);
}

static void converge_gives_up_after_the_timeout_unless_throttling_rises(void **state)
{
    (void)state;
    struct virt_converge c = started((struct virt_policy){.auto_converge = true}, 30000);
    assert_int_equal(look(&c, 100 * MIB, 2, 20, 0, NULL), 0);     /* throttle 20% at 0 */
    assert_int_equal(look(&c, 100 * MIB, 5, 50, 20000, NULL), 0); /* it rose at 20 s */
    assert_int_equal(look(&c, 100 * MIB, 9, 50, 40000, NULL), 0); /* stuck 40 s, rose 20 s ago */
    assert_int_equal(look(&c, 100 * MIB, 12, 50, 50000, NULL), VIRT_CONVERGE_ABORT);
    c.gave_up = true;
    assert_int_equal(look(&c, 100 * MIB, 13, 50, 60000, NULL), 0); /* stopped once */
}

static void converge_timeout_zero_never_gives_up(void **state)
{
    (void)state;
    struct virt_converge c = started((struct virt_policy){0}, 0);
    struct virt_job_info i;
    look(&c, 100 * MIB, 2, 0, 0, NULL);
    assert_int_equal(look(&c, 100 * MIB, 99, 0, 3600000, &i), 0);
    assert_int_equal(i.converging, 0);
}

static void converge_postcopy_and_abort_together_try_postcopy_first(void **state)
{
    (void)state;
    struct virt_converge c = started((struct virt_policy){.postcopy = true}, 5000);
    look(&c, 100 * MIB, 2, 0, 0, NULL);
    /* both wanted: the caller tries the switch first, a refused one leaves the stop */
    assert_int_equal(look(&c, 100 * MIB, 9, 0, 5000, NULL),
                     VIRT_CONVERGE_POSTCOPY | VIRT_CONVERGE_ABORT);
}

/* A job still in its first pass (converging unknown) with this much memory and disk to move. */
static unsigned int look_sized(struct virt_converge *c, long long mem, long long disk, long long t)
{
    struct virt_job_info i = memory(50 * MIB, 1, 0);
    i.memory_total = mem;
    i.disk_total = disk;
    return virt_converge_decide(c, &i, t);
}

static void budget_counts_memory_and_copied_disks(void **state)
{
    (void)state;
    /* 10 s per GiB, 1 GiB of memory and 1 GiB of disk: 20 s from the start, converging or not */
    struct virt_converge c = started((struct virt_policy){.completion_s = 10}, 0);
    assert_int_equal(look_sized(&c, 1024 * MIB, 1024 * MIB, 19999), 0);
    assert_int_equal(look_sized(&c, 1024 * MIB, 1024 * MIB, 20000),
                     VIRT_CONVERGE_BUDGET | VIRT_CONVERGE_ABORT);
    c.over_budget = true; /* libvirt stopped it: once */
    assert_int_equal(look_sized(&c, 1024 * MIB, 1024 * MIB, 30000), 0);
}

static void budget_unknown_until_libvirt_gives_sizes(void **state)
{
    (void)state;
    struct virt_converge c = started((struct virt_policy){.completion_s = 1}, 0);
    assert_int_equal(look_sized(&c, -1, -1, 3600000), 0); /* no figures: no budget to pass */
    /* once they come, the budget counts from the move's start */
    assert_int_equal(look_sized(&c, 512 * MIB, 512 * MIB, 3600000),
                     VIRT_CONVERGE_BUDGET | VIRT_CONVERGE_ABORT);
    /* figures that shrink later (a completed disk copy's total gone) do not shrink the budget */
    c = started((struct virt_policy){.completion_s = 1}, 0);
    look_sized(&c, 512 * MIB, 512 * MIB, 0);
    assert_int_equal(look_sized(&c, 512 * MIB, -1, 999), 0);
    assert_int_equal(look_sized(&c, 512 * MIB, -1, 1000),
                     VIRT_CONVERGE_BUDGET | VIRT_CONVERGE_ABORT);
}

static void budget_default_has_a_floor_a_request_does_not(void **state)
{
    (void)state;
    /* kimchid's default (150 s/GiB) for 128 MiB is 18.75 s: raised to the floor (120 s) */
    struct virt_converge c = started((struct virt_policy){.completion_s = -1}, 0);
    assert_int_equal(look_sized(&c, 128 * MIB, -1, VIRT_BUDGET_FLOOR_MS - 1), 0);
    assert_int_equal(look_sized(&c, 128 * MIB, -1, VIRT_BUDGET_FLOOR_MS),
                     VIRT_CONVERGE_BUDGET | VIRT_CONVERGE_ABORT);
    /* a request's 150 s/GiB is taken as it is */
    c = started((struct virt_policy){.completion_s = 150}, 0);
    assert_int_equal(look_sized(&c, 128 * MIB, -1, 18749), 0);
    assert_int_equal(look_sized(&c, 128 * MIB, -1, 18750),
                     VIRT_CONVERGE_BUDGET | VIRT_CONVERGE_ABORT);
    /* 0: no budget at all */
    c = started((struct virt_policy){.completion_s = 0}, 0);
    assert_int_equal(look_sized(&c, 128 * MIB, -1, 86400000), 0);
}

static void budget_postcopy_action_switches_instead(void **state)
{
    (void)state;
    struct virt_converge c = started(
        (struct virt_policy){.postcopy = true, .completion_s = 8, .completion_postcopy = true}, 0);
    assert_int_equal(look_sized(&c, 1024 * MIB, -1, 8000),
                     VIRT_CONVERGE_BUDGET | VIRT_CONVERGE_POSTCOPY);
    c.switched = c.over_budget = true;
    assert_int_equal(look_sized(&c, 1024 * MIB, -1, 9000), 0); /* post-copy always ends */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stall_moving_slowly_is_fine),
        cmocka_unit_test(stall_nothing_moved_for_the_timeout_stops_once),
        cmocka_unit_test(stall_no_job_seen_counts_as_nothing_moved),
        cmocka_unit_test(stall_rule_off_never_stops),
        cmocka_unit_test(unstick_after_the_stop_was_not_honoured),
        cmocka_unit_test(converge_unknown_before_the_second_pass),
        cmocka_unit_test(converge_shrinking_is_converging),
        cmocka_unit_test(converge_jitter_is_not_progress),
        cmocka_unit_test(converge_switches_to_postcopy_only_when_allowed),
        cmocka_unit_test(converge_all_sent_is_finishing),
        cmocka_unit_test(converge_gives_up_after_the_timeout_unless_throttling_rises),
        cmocka_unit_test(converge_timeout_zero_never_gives_up),
        cmocka_unit_test(converge_postcopy_and_abort_together_try_postcopy_first),
        cmocka_unit_test(budget_counts_memory_and_copied_disks),
        cmocka_unit_test(budget_unknown_until_libvirt_gives_sizes),
        cmocka_unit_test(budget_default_has_a_floor_a_request_does_not),
        cmocka_unit_test(budget_postcopy_action_switches_instead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
