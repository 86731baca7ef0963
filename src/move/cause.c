/* cause.c - libvirt's words for a broken connection ("End of file while reading data",
 * "client socket is closed") name no cause an operator can act on. Knocking on the other
 * host's ssh port afterwards tells a lost network from a libvirt that stopped; an ssh server
 * that never greets is named as such. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "../sshc/sshc.h"
#include "../util/net.h"
#include "../util/timers.h"
#include "move_priv.h"

static bool has(const char *m, const char *what)
{
    return strstr(m, what) != NULL;
}

/* The ssh under libvirt gave up waiting for the server's greeting (ConnectTimeout). */
static bool ssh_hung(const char *m)
{
    return has(m, "during banner exchange");
}

/* QEMU on the destination could not open userfaultfd, which post-copy needs: the kernel
 * gives it only to root (or CAP_SYS_PTRACE) while vm.unprivileged_userfaultfd is 0, Debian's
 * default, and QEMU runs as libvirt-qemu. */
static bool postcopy_unavailable(const char *m)
{
    return has(m, "Postcopy is not supported");
}

static bool connection_broke(const char *m)
{
    return has(m, "End of file while reading data") || has(m, "client socket is closed") ||
           has(m, "keepalive timeout") || has(m, "Cannot recv data") ||
           has(m, "Cannot write data") || has(m, "Broken pipe");
}

int virt_err_connection(struct err *e, virConnectPtr local, const char *host, const char *addr,
                        enum msg id, const char *what)
{
    const char *lm = virGetLastErrorMessage();
    char m[512]; /* a copy: the next libvirt call (virConnectIsAlive) frees libvirt's */
    snprintf(m, sizeof(m), "%s", lm && *lm ? lm : "unknown libvirt error");
    return virt_err_cause(e, m, local, host, addr, id, what);
}

int virt_err_cause(struct err *e, const char *m, virConnectPtr local, const char *host,
                   const char *addr, enum msg id, const char *what)
{
    if (local && virConnectIsAlive(local) == 0) /* the broken connection is this host's */
        return err_set(e, ERR_BACKEND, M_MIG_LOCAL_LIBVIRT_DIED,
                       "%s: this host's libvirt stopped answering during the move (libvirt: "
                       "\"%s\"); it may have been restarted.",
                       what, m);
    if (ssh_hung(m))
        return err_set(e, ERR_BACKEND, M_MIG_SSH_HUNG, "%s: " SSHC_HUNG_FMT, what, host,
                       timers.ssh_connect_s, host);
    if (postcopy_unavailable(m))
        return err_set(e, ERR_BACKEND, M_MIG_POSTCOPY_UNAVAILABLE,
                       "%s: post-copy is not available on \"%s\": its QEMU cannot use "
                       "userfaultfd (libvirt: \"%s\"). The kernel there allows it only to root "
                       "while vm.unprivileged_userfaultfd is 0. " VIRT_POSTCOPY_ADVICE,
                       what, host, m, host);
    if (!addr || !connection_broke(m))
        return err_set(e, ERR_BACKEND, id, "%s: %s", what, m);
    struct err pe;
    if (net_probe(host, addr, 22, (int)(timers.knock_s * 1000), &pe) < 0)
        return err_set(e, ERR_BACKEND, M_MIG_NETWORK_DOWN,
                       "%s: the connection to \"%s\" broke off (libvirt: \"%s\"), and \"%s\" no "
                       "longer answers on its ssh port: the network to it, or the host itself, "
                       "is down.",
                       what, host, m, host);
    return err_set(e, ERR_BACKEND, M_MIG_REMOTE_LIBVIRT_DIED,
                   "%s: the libvirt of \"%s\" stopped answering (libvirt: \"%s\"); the host still "
                   "answers on its ssh port, so its libvirtd crashed, restarted or hangs. Check "
                   "it there (systemctl status libvirtd).",
                   what, host, m);
}
