/* test_storage.c - which filesystem holds a disk, read from a mount table, decides whether a
 * migration leaves the disk in place (shared) or copies it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "move/move_priv.h"

static char table[64];

static int write_table(void **state)
{
    (void)state;
    snprintf(table, sizeof(table), "/tmp/kimchid-mountinfo-XXXXXX");
    int fd = mkstemp(table);
    FILE *f = fdopen(fd, "w");
    fputs("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
          "30 22 0:40 / /var/lib/libvirt rw - ext4 /dev/vda rw\n"
          "31 30 0:41 / /var/lib/libvirt/shared rw,relatime - fuse.glusterfs 198.18.0.3:/vol0 rw\n"
          "32 30 0:42 / /var/lib/libvirt/shared-not rw - xfs /dev/vdb rw\n"
          "33 22 0:43 / /mnt/my\\040nfs rw - nfs4 srv:/export rw\n"
          "broken line without a separator\n",
          f);
    fclose(f);
    return 0;
}

static int remove_table(void **state)
{
    (void)state;
    unlink(table);
    return 0;
}

static const char *type_of(const char *path)
{
    static char type[64];
    virt_fs_type(table, path, type, sizeof(type));
    return type;
}

static void the_longest_mount_point_decides(void **state)
{
    (void)state;
    assert_string_equal(type_of("/var/lib/libvirt/shared/vm.qcow2"), "fuse.glusterfs");
    assert_string_equal(type_of("/var/lib/libvirt/images/vm.qcow2"), "ext4");
    assert_string_equal(type_of("/home/x.img"), "ext4");
}

static void a_mount_point_matches_whole_path_components_only(void **state)
{
    (void)state;
    assert_string_equal(type_of("/var/lib/libvirt/shared-not/vm.qcow2"), "xfs");
    assert_string_equal(type_of("/var/lib/libvirt/sharedx"), "ext4");
}

static void escaped_mount_points_are_read(void **state)
{
    (void)state;
    assert_string_equal(type_of("/mnt/my nfs/disk.raw"), "nfs4");
}

static void a_missing_table_says_unknown(void **state)
{
    (void)state;
    char type[32];
    virt_fs_type("/nonexistent/mountinfo", "/x", type, sizeof(type));
    assert_string_equal(type, "unknown");
}

static void a_disk_is_copied_only_when_local_and_writable(void **state)
{
    (void)state;
    struct virt_disk local = {.path = "/a.qcow2"}, shared = {.path = "/b", .shared = true},
                     cdrom = {.path = "/c.iso", .readonly = true}, net = {.network = true};
    assert_true(virt_disk_copied(&local));
    assert_false(virt_disk_copied(&shared));
    assert_false(virt_disk_copied(&cdrom));
    assert_false(virt_disk_copied(&net));
    struct virt_disk all[] = {local, shared, cdrom, net, local};
    struct virt_storage s = {all, 5};
    assert_int_equal(virt_storage_copies(&s), 2);
}

/* Names that would mislead: path components, control characters, bidirectional controls. */
static void guest_names_that_mislead_are_refused(void **state)
{
    (void)state;
    struct err e;
    const char *bad[] = {".",
                         "..",
                         "a/b",
                         "tab\there",
                         "c1\xc2\x85",
                         "evil\xe2\x80\xaegpj.exe",
                         "x\xe2\x81\xa6y",
                         "rlm\xe2\x80\x8f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(virt_name_check(bad[i], &e), -1);
        assert_int_equal(e.code, ERR_INVALID);
    }
    assert_int_equal(virt_name_check("..", &e), -1);
    assert_non_null(strstr(e.msg, "cannot be named \".\" or \"..\""));
    assert_int_equal(virt_name_check("x\xe2\x80\xaey", &e), -1);
    assert_non_null(strstr(e.msg, "bidirectional text controls"));
    const char *good[] = {"vm-one", "50%off", "my guest", "gäst-ñ", "...x", "a.b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(virt_name_check(good[i], &e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_longest_mount_point_decides),
        cmocka_unit_test(a_mount_point_matches_whole_path_components_only),
        cmocka_unit_test(escaped_mount_points_are_read),
        cmocka_unit_test(a_missing_table_says_unknown),
        cmocka_unit_test(a_disk_is_copied_only_when_local_and_writable),
        cmocka_unit_test(guest_names_that_mislead_are_refused),
    };
    return cmocka_run_group_tests(tests, write_table, remove_table);
}
