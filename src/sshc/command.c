/* command.c - the ssh that libvirt runs for kimchid's qemu+ssh connections. libvirt's ssh
 * transport has no timeout of its own: an ssh server that accepts TCP and never answers
 * (frozen, overloaded) would hold kimchid's connect, or the source libvirtd's peer-to-peer
 * connect during a move, forever. The URI's `command=` names this wrapper instead of ssh. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/file.h"
#include "../util/timers.h"
#include "sshc.h"

/* ConnectTimeout bounds the TCP connect, the banner and the key exchange; ServerAlive ends a
 * session whose peer stopped answering after 3 unanswered probes (timers.h). */
static const char WRAPPER[] =
    "#!/bin/sh\n"
    "# Written by kimchid at start for libvirt's qemu+ssh connections: ssh with bounded\n"
    "# waits (see sshc/command.c). Rewritten at each start; do not edit.\n"
    "exec /usr/bin/ssh -o ConnectTimeout=%ld -o ServerAliveInterval=%ld -o "
    "ServerAliveCountMax=3 \"$@\"\n";

int sshc_command_install(const char *dir, char *path, size_t len, struct err *e)
{
    char tmp[1100];
    snprintf(path, len, "%s/ssh", dir);
    snprintf(tmp, sizeof(tmp), "%s/.ssh.tmp", dir);
    unlink(tmp); /* left by a kimchid that died here */
    char text[sizeof(WRAPPER) + 64];
    int n = snprintf(text, sizeof(text), WRAPPER, timers.ssh_connect_s, timers.ssh_alive_s);
    bool ok = n > 0 && (size_t)n < sizeof(text) &&
              file_write_new(tmp, text, (size_t)n, 0700) == 0 && chmod(tmp, 0700) == 0;
    int saved = errno;
    if (ok && rename(tmp, path) < 0) {
        ok = false;
        saved = errno;
    }
    if (ok)
        return 0;
    unlink(tmp);
    return err_set(e, ERR_INTERNAL, M_D_SSH_COMMAND,
                   "Cannot write \"%s\" (the ssh command for libvirt's connections): %s. Check "
                   "the state directory's space and permissions.",
                   path, strerror(saved));
}
