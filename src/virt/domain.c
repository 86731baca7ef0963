/* domain.c - reading one guest from the snapshot, lifecycle actions and delete. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/array.h"
#include "../util/log.h"
#include "virt_priv.h"

/* The UTF-8 of a character that reorders how text around it is shown. */
static bool bidi_control(const char *name)
{
    static const char *const controls[] = {
        "\xe2\x80\x8e", "\xe2\x80\x8f", "\xd8\x9c", /* LRM, RLM, ALM */
        "\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae",
        "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9"};
    for (size_t i = 0; i < ARRAY_SIZE(controls); i++)
        if (strstr(name, controls[i]))
            return true;
    return false;
}

int virt_name_check(const char *name, struct err *e)
{
    size_t len = strlen(name);
    if (len == 0 || len > 200)
        return err_set(e, ERR_INVALID, M_VM_BAD_NAME,
                       "A guest name must be 1 to 200 characters long.");
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return err_set(e, ERR_INVALID, M_VM_BAD_NAME,
                       "A guest cannot be named \".\" or \"..\" (they name directories in "
                       "paths and URIs). Choose another name.");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/' || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return err_set(e, ERR_INVALID, M_VM_BAD_NAME,
                           "A guest name cannot contain '/' or control characters.");
    if (bidi_control(name))
        return err_set(e, ERR_INVALID, M_VM_BAD_NAME,
                       "A guest name cannot contain bidirectional text controls (U+200E, U+200F, "
                       "U+061C, U+202A to U+202E, U+2066 to U+2069): they make a name read as "
                       "another one. Remove them.");
    return 0;
}

virDomainPtr virt_domain_lookup(virConnectPtr c, const char *name, struct err *e)
{
    virDomainPtr d = virDomainLookupByName(c, name);
    if (d)
        return d;
    virErrorPtr le = virGetLastError();
    if (le && le->code == VIR_ERR_NO_DOMAIN)
        err_set(e, ERR_NOT_FOUND, M_VM_NOT_FOUND, "Virtual machine \"%s\" does not exist.", name);
    else
        virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot look the guest up");
    return NULL;
}

int virt_with_domain(struct virt *v, const char *name, virt_domain_fn fn, void *arg, struct err *e)
{
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return -1;
    virDomainPtr d = virt_domain_lookup(c, name, e);
    int rc = d ? fn(c, d, arg, e) : -1;
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct virt_guest_brief *)a)->name,
                  ((const struct virt_guest_brief *)b)->name);
}

