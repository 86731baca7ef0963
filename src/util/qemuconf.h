/* qemuconf.h - reads the settings kimchid checks in libvirt's qemu.conf (its lock manager, the
 * user QEMU runs as), and what they mean for a move. */
#ifndef KIMCHID_QEMUCONF_H
#define KIMCHID_QEMUCONF_H

#include <stdbool.h>
#include <stddef.h>

/* The value of the last uncommented `lock_manager = "NAME"` line of qemu.conf's text, into
 * out; "" when there is none (libvirt's default: no lock manager). */
void qemuconf_lock_manager(const char *text, char *out, size_t len);

/* The value of the last uncommented `NAME = "VALUE"` line, into out; "" when none. */
void qemuconf_get(const char *text, const char *name, char *out, size_t len);

/* QEMU from 8.1 opens /dev/userfaultfd, which libvirt can grant it; older ones only have the
 * syscall, which the kernel denies to non-root while vm.unprivileged_userfaultfd is 0. */
#define QEMUCONF_DEV_USERFAULTFD_VERSION 8001000UL

/* True when a host's QEMU certainly cannot use userfaultfd, so a post-copy move there fails:
 * it does not run as root (`conf` is that host's qemu.conf; no `user` line is Debian's
 * libvirt-qemu), it is older than 8.1 (`qemu_version` as libvirt gives it, 7002000 for 7.2; 0
 * unknown), and `uffd_sysctl` (the text of /proc/sys/vm/unprivileged_userfaultfd) is 0. */
bool qemuconf_userfaultfd_denied(const char *conf, const char *uffd_sysctl,
                                 unsigned long qemu_version);

#endif
