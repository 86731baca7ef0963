/* test_util.c - err mapping, the bounded buffer, and body validation. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/b64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/esc.h"
#include "util/file.h"
#include "util/jsonv.h"
#include "util/log.h"
#include "util/qemuconf.h"

static void err_maps_codes_to_http_status(void **state)
{
    (void)state;
    assert_int_equal(err_http_status(ERR_INVALID), 400);
    assert_int_equal(err_http_status(ERR_STATE), 400);
    assert_int_equal(err_http_status(ERR_NOT_FOUND), 404);
    assert_int_equal(err_http_status(ERR_METHOD), 405);
    assert_int_equal(err_http_status(ERR_CONFLICT), 409);
    assert_int_equal(err_http_status(ERR_TOO_LARGE), 413);
    assert_int_equal(err_http_status(ERR_BACKEND), 500);
    assert_string_equal(err_status_line(ERR_NOT_FOUND), "404 Not Found");
    assert_string_equal(err_status_line(ERR_INVALID), "400 Bad Request");
}

/* A message quoting a value cut at a byte count ("%.Ns") stays UTF-8: JSON carries it. */
static void err_set_never_leaves_half_a_character(void **state)
{
    (void)state;
    struct err e;
    err_set(&e, ERR_INVALID, M_API_UNKNOWN_PARAM, "Name \"%.4s\" is bad.", "ab\xc3\xa9\xc3\xa9");
    assert_string_equal(e.msg, "KCHAPI0001E: Name \"ab\xc3\xa9\" is bad.");
    err_set(&e, ERR_INVALID, M_API_UNKNOWN_PARAM, "Name \"%.3s\" is bad.", "ab\xc3\xa9");
    assert_string_equal(e.msg, "KCHAPI0001E: Name \"ab?\" is bad.");
    err_set(&e, ERR_INVALID, M_API_UNKNOWN_PARAM, "%s", "\xff\xed\xa0\x80\xe2\x82\xac");
    assert_string_equal(e.msg, "KCHAPI0001E: ????\xe2\x82\xac"); /* stray, surrogate, euro */
}

/* What goes into the audit trail and the log: control bytes and bytes that are not UTF-8 as
 * \xNN, characters whole or not at all. */
static void esc_controls_writes_utf8_only(void **state)
{
    (void)state;
    char out[64];
    size_t n = esc_controls("/vms/\xff\x01\xc3\xa9\"", out, sizeof(out), "\"");
    out[n] = '\0';
    assert_string_equal(out, "/vms/\\xff\\x01\xc3\xa9\\\"");
    n = esc_controls("ab\xc3\xa9", out, 3, NULL); /* room for "ab" and half of e-acute */
    out[n] = '\0';
    assert_string_equal(out, "ab");
    assert_int_equal(esc_utf8_len("\xf0\x9f\x98\x80"), 4);
    assert_int_equal(esc_utf8_len("\xc0\x80"), 0);         /* overlong */
    assert_int_equal(esc_utf8_len("\xf4\x90\x80\x80"), 0); /* past U+10FFFF */
}

