/* test_inventory.c - the guest list's refreshes against libvirt's test driver (in this
 * process, shared by every test:///default connection): a guest kimchid is moving keeps its
 * facts through the refreshes an event starts (its XML is read only once the move ends);
 * nobody following the event stream, nothing is refreshed without an event until a request
 * asks; someone following, a change without an event is announced within the period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libvirt/libvirt.h>

#include "util/bus.h"
#include "virt/virt.h"

/* guest `name`'s VM object in kimchid's list, or NULL when it is not listed */
static json_t *listed_vm(struct virt *v, const char *name)
{
    struct err e;
    char *text = virt_vm_json(v, name, &e);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return o;
}

/* guest `name`'s "state/title" in kimchid's list (a new string). */
static char *listed(struct virt *v, const char *name)
{
    json_t *o = listed_vm(v, name);
    assert_non_null(o);
    char *out = NULL;
    assert_true(asprintf(&out, "%s/%s", json_string_value(json_object_get(o, "state")),
                         json_string_value(json_object_get(o, "title"))) > 0);
    json_decref(o);
    return out;
}

/* Polls the list (the inventory refreshes on libvirt's event) until guest `name` reads `want`. */
static void wait_listed(struct virt *v, const char *name, const char *want)
{
    char *got = NULL;
    for (int i = 0; i < 300; i++) {
        free(got);
        got = listed(v, name);
        if (strcmp(got, want) == 0)
            break;
        usleep(10000);
    }
    assert_string_equal(got, want);
    free(got);
}

/* Each test's kimchid inventory on the shared test driver, a connection of its own and its
 * guest "test". */
struct world {
    struct virt *v;
    virConnectPtr c;
    virDomainPtr d;
};

static int world_open(void **state)
{
    struct err e;
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    assert_non_null(w->v = virt_new("test:///default", &e));
    assert_non_null(w->c = virConnectOpen("test:///default"));
    assert_non_null(w->d = virDomainLookupByName(w->c, "test"));
    *state = w;
    return 0;
}

static int world_close(void **state)
{
    struct world *w = *state;
    virDomainFree(w->d);
    virConnectClose(w->c);
    virt_free(w->v);
    free(w);
    return 0;
}

static void a_guest_being_moved_keeps_its_facts_until_the_move_ends(void **state)
{
    struct world *w = *state;
    struct virt *v = w->v;
    virDomainPtr d = w->d;
    struct err e;
    wait_listed(v, "test", "running/");

    assert_int_equal(virt_busy_claim(v, "test", VIRT_BUSY_MIGRATING, &e), 0);
    assert_int_equal(virDomainSetMetadata(d, VIR_DOMAIN_METADATA_TITLE, "renamed", NULL, NULL,
                                          VIR_DOMAIN_AFFECT_LIVE),
                     0);
    assert_int_equal(virDomainSuspend(d), 0); /* an event: the inventory refreshes */
    wait_listed(v, "test", "paused/");        /* the state, not the re-read title */
    usleep(300000);                           /* ...through the refreshes that follow */
    wait_listed(v, "test", "paused/");

    virt_busy_release(v, "test");
    assert_int_equal(virt_inventory_refresh_guest(v, "test", &e), 0); /* the move's end */
    wait_listed(v, "test", "paused/renamed");

    /* not being moved: an event's refresh reads the XML again at once */
    assert_int_equal(virDomainSetMetadata(d, VIR_DOMAIN_METADATA_TITLE, "again", NULL, NULL,
                                          VIR_DOMAIN_AFFECT_LIVE),
                     0);
    assert_int_equal(virDomainResume(d), 0);
    wait_listed(v, "test", "running/again");

    virDomainSetMetadata(d, VIR_DOMAIN_METADATA_TITLE, NULL, NULL, NULL, VIR_DOMAIN_AFFECT_LIVE);
}

/* guest `name`'s autostart in kimchid's list: 1, 0, or -1 when it is not listed */
static int autostart_of(struct virt *v, const char *name)
{
    json_t *o = listed_vm(v, name);
    int a = o ? (int)json_integer_value(json_object_get(o, "autostart")) : -1;
    json_decref(o);
    return a;
}

