/* test_settle.c - what kimchid does after a migration call failed, for each combination of what
 * the two hosts say (move/settle.c's virt_settle_decide): at most one copy stays, the guest is
 * said to be where it runs, and no half of a post-copy move is ever stopped; and how a failed
 * call's libvirt words are told to people (virt/cause.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "move/move_priv.h"

static const struct virt_view UNREACHABLE = {false, false, 0, 0};
static const struct virt_view ABSENT = {true, false, 0, 0};

static struct virt_view is(int state, int reason)
{
    return (struct virt_view){true, true, state, reason};
}

static enum virt_where decide(struct virt_view src, struct virt_view dst,
                              struct virt_settle_plan *p)
{
    return virt_settle_decide("host-b", &src, &dst, p);
}

static void settle_moved_guest_is_there(void **state)
{
    (void)state;
    struct virt_settle_plan p;
    assert_int_equal(decide(is(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_MIGRATED),
                            is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED), &p),
                     VIRT_WHERE_DEST);
    assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
    assert_int_equal(decide(ABSENT, is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED), &p),
                     VIRT_WHERE_DEST);
    /* paused by the move before post-copy, while the destination runs: the destination has all */
    assert_int_equal(decide(is(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION),
                            is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED), &p),
                     VIRT_WHERE_DEST);
    assert_int_equal(p.act, VIRT_SETTLE_STOP_HERE);
}

static void settle_two_running_copies_keep_this_one(void **state)
{
    (void)state;
    struct virt_settle_plan p;
    assert_int_equal(decide(is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED),
                            is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED), &p),
                     VIRT_WHERE_SOURCE);
    assert_int_equal(p.act, VIRT_SETTLE_STOP_THERE);
    assert_non_null(strstr(p.note, "stopped the copy on \"host-b\""));
}

static void settle_failed_move_stays_here(void **state)
{
    (void)state;
    struct virt_settle_plan p;
    assert_int_equal(
        decide(is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED), ABSENT, &p),
        VIRT_WHERE_SOURCE);
    assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
    assert_false(p.resume_here);
    /* an incoming copy left paused there is removed; this one, left paused, is resumed */
    assert_int_equal(decide(is(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION),
                            is(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION), &p),
                     VIRT_WHERE_SOURCE);
    assert_int_equal(p.act, VIRT_SETTLE_STOP_THERE);
    assert_true(p.resume_here);
}

/* A source whose QEMU ended during the move is where the guest is, but not running: said so. */
static void settle_says_a_source_that_stopped(void **state)
{
    (void)state;
    struct virt_settle_plan p;
    assert_int_equal(decide(is(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED), ABSENT, &p),
                     VIRT_WHERE_SOURCE);
    assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
    assert_non_null(strstr(p.note, "The guest is on this host, shutoff: its QEMU ended"));
}

static void settle_does_not_guess_when_a_host_is_silent(void **state)
{
    (void)state;
    struct virt_settle_plan p;
    assert_int_equal(decide(UNREACHABLE, ABSENT, &p), VIRT_WHERE_UNKNOWN);
    assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
    assert_int_equal(decide(is(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION), UNREACHABLE, &p),
                     VIRT_WHERE_UNKNOWN);
    assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
    assert_false(p.resume_here); /* resuming it could run a second copy */
    assert_non_null(strstr(p.note, "\"host-b\" does not answer, so kimchid cannot tell"));
    assert_int_equal(decide(is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED), UNREACHABLE, &p),
                     VIRT_WHERE_SOURCE);
    /* this host's libvirt away while the guest runs there: a libvirtd that comes back mid-move
     * cancels it and resumes this copy, so kimchid waits for it rather than say "moved" */
    assert_int_equal(decide(UNREACHABLE, is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED), &p),
                     VIRT_WHERE_UNKNOWN);
    assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
    assert_non_null(strstr(p.note, "this host's libvirt does not answer"));
}

/* The case that lost a guest: the link cut during post-copy, the source paused holding the
 * pages the destination had not fetched; settling stopped the source. Never again, whatever
 * the destination says. */
