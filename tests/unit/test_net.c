/* test_net.c - validation of host and user names, and recognising this host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/net.h"

static void host_names_and_addresses_are_accepted(void **state)
{
    (void)state;
    struct err e;
    const char *good[] = {"host-b",  "host-b.example.com",   "a", "198.18.0.2", "::1",
                          "fe80::1", "xn--bcher-kva.example"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(net_host_check(good[i], &e), 0);
}

static void bad_host_names_are_refused(void **state)
{
    (void)state;
    struct err e;
    const char *bad[] = {"",         "bad host", "-lead",  "trail-", "a..b", "a.",
                         "b;reboot", "$(id)",    "host_b", "a/b",    "[::1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(net_host_check(bad[i], &e), -1);
        assert_int_equal(e.code, ERR_INVALID);
    }
    char long_label[80];
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    assert_int_equal(net_host_check(long_label, &e), -1);
}

static void user_names_follow_the_pattern(void **state)
{
    (void)state;
    struct err e;
    assert_int_equal(net_user_check("root", &e), 0);
    assert_int_equal(net_user_check("lab.admin-2", &e), 0);
    assert_int_equal(net_user_check("_svc", &e), 0);
    assert_int_equal(net_user_check("-oProxyCommand", &e), -1);
    assert_int_equal(net_user_check("x y", &e), -1);
    assert_int_equal(net_user_check("", &e), -1);
    assert_int_equal(net_user_check("a234567890123456789012345678901234", &e), -1);
    assert_non_null(strstr(e.msg, "is not a valid user name"));
}

static void this_host_is_recognised_without_lookups(void **state)
{
    (void)state;
    char me[256];
    gethostname(me, sizeof(me));
    assert_true(net_names_self("localhost"));
    assert_true(net_names_self("LOCALHOST"));
    assert_true(net_names_self("127.0.0.1"));
    assert_true(net_names_self("127.1.2.3"));
    assert_true(net_names_self("::1"));
    assert_true(net_names_self(me));
    assert_false(net_names_self("host-b"));
    assert_false(net_names_self("198.18.0.99"));
    /* IPv4-mapped IPv6 addresses are the IPv4 host they carry */
    assert_true(net_names_self("::ffff:127.0.0.1"));
    assert_true(net_addr_is_local("::ffff:127.0.0.1"));
    assert_true(net_addr_is_local("::FFFF:7f00:1"));
    assert_false(net_addr_is_local("::ffff:198.18.0.99"));
}

/* Clients are counted per site: an IPv6 address by its /64, an IPv4 address as it is. */
static void sites_key_ipv6_by_their_64(void **state)
{
    (void)state;
    char k[64];
    net_site_key("2001:db8:1:2:aaaa::1", k, sizeof(k));
    assert_string_equal(k, "2001:db8:1:2::/64");
    net_site_key("2001:db8:1:2:ffff:ffff:ffff:ffff", k, sizeof(k));
    assert_string_equal(k, "2001:db8:1:2::/64");
    net_site_key("198.51.100.7", k, sizeof(k));
    assert_string_equal(k, "198.51.100.7");
    net_site_key("::ffff:198.51.100.7", k, sizeof(k)); /* an IPv4 client on a v6 socket */
    assert_string_equal(k, "::ffff:198.51.100.7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_names_and_addresses_are_accepted),
        cmocka_unit_test(bad_host_names_are_refused),
        cmocka_unit_test(user_names_follow_the_pattern),
        cmocka_unit_test(this_host_is_recognised_without_lookups),
        cmocka_unit_test(sites_key_ipv6_by_their_64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
