/* statelock.c - the state directory's lock (an fcntl write lock, so its holder can be named). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "statelock.h"

static int held_by_other(int fd, const char *dir, struct err *e)
{
    struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    long pid = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? (long)who.l_pid : -1;
    close(fd);
    if (pid > 0)
        return err_set(e, ERR_CONFLICT, M_D_STATE_LOCKED,
                       "Another kimchid (process %ld) already uses the state directory \"%s\". "
                       "Stop it first, or give this one its own --state-dir.",
                       pid, dir);
    return err_set(e, ERR_CONFLICT, M_D_STATE_LOCKED,
                   "Another kimchid already uses the state directory \"%s\". Stop it first, "
                   "or give this one its own --state-dir.",
                   dir);
}

int state_lock(const char *dir, struct err *e)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/kimchid.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return err_set(e, ERR_INTERNAL, M_D_STATE_IO, "Cannot open \"%s\": %s.", path,
                       strerror(errno));
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &lk) < 0)
        return held_by_other(fd, dir, e);
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        return err_set(e, ERR_INTERNAL, M_D_STATE_IO, "Cannot write \"%s\": %s.", path,
                       strerror(errno));
    }
    return fd;
}
