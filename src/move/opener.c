/* opener.c - opening a remote libvirt connection within a deadline. libvirt's open has no
 * timeout of its own, and keepalive starts only once it returns: a remote libvirtd that
 * accepts the connection and never answers (hung, stopped, or caught mid-start) would hold
 * the open, and the task waiting on it, forever. The open runs on its own thread; at the
 * deadline kimchid ends the ssh process libvirt started for it, which makes the open fail. */
#include <dirent.h>
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "bounded.h"
#include "move_priv.h"

/* One open, run by bounded.c: the caller and the opening thread share it, and the last to
 * let go frees it (closing a connection nobody took). */
struct opener {
    char uri[600];
    virConnectPtr conn; /* the result, handed to the caller or closed when freed */
    char error[512];    /* libvirt's message when the open failed (errors are per thread) */
};

static void opener_free(void *p)
{
    struct opener *o = p;
    if (o->conn)
        virConnectClose(o->conn);
    free(o);
}

static int open_fn(void *p)
{
    struct opener *o = p;
    o->conn = virConnectOpen(o->uri);
    const char *m = o->conn ? "" : virGetLastErrorMessage();
    snprintf(o->error, sizeof(o->error), "%s", m && *m ? m : "unknown libvirt error");
    return o->conn ? 0 : -1;
}

/* Reads /proc/PID/cmdline into `buf` (NUL-separated arguments); its length, 0 if unreadable. */
static size_t read_cmdline(const char *pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return (size_t)n;
}

/* Whether PID is this process's child running ssh to `host` (libvirt's transport: the
 * wrapper script, then the ssh it execs; both name the host as an argument of their own). */
static bool our_ssh_to(const char *pid, const char *host)
{
    char path[64], stat[512];
    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *end = strrchr(stat, ')'); /* the command name may hold spaces and ')' */
    int ppid = 0;
    if (!end || sscanf(end + 1, " %*c %d", &ppid) != 1 || ppid != getpid())
        return false;
    char args[4096];
    size_t len = read_cmdline(pid, args, sizeof(args));
    bool ssh = false, to_host = false;
    for (size_t i = 0; i < len; i += strlen(args + i) + 1) {
        const char *slash = strrchr(args + i, '/');
        ssh |= strcmp(slash ? slash + 1 : args + i, "ssh") == 0;
        to_host |= strcmp(args + i, host) == 0;
    }
    return ssh && to_host;
}

/* Lists (up to `max`) this process's ssh children to `host`; returns how many. */
static size_t list_ssh_to(const char *host, pid_t *pids, size_t max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max)
        if (de->d_name[0] >= '1' && de->d_name[0] <= '9' && our_ssh_to(de->d_name, host))
            pids[n++] = (pid_t)atoi(de->d_name);
    closedir(d);
    return n;
}

#define MAX_SSH 64

/* Ends the ssh children to `host` that were not running before the open began (those are
 * other, working connections). Returns how many it signalled. */
static int end_new_ssh(const char *host, const pid_t *before, size_t nbefore)
{
    pid_t now[MAX_SSH];
    size_t n = list_ssh_to(host, now, MAX_SSH);
    int ended = 0;
    for (size_t i = 0; i < n; i++) {
        bool old = false;
        for (size_t j = 0; j < nbefore && !old; j++)
            old = before[j] == now[i];
        if (!old && kill(now[i], SIGTERM) == 0)
            ended++;
    }
    return ended;
}

#define AFTER_KILL_MS 5000

/* One attempt: the connection, or NULL with libvirt's message in `error` (or true in *hung
 * when the deadline passed). */
static virConnectPtr open_once(const char *uri, const char *host, int deadline_ms, bool *hung,
                               char *error, size_t len)
{
    *hung = false;
    struct opener *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    snprintf(o->uri, sizeof(o->uri), "%s", uri);
    pid_t before[MAX_SSH];
    size_t nbefore = list_ssh_to(host, before, MAX_SSH);
    struct bounded *b = bounded_start(open_fn, o, opener_free);
    if (!b)
        return NULL;
    if (!bounded_wait(b, deadline_ms, NULL)) {
        *hung = true;
        int n = end_new_ssh(host, before, nbefore);
        log_warn("libvirt on \"%s\" did not answer the connection within %d s; ended %d ssh "
                 "process(es) of it",
                 host, deadline_ms / 1000, n);
        if (!bounded_wait(b, AFTER_KILL_MS, NULL))
            log_warn("the abandoned connection to \"%s\" is still opening; left to finish", host);
    }
    virConnectPtr c = NULL;
    if (!*hung) {
        c = o->conn;
        o->conn = NULL;
        if (!c)
            snprintf(error, len, "%s", o->error);
    }
    bounded_release(b);
    return c;
}

virConnectPtr virt_open_bounded(const char *uri, const char *host, int deadline_ms, bool *hung,
                                char *error, size_t len)
{
    snprintf(error, len, "out of memory");
    for (int attempt = 0; attempt < 2; attempt++) {
        virConnectPtr c = open_once(uri, host, deadline_ms, hung, error, len);
        if (c || !*hung)
            return c; /* a failure in libvirt's words is not retried: it would recur */
    }
    return NULL;
}
