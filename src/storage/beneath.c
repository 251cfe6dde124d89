/* Opening a file below a directory the agent owns, where someone else may
 * have written (the sandbox's logs directory is bound read-write into
 * containers): no component may be a symlink, ".." may not leave the
 * directory, and the file must be a regular file (storage.h). */
#include "storage/storage.h"

#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BENEATH (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

static int open_beneath(int dfd, const char *name, uint64_t flags, mode_t mode)
{
    struct open_how how = {.flags = flags | O_CLOEXEC | O_NOFOLLOW, .mode = mode, .resolve = BENEATH};
    for (;;) {
        long fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno != EINTR && errno != EAGAIN)
            return -errno;
    }
}

int storage_open_beneath(const char *dir, const char *rel, int flags, mode_t mode, mode_t dir_mode, int *ret,
                         gcs_err *err)
{
    if (str_empty(rel) || rel[0] == '/')
        return err_set(err, HR_E_INVALIDARG, "%s: want a path relative to %s", rel ? rel : "", dir);
    cleanup_close int cur = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cur < 0)
        return err_errno(err, HR_E_FAIL, errno, "open %s", dir);
    cleanup_free char *copy = xstrdup(rel);
    char *save = NULL, *next;
    char *comp = strtok_r(copy, "/", &save);
    while (comp && (next = strtok_r(NULL, "/", &save))) {
        if (streq(comp, ".") || streq(comp, ".."))
            return err_set(err, HR_E_INVALIDARG, "%s below %s: \"%s\" elements are not allowed", rel, dir, comp);
        mode_t saved = umask(0);
        int mr = mkdirat(cur, comp, dir_mode);
        int me = errno;
        umask(saved);
        if (mr < 0 && me != EEXIST)
            return err_errno(err, HR_E_FAIL, me, "create directory %s below %s", comp, dir);
        int fd = open_beneath(cur, comp, O_PATH | O_DIRECTORY, 0);
        if (fd < 0)
            return err_errno(err, HR_E_INVALIDARG, -fd, "%s below %s: %s is not a directory of its own", rel, dir,
                             comp);
        close(cur);
        cur = fd;
        comp = next;
    }
    if (!comp || streq(comp, ".") || streq(comp, ".."))
        return err_set(err, HR_E_INVALIDARG, "%s below %s: not a file name", rel, dir);
    /* O_NONBLOCK: a FIFO planted there must not block the agent (it is refused below) */
    int fd = open_beneath(cur, comp, (uint64_t)flags | O_NONBLOCK, mode);
    if (fd < 0)
        return err_errno(err, HR_E_INVALIDARG, -fd, "open %s below %s", rel, dir);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, HR_E_INVALIDARG, "%s below %s is not a regular file", rel, dir);
    }
    if (!(flags & O_NONBLOCK))
        set_nonblock(fd, false);
    *ret = fd;
    return 0;
}
