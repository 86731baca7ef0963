/* test_net.c - validation of host and user names, and recognising this host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/cidr.h"
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

static void networks_parse_and_contain(void **state)
{
    (void)state;
    struct cidr c;
    assert_int_equal(cidr_parse("198.19.0.0/24", &c), 0);
    assert_true(cidr_contains(&c, "198.19.0.2"));
    assert_false(cidr_contains(&c, "198.18.0.2"));
    assert_false(cidr_contains(&c, "fd00::2")); /* another family */
    assert_int_equal(cidr_parse("10.0.0.0/9", &c), 0);
    assert_true(cidr_contains(&c, "10.127.255.255"));
    assert_false(cidr_contains(&c, "10.128.0.0"));
    assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
    assert_true(cidr_contains(&c, "203.0.113.7"));
    assert_int_equal(cidr_parse("fd00:19::/64", &c), 0);
    assert_true(cidr_contains(&c, "fd00:19::2"));
    assert_false(cidr_contains(&c, "fd00:18::2"));
    assert_int_equal(cidr_parse("fd00:19::2/128", &c), 0);
    assert_true(cidr_contains(&c, "fd00:19::2"));
    const char *bad[] = {
        "198.19.0.0", "198.19.0.0/33", "198.19.0.0/", "198.19.0.0/x",  "198.19.0/24",
        "host-b/24",  "/24",           "fd00::/129",  "198.19.0.0/-1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cidr_parse(bad[i], &c), -1);
    assert_int_equal(cidr_parse(NULL, &c), -1);
}

/* What host-b's /proc/net/fib_trie and if_inet6 say in the lab, shortened. */
static const char FIB[] = "Main:\n"
                          "  +-- 0.0.0.0/0 3 0 5\n"
                          "     +-- 127.0.0.0/8 2 0 2\n"
                          "           |-- 127.0.0.1\n"
                          "              /32 host LOCAL\n"
                          "        +-- 198.18.0.0/24 2 0 2\n"
                          "           |-- 198.18.0.0\n"
                          "              /24 link UNICAST\n"
                          "           |-- 198.18.0.2\n"
                          "              /32 host LOCAL\n"
                          "           |-- 198.18.0.255\n"
                          "              /32 link BROADCAST\n"
                          "        +-- 198.19.0.0/24 2 0 2\n"
                          "           |-- 198.19.0.2\n"
                          "              /32 host LOCAL\n"
                          "Local:\n"
                          "           |-- 198.18.0.2\n"
                          "              /32 host LOCAL\n";
static const char INET6[] = "fd000000000000000000000000000002 04 40 00 82     eth0\n"
                            "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
                            "00000000000000000000000000000001 01 80 10 80       lo\n";

static void a_hosts_own_addresses_are_read(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(cidr_host_addrs(FIB, INET6, out, sizeof(out)), 3);
    assert_string_equal(out, "198.18.0.2 198.19.0.2 fd00::2"); /* each once, no loopback */
    assert_true(cidr_addr_listed(out, "198.19.0.2"));
    assert_false(cidr_addr_listed(out, "198.19.0.20"));
    assert_false(cidr_addr_listed(out, "98.18.0.2"));
    assert_int_equal(cidr_host_addrs(NULL, NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    char small[16]; /* an address that does not fit is left out, never cut */
    assert_int_equal(cidr_host_addrs(FIB, NULL, small, sizeof(small)), 1);
    assert_string_equal(small, "198.18.0.2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_names_and_addresses_are_accepted),
        cmocka_unit_test(bad_host_names_are_refused),
        cmocka_unit_test(user_names_follow_the_pattern),
        cmocka_unit_test(this_host_is_recognised_without_lookups),
        cmocka_unit_test(sites_key_ipv6_by_their_64),
        cmocka_unit_test(networks_parse_and_contain),
        cmocka_unit_test(a_hosts_own_addresses_are_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