int virt_guest_list(struct virt *v, struct virt_guest_brief **out, size_t *n, struct err *e)
{
    *out = NULL;
    *n = 0;
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return -1;
    virDomainPtr *doms = NULL;
    int nd = virConnectListAllDomains(c, &doms, 0);
    int rc = nd < 0 ? virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot list the guests") : 0;
    if (nd > 0 && !(*out = calloc((size_t)nd, sizeof(**out))))
        rc = err_oom(e);
    for (int i = 0; i < nd; i++) {
        int st = VIR_DOMAIN_NOSTATE, reason;
        if (rc == 0 && virDomainGetState(doms[i], &st, &reason, 0) == 0) {
            struct virt_guest_brief *g = &(*out)[(*n)++];
            snprintf(g->name, sizeof(g->name), "%s", virDomainGetName(doms[i]));
            g->state = st;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(c);
    if (rc == 0 && *n > 1)
        qsort(*out, *n, sizeof(**out), by_name);
    return rc;
}

void virt_vms_body(struct virt *v, bool gzip, struct virt_body *out)
{
    virt_inventory_fresh(v);
    struct snapshot *s = virt_snapshot_get(v);
    bool gz = gzip && s->list_gz;
    *out = (struct virt_body){.data = gz ? s->list_gz : s->list_json,
                              .len = gz ? s->list_gz_len : s->list_len,
                              .gzip = gz,
                              .gen = s->gen,
                              .ref = s};
}

void virt_body_release(void *ref)
{
    virt_snapshot_put(ref);
}

/* Copies the guest's JSON from the snapshot; on a miss, asks libvirt once whether the
 * guest exists (it may be newer than the snapshot) and refreshes if so. */
char *virt_vm_json(struct virt *v, const char *name, struct err *e)
{
    virt_inventory_fresh(v);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct snapshot *s = virt_snapshot_get(v);
        long i = virt_snapshot_find(s, name);
        char *out = i >= 0 ? strndup(s->list_json + s->spans[i].at, s->spans[i].len) : NULL;
        virt_snapshot_put(s);
        if (out)
            return out;
        if (attempt == 1)
            break;
        virConnectPtr c = virt_conn_get(v, e);
        if (!c)
            return NULL;
        virDomainPtr d = virt_domain_lookup(c, name, e);
        virConnectClose(c);
        if (!d)
            return NULL;
        virDomainFree(d);
        if (virt_inventory_refresh_guest(v, name, e) < 0)
            return NULL;
    }
    err_set(e, ERR_NOT_FOUND, M_VM_NOT_FOUND, "Virtual machine \"%s\" does not exist.", name);
    return NULL;
}

static int domain_state(virDomainPtr d, struct err *e)
{
    int state, reason;
    if (virDomainGetState(d, &state, &reason, 0) < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot read the guest's state");
    return state;
}

static int state_fn(virConnectPtr c, virDomainPtr d, void *out, struct err *e)
{
    (void)c;
    int state = domain_state(d, e);
    if (state < 0)
        return -1;
    snprintf(out, 16, "%s", virt_state_name(state));
    return 0;
}

int virt_vm_state(struct virt *v, const char *name, char *out, struct err *e)
{
    return virt_with_domain(v, name, state_fn, out, e);
}

/* The API's route table says which states allow each action; libvirt refuses the rest. */
_Static_assert((int)VIRT_ST_RUNNING == (int)VIR_DOMAIN_RUNNING &&
                   (int)VIRT_ST_SHUTOFF == (int)VIR_DOMAIN_SHUTOFF &&
                   (int)VIRT_ST_PMSUSPENDED == (int)VIR_DOMAIN_PMSUSPENDED &&
                   (int)VIRT_NSTATES == (int)VIR_DOMAIN_PMSUSPENDED + 1,
               "enum virt_state follows virDomainState");

static int state_id_fn(virConnectPtr c, virDomainPtr d, void *out, struct err *e)
{
    (void)c;
    int state = domain_state(d, e);
    if (state < 0)
        return -1;
    *(int *)out = state >= 0 && state < VIRT_NSTATES ? state : VIRT_ST_NOSTATE;
    return 0;
}

int virt_vm_state_id(struct virt *v, const char *name, struct err *e)
{
    int state;
    return virt_with_domain(v, name, state_id_fn, &state, e) < 0 ? -1 : state;
}

struct action_def {
    const char *verb; /* for messages */
    int (*run)(virDomainPtr d);
    enum msg failed; /* Kimchi's "unable to X" id, libvirt's reason following */
};

static int run_shutdown(virDomainPtr d)
{
    return virDomainShutdown(d);
}

static int run_reset(virDomainPtr d)
{
    return virDomainReset(d, 0);
}

static int run_reboot(virDomainPtr d)
{
    return virDomainReboot(d, 0);
}

static const struct action_def actions[] = {
    [VIRT_START] = {"start", virDomainCreate, M_VM_START_FAILED},
    [VIRT_POWEROFF] = {"power off", virDomainDestroy, M_VM_POWEROFF_FAILED},
    [VIRT_SHUTDOWN] = {"shut down", run_shutdown, M_VM_SHUTDOWN_FAILED},
    [VIRT_RESET] = {"reset", run_reset, M_VM_RESET_FAILED},
    [VIRT_SUSPEND] = {"suspend", virDomainSuspend, M_VM_SUSPEND_FAILED},
    [VIRT_RESUME] = {"resume", virDomainResume, M_VM_RESUME_FAILED},
    [VIRT_START_FORCE] = {"start", virDomainCreate, M_VM_START_FAILED},
    [VIRT_REBOOT] = {"reboot", run_reboot, M_VM_REBOOT_FAILED},
};

/* Starting the old definition of a guest kimchid moved elsewhere would run a second copy:
 * refused unless forced; a forced start drops the mark (the person said they know). */
static int moved_guard(virDomainPtr d, const char *name, enum virt_action act, struct err *e)
{
    char host[256], at[64];
    if (act != VIRT_START && act != VIRT_START_FORCE)
        return 0;
    if (!virt_moved_read(d, host, sizeof(host), at, sizeof(at)))
        return 0;
    if (act == VIRT_START_FORCE)
        return virt_moved_set(d, NULL, e);
    return err_set(e, ERR_CONFLICT, M_MIG_MOVED,
                   "\"%s\" was moved to \"%s\" at %s and should be running there; this is its "
                   "old definition, and starting it would run a second copy of the guest. If you "
                   "know the guest is not running on \"%s\", start it with {\"force\": true}.",
                   name, host, at[0] ? at : "an unknown time", host);
}

static int run_action(virDomainPtr d, const char *name, const struct action_def *a, struct err *e)
{
    if (a->run(d) < 0) {
        char what[300];
        snprintf(what, sizeof(what), "Cannot %s virtual machine \"%s\"", a->verb, name);
        return virt_err_libvirt(e, ERR_BACKEND, a->failed, what);
    }
    log_info("guest \"%s\": %s", name, a->verb);
    return 0;
}

/* Tries the fullest undefine first; drivers that lack a flag (the test driver) get fewer. */
static int undefine(virDomainPtr d, const char *name, struct err *e)
{
    const unsigned int tries[] = {
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
            VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM,
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    };
    for (size_t i = 0; i < ARRAY_SIZE(tries); i++) {
        if (virDomainUndefineFlags(d, tries[i]) == 0)
            return 0;
        virErrorPtr le = virGetLastError();
        if (!le || (le->code != VIR_ERR_NO_SUPPORT && le->code != VIR_ERR_INVALID_ARG))
            break;
    }
    char what[300];
    snprintf(what, sizeof(what), "Cannot delete virtual machine \"%s\"", name);
    return virt_err_libvirt(e, ERR_BACKEND, M_VM_DELETE_FAILED, what);
}

static int delete_domain(virDomainPtr d, const char *name, struct err *e)
{
    int state = domain_state(d, e);
    if (state < 0)
        return -1;
    int persistent = virDomainIsPersistent(d);
    if (state != VIR_DOMAIN_SHUTOFF && virDomainDestroy(d) < 0) {
        char what[300];
        snprintf(what, sizeof(what), "Cannot power off virtual machine \"%s\"", name);
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_DELETE_FAILED, what);
    }
    if (persistent == 1 && undefine(d, name, e) < 0)
        return -1;
    log_info("guest \"%s\": deleted (disk images kept)", name);
    return 0;
}

/* libvirt's own view of who owns the guest: a job (a migration started by virsh, or by a
 * kimchid that restarted meanwhile) makes every change wait, as a kimchid task does. */
static int no_libvirt_job(virDomainPtr d, struct err *e)
{
    int type = VIR_DOMAIN_JOB_NONE, n = 0;
    virTypedParameterPtr params = NULL;
    int rc = virDomainGetJobStats(d, &type, &params, &n, 0);
    virTypedParamsFree(params, n);
    if (rc < 0 || type == VIR_DOMAIN_JOB_NONE)
        return 0; /* no job, or a driver that cannot tell (the test driver) */
    const char *name = virDomainGetName(d);
    return err_set(e, ERR_CONFLICT, M_MIG_JOB,
                   "libvirt is running a job on virtual machine \"%s\" (a migration or another "
                   "long operation, started outside kimchid or before it restarted). Wait for it "
                   "to end, or stop it (virsh domjobabort %s), then try again.",
                   name, name);
}

static int job_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    (void)arg;
    return no_libvirt_job(d, e);
}