static void err_set_prefixes_the_message_id(void **state)
{
    (void)state;
    struct err e;
    assert_int_equal(err_set(&e, ERR_NOT_FOUND, M_VM_NOT_FOUND, "VM \"%s\" is gone.", "a"), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    assert_string_equal(e.msg, "KCHVM0002E: VM \"a\" is gone.");
    assert_int_equal(err_set(NULL, ERR_INVALID, M_API_SCHEMA, "y"), -1); /* NULL carrier is fine */
    /* the id is kept apart: no caller parses it out of the text */
    assert_string_equal(e.id, "KCHVM0002E");
    assert_true(err_is(&e, M_VM_NOT_FOUND));
    assert_false(err_is(&e, M_VM_EXISTS));
    assert_string_equal(err_text(&e), "VM \"a\" is gone.");
    err_set(&e, ERR_BACKEND, M_MIG_FAILED, "a: b: c"); /* colons in the text stay */
    assert_string_equal(err_text(&e), "a: b: c");
    err_clear(&e);
    assert_false(err_is(&e, M_MIG_FAILED));
    /* a step names its cause: the id stays */
    err_set(&e, ERR_BACKEND, M_MIG_FAILED, "cause");
    err_reword(&e, "while moving: %s", "cause");
    assert_string_equal(e.msg, "KCHVM0058E: while moving: cause");
    assert_int_equal(e.code, ERR_BACKEND);
    err_clear(&e);
    assert_string_equal(err_text(&e), "");
}

static void buf_grows_and_stops_at_its_limit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "12345", 5), 0);
    assert_int_equal(buf_printf(&b, "%d", 678), 0);
    assert_string_equal(b.data, "12345678");
    assert_int_equal(buf_append(&b, "abc", 3), -1);
    assert_true(b.failed);
    assert_null(buf_steal(&b));
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        buf_append(&b, "x", 1);
    char *s = buf_steal(&b);
    assert_int_equal(strlen(s), 1000);
    free(s);
}

static const struct jsonv_field migrate_fields[] = {
    {.name = "remote_host", .type = JSONV_STRING, .required = true},
    {.name = "user", .type = JSONV_STRING, .hi = 8},
    {.name = "delete_source", .type = JSONV_BOOL},
    {.name = "bandwidth",
     .type = JSONV_INT,
     .lo = 1,
     .hi = 100,
     .bounds_id = M_MIG_BANDWIDTH,
     .unit = "MiB/s"},
};

static int check(const char *body, struct err *e)
{
    json_t *o = jsonv_parse_object(body, strlen(body), e);
    if (!o)
        return -1;
    int rc = jsonv_check(o, migrate_fields, 4, e);
    json_decref(o);
    return rc;
}

static void jsonv_accepts_a_valid_body(void **state)
{
    (void)state;
    struct err e;
    assert_int_equal(check("{\"remote_host\":\"b\",\"delete_source\":true,\"bandwidth\":5}", &e),
                     0);
}

static void jsonv_rejects_malformed_and_non_objects(void **state)
{
    (void)state;
    struct err e;
    assert_int_equal(check("{\"remote_host\":", &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "not valid JSON"));
    assert_int_equal(check("[1,2]", &e), -1);
    assert_non_null(strstr(e.msg, "must be a JSON object"));
    assert_int_equal(check("{\"remote_host\":\"a\",\"remote_host\":\"b\"}", &e), -1);
}

static void jsonv_names_the_offending_field(void **state)
{
    (void)state;
    struct err e;
    assert_int_equal(check("{\"remote_host\":\"b\",\"color\":1}", &e), -1);
    assert_string_equal(e.msg, "KCHAPI0001E: Unknown parameter \"color\". Remove it from the "
                               "request.");
    assert_int_equal(check("{\"remote_host\":7}", &e), -1);
    assert_string_equal(e.msg, "WOKAPI0008E: The parameter \"remote_host\" must be a string.");
    assert_int_equal(check("{\"remote_host\":\"b\",\"delete_source\":\"yes\"}", &e), -1);
    assert_non_null(strstr(e.msg, "\"delete_source\" must be true or false"));
    assert_int_equal(check("{\"user\":\"x\"}", &e), -1);
    assert_string_equal(e.msg, "WOKAPI0008E: The parameter \"remote_host\" is required.");
}

