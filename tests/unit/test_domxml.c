/* test_domxml.c - the guest facts read from libvirt's XML, and their copy: the inventory
 * keeps copies of these across refreshes, so a shallow copy of any string field is a
 * use-after-free as soon as the original is cleared (ASan reports it here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "virt/virt_priv.h"

/* Every field of struct vm_info set to a value of its own. */
static const char FULL[] =
    "<domain type='qemu'><name>vm-50%off é</name>"
    "<uuid>5ce3ca08-21a7-4a90-b350-b55c52b6c993</uuid>"
    "<title>A title</title><description>A description</description>"
    "<metadata><k:moved xmlns:k='" VIRT_META_NS "' host='host-b' at='2026-11-26T10:00:00Z'/>"
    "</metadata>"
    "<memory unit='MiB'>512</memory><currentMemory unit='KiB'>262144</currentMemory>"
    "<vcpu current='2'>4</vcpu>"
    "<os><type>hvm</type><boot dev='network'/><boot dev='hd'/><bootmenu enable='yes'/></os>"
    "<devices><graphics type='vnc' port='5901' listen='127.0.0.1'/></devices></domain>";

static void expect_full(const struct vm_info *i)
{
    assert_string_equal(i->name, "vm-50%off é");
    assert_string_equal(i->uuid, "5ce3ca08-21a7-4a90-b350-b55c52b6c993");
    assert_string_equal(i->title, "A title");
    assert_string_equal(i->description, "A description");
    assert_int_equal(i->memory_kib, 262144);
    assert_int_equal(i->maxmemory_kib, 524288);
    assert_int_equal(i->vcpus, 2);
    assert_int_equal(i->maxvcpus, 4);
    assert_string_equal(i->graphics_type, "vnc");
    assert_string_equal(i->graphics_listen, "127.0.0.1");
    assert_int_equal(i->graphics_port, 5901);
    assert_string_equal(i->moved_host, "host-b");
    assert_string_equal(i->moved_at, "2026-11-26T10:00:00Z");
    assert_string_equal(i->bootorder, "network hd");
    assert_true(i->bootmenu);
}

static void parse_reads_every_field(void **state)
{
    (void)state;
    struct vm_info i;
    struct err e = {0};
    assert_int_equal(virt_domxml_parse(FULL, &i, &e), 0);
    expect_full(&i);
    virt_vm_info_clear(&i);
}

/* The copy owns its strings: clearing (freeing) the original leaves it whole. */
static void copy_is_deep(void **state)
{
    (void)state;
    struct vm_info src, dst;
    struct err e = {0};
    assert_int_equal(virt_domxml_parse(FULL, &src, &e), 0);
    assert_int_equal(virt_vm_info_copy(&dst, &src), 0);
    assert_ptr_not_equal(src.name, dst.name);
    assert_ptr_not_equal(src.description, dst.description);
    assert_ptr_not_equal(src.graphics_type, dst.graphics_type);
    assert_ptr_not_equal(src.graphics_listen, dst.graphics_listen);
    assert_ptr_not_equal(src.moved_at, dst.moved_at);
    assert_ptr_not_equal(src.bootorder, dst.bootorder);
    assert_ptr_not_equal(src.title, dst.title);
    assert_ptr_not_equal(src.moved_host, dst.moved_host);
    virt_vm_info_clear(&src);
    expect_full(&dst);
    virt_vm_info_clear(&dst);
}

/* A guest without the optional parts: NULL strings copy as NULL. */
static void copy_of_minimal(void **state)
{
    (void)state;
    struct vm_info src, dst;
    struct err e = {0};
    assert_int_equal(
        virt_domxml_parse("<domain><name>m</name><memory>1024</memory></domain>", &src, &e), 0);
    assert_int_equal(virt_vm_info_copy(&dst, &src), 0);
    virt_vm_info_clear(&src);
    assert_string_equal(dst.name, "m");
    assert_null(dst.title);
    assert_null(dst.graphics_type);
    assert_null(dst.moved_host);
    assert_null(dst.bootorder);
    assert_false(dst.bootmenu);
    assert_int_equal(dst.graphics_port, -1);
    assert_int_equal(dst.vcpus, 1);
    virt_vm_info_clear(&dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_reads_every_field),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(copy_of_minimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
