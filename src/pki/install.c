/* install.c - what libvirt's TLS migration reads, put in place on both hosts: this host's
 * files directly, the destination's over SFTP as root (no remote shell). Files kimchid did
 * not write are never replaced; the CA bundle only gains CAs (kimchid's, and another kimchid's
 * whose certificate the destination holds). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sshc/sshc.h"
#include "../util/clock.h"
#include "../util/file.h"
#include "../util/log.h"
#include "pki_priv.h"

#define FILE_MAX (256 * 1024)
#define RECHECK_MS (10 * 60 * 1000) /* a destination found ready is trusted this long */
#define MAX_READY 64
#define QEMU_GROUP "libvirt-qemu" /* Debian's QEMU runs in this group: it reads the keys */

/* Where files go: this host (host NULL) or another one over SFTP. */
struct place {
    const char *host;
    const char *label; /* for messages: "this host" or the host's name */
    long gid;          /* QEMU_GROUP's id there, or -1 */
};

/* A file's text in PKI_QEMU_DIR of the place ("" when missing); NULL with `e`. */
static char *place_read(const struct place *p, const char *file, struct err *e)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", PKI_QEMU_DIR, file);
    if (!p->host)
        return access(path, F_OK) < 0 && errno == ENOENT ? strdup("")
                                                         : file_read(path, FILE_MAX, false, e);
    char *buf = malloc(FILE_MAX);
    if (buf && sshc_remote_read(p->host, path, buf, FILE_MAX, e) < 0)
        buf = (free(buf), NULL);
    return buf;
}

/* Writes `path` whole through a new file beside it (file_write_new), then puts it in place. */
static int local_write(const char *path, const char *data, unsigned int mode, long gid)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.kimchid-new", path);
    unlink(tmp);
    file_mkdir("/etc/pki", 0755); /* QEMU (libvirt-qemu) reads below them */
    file_mkdir(PKI_QEMU_DIR, 0755);
    if (file_write_new(tmp, data, strlen(data), 0600) < 0)
        return -1;
    if ((gid < 0 || chown(tmp, 0, (gid_t)gid) == 0) && chmod(tmp, (mode_t)mode) == 0 &&
        rename(tmp, path) == 0)
        return 0;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return -1;
}

static int place_write(const struct place *p, const char *file, const char *data, bool secret,
                       struct err *e)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", PKI_QEMU_DIR, file);
    unsigned int mode = !secret ? 0644 : p->gid >= 0 ? 0640 : 0600;
    long gid = secret ? p->gid : -1;
    if (p->host)
        return sshc_remote_write(p->host, path, data, strlen(data), mode, gid, e);
    if (local_write(path, data, mode, gid) == 0)
        return 0;
    return err_set(e, ERR_INTERNAL, M_PKI_INSTALL, "Cannot write \"%s\" on this host: %s.", path,
                   strerror(errno));
}

/* QEMU_GROUP's id in a group file's text, or -1. */
static long group_id(const char *groups)
{
    size_t n = strlen(QEMU_GROUP);
    for (const char *l = groups; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long gid;
        if (!strncmp(l, QEMU_GROUP, n) && l[n] == ':' && sscanf(l + n, ":%*[^:]:%ld", &gid) == 1)
            return gid;
    }
    return -1;
}

static int place_open(struct place *p, const char *host, struct err *e)
{
    *p = (struct place){host, host ? host : "this host", -1};
    if (!host) {
        const struct group *g = getgrnam(QEMU_GROUP);
        p->gid = g ? (long)g->gr_gid : -1;
        return 0;
    }
    char *groups = malloc(FILE_MAX);
    if (!groups || sshc_remote_read(host, "/etc/group", groups, FILE_MAX, e) < 0) {
        free(groups);
        return groups ? -1 : err_oom(e);
    }
    p->gid = group_id(groups);
    free(groups);
    return 0;
}

static void note(char *did, size_t len, const char *what, const struct place *p)
{
    size_t used = strlen(did);
    snprintf(did + used, len - used, "%s%s on %s", used ? ", " : "", what, p->label);
}

/* A CA among those the place trusts (appended to an existing bundle, never replacing it):
 * kimchid's own, or another kimchid's that issued the destination's certificate. */
