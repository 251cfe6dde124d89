/* hostpath.c — see hostpath.h. */
#include "hostpath/hostpath.h"

#include "common/path.h"

#include <string.h>

int hostpath_check(const char *allowed_roots, const char *what, const char *p, gcs_err *err)
{
    if (str_empty(p) || p[0] != '/')
        return err_set(err, HR_E_INVALIDARG, "%s %s is not an absolute path", what, p ? p : "");
    for (const char *s = p; *s;) {
        const char *e = strchrnul(s + 1, '/');
        size_t n = (size_t)(e - s - 1);
        if ((n == 1 && s[1] == '.') || (n == 2 && s[1] == '.' && s[2] == '.'))
            return err_set(err, HR_E_INVALIDARG, "%s %s contains a '.' or '..' element", what, p);
        s = e;
    }
    cleanup_free char *clean = path_clean(p);
    cleanup_free char *roots = xstrdup(allowed_roots ? allowed_roots : "");
    char *save = NULL;
    for (char *r = strtok_r(roots, ":", &save); r; r = strtok_r(NULL, ":", &save)) {
        cleanup_free char *rc = path_clean(r);
        if (rc[0] == '/' && path_is_within(rc, clean) && !streq(rc, clean))
            return 0;
    }
    return err_set(err, HR_E_INVALIDARG, "%s %s is outside the allowed roots (%s)", what, p,
                   allowed_roots ? allowed_roots : "");
}
