/* err.c - error carrier and the one table mapping error codes to HTTP. */
#include "err.h"
#include "array.h"
#include "esc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    enum err_code code;
    int status;
    const char *line;
} status_table[] = {
    {ERR_INVALID, 400, "400 Bad Request"},
    {ERR_STATE, 400, "400 Bad Request"},
    {ERR_AUTH, 401, "401 Unauthorized"},
    {ERR_FORBIDDEN, 403, "403 Forbidden"},
    {ERR_NOT_FOUND, 404, "404 Not Found"},
    {ERR_METHOD, 405, "405 Method Not Allowed"},
    {ERR_CONFLICT, 409, "409 Conflict"},
    {ERR_TOO_LARGE, 413, "413 Payload Too Large"},
    {ERR_BUSY, 429, "429 Too Many Requests"},
    {ERR_INTERNAL, 500, "500 Internal Server Error"},
    {ERR_BACKEND, 500, "500 Internal Server Error"},
    {ERR_UNAVAILABLE, 503, "503 Service Unavailable"},
    {ERR_STORAGE, 507, "507 Insufficient Storage"},
};

/* Writes "ID: text" with the id already in e->id. */
static void write_msg(struct err *e, const char *fmt, va_list ap)
{
    int n = snprintf(e->msg, sizeof(e->msg), "%s: ", e->id);
    if (n >= 0 && (size_t)n < sizeof(e->msg))
        vsnprintf(e->msg + n, sizeof(e->msg) - (size_t)n, fmt, ap);
    esc_utf8_fix(e->msg); /* a value quoted with "%.200s" may end inside a character */
}

int err_set(struct err *e, enum err_code code, enum msg id, const char *fmt, ...)
{
    if (!e)
        return -1;
    e->code = code;
    snprintf(e->id, sizeof(e->id), "%s", msg_id(id));
    va_list ap;
    va_start(ap, fmt);
    write_msg(e, fmt, ap);
    va_end(ap);
    return -1;
}

int err_oom(struct err *e)
{
    return err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
}

int err_reword(struct err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    write_msg(e, fmt, ap);
    va_end(ap);
    return -1;
}

void err_append(struct err *e, const char *fmt, ...)
{
    if (!e)
        return;
    size_t used = strlen(e->msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg + used, sizeof(e->msg) - used, fmt, ap);
    va_end(ap);
}

const char *err_text(const struct err *e)
{
    size_t n = strlen(e->id);
    if (n && strncmp(e->msg, e->id, n) == 0 && e->msg[n] == ':' && e->msg[n + 1] == ' ')
        return e->msg + n + 2;
    return e->msg;
}

bool err_is(const struct err *e, enum msg id)
{
    return strcmp(e->id, msg_id(id)) == 0;
}

void err_clear(struct err *e)
{
    if (!e)
        return;
    e->code = ERR_NONE;
    e->id[0] = '\0';
    e->msg[0] = '\0';
}

int err_http_status(enum err_code code)
{
    for (size_t i = 0; i < ARRAY_SIZE(status_table); i++)
        if (status_table[i].code == code)
            return status_table[i].status;
    return 500;
}

const char *err_status_line(enum err_code code)
{
    return err_status_line_for(err_http_status(code));
}

const char *err_status_line_for(int status)
{
    switch (status) {
    case 200:
        return "200 OK";
    case 201:
        return "201 Created";
    case 202:
        return "202 Accepted";
    case 204:
        return "204 No Content";
    default:
        break;
    }
    for (size_t i = 0; i < ARRAY_SIZE(status_table); i++)
        if (status_table[i].status == status)
            return status_table[i].line;
    return "500 Internal Server Error";
}