static int trust_ca(const struct place *p, const char *pem, const char *what, char *did, size_t len,
                    struct err *e)
{
    char *have = place_read(p, "ca-cert.pem", e);
    if (!have)
        return -1;
    int rc = 0;
    if (!strstr(have, pem)) {
        size_t n = strlen(have);
        size_t size = n + strlen(pem) + 2;
        char *bundle = malloc(size);
        if (!bundle) {
            free(have);
            return err_oom(e);
        }
        snprintf(bundle, size, "%s%s%s", have, n && have[n - 1] != '\n' ? "\n" : "", pem);
        rc = place_write(p, "ca-cert.pem", bundle, false, e);
        free(bundle);
        if (rc == 0)
            note(did, len, what, p);
    }
    free(have);
    return rc;
}

static int ensure_ca(const struct place *p, char *did, size_t len, struct err *e)
{
    return trust_ca(p, pki_ca_pem(), "kimchid's CA", did, len, e);
}

/* The certificate and key files of `role` in PKI_QEMU_DIR. */
static const char *cert_file(enum pki_role role)
{
    return role == PKI_SERVER ? "server-cert.pem" : "client-cert.pem";
}

static const char *key_file(enum pki_role role)
{
    return role == PKI_SERVER ? "server-key.pem" : "client-key.pem";
}

/* This host's name, as its client certificate names it. */
static void this_host(char *me, size_t len)
{
    snprintf(me, len, "localhost");
    gethostname(me, len - 1);
}

/* A certificate kimchid did not issue holds the place of its own for `role`. Returns -1. */
static int foreign(const struct place *p, enum pki_role role, struct err *e)
{
    return err_set(e, ERR_CONFLICT, M_PKI_FOREIGN,
                   "%s already has a TLS certificate for migrations, %s/%s, that kimchid did not "
                   "issue, and kimchid does not replace it. Remove it and %s there to let "
                   "kimchid issue its own, or migrate with \"encrypted\": false on a network you "
                   "trust.",
                   p->label, PKI_QEMU_DIR, cert_file(role), key_file(role));
}

/* What ensure_leaf would do, writing nothing: 1 keep, 0 issue, -1 refuse (with e). A
 * certificate another kimchid issued there (its CA in the place's bundle) is kept: *issuer
 * gets that CA (malloc'd) for the other end to trust (`issuer` NULL: not wanted). */
static int leaf_state(const struct place *p, enum pki_role role, const char *name, const char *addr,
                      char **issuer, struct err *e)
{
    char *other = NULL; /* the issuer, when the caller does not want it */
    if (!issuer)
        issuer = &other;
    *issuer = NULL;
    char *have = place_read(p, cert_file(role), e);
    char *bundle = have && have[0] ? place_read(p, "ca-cert.pem", e) : NULL;
    if (!have || (have[0] && !bundle)) { /* unreadable: e says why */
        free(have);
        return -1;
    }
    int mine = have[0] ? pki_judge(have, bundle, role, name, addr, issuer) : 0;
    free(have);
    free(bundle);
    free(other);
    return mine < 0 ? foreign(p, role, e) : mine;
}

/* The place's certificate for `role`: kept when a kimchid's (this one's or another's) and
 * valid, issued when missing or a kimchid's but stale, refused when someone else's. The CA of
 * another kimchid's certificate kept is added to what `trust_at` trusts. */
static int ensure_leaf(const struct place *p, enum pki_role role, const char *name,
                       const char *addr, const struct place *trust_at, char *did, size_t len,
                       struct err *e)
{
    char *issuer = NULL;
    int mine = leaf_state(p, role, name, addr, &issuer, e);
    if (mine != 0) {
        int rc = mine < 0 ? -1
                 : issuer ? trust_ca(trust_at, issuer,
                                     "the CA of the kimchid that issued its "
                                     "certificate",
                                     did, len, e)
                          : 0;
        free(issuer);
        return rc;
    }
    struct pki_pair pair;
    if (pki_issue(role, name, addr, &pair, e) < 0)
        return -1;
    int rc = place_write(p, key_file(role), pair.key, true, e);
    if (rc == 0)
        rc = place_write(p, cert_file(role), pair.cert, false, e);
    pki_pair_clear(&pair);
    if (rc == 0) {
        note(did, len, role == PKI_SERVER ? "a server certificate" : "a client certificate", p);
        log_info("installed kimchid's %s certificate for \"%s\" in %s on %s",
                 role == PKI_SERVER ? "server" : "client", name, PKI_QEMU_DIR, p->label);
    }
    return rc;
}

