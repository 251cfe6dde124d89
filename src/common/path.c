/* path.c — see path.h. The Clean algorithm follows the lexical rules of
 * Rob Pike's "Getting Dot-Dot Right" as documented for Go's filepath.Clean. */
#include "common/path.h"

#include <errno.h>

char *path_clean(const char *p)
{
    size_t n = strlen(p);
    if (n == 0)
        return xstrdup(".");

    bool rooted = p[0] == '/';
    char *out = xmalloc(n + 2);
    size_t w = 0;      /* write index into out */
    size_t r = 0;      /* read index into p */
    size_t dotdot = 0; /* index in out where ".." may no longer backtrack */

    if (rooted) {
        out[w++] = '/';
        r = 1;
        dotdot = 1;
    }
    while (r < n) {
        if (p[r] == '/') {
            r++; /* empty element */
        } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
            r++; /* "." element */
        } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
            r += 2; /* ".." element: back up to the previous separator */
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                /* cannot backtrack in a relative path: keep ".." */
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            /* a real element: add a separator if needed, then copy it */
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            while (r < n && p[r] != '/')
                out[w++] = p[r++];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return out;
}

char *path_dir(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash)
        return xstrdup(".");
    cleanup_free char *head = xstrndup(p, (size_t)(slash - p) + 1);
    return path_clean(head);
}

char *path_join(const char *a, const char *b)
{
    if (str_empty(a) && str_empty(b))
        return xstrdup("");
    if (str_empty(a))
        return path_clean(b);
    if (str_empty(b))
        return path_clean(a);
    cleanup_free char *joined = xasprintf("%s/%s", a, b);
    return path_clean(joined);
}

bool path_is_within(const char *base, const char *p)
{
    cleanup_free char *cb = path_clean(base);
    cleanup_free char *cp = path_clean(p);
    size_t lb = strlen(cb);

    if (strcmp(cb, cp) == 0)
        return true;
    if (strcmp(cb, "/") == 0)
        return cp[0] == '/';
    return strncmp(cp, cb, lb) == 0 && cp[lb] == '/';
}

int path_join_within(const char *base, const char *rel, char **ret, gcs_err *err)
{
    char *joined = path_join(base, rel);
    if (!path_is_within(base, joined)) {
        free(joined);
        return err_set(err, HR_E_INVALIDARG, "path %s escapes %s", rel, base);
    }
    *ret = joined;
    return 0;
}
