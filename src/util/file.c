/* file.c - writing a small file whole (see file.h). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "file.h"

int file_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    const char *p = data;
    int saved = 0;
    while (len > 0 && !saved) {
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            saved = errno;
        } else if (n == 0) {
            saved = EIO;
        }
    }
    if (close(fd) < 0 && !saved)
        saved = errno;
    if (!saved)
        return 0;
    unlink(path);
    errno = saved;
    return -1;
}
