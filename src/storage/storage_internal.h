/* storage_internal.h — helpers shared by the storage_*.c files only. */
#pragma once

#include "common/err.h"

/* Set err to a message without strerror, with a chosen negative code. */
int storage_errf(gcs_err *err, int32_t hr, int code, const char *fmt, ...) PRINTF(4, 5);
/* Lexical clean like Go's path.Clean ("" -> "."). Returns a new string. */
char *storage_path_clean(const char *path);
/* realpath(path) when it resolves, else storage_path_clean(path). */
char *storage_path_canonical(const char *path);
/* True when path equals dir or lies under dir + "/" (both cleaned). */
bool storage_path_under(const char *path, const char *dir);
