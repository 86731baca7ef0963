/* test_msg.c - the error id table: one id per meaning, Kimchi's ids only where Kimchi has
 * them, kimchid's own ids outside Kimchi's ranges, and no id written anywhere else. Run from
 * the project's root (tests/run-all.sh does). */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/err.h"
#include "util/msg.h"

#define FIXTURE "tests/unit/kimchi-ids.txt"
#define MAX_IDS 1024

static char catalogue[MAX_IDS][64];
static size_t n_catalogue;

static void load_catalogue(void)
{
    if (n_catalogue)
        return;
    FILE *f = fopen(FIXTURE, "r");
    if (!f)
        fail_msg("cannot open %s: run from the project's root", FIXTURE);
    char line[64];
    while (fgets(line, sizeof(line), f) && n_catalogue < MAX_IDS) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && line[0] != '#')
            snprintf(catalogue[n_catalogue++], sizeof(catalogue[0]), "%s", line);
    }
    fclose(f);
    assert_true(n_catalogue > 300); /* the whole catalogue, not a stub */
}

static bool in_catalogue(const char *id)
{
    for (size_t i = 0; i < n_catalogue; i++)
        if (!strcmp(catalogue[i], id))
            return true;
    return false;
}

/* Splits "KCHVM0055E" into its prefix ("KCHVM") and number (55). */
static int split_id(const char *id, char *prefix, size_t len)
{
    size_t n = 0;
    while (isupper((unsigned char)id[n]))
        n++;
    if (n >= len || strlen(id) != n + 5)
        return -1;
    memcpy(prefix, id, n);
    prefix[n] = '\0';
    return atoi(id + n);
}

/* The highest number Kimchi's catalogue uses under `prefix`, or -1 when it does not. */
static int catalogue_max(const char *prefix)
{
    int max = -1;
    for (size_t i = 0; i < n_catalogue; i++) {
        char p[24];
        int num = split_id(catalogue[i], p, sizeof(p));
        if (!strcmp(p, prefix) && num > max)
            max = num;
    }
    return max;
}

static bool well_formed(const char *id)
{
    size_t n = strlen(id);
    if (n < 9 || (strncmp(id, "KCH", 3) && strncmp(id, "WOK", 3)) || id[n - 1] != 'E')
        return false;
    for (size_t i = n - 5; i < n - 1; i++)
        if (!isdigit((unsigned char)id[i]))
            return false;
    return true;
}

static void no_two_names_share_an_id(void **state)
{
    (void)state;
    assert_true(MSG_COUNT > 100);
    for (int a = 0; a < MSG_COUNT; a++) {
        assert_true(well_formed(msg_id((enum msg)a)));
        assert_true(strlen(msg_meaning((enum msg)a)) > 8);
        for (int b = a + 1; b < MSG_COUNT; b++)
            if (!strcmp(msg_id((enum msg)a), msg_id((enum msg)b)))
                fail_msg("%s is given to two errors (table entries %d and %d)", msg_id((enum msg)a),
                         a, b);
    }
}

/* An id in Kimchi's or Wok's catalogue is used with its meaning there (reviewed in msgs.def);
 * any other id must not collide with a range Kimchi uses: under a prefix the catalogue has, its
 * number is above the catalogue's highest; Wok's prefixes are never minted here. */
static void own_ids_stay_out_of_kimchis_ranges(void **state)
{
    (void)state;
    load_catalogue();
    int reused = 0;
    for (int m = 0; m < MSG_COUNT; m++) {
        const char *id = msg_id((enum msg)m);
        if (in_catalogue(id)) {
            reused++;
            continue;
        }
        char prefix[24];
        int num = split_id(id, prefix, sizeof(prefix));
        assert_true(num > 0);
        if (!strncmp(id, "WOK", 3))
            fail_msg("%s is not in Wok's catalogue: kimchid does not mint WOK ids", id);
        int max = catalogue_max(prefix);
        if (max >= 0 && num <= max)
            fail_msg("%s is kimchid's own, but Kimchi numbers %s up to %d", id, prefix, max);
    }
    assert_true(reused >= 30); /* Kimchi's per-action, migration, auth and task ids */
}

