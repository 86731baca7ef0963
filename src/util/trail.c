/* trail.c - the audit trail, one write(2) per line on an O_APPEND descriptor, so lines from
 * several threads never interleave. */
#include "trail.h"

#include "esc.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct trail {
    int fd;
    char *path;
};

struct trail *trail_open(const char *path, struct err *e)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        err_set(e, ERR_INTERNAL, M_D_AUDIT_OPEN, "Cannot open the audit log \"%s\": %s.", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct trail *a = calloc(1, sizeof(*a));
    if (!a || !(a->path = strdup(path))) {
        free(a);
        close(fd);
        err_set(e, ERR_INTERNAL, M_API_INTERNAL, "Out of memory.");
        return NULL;
    }
    a->fd = fd;
    return a;
}

void trail_close(struct trail *a)
{
    if (!a)
        return;
    close(a->fd);
    free(a->path);
    free(a);
}

/* Appends key="value" to line at *n (bounded), escaping what could forge a line or a field. */
static void field(char *line, size_t len, size_t *n, const char *key, const char *value)
{
    int w = snprintf(line + *n, len - *n, " %s=\"", key);
    if (w < 0 || (size_t)w >= len - *n)
        return;
    *n += (size_t)w;
    *n += esc_controls(value ? value : "-", line + *n, len - *n - 1, "\"\\");
    line[(*n)++] = '"';
}

void trail_event(struct trail *a, const char *who, const char *addr, const char *what,
                 const char *outcome)
{
    if (!a)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);
    field(line, sizeof(line) - 1, &n, "user", who && *who ? who : "-");
    field(line, sizeof(line) - 1, &n, "from", addr && *addr ? addr : "-");
    field(line, sizeof(line) - 1, &n, "request", what);
    field(line, sizeof(line) - 1, &n, "outcome", outcome);
    line[n++] = '\n';
    ssize_t w = write(a->fd, line, n);
    (void)w;
}

/* Reads the value after `key="` in line into out, undoing the \" and \\ escapes. */
static void read_field(const char *line, const char *key, char *out, size_t len)
{
    char pat[24];
    snprintf(pat, sizeof(pat), " %s=\"", key);
    const char *p = strstr(line, pat);
    size_t n = 0;
    if (p)
        for (p += strlen(pat); *p && *p != '"' && n + 1 < len; p++) {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            out[n++] = *p;
        }
    out[n] = '\0';
}

static bool parse_line(char *line, struct trail_rec *r)
{
    char *sp = strchr(line, ' ');
    if (!sp || (size_t)(sp - line) >= sizeof(r->time))
        return false;
    memcpy(r->time, line, (size_t)(sp - line));
    r->time[sp - line] = '\0';
    read_field(sp, "user", r->user, sizeof(r->user));
    read_field(sp, "from", r->from, sizeof(r->from));
    read_field(sp, "request", r->request, sizeof(r->request));
    read_field(sp, "outcome", r->outcome, sizeof(r->outcome));
    return r->request[0] != '\0';
}

/* The last max_bytes of the file from its first whole line, NUL-terminated; NULL with e. */
static char *read_tail(const char *path, size_t max_bytes, struct err *e)
{
    char *buf = file_read(path, max_bytes, true, e);
    size_t got = buf ? strlen(buf) : 0;
    if (buf && got == max_bytes) { /* cut at max_bytes: drop the partial first line */
        char *nl = strchr(buf, '\n');
        memmove(buf, nl ? nl + 1 : buf + got, strlen(nl ? nl + 1 : buf + got) + 1);
    }
    return buf;
}

int trail_each(const struct trail *a, size_t max_bytes,
               bool (*fn)(void *ctx, const struct trail_rec *r), void *ctx, struct err *e)
{
    if (!a)
        return 0;
    char *buf = read_tail(a->path, max_bytes, e);
    if (!buf)
        return -1;
    struct trail_rec *r = malloc(sizeof(*r));
    for (char *end = buf + strlen(buf); r && end > buf;) {
        *end = '\0'; /* walk back line by line: newest first */
        char *line = end;
        while (line > buf && line[-1] != '\n')
            line--;
        end = line > buf ? line - 1 : buf;
        if (parse_line(line, r) && !fn(ctx, r))
            break;
    }
    free(r);
    free(buf);
    return 0;
}
