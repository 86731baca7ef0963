/* test_bus.c - the event stream's memory: order, ids, resuming, gaps, waiting, closing. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/bus.h"

/* The id of the frame in `text` at `nth` (0-based). */
static void nth_id(const char *text, int nth, char *out, size_t len)
{
    const char *p = text;
    for (int i = 0; i < nth; i++)
        p = strstr(p, "\n\n") + 2;
    assert_int_equal(strncmp(p, "id: ", 4), 0);
    size_t n = strcspn(p + 4, "\n");
    assert_true(n < len);
    memcpy(out, p + 4, n);
    out[n] = '\0';
}

static void frames_come_in_order_and_resume_after_an_id(void **state)
{
    (void)state;
    struct bus *b = bus_new(1 << 20);
    uint64_t pos = bus_now(b);
    bus_publish(b, "task", "{\"id\":\"1\",\"status\":\"running\"}");
    bus_publish(b, "vm", "{\"name\":\"a\"}");
    char out[4096];
    bool gap;
    ssize_t n = bus_read(b, &pos, out, sizeof(out) - 1, 100, &gap);
    assert_true(n > 0);
    out[n] = '\0';
    assert_false(gap);
    assert_non_null(strstr(out, "event: task\ndata: {\"id\":\"1\",\"status\":\"running\"}\n\n"));
    assert_true(strstr(out, "event: task") < strstr(out, "event: vm"));
    char first[64];
    nth_id(out, 0, first, sizeof(first));
    /* a client that saw the first frame resumes with the second only */
    uint64_t again;
    assert_int_equal(bus_parse_id(b, first, &again), 0);
    n = bus_read(b, &again, out, sizeof(out) - 1, 100, &gap);
    out[n] = '\0';
    assert_null(strstr(out, "event: task"));
    assert_non_null(strstr(out, "event: vm"));
    /* nothing new: the read waits its time and returns 0 */
    assert_int_equal(bus_read(b, &again, out, sizeof(out), 50, &gap), 0);
    bus_free(b);
}

static void ids_from_elsewhere_are_told_apart(void **state)
{
    (void)state;
    struct bus *b = bus_new(1 << 20);
    bus_publish(b, "vm", "{}");
    uint64_t pos;
    assert_int_equal(bus_parse_id(b, "12.1", &pos), 1); /* another run of kimchid */
    assert_int_equal(bus_parse_id(b, "x.1", &pos), -1); /* malformed */
    assert_int_equal(bus_parse_id(b, "1.2.3", &pos), -1);
    assert_int_equal(bus_parse_id(b, "", &pos), -1);
    assert_int_equal(bus_parse_id(b, "-1.1", &pos), -1);
    char out[256];
    bool gap;
    uint64_t zero = 0;
    ssize_t n = bus_read(b, &zero, out, sizeof(out) - 1, 10, &gap);
    out[n] = '\0';
    char id[64], future[80];
    nth_id(out, 0, id, sizeof(id));
    assert_int_equal(bus_parse_id(b, id, &pos), 0);
    snprintf(future, sizeof(future), "%.*s99", (int)(strchr(id, '.') - id + 1), id);
    assert_int_equal(bus_parse_id(b, future, &pos), 1); /* not issued yet */
    bus_free(b);
}

static void a_client_too_far_behind_is_told_to_reload(void **state)
{
    (void)state;
    struct bus *b = bus_new(200); /* room for a few frames only */
    uint64_t pos = bus_now(b);
    for (int i = 0; i < 20; i++)
        bus_publish(b, "task", "{\"id\":\"1\",\"status\":\"running\",\"pad\":\"xxxxxxxxxx\"}");
    char out[4096];
    bool gap;
    assert_int_equal(bus_read(b, &pos, out, sizeof(out), 10, &gap), 0);
    assert_true(gap);
    assert_int_equal(pos, bus_now(b)); /* goes on from the newest */
    bus_publish(b, "task", "{\"id\":\"1\",\"status\":\"finished\"}");
    ssize_t n = bus_read(b, &pos, out, sizeof(out) - 1, 10, &gap);
    assert_true(n > 0);
    assert_false(gap);
    /* a frame larger than the reader's buffer is never sent: a gap too */
    bus_publish(b, "vm", "{\"big\":\"0123456789012345678901234567890123456789\"}");
    assert_int_equal(bus_read(b, &pos, out, 40, 10, &gap), 0);
    assert_true(gap);
    bus_free(b);
}

struct waiter {
    struct bus *b;
    uint64_t pos;
    ssize_t n;
    long ms; /* how long bus_read waited */
};

/* The reader waits up to 5 s: woken, it must come back long before (a lost wake-up would
 * also return 0, but only at the timeout). */
#define READ_TIMEOUT_MS 5000
#define WOKEN_WITHIN_MS 1000

static void *wait_one(void *arg)
{
    struct waiter *w = arg;
    char out[512];
    bool gap;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    w->n = bus_read(w->b, &w->pos, out, sizeof(out), READ_TIMEOUT_MS, &gap);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    w->ms = (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L;
    return NULL;
}

static void a_waiting_reader_wakes_on_publish_on_wake_and_on_close(void **state)
{
    (void)state;
    struct bus *b = bus_new(1 << 20);
    struct waiter w = {b, bus_now(b), 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, wait_one, &w);
    usleep(50 * 1000);
    bus_publish(b, "vm", "{}");
    pthread_join(t, NULL);
    assert_true(w.n > 0);
    assert_true(w.ms < WOKEN_WITHIN_MS);
    /* a wake (a session ended) makes a waiting reader look up without a frame */
    w.n = 99;
    pthread_create(&t, NULL, wait_one, &w);
    usleep(50 * 1000);
    bus_wake(b);
    pthread_join(t, NULL);
    assert_int_equal(w.n, 0);
    assert_true(w.ms < WOKEN_WITHIN_MS); /* woken, not timed out */
    pthread_create(&t, NULL, wait_one, &w);
    usleep(50 * 1000);
    bus_close(b);
    pthread_join(t, NULL);
    assert_int_equal(w.n, -1);
    assert_true(w.ms < WOKEN_WITHIN_MS);
    bus_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_come_in_order_and_resume_after_an_id),
        cmocka_unit_test(ids_from_elsewhere_are_told_apart),
        cmocka_unit_test(a_client_too_far_behind_is_told_to_reload),
        cmocka_unit_test(a_waiting_reader_wakes_on_publish_on_wake_and_on_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
