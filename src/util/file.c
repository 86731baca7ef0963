/* file.c - writing a small file whole, reading one (see file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

int file_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    const char *p = data;
    int saved = fchmod(fd, mode) < 0 ? errno : 0; /* exactly `mode`, whatever the umask */
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

int file_mkdir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0)
        return chmod(path, mode); /* mkdir's mode passed through the umask */
    return errno == EEXIST ? 0 : -1;
}

char *file_read(const char *path, size_t max_bytes, bool tail, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        err_set(e, ERR_INTERNAL, M_D_READ, "Cannot read \"%s\": %s.", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    size_t size = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
    size_t want = size > max_bytes ? max_bytes : size;
    char *data = NULL;
    if (!S_ISREG(st.st_mode) || (size > max_bytes && !tail))
        err_set(e, ERR_INTERNAL, M_D_READ, "Cannot read \"%s\": %s.", path,
                S_ISREG(st.st_mode) ? "larger than the limit" : "not a regular file");
    else if (!(data = calloc(1, want + 1)) ||
             pread(fd, data, want, (off_t)(size - want)) != (ssize_t)want) {
        err_set(e, ERR_INTERNAL, M_D_READ, "Cannot read \"%s\": %s.", path,
                data ? "short read" : "out of memory");
        free(data);
        data = NULL;
    }
    close(fd);
    return data;
}