static void jsonv_checks_the_bounds_a_field_names(void **state)
{
    (void)state;
    struct err e;
    assert_int_equal(check("{\"remote_host\":\"b\",\"bandwidth\":100}", &e), 0);
    assert_int_equal(check("{\"remote_host\":\"b\",\"bandwidth\":0}", &e), -1);
    assert_string_equal(e.msg, "KCHMIGR0033E: The parameter \"bandwidth\" must be from 1 to 100 "
                               "(MiB/s).");
    assert_int_equal(check("{\"remote_host\":\"b\",\"bandwidth\":101}", &e), -1);
    assert_int_equal(check("{\"remote_host\":\"b\",\"user\":\"12345678\"}", &e), 0);
    assert_int_equal(check("{\"remote_host\":\"b\",\"user\":\"123456789\"}", &e), -1);
    assert_string_equal(e.msg, "WOKAPI0008E: The parameter \"user\" is longer than 8 characters.");
}

static void jsonv_refuses_deep_nesting(void **state)
{
    (void)state;
    struct err e;
    char body[256] = "";
    for (int i = 0; i < 40; i++)
        strcat(body, "[");
    for (int i = 0; i < 40; i++)
        strcat(body, "]");
    char obj[300];
    snprintf(obj, sizeof(obj), "{\"a\":%s}", body);
    assert_null(jsonv_parse_object(obj, strlen(obj), &e));
    assert_non_null(strstr(e.msg, "nested too deeply"));
}

static void jsonv_treats_empty_body_as_empty_object(void **state)
{
    (void)state;
    struct err e;
    json_t *o = jsonv_parse_object(NULL, 0, &e);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
}

static void b64_decodes_basic_credentials(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(b64_decode("dXNlcjpwYXNz", out, sizeof(out)), 9);
    assert_string_equal(out, "user:pass");
    assert_int_equal(b64_decode("YQ==", out, sizeof(out)), 1);
    assert_string_equal(out, "a");
    assert_int_equal(b64_decode("not base64!", out, sizeof(out)), -1);
    assert_int_equal(b64_decode("YQ===", out, sizeof(out)), -1);
    assert_int_equal(b64_decode("dXNlcjpwYXNz", out, 4), -1); /* does not fit */
}

/* Every log line is one line: control bytes in a logged value are escaped, never written. */
static void log_escapes_control_bytes(void **state)
{
    (void)state;
    char path[] = "/tmp/kimchid-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_warn("login failed for \"%s\"", "root\n2026-01-01T00:00:00.000Z info  forged\x1b[2J");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char text[512] = "";
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    assert_non_null(strstr(text, "login failed for \"root\\x0a2026-01-01T00:00:00.000Z info  "
                                 "forged\\x1b[2J\"\n"));
    assert_int_equal(strchr(text, '\n') - text, n - 1); /* one line */
}

static void qemuconf_finds_the_lock_manager(void **state)
{
    (void)state;
    char v[32];
    qemuconf_lock_manager("# lock_manager = \"lockd\"\nuser = \"root\"\n", v, sizeof(v));
    assert_string_equal(v, ""); /* commented out: libvirt's default, none */
    qemuconf_lock_manager("user = \"root\"\n  lock_manager = \"lockd\"\n", v, sizeof(v));
    assert_string_equal(v, "lockd");
    qemuconf_lock_manager("lock_manager=\"sanlock\"", v, sizeof(v));
    assert_string_equal(v, "sanlock");
    qemuconf_lock_manager("lock_manager_x = \"lockd\"\nlock_manager = \"lockd\n\"", v, sizeof(v));
    assert_string_equal(v, ""); /* another name; an unterminated string */
    qemuconf_lock_manager("", v, sizeof(v));
    assert_string_equal(v, "");
}

