/* path.h — lexical path helpers with Go path/filepath semantics ('/' only).
 *
 * Every returned string is malloc'd and owned by the caller. Nothing here
 * touches the filesystem: "clean" is purely lexical (no symlinks resolved).
 * Containment is ALWAYS separator-aware: "/a/bc" is not within "/a/b"
 * (docs/differences.md D-8); use path_is_within for every such check. */
#pragma once

#include "common/err.h"

#include <stdbool.h>

/* Go filepath.Clean: collapse "//", drop ".", resolve "x/..", drop a trailing
 * "/", ".." at the root stays at the root; "" becomes ".". */
char *path_clean(const char *p);
/* Go filepath.Dir: everything up to the last '/', cleaned ("a" -> ".",
 * "/a/" -> "/a", "" -> "."). */
char *path_dir(const char *p);
/* Go filepath.Join of two elements: empty elements are ignored, the rest are
 * joined with '/' and cleaned; both empty gives "". */
char *path_join(const char *a, const char *b);
/* True when clean(p) equals clean(base) or starts with clean(base) + "/".
 * A base of "/" contains every absolute path. */
bool path_is_within(const char *base, const char *p);
/* *ret = path_join(base, rel), refused when the result is not within base
 * (a ".." escape). rel may be absolute: it is still taken relative to base,
 * as Go's Join does. */
int path_join_within(const char *base, const char *rel, char **ret, gcs_err *err);
