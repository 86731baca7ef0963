/* qemuconf.h - reads the one setting kimchid checks in libvirt's qemu.conf: its lock manager. */
#ifndef KIMCHID_QEMUCONF_H
#define KIMCHID_QEMUCONF_H

#include <stddef.h>

/* The value of the last uncommented `lock_manager = "NAME"` line of qemu.conf's text, into
 * out; "" when there is none (libvirt's default: no lock manager). */
void qemuconf_lock_manager(const char *text, char *out, size_t len);

#endif