static void figures_are_refreshed_while_followed_or_asked_for(void **state)
{
    struct world *w = *state;
    struct virt *v = w->v;
    virDomainPtr d = w->d;
    struct bus *b = bus_new(1 << 20);
    virt_set_events(v, b);
    assert_int_equal(autostart_of(v, "test"), 0);

    /* autostart has no libvirt event: only a refresh without one sees it */
    uint64_t pos = bus_now(b);
    assert_int_equal(virDomainSetAutostart(d, 1), 0);
    usleep(3200000); /* longer than a request lets figures age: nobody follows, and nothing
                        was refreshed */
    assert_int_equal(bus_now(b), pos);
    assert_int_equal(autostart_of(v, "test"), 1); /* a request finds old figures: refreshed */
    assert_true(bus_now(b) > pos);                /* and announced */

    /* someone following: the change is announced within the period, unasked */
    pos = bus_now(b);
    assert_int_equal(virDomainSetAutostart(d, 0), 0);
    char frame[65536];
    bool gap;
    ssize_t n = 0;
    for (int i = 0; i < 10 && n == 0; i++) /* 0: its 500 ms wait ended without a frame */
        n = bus_read(b, &pos, frame, sizeof(frame) - 1, 500, &gap);
    assert_true(n > 0);
    frame[n] = 0;
    assert_non_null(strstr(frame, "\"name\":\"test\""));
    assert_non_null(strstr(frame, "\"autostart\":0"));

    virt_set_events(v, NULL);
    bus_close(b);
    bus_free(b);
}

/* guest `name`'s "persistent/autostart" in kimchid's list ("gone" when it is not listed) */
static char *flags_of(struct virt *v, const char *name)
{
    json_t *o = listed_vm(v, name);
    char *out = NULL;
    assert_true(asprintf(&out, "%s", "gone") > 0);
    if (o) {
        free(out);
        assert_true(
            asprintf(&out, "%s/%d",
                     json_is_true(json_object_get(o, "persistent")) ? "persistent" : "transient",
                     (int)json_integer_value(json_object_get(o, "autostart"))) > 0);
    }
    json_decref(o);
    return out;
}

static void assert_flags(struct virt *v, const char *name, const char *want)
{
    char *got = flags_of(v, name);
    assert_string_equal(got, want);
    free(got);
}

/* A move's end reads its guest alone (not the other guests, which libvirt may have locked):
 * the guest's own persistence and autostart go into the list, the others' stay. */
static void a_guest_read_alone_gets_its_own_persistence_and_autostart(void **state)
{
    struct world *w = *state;
    struct virt *v = w->v;
    virConnectPtr c = w->c;
    virDomainPtr d = w->d;
    struct err e;
    assert_flags(v, "test", "persistent/0");

    assert_int_equal(virDomainSetAutostart(d, 1), 0); /* libvirt sends no event for this */
    assert_int_equal(virt_inventory_refresh_guest(v, "test", &e), 0);
    assert_flags(v, "test", "persistent/1");
    assert_int_equal(virDomainSetAutostart(d, 0), 0);
    assert_int_equal(virt_inventory_refresh_guest(v, "test", &e), 0);
    assert_flags(v, "test", "persistent/0");

    const char *xml = "<domain type='test'><name>tr1</name><memory>65536</memory>"
                      "<os><type>hvm</type></os></domain>";
    virDomainPtr t = virDomainCreateXML(c, xml, 0);
    assert_non_null(t);
    assert_int_equal(virt_inventory_refresh_guest(v, "tr1", &e), 0);
    assert_flags(v, "tr1", "transient/0");
    char *same = virDomainGetXMLDesc(t, 0); /* its UUID too: a definition of the running guest */
    assert_non_null(same);
    virDomainPtr def = virDomainDefineXML(c, same);
    free(same);
    assert_non_null(def);
    assert_int_equal(virt_inventory_refresh_guest(v, "tr1", &e), 0);
    assert_flags(v, "tr1", "persistent/0");
    assert_flags(v, "test", "persistent/0");

    assert_int_equal(virDomainDestroy(t), 0);
    assert_int_equal(virDomainUndefine(def), 0);
    assert_int_equal(virt_inventory_refresh_guest(v, "tr1", &e), 0);
    assert_flags(v, "tr1", "gone");
    assert_flags(v, "test", "persistent/0");

    virDomainFree(def);
    virDomainFree(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_guest_being_moved_keeps_its_facts_until_the_move_ends,
                                        world_open, world_close),
        cmocka_unit_test_setup_teardown(figures_are_refreshed_while_followed_or_asked_for,
                                        world_open, world_close),
        cmocka_unit_test_setup_teardown(a_guest_read_alone_gets_its_own_persistence_and_autostart,
                                        world_open, world_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
