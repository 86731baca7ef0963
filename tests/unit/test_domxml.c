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

/* What is read is the domain's own child of each name, outside any namespace, as the
 * XPath `/domain/...` it replaced: a namespaced element of the same name, a name nested
 * deeper, another tool's `moved` mark, a document that is not a domain are not it. */
static void parse_reads_only_the_domains_own_elements(void **state)
{
    (void)state;
    struct vm_info i;
    struct err e;
    assert_int_equal(
        virt_domxml_parse("<domain xmlns:q='urn:q'><q:name>not-it</q:name><devices><name>deeper"
                          "</name></devices><name>it</name><metadata><moved host='x'/><o:moved "
                          "xmlns:o='urn:other' host='y'/></metadata><os><q:boot dev='cdrom'/>"
                          "<boot dev='hd'/></os><vcpu current=''>3</vcpu></domain>",
                          &i, &e),
        0);
    assert_string_equal(i.name, "it");
    assert_null(i.moved_host);
    assert_string_equal(i.bootorder, "hd");
    assert_int_equal(i.maxvcpus, 3);
    assert_int_equal(i.vcpus, 3); /* an empty attribute is an absent one */
    virt_vm_info_clear(&i);
    assert_int_equal(virt_domxml_parse("<network><name>n</name></network>", &i, &e), -1);
    assert_int_equal(virt_domxml_parse("<domain><name></name></domain>", &i, &e), -1);
}

/* ---- Kimchi's stats from bulk stats records ---- */

static virTypedParameter param(const char *field, unsigned long long v)
{
    virTypedParameter p;
    memset(&p, 0, sizeof(p));
    snprintf(p.field, sizeof(p.field), "%s", field);
    p.type = VIR_TYPED_PARAM_ULLONG;
    p.value.ul = v;
    return p;
}

/* Counters: cpu.time, two interfaces' and two disks' bytes, and memory as given. */
static void counters(virTypedParameter *ps, int *n, unsigned long long cpu_ns,
                     unsigned long long net, unsigned long long io, bool balloon)
{
    *n = 0;
    ps[(*n)++] = param("state.state", VIR_DOMAIN_RUNNING);
    ps[(*n)++] = param("cpu.time", cpu_ns);
    ps[(*n)++] = param("net.0.rx.bytes", net / 2);
    ps[(*n)++] = param("net.1.tx.bytes", net - net / 2);
    ps[(*n)++] = param("net.0.rx.pkts", 999999); /* not bytes: not counted */
    ps[(*n)++] = param("block.0.rd.bytes", io / 4);
    ps[(*n)++] = param("block.1.wr.bytes", io - io / 4);
    ps[(*n)++] = param("block.count", 2);
    if (balloon) {
        ps[(*n)++] = param("balloon.available", 1000000);
        ps[(*n)++] = param("balloon.unused", 750000);
    }
    ps[(*n)++] = param("balloon.rss", 131072);
}

static void stats_are_kimchis_figures(void **state)
{
    (void)state;
    struct vm_info info = {.vcpus = 2, .memory_kib = 262144};
    virTypedParameter ps[16];
    struct _virDomainStatsRecord rec = {.params = ps};
    struct vm_stats first, second, soon, off;
    counters(ps, &rec.nparams, 5000000000ULL, 1000000, 2000000, false);
    virt_stats_compute(&rec, VIR_DOMAIN_RUNNING, &info, NULL, 10000000000LL, &first);
    /* a new guest: no rate yet, memory from QEMU's resident size (128 of 256 MiB) */
    assert_true(first.cpu == 0 && first.net == 0 && first.io == 0);
    assert_true(first.mem > 49.9 && first.mem < 50.1);
    assert_true(first.net_peak == 100 && first.io_peak == 100);
    /* 2 s later: 1 s of CPU over 2 vCPUs = 25 %; 400 kB of network = 200 KB/s; 1 MB of disk
     * = 500 KB/s; the guest's own balloon figures win for memory (25 % used) */
    counters(ps, &rec.nparams, 6000000000ULL, 1400000, 3000000, true);
    virt_stats_compute(&rec, VIR_DOMAIN_RUNNING, &info, &first, 12000000000LL, &second);
    assert_true(second.cpu > 24.9 && second.cpu < 25.1);
    assert_true(second.net > 199.9 && second.net < 200.1);
    assert_true(second.io > 499.9 && second.io < 500.1);
    assert_true(second.mem > 24.9 && second.mem < 25.1);
    assert_true(second.net_peak == second.net && second.io_peak == second.io);
    /* libvirt left the disk and memory groups out (NOWAIT, a migrating guest): those keep
     * their last counters and figures, no spike when they come back */
    struct vm_stats partial;
    int full = rec.nparams;
    counters(ps, &rec.nparams, 7000000000ULL, 1600000, 0, false);
    rec.nparams = 5; /* state, cpu, net: no block, no balloon */
    virt_stats_compute(&rec, VIR_DOMAIN_RUNNING, &info, &second, 14000000000LL, &partial);
    assert_true(partial.io == second.io && partial.io_bytes == second.io_bytes);
    assert_true(partial.mem == second.mem);
    assert_true(partial.net > 99.9 && partial.net < 100.1); /* 200 kB in 2 s */
    rec.nparams = full;
    /* a refresh 0.1 s later keeps the last figures rather than a noisy rate */
    counters(ps, &rec.nparams, 6500000000ULL, 9400000, 3000000, true);
    virt_stats_compute(&rec, VIR_DOMAIN_RUNNING, &info, &second, 12100000000LL, &soon);
    assert_true(soon.cpu == second.cpu && soon.net == second.net && soon.at_ns == second.at_ns);
    /* more CPU than wall time is 100 %, never more */
    counters(ps, &rec.nparams, 60000000000ULL, 1400000, 3000000, true);
    virt_stats_compute(&rec, VIR_DOMAIN_RUNNING, &info, &second, 14000000000LL, &soon);
    assert_true(soon.cpu == 100 && soon.net == 0 && soon.net_peak == second.net_peak);
    /* shut off: no figures, the peaks remembered */
    virt_stats_compute(&rec, VIR_DOMAIN_SHUTOFF, &info, &second, 16000000000LL, &off);
    assert_true(off.cpu == 0 && off.mem == 0 && off.at_ns == 0);
    assert_true(off.net_peak == second.net_peak);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_reads_every_field),
        cmocka_unit_test(parse_reads_only_the_domains_own_elements),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(copy_of_minimal),
        cmocka_unit_test(stats_are_kimchis_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
