/* api_priv.h - handler signature and the handlers of each resource file. */
#ifndef KIMCHID_API_PRIV_H
#define KIMCHID_API_PRIV_H

#include <jansson.h>

#include "../util/jsonv.h"

#include "api.h"

#define API_MAX_PARAMS 4

/* A handler fills `rep` and returns 0, or returns -1 with `e` set. params[] are the
 * decoded ":" segments of the route, in order. */
typedef int (*api_handler_fn)(struct api_ctx *ctx, const struct api_request *req,
                              const char *const *params, struct api_reply *rep, struct err *e);

/* Who may use a route; a change always needs an administrator. */
enum api_access {
    API_LOGIN,  /* anyone logged in */
    API_PUBLIC, /* without a login (/login, /logout, Wok's /config) */
    API_ADMIN,  /* only an administrator, even to read (the activity log: who did what, from where)
                 */
};

/* What a route that acts on one guest (/vms/:name...) allows. */
struct api_vm_rule {
    const char *label;   /* its item in the guests' menu ("Power off"); NULL: not an action */
    unsigned int states; /* VIRT_BIT()s of the guest states that allow it */
    enum msg refused;    /* the 400's id when the guest's state does not */
    const char *why;     /* ...and why not: "it is not running" */
    int act;             /* enum virt_action run by api_vm_act */
};

/* One row of the route table: the request's whole shape. The router checks what the row
 * says (login and role, the guest's name, the body's fields, the guest's state) before the
 * handler runs; the handler finds the parsed body in req->json and its row in req->route. */
struct api_route {
    const char *method;
    const char *pattern; /* absolute; ":" stands for one segment */
    api_handler_fn handler;
    enum api_access access;
    const struct jsonv_field *fields; /* what a body may hold (none: empty or {}); GET: unread */
    size_t nfields;
    struct api_vm_rule vm;
};

/* Sets a reply whose body is already JSON text (stolen), as the virt layer makes it; -1 when
 * `json` is NULL (its producer failed and set the error). */
int api_reply_text(struct api_reply *rep, int status, char *json);

/* Sets a JSON reply; `body` is stolen. Returns 0, or -1 with `e` when it cannot be dumped. */
int api_reply_json(struct api_reply *rep, int status, json_t *body, struct err *e);

/* filter.c: `list` (stolen) filtered by the request's query parameters as Wok does (see
 * filter.c); NULL with a 400 in `e` for a bad filter. */
json_t *api_filter(const struct api_request *req, json_t *list, struct err *e);

/* vms.c */
int api_vms_list(struct api_ctx *, const struct api_request *, const char *const *,
                 struct api_reply *, struct err *);
int api_vm_get(struct api_ctx *, const struct api_request *, const char *const *,
               struct api_reply *, struct err *);
int api_vm_delete(struct api_ctx *, const struct api_request *, const char *const *,
                  struct api_reply *, struct err *);
int api_vm_start(struct api_ctx *, const struct api_request *, const char *const *,
                 struct api_reply *, struct err *);
/* the action named by the row's vm.act, the guest's state checked by the router */
int api_vm_act(struct api_ctx *, const struct api_request *, const char *const *,
               struct api_reply *, struct err *);
int api_vm_clone(struct api_ctx *, const struct api_request *, const char *const *,
                 struct api_reply *, struct err *);

/* tasks.c */
int api_task_cancel(struct api_ctx *, const struct api_request *, const char *const *,
                    struct api_reply *, struct err *);
int api_task_recover(struct api_ctx *, const struct api_request *, const char *const *,
                     struct api_reply *, struct err *);

/* migrate.c */
int api_vm_migrate(struct api_ctx *, const struct api_request *, const char *const *,
                   struct api_reply *, struct err *);

/* login.c */
int api_login(struct api_ctx *, const struct api_request *, const char *const *, struct api_reply *,
              struct err *);
int api_logout(struct api_ctx *, const struct api_request *, const char *const *,
               struct api_reply *, struct err *);
int api_session_get(struct api_ctx *, const struct api_request *, const char *const *,
                    struct api_reply *, struct err *);

/* wok.c: Wok's root resources */
int api_wok_config(struct api_ctx *, const struct api_request *, const char *const *,
                   struct api_reply *, struct err *);
int api_wok_plugins(struct api_ctx *, const struct api_request *, const char *const *,
                    struct api_reply *, struct err *);
int api_wok_notifications(struct api_ctx *, const struct api_request *, const char *const *,
                          struct api_reply *, struct err *);
int api_wok_notification(struct api_ctx *, const struct api_request *, const char *const *,
                         struct api_reply *, struct err *);
int api_wok_logs(struct api_ctx *, const struct api_request *, const char *const *,
                 struct api_reply *, struct err *);

/* kimchi.c: this host and a guest's devices */
int api_kimchi_config(struct api_ctx *, const struct api_request *, const char *const *,
                      struct api_reply *, struct err *);
int api_kimchi_capabilities(struct api_ctx *, const struct api_request *, const char *const *,
                            struct api_reply *, struct err *);
int api_host_get(struct api_ctx *, const struct api_request *, const char *const *,
                 struct api_reply *, struct err *);
int api_host_evacuate(struct api_ctx *, const struct api_request *, const char *const *,
                      struct api_reply *, struct err *);
int api_host_maintenance(struct api_ctx *, const struct api_request *, const char *const *,
                         struct api_reply *, struct err *);
int api_host_sshkey(struct api_ctx *, const struct api_request *, const char *const *,
                    struct api_reply *, struct err *);
int api_host_cpuinfo(struct api_ctx *, const struct api_request *, const char *const *,
                     struct api_reply *, struct err *);
int api_templates_list(struct api_ctx *, const struct api_request *, const char *const *,
                       struct api_reply *, struct err *);
int api_vm_storages_list(struct api_ctx *, const struct api_request *, const char *const *,
                         struct api_reply *, struct err *);
int api_vm_storages_get(struct api_ctx *, const struct api_request *, const char *const *,
                        struct api_reply *, struct err *);
int api_vm_ifaces_list(struct api_ctx *, const struct api_request *, const char *const *,
                       struct api_reply *, struct err *);
int api_vm_ifaces_get(struct api_ctx *, const struct api_request *, const char *const *,
                      struct api_reply *, struct err *);
int api_vm_snapshots_list(struct api_ctx *, const struct api_request *, const char *const *,
                          struct api_reply *, struct err *);
int api_vm_snapshots_get(struct api_ctx *, const struct api_request *, const char *const *,
                         struct api_reply *, struct err *);

/* gate.c: who is asking, and may they. Fills `who`. */
int api_gate(struct api_ctx *ctx, const struct api_request *req, const struct api_route *r,
             struct auth_identity *who, struct api_reply *rep, struct err *e);

/* gate.c: the session token from the Cookie header into out (AUTH_TOKEN_LEN + 1), or "". */
void api_cookie_token(const struct api_request *req, char *out, size_t len);

/* A request header (borrowed) or NULL. */
const char *api_header(const struct api_request *req, const char *name);

/* tasks.c */
int api_events(struct api_ctx *, const struct api_request *, const char *const *,
               struct api_reply *, struct err *);
int api_tasks_list(struct api_ctx *, const struct api_request *, const char *const *,
                   struct api_reply *, struct err *);
int api_task_get(struct api_ctx *, const struct api_request *, const char *const *,
                 struct api_reply *, struct err *);

/* router.c, for the unit tests: matches an absolute `path` against the table. */
const struct api_route *api_route_match(const char *method, const char *path,
                                        char params[API_MAX_PARAMS][256], char *allow,
                                        size_t allowlen, struct err *e);

#endif