static void qemuconf_tells_when_postcopy_cannot_work(void **state)
{
    (void)state;
    const char *debian = "# user = \"root\"\nlock_manager = \"lockd\"\n";
    assert_true(qemuconf_userfaultfd_denied(debian, "0\n", 7002000));  /* Debian 12 as shipped */
    assert_false(qemuconf_userfaultfd_denied(debian, "1\n", 7002000)); /* the sysctl allows it */
    assert_false(qemuconf_userfaultfd_denied("user = \"root\"\n", "0\n", 7002000));
    assert_false(qemuconf_userfaultfd_denied("user = \"+0\"\n", "0\n", 7002000));
    assert_true(qemuconf_userfaultfd_denied("user = \"qemu\"\n", "0", 8000999));
    assert_false(qemuconf_userfaultfd_denied(debian, "0\n", 8001000)); /* /dev/userfaultfd */
    assert_false(qemuconf_userfaultfd_denied(debian, "0\n", 0));       /* version unknown */
    assert_false(qemuconf_userfaultfd_denied(debian, "", 7002000));    /* sysctl unread */
    assert_false(qemuconf_userfaultfd_denied(NULL, NULL, 7002000));
}

static void file_write_new_writes_whole_new_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/kimchid-file-XXXXXX", path[64], back[16] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(file_write_new(path, "secret", 6, 0600), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    int fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, back, sizeof(back)), 6);
    close(fd);
    assert_string_equal(back, "secret");
    /* an existing file is never replaced */
    assert_int_equal(file_write_new(path, "other", 5, 0600), -1);
    assert_int_equal(errno, EEXIST);
    unlink(path);
    /* a write cut short (the file size limit: the first write is short, the next fails) leaves
     * no partial file, and says why */
    struct rlimit old, small = {.rlim_cur = 10};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    char big[100];
    memset(big, 'x', sizeof(big));
    int rc = file_write_new(path, big, sizeof(big), 0600);
    int saved = errno;
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc, -1);
    assert_int_equal(saved, EFBIG);
    assert_int_equal(access(path, F_OK), -1);
    rmdir(dir);
}

/* The packaged service runs with UMask=0077: a directory kimchid makes for QEMU to read must
 * still come out 0755 (it came out 0700 from a bare mkdir). */
static void file_mkdir_sets_the_mode_whatever_the_umask(void **state)
{
    (void)state;
    char dir[] = "/tmp/kimchid-test-mkdir-XXXXXX", sub[64], kept[64];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/pki", dir);
    snprintf(kept, sizeof(kept), "%s/kept", dir);
    mode_t old = umask(077);
    assert_int_equal(file_mkdir(sub, 0755), 0);
    assert_int_equal(mkdir(kept, 0750), 0);
    assert_int_equal(file_mkdir(kept, 0755), 0); /* there already: its mode is an operator's */
    assert_int_equal(file_mkdir(sub, 0755), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(stat(kept, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700); /* 0750 through the umask, left alone */
    char missing[96];
    snprintf(missing, sizeof(missing), "%s/no/such", dir);
    assert_int_equal(file_mkdir(missing, 0755), -1);
    assert_int_equal(errno, ENOENT);
    rmdir(sub);
    rmdir(kept);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(err_maps_codes_to_http_status),
        cmocka_unit_test(err_set_prefixes_the_message_id),
        cmocka_unit_test(err_set_never_leaves_half_a_character),
        cmocka_unit_test(esc_controls_writes_utf8_only),
        cmocka_unit_test(buf_grows_and_stops_at_its_limit),
        cmocka_unit_test(jsonv_accepts_a_valid_body),
        cmocka_unit_test(jsonv_rejects_malformed_and_non_objects),
        cmocka_unit_test(jsonv_names_the_offending_field),
        cmocka_unit_test(jsonv_checks_the_bounds_a_field_names),
        cmocka_unit_test(jsonv_refuses_deep_nesting),
        cmocka_unit_test(jsonv_treats_empty_body_as_empty_object),
        cmocka_unit_test(b64_decodes_basic_credentials),
        cmocka_unit_test(qemuconf_finds_the_lock_manager),
        cmocka_unit_test(qemuconf_tells_when_postcopy_cannot_work),
        cmocka_unit_test(log_escapes_control_bytes),
        cmocka_unit_test(file_write_new_writes_whole_new_files),
        cmocka_unit_test(file_mkdir_sets_the_mode_whatever_the_umask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
