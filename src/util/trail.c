/* trail.c - the audit trail, one write(2) per line on an O_APPEND descriptor, under a lock
 * (lines never interleave, and the rotation replaces the descriptor). Bounded: past `max`
 * bytes the file becomes FILE.1 (replacing the one before) and a new one starts; requests
 * from nobody logged in, which anyone can send, are written TRAIL_REFUSED_PER_MINUTE a minute
 * at most, the rest counted into one summary line: failed logins on a budget of their own
 * (a flood of other requests cannot crowd the password guesses out), whose summary keeps the
 * users and addresses it counted. */
#include "trail.h"

#include "esc.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One kind of anonymous request's minute: what was written, what was held back. */
struct budget {
    time_t window;        /* the minute counted in */
    unsigned int written; /* in that minute */
    unsigned long held;   /* not written since `held_since` */
    time_t held_since;
    char users[200]; /* failed logins: the users and addresses held, comma-separated */
    char addrs[200];
};

struct trail {
    pthread_mutex_t lock;
    int fd;
    char *path;
    size_t max;  /* rotate past this many bytes; 0: never */
    size_t size; /* the current file's */
    struct budget budget[TRAIL_KINDS];
};

static const char *const budget_what[TRAIL_KINDS] = {"requests without a login", "failed logins"};

static int open_file(const char *path, size_t *size, struct err *e)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (fd < 0 || fchmod(fd, 0600) < 0 || fstat(fd, &st) < 0) {
        err_set(e, ERR_INTERNAL, M_D_AUDIT_OPEN, "Cannot open the audit log \"%s\": %s.", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *size = (size_t)st.st_size;
    return fd;
}

struct trail *trail_open(const char *path, size_t max, struct err *e)
{
    size_t size;
    int fd = open_file(path, &size, e);
    if (fd < 0)
        return NULL;
    struct trail *a = calloc(1, sizeof(*a));
    if (!a || !(a->path = strdup(path))) {
        free(a);
        close(fd);
        err_oom(e);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    a->fd = fd;
    a->max = max;
    a->size = size;
    return a;
}

static void write_locked(struct trail *a, const char *who, const char *addr, const char *what,
                         const char *outcome);
static void summary_locked(struct trail *a, enum trail_kind k);

void trail_close(struct trail *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    for (int k = 0; k < TRAIL_KINDS; k++)
        summary_locked(a, (enum trail_kind)k);
    pthread_mutex_unlock(&a->lock);
    close(a->fd);
    pthread_mutex_destroy(&a->lock);
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

/* FILE becomes FILE.1 and a new FILE starts, saying so. A failure keeps the current file
 * (growing) rather than losing lines. */
static void rotate_locked(struct trail *a)
{
    char old[4200];
    snprintf(old, sizeof(old), "%s.1", a->path);
    size_t size;
    struct err e;
    if (rename(a->path, old) < 0)
        return;
    int fd = open_file(a->path, &size, &e);
    if (fd < 0) {
        rename(old, a->path);
        return;
    }
    close(a->fd);
    a->fd = fd;
    a->size = size;
    char note[4300];
    snprintf(note, sizeof(note), "rotated: the lines before are in %s", old);
    write_locked(a, "-", "-", "audit trail", note);
}

static void write_locked(struct trail *a, const char *who, const char *addr, const char *what,
                         const char *outcome)
{
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
    if (w > 0)
        a->size += (size_t)w;
    if (a->max && a->size > a->max) /* the new file's first line stays far below max (>= 64K) */
        rotate_locked(a);
}

/* The requests of kind k not written, as one line, once there are any. */
static void summary_locked(struct trail *a, enum trail_kind k)
{
    struct budget *b = &a->budget[k];
    if (!b->held)
        return;
    char since[32], outcome[640];
    struct tm tm;
    gmtime_r(&b->held_since, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(outcome, sizeof(outcome),
                     "%lu more not written since %s (at most %d a minute are)", b->held, since,
                     TRAIL_REFUSED_PER_MINUTE);
    if (k == TRAIL_LOGIN_FAILED && n > 0 && (size_t)n < sizeof(outcome))
        snprintf(outcome + n, sizeof(outcome) - (size_t)n, "; users: %s; from: %s", b->users,
                 b->addrs);
    b->held = 0;
    b->users[0] = b->addrs[0] = '\0';
    write_locked(a, "-", "-", budget_what[k], outcome);
}

/* Adds `v` to the comma-separated `list` unless it is there; "..." once the list is full. */
static void remember(char *list, size_t len, const char *v)
{
    char item[80];
    snprintf(item, sizeof(item), "%.70s", v && *v ? v : "-");
    for (char *c = item; *c; c++) /* a list of names: no separator, quote or control inside */
        if (*c == ',' || *c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '?';
    size_t n = strlen(list), m = strlen(item);
    for (const char *p = list; (p = strstr(p, item)); p++)
        if ((p == list || p[-1] == ',') && (p[m] == ',' || p[m] == '\0'))
            return;
    if (n >= 3 && strcmp(list + n - 3, "...") == 0) /* full already (a list "-" is 1 long) */
        return;
    if (n + m + 2 < len - 4)
        snprintf(list + n, len - n, "%s%s", n ? "," : "", item);
    else
        snprintf(list + n, len - n, "%s...", n ? "," : "");
}

void trail_event(struct trail *a, const char *who, const char *addr, const char *what,
                 const char *outcome)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    write_locked(a, who, addr, what, outcome);
    pthread_mutex_unlock(&a->lock);
}

void trail_refused(struct trail *a, enum trail_kind k, const char *who, const char *addr,
                   const char *what, const char *outcome)
{
    if (!a)
        return;
    struct budget *b = &a->budget[k];
    time_t now = time(NULL), minute = now - now % 60;
    pthread_mutex_lock(&a->lock);
    if (minute != b->window) {
        summary_locked(a, k);
        b->window = minute;
        b->written = 0;
    }
    if (b->written < TRAIL_REFUSED_PER_MINUTE) {
        b->written++;
        write_locked(a, who, addr, what, outcome);
    } else {
        if (b->held++ == 0)
            b->held_since = now;
        if (k == TRAIL_LOGIN_FAILED) {
            remember(b->users, sizeof(b->users), who);
            remember(b->addrs, sizeof(b->addrs), addr);
        }
    }
    pthread_mutex_unlock(&a->lock);
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
