/* fuzz_input.h — shared by the libFuzzer targets: cut the input into
 * NUL-terminated fields (separated by a 0 byte), so a target can take several
 * strings from one input and the seed files stay readable. Missing fields
 * are "". Header only; not a target (the Makefile builds fuzz_*.c). */
#pragma once

#include "common/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_MAX_FIELDS 8

typedef struct fuzz_fields {
    char *buf; /* the whole input plus a terminating NUL; fields point into it */
    const char *f[FUZZ_MAX_FIELDS];
    size_t len[FUZZ_MAX_FIELDS];
} fuzz_fields;

/* Fields 0..n-2 end at the next 0 byte; field n-1 is the rest of the input
 * (and may contain 0 bytes: len says how long it is). */
static inline void fuzz_split(const uint8_t *data, size_t size, size_t n, fuzz_fields *out)
{
    out->buf = xmalloc(size + 1);
    memcpy(out->buf, data, size);
    out->buf[size] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < n && i < FUZZ_MAX_FIELDS; i++) {
        if (off > size) {
            out->f[i] = "";
            out->len[i] = 0;
            continue;
        }
        out->f[i] = out->buf + off;
        if (i == n - 1) {
            out->len[i] = size - off;
            off = size + 1;
        } else {
            size_t l = strnlen(out->buf + off, size - off);
            out->len[i] = l;
            off += l + 1;
        }
    }
}

static inline void fuzz_fields_done(fuzz_fields *ff) { free(ff->buf); }

/* A failed invariant: say which, with the values, and abort so libFuzzer
 * keeps the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                                    \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "invariant failed: %s: ", #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fputc('\n', stderr);                                                                               \
            abort();                                                                                           \
        }                                                                                                      \
    } while (0)
