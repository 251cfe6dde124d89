/* quote.h — Go %q-style quoting of a string for error messages, so that a
 * hostile value (newlines, NUL-free control bytes) cannot forge log lines.
 * Printable ASCII is kept, '"' and '\\' are escaped, \n \r \t use their
 * short escapes, every other byte becomes \xNN. Caller frees. */
#pragma once

char *quote_go(const char *s);
