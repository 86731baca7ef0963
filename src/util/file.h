/* file.h - writing a small file whole. */
#ifndef KIMCHID_FILE_H
#define KIMCHID_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Creates `path` with `mode` (never replacing a file or following a link there) and writes
 * `len` bytes, retrying short writes. On failure nothing is left at `path` and -1 is returned
 * with errno set; the descriptor is closed either way. */
int file_write_new(const char *path, const void *data, size_t len, mode_t mode);

#endif
