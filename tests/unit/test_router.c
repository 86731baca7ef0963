/* test_router.c - route matching, 404/405 with Allow, and the error body shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "api/api_priv.h"

static const struct api_route *m(const char *method, const char *path, char params[][256],
                                 char *allow, struct err *e)
{
    return api_route_match(method, path, params, allow, 64, e);
}

static void router_matches_collections_and_resources(void **state)
{
    (void)state;
    char p[API_MAX_PARAMS][256], allow[64];
    struct err e;
    const struct api_route *r = m("GET", "/plugins/kimchi/vms", p, allow, &e);
    assert_non_null(r);
    assert_ptr_equal(r->handler, api_vms_list);
    r = m("GET", "/plugins/kimchi/vms/my guest", p, allow, &e);
    assert_ptr_equal(r->handler, api_vm_get);
    assert_string_equal(p[0], "my guest");
    r = m("POST", "/plugins/kimchi/vms/g1/clone", p, allow, &e);
    assert_ptr_equal(r->handler, api_vm_clone);
    assert_string_equal(p[0], "g1");
    r = m("HEAD", "/plugins/kimchi/tasks/12", p, allow, &e);
    assert_ptr_equal(r->handler, api_task_get);
    assert_string_equal(p[0], "12");
}

static void router_answers_405_with_allow(void **state)
{
    (void)state;
    char p[API_MAX_PARAMS][256], allow[64];
    struct err e;
    assert_null(m("PUT", "/plugins/kimchi/vms/g1", p, allow, &e));
    assert_int_equal(e.code, ERR_METHOD);
    assert_string_equal(allow, "GET, HEAD, DELETE");
    assert_null(m("GET", "/plugins/kimchi/vms/g1/start", p, allow, &e));
    assert_string_equal(allow, "POST");
}

static void router_answers_404_for_unknown_paths(void **state)
{
    (void)state;
    char p[API_MAX_PARAMS][256], allow[64];
    struct err e;
    const char *bad[] = {"/plugins/kimchi/nothing", "/plugins/kimchi/vms/g1/fly",
                         "/plugins/kimchi/vms//start", "/plugins/kimchi/vms/g1/start/x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(m("GET", bad[i], p, allow, &e));
        assert_int_equal(e.code, ERR_NOT_FOUND);
        assert_string_equal(allow, "");
    }
}

static void api_handle_gives_kimchi_error_bodies(void **state)
{
    (void)state;
    struct api_ctx ctx = {0};
    struct api_reply rep;
    struct api_request req = {.method = "GET", .path = "/plugins/kimchi/nothing"};
    api_handle(&ctx, &req, &rep);
    assert_int_equal(rep.status, 404);
    json_t *o = json_loads(rep.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "404 Not Found");
    assert_true(strncmp(json_string_value(json_object_get(o, "reason")), "KCHAPI0003E: ", 13) == 0);
    json_decref(o);
    api_reply_clear(&rep);
    struct api_request put = {.method = "PATCH", .path = "/plugins/kimchi/vms/"};
    api_handle(&ctx, &put, &rep);
    assert_int_equal(rep.status, 405);
    assert_string_equal(rep.allow, "GET, HEAD");
    api_reply_clear(&rep);
}

/* Headers for a fake request: "Name: value" lines in cls. */
static const char *fake_header(void *cls, const char *key)
{
    static char value[256];
    for (const char *const *h = cls; *h; h++) {
        size_t n = strlen(key);
        if (strncasecmp(*h, key, n) == 0 && (*h)[n] == ':') {
            snprintf(value, sizeof(value), "%s", *h + n + 2);
            return value;
        }
    }
    return NULL;
}

static struct api_reply run(const char *method, const char *path, const char **headers)
{
    struct api_ctx ctx = {0};
    struct api_reply rep;
    struct api_request req = {.method = method,
                              .path = path,
                              .header = fake_header,
                              .header_cls = headers,
                              .peer = "127.0.0.1"};
    api_handle(&ctx, &req, &rep);
    return rep;
}

static void every_api_route_needs_a_login(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    const char *routes[][2] = {
        {"GET", "/plugins/kimchi/vms"},      {"GET", "/plugins/kimchi/vms/a"},
        {"DELETE", "/plugins/kimchi/vms/a"}, {"POST", "/plugins/kimchi/vms/a/migrate"},
        {"GET", "/plugins/kimchi/tasks"},    {"GET", "/plugins/kimchi/session"}};
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        struct api_reply rep = run(routes[i][0], routes[i][1], none);
        assert_int_equal(rep.status, 401);
        assert_true(rep.www_authenticate);
        assert_non_null(strstr(rep.body, "WOKAUTH0002E"));
        api_reply_clear(&rep);
    }
    const char *ui[] = {"X-Requested-With: kimchid-ui", NULL};
    struct api_reply rep = run("GET", "/plugins/kimchi/vms", ui);
    assert_false(rep.www_authenticate); /* no browser Basic prompt for the UI */
    api_reply_clear(&rep);
}

static void a_cookie_is_read_among_others(void **state)
{
    (void)state;
    const char *h[] = {"Cookie: a=b; kimchid_session=abc123; c=d", NULL};
    struct api_request req = {.method = "GET", .path = "/", .header = fake_header, .header_cls = h};
    char tok[70];
    api_cookie_token(&req, tok, sizeof(tok));
    assert_string_equal(tok, "abc123");
    const char *none[] = {"Cookie: other=1", NULL};
    req.header_cls = none;
    api_cookie_token(&req, tok, sizeof(tok));
    assert_string_equal(tok, "");
}

static void cross_site_login_is_refused(void **state)
{
    (void)state;
    const char *h[] = {"Origin: https://evil.example", "Host: kimchid:8001", NULL};
    struct api_reply rep = run("POST", "/login", h);
    assert_int_equal(rep.status, 403);
    assert_non_null(strstr(rep.body, "Cross-site request refused"));
    api_reply_clear(&rep);
}

static void api_owns_only_its_prefix(void **state)
{
    (void)state;
    assert_true(api_owns_path("/login"));
    assert_false(api_owns_path("/login.html"));
    assert_true(api_owns_path("/plugins/kimchi"));
    assert_true(api_owns_path("/plugins/kimchi/vms"));
    assert_false(api_owns_path("/plugins/kimchix"));
    assert_false(api_owns_path("/index.html"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(router_matches_collections_and_resources),
        cmocka_unit_test(router_answers_405_with_allow),
        cmocka_unit_test(router_answers_404_for_unknown_paths),
        cmocka_unit_test(api_handle_gives_kimchi_error_bodies),
        cmocka_unit_test(api_owns_only_its_prefix),
        cmocka_unit_test(every_api_route_needs_a_login),
        cmocka_unit_test(a_cookie_is_read_among_others),
        cmocka_unit_test(cross_site_login_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
