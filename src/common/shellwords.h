/* shellwords.h — split a command line into words the way the reference's
 * go-shellwords does by default (no shell, no variable or backtick
 * expansion): blanks separate words; '...' is literal; "..." allows \" \\ \$
 * \` and \newline escapes; a backslash outside quotes escapes the next
 * character. An unterminated quote or a trailing backslash is an error. */
#pragma once

#include "common/err.h"

/* On success *ret is a NULL-terminated vector (free with shellwords_free)
 * and *ret_n its length. */
int shellwords_split(const char *line, char ***ret, size_t *ret_n, gcs_err *err);
void shellwords_free(char **v);
