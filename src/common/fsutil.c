/* fsutil.c — mkdir -p (fsutil.h). */
#include "common/fsutil.h"

#include "common/path.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

int mkdir_p(const char *path, mode_t mode, bool *created, mkdir_made *made, gcs_err *err)
{
    if (created)
        *created = false;
    if (str_empty(path))
        return err_set(err, HR_E_INVALIDARG, "mkdir: empty path");
    cleanup_free char *p = path_clean(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        bool last = i == n;
        if (mkdir(p, mode) == 0) {
            if (last && created)
                *created = true;
            if (made) {
                made->v = xrealloc(made->v, (made->n + 1) * sizeof(char *));
                made->v[made->n++] = xstrdup(p);
            }
        } else if (errno != EEXIST) {
            return err_errno(err, HR_E_FAIL, errno, "mkdir %s", p);
        } else {
            struct stat st;
            if (stat(p, &st) < 0)
                return err_errno(err, HR_E_FAIL, errno, "stat %s", p);
            if (!S_ISDIR(st.st_mode))
                return err_errno(err, HR_E_FAIL, ENOTDIR, "mkdir %s", p);
        }
        p[i] = saved;
    }
    return 0;
}

void mkdir_made_free(mkdir_made *made)
{
    if (!made)
        return;
    for (size_t i = 0; i < made->n; i++)
        free(made->v[i]);
    free(made->v);
    made->v = NULL;
    made->n = 0;
}

int read_pid_file(const char *path, pid_t *ret, gcs_err *err)
{
    cleanup_free char *s = NULL;
    int r = read_file(path, &s, NULL);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "read pid file %s", path);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    bool tail_ok = *end == '\0' || (end[0] == '\n' && end[1] == '\0');
    if (s[0] < '0' || s[0] > '9' || errno || v <= 0 || v > INT_MAX || !tail_ok)
        return err_set(err, HR_E_FAIL, "bad pid file %s", path);
    *ret = (pid_t)v;
    return 0;
}
