/* fuzz_request.c - libFuzzer harness: arbitrary method, URI, headers and body through the
 * router, the gate (cookie, Basic and Origin parsing), JSON parsing and field validation,
 * the name checks, and the task filters (the URI's query, as patterns, on a task list).
 * Input: "METHOD\nURI\nHeader: value\n...\n\nBODY". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_priv.h"
#include "util/b64.h"
#include "util/net.h"
#include "virt/virt.h"

struct input {
    char *method, *path, *headers, *body;
    size_t body_len;
};

/* Splits a copy of the data at the first newlines; pointers into `buf`. */
static void split(char *buf, size_t len, struct input *in)
{
    char *end = buf + len, *p = buf;
    char *fields[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        fields[i] = p;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    in->method = fields[0];
    in->path = fields[1] ? fields[1] : (char *)"/";
    in->headers = p;
    char *blank = strstr(p, "\n\n");
    if (blank) {
        *blank = '\0';
        in->body = blank + 2;
        in->body_len = (size_t)(end - in->body);
    } else {
        in->body = NULL;
        in->body_len = 0;
    }
}

static const char *header(void *cls, const char *key)
{
    static char value[1024];
    size_t n = strlen(key);
    for (const char *line = cls; line && *line;) {
        size_t l = strcspn(line, "\n");
        if (l > n + 1 && strncasecmp(line, key, n) == 0 && line[n] == ':') {
            size_t v = l - n - 1 < sizeof(value) - 1 ? l - n - 1 : sizeof(value) - 1;
            memcpy(value, line + n + 1, v);
            value[v] = '\0';
            return value + (value[0] == ' ');
        }
        line += l + (line[l] == '\n');
    }
    return NULL;
}

static void check_strings(json_t *o)
{
    const char *k;
    json_t *v;
    struct err e;
    json_object_foreach(o, k, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        net_host_check(s, &e);
        net_user_check(s, &e);
        virt_name_check(s, &e);
    }
}

static const struct jsonv_field migrate_fields[] = {
    {.name = "remote_host", .type = JSONV_STRING, .required = true},
    {.name = "user", .type = JSONV_STRING, .hi = 64},
    {.name = "password", .type = JSONV_STRING},
    {.name = "delete_source", .type = JSONV_BOOL},
    {.name = "bandwidth", .type = JSONV_INT, .lo = 1, .hi = 100000, .bounds_id = M_MIG_BANDWIDTH},
};

/* Each key=value of the text after the URI's '?' (as given: no %-decoding), '&'-separated. */
static void query_each(void *cls, bool (*fn)(void *ctx, const char *key, const char *value),
                       void *ctx)
{
    char *q = strchr((char *)cls, '?');
    if (!q)
        return;
    char *copy = strdup(q + 1), *save = NULL;
    for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq = '\0';
        if (!fn(ctx, kv, eq ? eq + 1 : ""))
            break;
    }
    free(copy);
}

static void filter_tasks(const char *uri)
{
    struct api_request req = {.method = "GET", .query_each = query_each, .query_cls = (void *)uri};
    json_t *list = json_pack("[{s:s,s:s,s:s,s:i},{s:s,s:s,s:s,s:i}]", "target_uri",
                             "/plugins/kimchi/vms/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/migrate",
                             "status", "running", "message", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
                             "id", 1, "target_uri", "/plugins/kimchi/vms/b/clone", "status",
                             "failed", "message", "", "id", 22);
    struct err e;
    json_decref(api_filter(&req, list, &e));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    struct input in;
    split(buf, size, &in);
    struct api_ctx ctx = {0}; /* no libvirt: the gate answers 401 before any handler */
    struct api_request req = {.method = in.method, .path = in.path, .body = in.body,
                              .body_len = in.body_len, .header = header, .header_cls = in.headers,
                              .peer = "127.0.0.1"};
    struct api_reply rep;
    if (in.path[0] == '/')
        api_handle(&ctx, &req, &rep), api_reply_clear(&rep);
    filter_tasks(in.path);
    struct err e;
    json_t *o = jsonv_parse_object(in.body, in.body_len, &e);
    if (o) {
        jsonv_check(o, migrate_fields, 5, &e);
        check_strings(o);
        json_decref(o);
    }
    char out[512];
    const char *authz = header(in.headers, "Authorization");
    if (authz)
        b64_decode(authz, out, sizeof(out));
    free(buf);
    return 0;
}