static void settle_never_stops_a_postcopy_half(void **state)
{
    (void)state;
    const struct virt_view src[] = {is(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY_FAILED),
                                    is(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY)};
    const struct virt_view dst[] = {is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_POSTCOPY),
                                    is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_POSTCOPY_FAILED),
                                    is(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY_FAILED),
                                    UNREACHABLE, ABSENT};
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < sizeof(dst) / sizeof(dst[0]); j++) {
            struct virt_settle_plan p;
            assert_int_equal(decide(src[i], dst[j], &p), VIRT_WHERE_SPLIT);
            assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
            assert_false(p.resume_here);
            assert_non_null(
                strstr(p.note, "neither half can run alone, so kimchid stopped neither"));
            assert_non_null(strstr(p.note, "--postcopy-resume"));
        }
    /* this host unreachable, the destination running on post-copy: split, not "moved" */
    struct virt_settle_plan p;
    assert_int_equal(decide(UNREACHABLE, dst[0], &p), VIRT_WHERE_SPLIT);
    assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
    assert_non_null(
        strstr(p.note, "this host (unreachable) and \"host-b\" (running on the pages it has)"));
}

/* Only a copy that runs counts as running: a copy paused for a reason the move does not
 * explain (an I/O error, "unknown" after a libvirtd restart) may be the newest one, so with a
 * copy on each host kimchid reports both and stops neither. */
static void settle_acts_only_on_running_or_move_paused(void **state)
{
    (void)state;
    struct virt_settle_plan p;
    const int others[] = {VIR_DOMAIN_PAUSED_IOERROR, VIR_DOMAIN_PAUSED_UNKNOWN,
                          VIR_DOMAIN_PAUSED_CRASHED, VIR_DOMAIN_PAUSED_USER};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        struct virt_view odd = is(VIR_DOMAIN_PAUSED, others[i]);
        assert_int_equal(decide(odd, is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED), &p),
                         VIRT_WHERE_UNKNOWN);
        assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
        assert_true(p.report);
        assert_non_null(strstr(p.note, "stopped neither"));
        assert_int_equal(
            decide(is(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED), odd, &p),
            VIRT_WHERE_UNKNOWN);
        assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
        assert_true(p.report);
        /* alone, such a copy is where the guest is, left as it is */
        assert_int_equal(decide(odd, ABSENT, &p), VIRT_WHERE_SOURCE);
        assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
        assert_false(p.resume_here);
        assert_int_equal(decide(ABSENT, odd, &p), VIRT_WHERE_DEST);
        assert_int_equal(p.act, VIRT_SETTLE_NOTHING);
        assert_int_equal(decide(odd, UNREACHABLE, &p), VIRT_WHERE_SOURCE);
        assert_false(p.resume_here);
    }
}

/* libvirt's words for a destination QEMU without userfaultfd become what to do there. */
static void cause_names_postcopy_unavailable(void **state)
{
    (void)state;
    struct err e = {0};
    virt_err_cause(&e,
                   "internal error: unable to execute QEMU command 'migrate-set-capabilities': "
                   "Postcopy is not supported",
                   NULL, "host-b", NULL, M_MIG_FAILED, "libvirt could not migrate");
    assert_true(err_is(&e, M_MIG_POSTCOPY_UNAVAILABLE));
    assert_non_null(strstr(e.msg, "post-copy is not available on \"host-b\""));
    assert_non_null(strstr(e.msg, "sysctl -w vm.unprivileged_userfaultfd=1"));
    struct err other = {0};
    virt_err_cause(&other, "some other failure", NULL, "host-b", NULL, M_MIG_FAILED, "what");
    assert_true(err_is(&other, M_MIG_FAILED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settle_moved_guest_is_there),
        cmocka_unit_test(settle_two_running_copies_keep_this_one),
        cmocka_unit_test(settle_failed_move_stays_here),
        cmocka_unit_test(settle_does_not_guess_when_a_host_is_silent),
        cmocka_unit_test(settle_never_stops_a_postcopy_half),
        cmocka_unit_test(settle_acts_only_on_running_or_move_paused),
        cmocka_unit_test(settle_says_a_source_that_stopped),
        cmocka_unit_test(cause_names_postcopy_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
