/* remote.c - connections to other hosts' libvirt (qemu+ssh as root), kept open with
 * keepalive so that each migration's checks cost one round trip, not an ssh handshake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/esc.h"
#include "../util/log.h"
#include "../util/timers.h"
#include "move_priv.h"

void virt_set_ssh_command(struct virt *v, const char *path)
{
    snprintf(v->mover->ssh_command, sizeof(v->mover->ssh_command), "%s", path);
}

void virt_remote_uri(struct virt *v, const char *host, char *out, size_t len)
{
    bool v6 = strchr(host, ':') != NULL;
    char cmd[1200] = "";
    if (v->mover->ssh_command[0]) {
        memcpy(cmd, "&command=", 9);
        esc_percent(v->mover->ssh_command, "/._-", cmd + 9, sizeof(cmd) - 9);
    }
    snprintf(out, len, "qemu+ssh://root@%s%s%s/system?no_tty=1%s", v6 ? "[" : "", host,
             v6 ? "]" : "", cmd);
}

/* Takes a reference to the cached connection for host, or NULL. */
static virConnectPtr cached(struct virt *v, const char *host)
{
    virConnectPtr c = NULL;
    pthread_mutex_lock(&v->mover->remote_lock);
    for (size_t i = 0; i < v->mover->nremotes && !c; i++)
        if (strcmp(v->mover->remotes[i].host, host) == 0 &&
            virConnectRef(v->mover->remotes[i].conn) == 0)
            c = v->mover->remotes[i].conn;
    pthread_mutex_unlock(&v->mover->remote_lock);
    return c;
}

/* Stores `c` (one reference handed over) as host's connection; the old one, if any, is
 * returned for the caller to close outside the lock. */
static virConnectPtr store(struct virt *v, const char *host, virConnectPtr c)
{
    virConnectPtr old = NULL;
    pthread_mutex_lock(&v->mover->remote_lock);
    size_t i;
    for (i = 0; i < v->mover->nremotes; i++)
        if (strcmp(v->mover->remotes[i].host, host) == 0)
            break;
    if (i < v->mover->nremotes) {
        old = v->mover->remotes[i].conn;
        v->mover->remotes[i].conn = c;
    } else {
        struct remote_entry *n = realloc(v->mover->remotes, (v->mover->nremotes + 1) * sizeof(*n));
        char *h = strdup(host);
        if (n && h) {
            v->mover->remotes = n;
            n[v->mover->nremotes++] = (struct remote_entry){h, c};
        } else {
            if (n)
                v->mover->remotes = n;
            free(h);
            old = c; /* cannot cache: drop the cache's reference */
        }
    }
    pthread_mutex_unlock(&v->mover->remote_lock);
    return old;
}

virConnectPtr virt_remote_cached(struct virt *v, const char *host)
{
    virConnectPtr c = cached(v, host);
    if (c && virConnectIsAlive(c) != 1) {
        virConnectClose(c);
        c = NULL;
    }
    return c;
}

virConnectPtr virt_remote_get(struct virt *v, const char *host, struct err *e)
{
    virConnectPtr c = virt_remote_cached(v, host);
    if (c)
        return c;
    char uri[600];
    virt_remote_uri(v, host, uri, sizeof(uri));
    bool hung = false;
    char m[512];
    if (!(c = virt_open_bounded(uri, host, (int)(timers.open_s * 1000), &hung, m, sizeof(m)))) {
        char what[400];
        snprintf(what, sizeof(what), "Cannot connect to libvirt on \"%s\"", host);
        if (hung)
            err_set(e, ERR_BACKEND, M_MIG_OPEN_HUNG,
                    "%s: it accepted the connection but did not answer within %ld s, twice (it "
                    "may be hung, overloaded or still starting). Check it there (systemctl "
                    "status libvirtd), then try again.",
                    what, timers.open_s);
        else
            virt_err_cause(e, m, NULL, host, NULL, M_MIG_REMOTE_LIBVIRT,
                           strcat(what, " (is libvirtd running there?)"));
        return NULL;
    }
    virt_keepalive(c);
    virConnectRef(c); /* one reference for the cache, one for the caller */
    virConnectPtr old = store(v, host, c);
    if (old)
        virConnectClose(old);
    log_debug("opened libvirt connection to %s", uri);
    return c;
}

unsigned long virt_remote_qemu_version(struct virt *v, const char *host)
{
    struct err e = {0};
    unsigned long version = 0;
    virConnectPtr c = virt_remote_get(v, host, &e);
    if (c && virConnectGetVersion(c, &version) < 0)
        version = 0;
    if (c)
        virConnectClose(c);
    return version;
}

void virt_remote_close_all(struct virt *v)
{
    pthread_mutex_lock(&v->mover->remote_lock);
    struct remote_entry *r = v->mover->remotes;
    size_t n = v->mover->nremotes;
    v->mover->remotes = NULL;
    v->mover->nremotes = 0;
    pthread_mutex_unlock(&v->mover->remote_lock);
    for (size_t i = 0; i < n; i++) {
        virConnectClose(r[i].conn);
        free(r[i].host);
    }
    free(r);
}
