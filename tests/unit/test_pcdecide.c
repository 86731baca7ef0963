/* test_pcdecide.c - the post-copy recovery decision, for every combination of both sides'
 * QEMU status, whether pages still move, and whether the destination ever ran the guest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "move/move_priv.h"
#include "move/pcdecide.h"

static struct pc_side S(enum pc_status st, bool moving) {
    return (struct pc_side){st, moving};
}

static void
a_completion_on_either_side_ends_it(void **state)
{
    (void)state;
    for (int o = PC_UNKNOWN; o <= PC_FAILED; o++) {
        assert_int_equal(pc_decide(S(PC_COMPLETED, false), S(o, false), PC_RAN_UNKNOWN), PC_DONE);
        assert_int_equal(pc_decide(S(o, true), S(PC_COMPLETED, false), PC_RAN_NO), PC_DONE);
    }
}

static void pages_still_moving_are_waited_for(void **state)
{
    (void)state;
    assert_int_equal(pc_decide(S(PC_ACTIVE, true), S(PC_ACTIVE, true), PC_RAN_YES), PC_WAIT);
    assert_int_equal(pc_decide(S(PC_ACTIVE, true), S(PC_ACTIVE, false), PC_RAN_YES), PC_WAIT);
    assert_int_equal(pc_decide(S(PC_RECOVERING, true), S(PC_PAUSED, false), PC_RAN_YES), PC_WAIT);
}

static void a_silent_active_side_is_paused_then_both_resume(void **state)
{
    (void)state;
    /* a link that drops packets: both still "active", nothing moves */
    assert_int_equal(pc_decide(S(PC_ACTIVE, false), S(PC_ACTIVE, false), PC_RAN_YES), PC_PAUSE);
    assert_int_equal(pc_decide(S(PC_PAUSED, false), S(PC_ACTIVE, false), PC_RAN_YES), PC_PAUSE);
    assert_int_equal(pc_decide(S(PC_ACTIVE, false), S(PC_PAUSED, false), PC_RAN_YES), PC_PAUSE);
    assert_int_equal(pc_decide(S(PC_PAUSED, false), S(PC_PAUSED, false), PC_RAN_YES), PC_RESUME);
}

static void a_recovery_stuck_in_its_handshake_is_paused(void **state)
{
    (void)state;
    assert_int_equal(pc_decide(S(PC_RECOVERING, false), S(PC_RECOVERING, false), PC_RAN_YES),
                     PC_UNSTICK);
    assert_int_equal(pc_decide(S(PC_PAUSED, false), S(PC_RECOVERING, false), PC_RAN_YES),
                     PC_UNSTICK);
}

static void a_side_not_answering_is_waited_for(void **state)
{
    (void)state;
    for (int o = PC_NONE; o <= PC_RECOVERING; o++) {
        assert_int_equal(pc_decide(S(PC_UNKNOWN, false), S(o, false), PC_RAN_YES), PC_WAIT);
        if (o != PC_ACTIVE)
            assert_int_equal(pc_decide(S(o, false), S(PC_UNKNOWN, false), PC_RAN_YES), PC_WAIT);
    }
    /* ...but a source whose pages stopped is paused here whatever the other side does: the
     * recovery needs it paused, and the destination may never answer (TCG) */
    assert_int_equal(pc_decide(S(PC_ACTIVE, false), S(PC_UNKNOWN, false), PC_RAN_YES), PC_PAUSE);
    assert_int_equal(pc_decide(S(PC_ACTIVE, true), S(PC_UNKNOWN, false), PC_RAN_YES), PC_WAIT);
}

/* the switch-over window: the destination's half gone; only proof that it never ran lets the
 * source's half run again */
static void a_destination_gone_before_it_ran_gives_the_guest_back_to_the_source(void **state)
{
    (void)state;
    assert_int_equal(pc_decide(S(PC_PAUSED, false), S(PC_GONE, false), PC_RAN_NO), PC_RUN_SOURCE);
    assert_int_equal(pc_decide(S(PC_ACTIVE, false), S(PC_FAILED, false), PC_RAN_NO), PC_RUN_SOURCE);
    assert_int_equal(pc_decide(S(PC_UNKNOWN, false), S(PC_GONE, false), PC_RAN_NO), PC_RUN_SOURCE);
    assert_int_equal(pc_decide(S(PC_PAUSED, false), S(PC_GONE, false), PC_RAN_YES), PC_LOST);
    assert_int_equal(pc_decide(S(PC_PAUSED, false), S(PC_GONE, false), PC_RAN_UNKNOWN), PC_LOST);
}

