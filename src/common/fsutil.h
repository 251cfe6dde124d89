/* fsutil.h — the one `mkdir -p` of the agent (storage, cgroups, spec
 * rewrites and container bundles all use it) and the one pid-file reader. */
#pragma once

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The directories mkdir_p made, in the order it made them (outermost
 * first), for a caller that must undo exactly what it created. */
typedef struct mkdir_made {
    char **v;
    size_t n;
} mkdir_made;

/* Create path and its missing parents with mode (subject to the umask). An
 * existing directory is fine; anything else in the way fails with ENOTDIR.
 * *created (may be NULL): the final directory is new. made (may be NULL):
 * every directory made is appended. */
int mkdir_p(const char *path, mode_t mode, bool *created, mkdir_made *made, gcs_err *err);
/* Free the list (not the directories). */
void mkdir_made_free(mkdir_made *made);

/* The pid a runtime wrote with --pid-file: decimal, > 0, an optional
 * trailing newline and nothing else. */
int read_pid_file(const char *path, pid_t *ret, gcs_err *err);
