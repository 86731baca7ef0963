/* wok.c - the root resources of Wok (Kimchi's framework) that Kimchi's UI loads: /config,
 * /config/plugins, /notifications and /logs (the Activity Log, read from the audit trail). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/trail.h"
#include "api_priv.h"

#define LOG_MAX_BYTES (4 * 1024 * 1024) /* the newest 4 MiB of the trail */
#define LOG_MAX_RECORDS 2000

/* The port the client reached us on (from Host, else the scheme's default), as text. */
static void client_port(const struct api_request *req, char *out, size_t len)
{
    const char *host = api_header(req, "Host");
    const char *colon = host ? strrchr(host, ':') : NULL;
    if (colon && !strchr(colon, ']') && colon[1])
        snprintf(out, len, "%.8s", colon + 1);
    else
        snprintf(out, len, "%s", req->tls ? "443" : "80");
}

int api_wok_config(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                   struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)p;
    /* kimchid has no separate proxy or websocket server: both ports are the one the client
     * used, so Wok's UI builds addresses that reach kimchid (its /websockify answers 404) */
    char port[16];
    client_port(req, port, sizeof(port));
    return api_reply_json(rep, 200,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "proxy_port", port,
                                    "websockets_port", port, "auth", "pam", "server_root", "",
                                    "federation", "off", "version", KIMCHID_VERSION),
                          e);
}

int api_wok_plugins(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                    struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)req, (void)p;
    /* Wok reads "enable" from the plugin's .conf file and sends the text it found */
    return api_reply_json(rep, 200,
                          json_pack("[{s:s, s:s, s:[], s:[]}]", "name", "kimchi", "enabled", "True",
                                    "depends", "is_dependency_of"),
                          e);
}

/* kimchid raises no Wok notifications (task ends reach the UI through the tasks), so the list
 * is empty and there is none to delete. */
int api_wok_notifications(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                          struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)req, (void)p;
    return api_reply_json(rep, 200, json_array(), e);
}

int api_wok_notification(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                         struct api_reply *rep, struct err *e)
{
    (void)ctx, (void)req, (void)rep;
    return err_set(e, ERR_NOT_FOUND, M_API_NOTIFICATION, "Notification \"%.64s\" does not exist.",
                   p[0]);
}

/* ---- /logs ---- */

static const char *const log_filters[] = {"app", "date", "ip", "req", "status", "user", "time"};

struct log_walk {
    json_t *records;
    json_t *filters;   /* the query's filters, or NULL for all */
    json_t *task_ends; /* "task N" -> its outcome (from a first pass over the trail: a quick
                        * task may end before its request's own line is written) */
};

/* Wok's record of one audit line: app, date, time, zone, req, status, ip, user, message. */
static json_t *log_record(const struct trail_rec *r, json_t *task_ends)
{
    char method[16] = "", path[2048] = "";
    sscanf(r->request, "%15s %2047s", method, path);
    int status = atoi(r->outcome);
    char message[4600];
    snprintf(message, sizeof(message), "%s %s: %s", method, path, r->outcome);
    long task = -1;
    if (sscanf(r->outcome, "202 task %ld", &task) == 1) {
        char key[32];
        snprintf(key, sizeof(key), "%ld", task);
        const char *end = json_string_value(json_object_get(task_ends, key));
        if (end) { /* as Wok does, the request shows how its task ended */
            status = !strncmp(end, "finished", 8) ? 200 : 400;
            size_t n = strlen(message);
            snprintf(message + n, sizeof(message) - n, " (%s)", end);
        }
    }
    char date[16] = "", time[16] = "";
    sscanf(r->time, "%10[0-9-]T%8[0-9:]", date, time);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "app",
                     strncmp(path, API_PREFIX "/", strlen(API_PREFIX) + 1) ? "wok" : "kimchi",
                     "date", date, "time", time, "zone", "UTC", "req", method, "status", status,
                     "ip", r->from, "user", r->user, "message", message);
}

static bool matches(json_t *record, json_t *filters)
{
    const char *key;
    json_t *want;
    json_object_foreach(filters, key, want)
    {
        json_t *have = json_object_get(record, key);
        char num[24];
        const char *text = json_string_value(have);
        if (json_is_integer(have)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(have));
            text = num;
        }
        if (!text || strcmp(text, json_string_value(want)))
            return false;
    }
    return true;
}

/* First pass: each task's end, kept for its request's record. */
static bool end_line(void *arg, const struct trail_rec *r)
{
    struct log_walk *w = arg;
    long task;
    if (sscanf(r->request, "task %ld", &task) == 1 && task >= 0) {
        char key[32];
        snprintf(key, sizeof(key), "%ld", task);
        if (!json_object_get(w->task_ends, key)) /* newest first: the one that counts */
            json_object_set_new(w->task_ends, key, json_string(r->outcome));
    }
    return true;
}

static bool log_line(void *arg, const struct trail_rec *r)
{
    struct log_walk *w = arg;
    long task;
    if (sscanf(r->request, "task %ld", &task) == 1) /* a task's end: shown with its request */
        return true;
    json_t *rec = log_record(r, w->task_ends);
    if (rec && (!w->filters || matches(rec, w->filters)))
        json_array_append(w->records, rec);
    json_decref(rec);
    return json_array_size(w->records) < LOG_MAX_RECORDS;
}

struct log_query {
    json_t *filters;
    bool download;
    struct err *e;
};

static bool log_param(void *arg, const char *key, const char *value)
{
    struct log_query *q = arg;
    if (!strcmp(key, "download")) {
        q->download = true;
        return true;
    }
    for (size_t i = 0; i < sizeof(log_filters) / sizeof(*log_filters); i++)
        if (!strcmp(key, log_filters[i])) {
            json_object_set_new(q->filters, key, json_string(value ? value : ""));
            return true;
        }
    err_set(q->e, ERR_INVALID, M_LOG_FILTER,
            "Invalid filter parameter \"%.64s\". Filter parameters allowed: app, date, ip, req, "
            "status, user, time.",
            key);
    return false;
}

int api_wok_logs(struct api_ctx *ctx, const struct api_request *req, const char *const *p,
                 struct api_reply *rep, struct err *e)
{
    (void)p;
    struct log_query q = {json_object(), false, e};
    err_clear(e);
    if (req->query_each)
        req->query_each(req->query_cls, log_param, &q);
    bool filtered = json_object_size(q.filters) > 0 || q.download;
    struct log_walk w = {json_array(), filtered ? q.filters : NULL, json_object()};
    int rc = e->code != ERR_NONE ? -1 : trail_each(ctx->audit, LOG_MAX_BYTES, end_line, &w, e);
    if (rc == 0)
        rc = trail_each(ctx->audit, LOG_MAX_BYTES, log_line, &w, e);
    json_decref(w.task_ends);
    json_decref(q.filters);
    if (rc < 0) {
        json_decref(w.records);
        return -1;
    }
    /* Wok answers a filtered search as {uri, records}; kimchid writes no download file */
    if (filtered)
        return api_reply_json(rep, 200, json_pack("{s:n, s:o}", "uri", "records", w.records), e);
    return api_reply_json(rep, 200, w.records, e);
}
