/* test_router.c - route matching, 404/405 with Allow, and the error body shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
    const struct api_route *r = m("GET", "/vms", p, allow, &e);
    assert_non_null(r);
    assert_ptr_equal(r->handler, api_vms_list);
    r = m("GET", "/vms/my guest", p, allow, &e);
    assert_ptr_equal(r->handler, api_vm_get);
    assert_string_equal(p[0], "my guest");
    r = m("POST", "/vms/g1/clone", p, allow, &e);
    assert_ptr_equal(r->handler, api_vm_clone);
    assert_string_equal(p[0], "g1");
    r = m("HEAD", "/tasks/12", p, allow, &e);
    assert_ptr_equal(r->handler, api_task_get);
    assert_string_equal(p[0], "12");
}

static void router_answers_405_with_allow(void **state)
{
    (void)state;
    char p[API_MAX_PARAMS][256], allow[64];
    struct err e;
    assert_null(m("PUT", "/vms/g1", p, allow, &e));
    assert_int_equal(e.code, ERR_METHOD);
    assert_string_equal(allow, "GET, HEAD, DELETE");
    assert_null(m("GET", "/vms/g1/start", p, allow, &e));
    assert_string_equal(allow, "POST");
}

static void router_answers_404_for_unknown_paths(void **state)
{
    (void)state;
    char p[API_MAX_PARAMS][256], allow[64];
    struct err e;
    const char *bad[] = {"/nothing", "/vms/g1/fly", "/vms//start", "/vms/g1/start/x", ""};
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
    struct api_request req = {"GET", "/plugins/kimchi/nothing", NULL, 0, NULL, NULL};
    api_handle(&ctx, &req, &rep);
    assert_int_equal(rep.status, 404);
    json_t *o = json_loads(rep.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "404 Not Found");
    assert_true(strncmp(json_string_value(json_object_get(o, "reason")), "KCHAPI0003E: ", 13) ==
                0);
    json_decref(o);
    api_reply_clear(&rep);
    struct api_request put = {"PATCH", "/plugins/kimchi/vms/", NULL, 0, NULL, NULL};
    api_handle(&ctx, &put, &rep);
    assert_int_equal(rep.status, 405);
    assert_string_equal(rep.allow, "GET, HEAD");
    api_reply_clear(&rep);
}

static void api_owns_only_its_prefix(void **state)
{
    (void)state;
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