static void a_source_half_gone_is_lost_never_guessed(void **state)
{
    (void)state;
    for (int o = PC_GONE; o <= PC_FAILED; o++)
        if (o != PC_COMPLETED)
            for (int r = PC_RAN_NO; r <= PC_RAN_UNKNOWN; r++)
                assert_int_equal(pc_decide(S(PC_GONE, false), S(o, true), r), PC_LOST);
    /* ...unless the destination does not answer: libvirt's own completion of the move ends the
     * source's QEMU too, and only the destination can tell the two apart */
    assert_int_equal(pc_decide(S(PC_GONE, false), S(PC_UNKNOWN, false), PC_RAN_UNKNOWN), PC_WAIT);
}

/* every combination gets an action, and RUN_SOURCE only with proof the destination never ran
 * and its half gone */
static void every_combination_is_decided_and_the_source_runs_only_on_proof(void **state)
{
    (void)state;
    for (int a = PC_UNKNOWN; a <= PC_FAILED; a++)
        for (int b = PC_UNKNOWN; b <= PC_FAILED; b++)
            for (int m = 0; m < 4; m++)
                for (int r = PC_RAN_NO; r <= PC_RAN_UNKNOWN; r++) {
                    enum pc_action x = pc_decide(S(a, m & 1), S(b, m & 2), r);
                    assert_true(x >= PC_DONE && x <= PC_LOST);
                    assert_string_not_equal(pc_action_name(x), "?");
                    if (x == PC_RUN_SOURCE)
                        assert_true(r == PC_RAN_NO && (b == PC_GONE || b == PC_FAILED) &&
                                    a != PC_GONE);
                    if (x == PC_RESUME)
                        assert_true(a == PC_PAUSED && b == PC_PAUSED);
                }
}

static void qmp_answers_are_read_into_a_side(void **state)
{
    (void)state;
    long long t = 0;
    struct pc_side s = pc_side_from_qmp(
        "{\"return\": {\"status\": \"postcopy-active\", \"ram\": {\"transferred\": 4096}}}", &t);
    assert_int_equal(s.status, PC_ACTIVE);
    assert_true(s.moving);
    assert_int_equal(t, 4096);
    s = pc_side_from_qmp(
        "{\"return\": {\"status\": \"postcopy-active\", \"ram\": {\"transferred\": 4096}}}", &t);
    assert_false(s.moving); /* the same count: nothing moved since */
    s = pc_side_from_qmp("{\"return\": {\"status\": \"postcopy-paused\"}}", &t);
    assert_int_equal(s.status, PC_PAUSED);
    assert_int_equal(
        pc_side_from_qmp("{\"return\": {\"status\": \"postcopy-recover\"}}", &t).status,
        PC_RECOVERING);
    assert_int_equal(pc_side_from_qmp("{\"return\": {\"status\": \"completed\"}}", &t).status,
                     PC_COMPLETED);
    assert_int_equal(pc_side_from_qmp("{\"return\": {}}", &t).status, PC_UNKNOWN);
    assert_int_equal(pc_side_from_qmp("not json", &t).status, PC_UNKNOWN);
    assert_int_equal(pc_side_from_qmp(NULL, &t).status, PC_UNKNOWN);
}

/* libvirt's events for the incoming copy: "resumed" proves it ran; "stopped" with no resume
 * before it (on the watching connection) proves it never did; nothing else proves anything */
static void incoming_events_decide_whether_the_destination_ran(void **state)
{
    (void)state;
    assert_int_equal(virt_incoming_decide(true, true, false), PC_RAN_YES);
    assert_int_equal(virt_incoming_decide(true, true, true), PC_RAN_YES);
    assert_int_equal(virt_incoming_decide(true, false, true), PC_RAN_NO);
    assert_int_equal(virt_incoming_decide(true, false, false), PC_RAN_UNKNOWN);
    for (int r = 0; r < 2; r++)
        for (int s = 0; s < 2; s++)
            assert_int_equal(virt_incoming_decide(false, r, s), PC_RAN_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_completion_on_either_side_ends_it),
        cmocka_unit_test(pages_still_moving_are_waited_for),
        cmocka_unit_test(a_silent_active_side_is_paused_then_both_resume),
        cmocka_unit_test(a_recovery_stuck_in_its_handshake_is_paused),
        cmocka_unit_test(a_side_not_answering_is_waited_for),
        cmocka_unit_test(a_destination_gone_before_it_ran_gives_the_guest_back_to_the_source),
        cmocka_unit_test(a_source_half_gone_is_lost_never_guessed),
        cmocka_unit_test(every_combination_is_decided_and_the_source_runs_only_on_proof),
        cmocka_unit_test(qmp_answers_are_read_into_a_side),
        cmocka_unit_test(incoming_events_decide_whether_the_destination_ran),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