static void kimchis_ids_are_kimchis(void **state)
{
    (void)state;
    load_catalogue();
    /* a few meanings pinned: the ids Kimchi's UI and scripts see most */
    assert_string_equal(msg_id(M_VM_NOT_FOUND), "KCHVM0002E");
    assert_string_equal(msg_id(M_VM_START_STATE), "KCHVM0048E");
    assert_string_equal(msg_id(M_VM_POWEROFF_STATE), "KCHVM0049E");
    assert_string_equal(msg_id(M_VM_SHUTDOWN_STATE), "KCHVM0050E");
    assert_string_equal(msg_id(M_VM_RESET_STATE), "KCHVM0051E");
    assert_string_equal(msg_id(M_VM_SUSPEND_STATE), "KCHVM0037E");
    assert_string_equal(msg_id(M_VM_RESUME_STATE), "KCHVM0039E");
    assert_string_equal(msg_id(M_VM_CLONE_STATE), "KCHVM0033E");
    assert_string_equal(msg_id(M_MIG_LOCALHOST), "KCHVM0055E");
    assert_string_equal(msg_id(M_MIG_STATE), "KCHVM0057E");
    assert_string_equal(msg_id(M_MIG_FAILED), "KCHVM0058E");
    assert_string_equal(msg_id(M_TASK_NOT_FOUND), "WOKASYNC0001E");
    assert_string_equal(msg_id(M_AUTH_FAILED), "WOKAUTH0008E");
    assert_string_equal(msg_id(M_AUTH_REQUIRED), "WOKAUTH0002E");
    for (enum msg m = 0; m < MSG_COUNT; m++)
        if (!strncmp(msg_id(m), "WOK", 3))
            assert_true(in_catalogue(msg_id(m)));
}

/* ---- no id outside the table: every error names its id through msgs.def ---- */

static char stray[4096];

static int scan_file(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 2 || (strcmp(path + n - 2, ".c") && strcmp(path + n - 2, ".h")))
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int no = 0;
    while (fgets(line, sizeof(line), f)) {
        no++;
        for (const char *p = line; (p = strpbrk(p, "KW")); p++) {
            char id[24];
            size_t k = 0;
            while (k < sizeof(id) - 1 && isalnum((unsigned char)p[k]))
                id[k] = p[k], k++;
            id[k] = '\0';
            if (well_formed(id) && strlen(stray) < sizeof(stray) - 200)
                snprintf(stray + strlen(stray), sizeof(stray) - strlen(stray), "%s:%d %s\n", path,
                         no, id);
            p += k ? k - 1 : 0;
        }
    }
    fclose(f);
    return 0;
}

static void every_id_comes_from_the_table(void **state)
{
    (void)state;
    stray[0] = '\0';
    assert_int_equal(nftw("src", scan_file, 16, FTW_PHYS), 0);
    if (stray[0])
        fail_msg("error ids written outside src/util/msgs.def:\n%s", stray);
}

static void errors_carry_the_tables_id(void **state)
{
    (void)state;
    struct err e;
    err_set(&e, ERR_STATE, M_VM_START_STATE, "Cannot start \"%s\".", "a");
    assert_string_equal(e.id, "KCHVM0048E");
    assert_string_equal(e.msg, "KCHVM0048E: Cannot start \"a\".");
    assert_true(err_is(&e, M_VM_START_STATE));
    assert_false(err_is(&e, M_VM_START_FAILED));
    /* an id outside the table falls back to the internal error's */
    assert_string_equal(msg_id((enum msg)MSG_COUNT), msg_id(M_API_INTERNAL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_two_names_share_an_id),
        cmocka_unit_test(own_ids_stay_out_of_kimchis_ranges),
        cmocka_unit_test(kimchis_ids_are_kimchis),
        cmocka_unit_test(every_id_comes_from_the_table),
        cmocka_unit_test(errors_carry_the_tables_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
