/* kimchi.c - Kimchi's resources that describe this host and a guest's devices, which Kimchi's
 * UI loads to show its pages: /config, /config/capabilities, /host, /host/cpuinfo,
 * /templates, and /vms/:name/storages, /ifaces, /snapshots. */
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "../sshc/sshc.h"
#include "../util/maint.h"
#include "../virt/virt.h"
#include "api_priv.h"

int api_kimchi_config(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                      struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)req, (void)p;
    /* Kimchi 3.0's keys: no SPICE web client is bundled */
    return api_reply_json(
        rep, 200, json_pack("{s:s, s:b}", "version", KIMCHID_VERSION, "with_spice_web_client", 0),
        e);
}

/* What kimchid offers of Kimchi's optional features: none of them (no ISO streaming, SPICE
 * console, screenshots, PCI passthrough, memory hot-plug), so Kimchi's UI hides them; and
 * (an extension) the guests' actions from the route table, for kimchid's menu. */
int api_kimchi_capabilities(struct api_ctx *ctx, const struct api_request *req,
                            const char *const *p, struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)req, (void)p;
    return api_reply_json(rep, 200,
                          json_pack("{s:[], s:b, s:b, s:b, s:b, s:b, s:b, s:o}",
                                    "libvirt_stream_protocols", "qemu_spice", 0, "qemu_stream", 0,
                                    "screenshot", 0, "kernel_vfio", 0, "nm_running", 0,
                                    "mem_hotplug_support", 0, "vm_actions", virt_actions_json()),
                          e);
}

/* "maintenance", "maintenance_since", "maintenance_by": this host's maintenance, into `o`. */
static void api_maintenance_fields(json_t *o)
{
    struct maint m;
    maint_get(&m);
    json_object_set_new(o, "maintenance", json_boolean(m.on));
    json_object_set_new(o, "maintenance_since", m.on ? json_string(m.since) : json_null());
    json_object_set_new(o, "maintenance_by", m.on ? json_string(m.by) : json_null());
}

int api_host_get(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    (void)req, (void)p;
    char *text = virt_host_json(ctx->virt, e);
    json_t *host = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!host)
        return text ? err_oom(e) : -1;
    json_t *peers = json_array();
    char *list = sshc_peers_text(), *save = NULL;
    for (char *l = list ? strtok_r(list, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
        json_array_append_new(peers, json_string(l));
    free(list);
    json_object_set_new(host, "peers", peers); /* the Migrate dialog's suggestions */
    api_maintenance_fields(host);
    return api_reply_json(rep, 200, host, e);
}

/* {"enabled": bool}: enters maintenance (moving nothing) or ends it. */
int api_host_maintenance(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                         struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)p;
    bool on = json_is_true(json_object_get(req->json, "enabled"));
    if (maint_set(on, req->who ? req->who->user : NULL, e) < 0)
        return -1;
    json_t *out = json_object();
    if (!out)
        return err_oom(e);
    api_maintenance_fields(out);
    return api_reply_json(rep, 200, out, e);
}

int api_host_cpuinfo(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                     struct api_reply *rep, struct err *e)
{
    (void)req, (void)p;
    return api_reply_text(rep, 200, virt_cpuinfo_json(ctx->virt, e));
}

/* kimchid creates no guests from templates: the honest list is empty. */
int api_templates_list(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                       struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)req, (void)p;
    return api_reply_json(rep, 200, json_array(), e);
}

static int devices(struct api_ctx *ctx, const char *const *p, enum virt_devices kind, bool one,
                   struct api_reply *rep, struct err *e)
{
    if (virt_name_check(p[0], e) < 0)
        return -1;
    return api_reply_text(rep, 200,
                          virt_vm_devices_json(ctx->virt, p[0], kind, one ? p[1] : NULL, e));
}

#define DEVICE_HANDLERS(fn, kind)                                                                  \
    int api_vm_##fn##_list(struct api_ctx *ctx, const struct api_request *req,                     \
                           const char *const *p, struct api_reply *rep, struct err *e)             \
    {                                                                                              \
        (void)req;                                                                                 \
        return devices(ctx, p, kind, false, rep, e);                                               \
    }                                                                                              \
    int api_vm_##fn##_get(struct api_ctx *ctx, const struct api_request *req,                      \
                          const char *const *p, struct api_reply *rep, struct err *e)              \
    {                                                                                              \
        (void)req;                                                                                 \
        return devices(ctx, p, kind, true, rep, e);                                                \
    }

DEVICE_HANDLERS(storages, VIRT_STORAGES)
DEVICE_HANDLERS(ifaces, VIRT_IFACES)
DEVICE_HANDLERS(snapshots, VIRT_SNAPSHOTS)
