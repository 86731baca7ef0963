/* trail.c - the audit trail, one write(2) per line on an O_APPEND descriptor, so lines from
 * several threads never interleave. */
#include "trail.h"

#include "esc.h"

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
};

struct trail *trail_open(const char *path, struct err *e)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        err_set(e, ERR_INTERNAL, "KCHD0033E", "Cannot open the audit log \"%s\": %s.", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct trail *a = calloc(1, sizeof(*a));
    if (!a) {
        close(fd);
        err_set(e, ERR_INTERNAL, "KCHAPI0010E", "Out of memory.");
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
