/* storage_internal.h — helpers shared by the storage_*.c files only. */
#pragma once

#include "common/err.h"

/* Set err to a message without strerror, with a chosen negative code. */
int storage_errf(gcs_err *err, int32_t hr, int code, const char *fmt, ...) PRINTF(4, 5);
/* realpath(path) when it resolves, else path_clean(path). Lexical cleaning
 * and containment are common/path.h's (path_clean, path_is_within). */
char *storage_path_canonical(const char *path);