/* Diffie-Hellman parameters where QEMU looks for them (see pki_dh_pem): written when
 * missing, an existing file (the operator's own) left as it is. */
static int ensure_dh(const struct place *p, char *did, size_t len, struct err *e)
{
    char *have = place_read(p, "dh-params.pem", e);
    if (!have)
        return -1;
    bool missing = !have[0];
    free(have);
    if (!missing)
        return 0;
    char *pem = pki_dh_pem();
    if (!pem)
        return err_oom(e);
    int rc = place_write(p, "dh-params.pem", pem, false, e);
    free(pem);
    if (rc == 0)
        note(did, len, "Diffie-Hellman parameters", p);
    return rc;
}

/* Destinations found ready lately: each move's check then costs no ssh connection. */
static struct {
    pthread_mutex_t lock;
    struct {
        char host[256], addr[64];
        struct timespec at;
    } hosts[MAX_READY];
    size_t n;
} ready = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool ready_lately(const char *host, const char *addr)
{
    bool yes = false;
    pthread_mutex_lock(&ready.lock);
    for (size_t i = 0; i < ready.n && !yes; i++)
        yes = !strcmp(ready.hosts[i].host, host) && !strcmp(ready.hosts[i].addr, addr) &&
              clock_ms_since(&ready.hosts[i].at) < RECHECK_MS;
    pthread_mutex_unlock(&ready.lock);
    return yes;
}

void pki_forget(const char *host)
{
    pthread_mutex_lock(&ready.lock);
    for (size_t i = 0; i < ready.n;)
        if (!strcmp(ready.hosts[i].host, host))
            ready.hosts[i] = ready.hosts[--ready.n];
        else
            i++;
    pthread_mutex_unlock(&ready.lock);
}

static void ready_now(const char *host, const char *addr)
{
    pki_forget(host);
    pthread_mutex_lock(&ready.lock);
    size_t i = ready.n < MAX_READY ? ready.n++ : 0; /* full: the first slot goes */
    snprintf(ready.hosts[i].host, sizeof(ready.hosts[i].host), "%s", host);
    snprintf(ready.hosts[i].addr, sizeof(ready.hosts[i].addr), "%s", addr);
    clock_gettime(CLOCK_MONOTONIC, &ready.hosts[i].at);
    pthread_mutex_unlock(&ready.lock);
}

/* One set-up at a time: two moves must not write the same files at once. */
static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;

static int setup(const char *host, const char *addr, char *did, size_t didlen, struct err *e)
{
    did[0] = '\0';
    if (!pki_ca_pem())
        return err_set(e, ERR_INTERNAL, M_PKI_CA, "kimchid's migration CA is not loaded.");
    char me[256];
    this_host(me, sizeof(me));
    struct place here, there;
    if (place_open(&here, NULL, e) < 0 || ensure_ca(&here, did, didlen, e) < 0 ||
        ensure_leaf(&here, PKI_CLIENT, me, "", &here, did, didlen, e) < 0)
        return -1;
    if (ready_lately(host, addr))
        return 0;
    if (place_open(&there, host, e) < 0 || ensure_ca(&there, did, didlen, e) < 0 ||
        ensure_leaf(&there, PKI_SERVER, host, addr, &here, did, didlen, e) < 0 ||
        ensure_dh(&there, did, didlen, e) < 0)
        return -1;
    ready_now(host, addr);
    return 0;
}

int pki_migration_check(const char *host, const char *addr, char *said, size_t len, struct err *e)
{
    said[0] = '\0';
    char me[256];
    this_host(me, sizeof(me));
    struct place here = {NULL, "this host", -1}, there = {host, host, -1};
    int mine_here = leaf_state(&here, PKI_CLIENT, me, "", NULL, e);
    if (mine_here < 0)
        return -1;
    int mine_there =
        ready_lately(host, addr) ? 1 : leaf_state(&there, PKI_SERVER, host, addr, NULL, e);
    if (mine_there < 0)
        return -1;
    snprintf(said, len, "%s",
             mine_here && mine_there ? "kimchid's certificates are in place on both hosts"
                                     : "kimchid installs its certificates at the move");
    return 0;
}

int pki_migration_ready(const char *host, const char *addr, char *did, size_t didlen, struct err *e)
{
    pthread_mutex_lock(&setup_lock);
    int rc = setup(host, addr, did, didlen, e);
    pthread_mutex_unlock(&setup_lock);
    return rc;
}
