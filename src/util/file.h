/* file.h - writing a small file whole, reading a regular file whole or its tail. */
#ifndef KIMCHID_FILE_H
#define KIMCHID_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Creates `path` with exactly `mode`, whatever the umask (never replacing a file or following a
 * link there), and writes
 * `len` bytes, retrying short writes. On failure nothing is left at `path` and -1 is returned
 * with errno set; the descriptor is closed either way. */
int file_write_new(const char *path, const void *data, size_t len, mode_t mode);

/* Creates the directory `path` with exactly `mode` whatever the process's umask (the packaged
 * service runs with UMask=0077, which would leave /etc/pki/qemu unreadable to QEMU): 0 when it
 * made it or it was there already (an existing directory keeps its mode: an operator's
 * choice); -1 with errno otherwise. */
int file_mkdir(const char *path, mode_t mode);

/* Reads the regular file `path` (a FIFO or a device given by mistake would block, or never
 * end) into a new NUL-terminated buffer: all of it when it has at most max_bytes, else its
 * last max_bytes when `tail`, else an error. NULL with `e` (M_D_READ) on failure. */
char *file_read(const char *path, size_t max_bytes, bool tail, struct err *e);

#endif