int virt_vm_job_check(struct virt *v, const char *name, struct err *e)
{
    return virt_with_domain(v, name, job_fn, NULL, e);
}

struct guarded {
    virt_domain_fn fn;
    void *arg;
};

static int guarded_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    const struct guarded *g = arg;
    return no_libvirt_job(d, e) < 0 ? -1 : g->fn(c, d, g->arg, e);
}

/* Runs fn on guest `name` unless a task or a libvirt job owns it, then refreshes the snapshot
 * so that the reply and the next GET see the change. */
static int with_guest(struct virt *v, const char *name, virt_domain_fn fn, void *arg, struct err *e)
{
    if (virt_busy_check(v, name, e) < 0)
        return -1;
    struct guarded g = {fn, arg};
    int rc = virt_with_domain(v, name, guarded_fn, &g, e);
    if (rc == 0)
        rc = virt_inventory_refresh_guest(v, name, e);
    return rc;
}

static int action_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    const struct action_def *a = arg;
    const char *name = virDomainGetName(d);
    if (moved_guard(d, name, (enum virt_action)(a - actions), e) < 0)
        return -1;
    return run_action(d, name, a, e);
}

static int delete_fn(virConnectPtr c, virDomainPtr d, void *arg, struct err *e)
{
    (void)c;
    (void)arg;
    return delete_domain(d, virDomainGetName(d), e);
}

int virt_vm_action(struct virt *v, const char *name, enum virt_action act, struct err *e)
{
    return with_guest(v, name, action_fn, (void *)&actions[act], e);
}

int virt_vm_delete(struct virt *v, const char *name, struct err *e)
{
    return with_guest(v, name, delete_fn, NULL, e);
}

static int autostart_fn(virConnectPtr c, virDomainPtr d, void *on, struct err *e)
{
    (void)c;
    int flag = 0;
    if (virDomainIsPersistent(d) == 1 && virDomainGetAutostart(d, &flag) < 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_VM_READ, "Cannot read the guest's autostart");
    *(bool *)on = flag == 1;
    return 0;
}

int virt_vm_autostart(struct virt *v, const char *name, bool *on, struct err *e)
{
    return virt_with_domain(v, name, autostart_fn, on, e);
}
