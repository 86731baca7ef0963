/* test_sshc.c - the ssh paths are computed once, safely from several migration workers at
 * once (the tsan layer runs this under ThreadSanitizer, which reports a lazy, unguarded
 * initialisation as a data race). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "sshc/sshc_priv.h"

static void *ask(void *out)
{
    const char **paths = out;
    paths[0] = sshc_dir();
    paths[1] = sshc_known_hosts_path();
    return NULL;
}

static void ssh_paths_are_the_same_from_parallel_workers(void **state)
{
    (void)state;
    const char *got[4][2];
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ask, got[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(got[i][0], got[0][0]);
        assert_string_equal(got[i][1], got[0][1]);
    }
    assert_non_null(strstr(got[0][1], "/.ssh/known_hosts"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ssh_paths_are_the_same_from_parallel_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
