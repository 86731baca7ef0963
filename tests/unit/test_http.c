/* test_http.c - which Host headers kimchid answers (DNS rebinding): addresses, localhost, the
 * machine's name and the names given with --server-name; nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "http/http_priv.h"

static void addresses_and_local_names_are_answered(void **state)
{
    (void)state;
    const char *ok[] = {"127.0.0.1",      "198.18.0.1:8001",  "[::1]",
                        "[fd00::2]:8443", "localhost",        "LOCALHOST:8001",
                        "kvm1",           "kvm1.example.com", "KVM1.Example.COM.:443"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(http_host_allowed(ok[i], "kvm1.example.com", NULL));
    assert_true(http_host_allowed(NULL, "kvm1", NULL)); /* HTTP/1.0 */
}

static void other_names_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"evil.example",
                         "kvm1.evil.example",
                         "kvm",
                         "kvm1x",
                         "[not-an-address]",
                         "[::1]x",
                         "",
                         ":8001",
                         "127.0.0.1.evil",
                         "localhost.evil"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(http_host_allowed(bad[i], "kvm1.example.com", NULL));
    assert_false(http_host_allowed("anything", "", NULL)); /* no host name known */
}

static void server_names_add_names(void **state)
{
    (void)state;
    const char *names = "kimchi.example,kvm-a";
    assert_true(http_host_allowed("kimchi.example:8443", "h", names));
    assert_true(http_host_allowed("KVM-A", "h", names));
    assert_false(http_host_allowed("kimchi.exampl", "h", names));
    assert_false(http_host_allowed("kvm-ab", "h", names));
    assert_false(http_host_allowed("example", "h", names));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses_and_local_names_are_answered),
        cmocka_unit_test(other_names_are_refused),
        cmocka_unit_test(server_names_add_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
