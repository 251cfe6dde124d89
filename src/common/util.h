/* util.h — allocation that cannot fail, scope-based cleanup, small helpers.
 *
 * Contract: x* allocators abort on out-of-memory (it is not a code path).
 * cleanup_* attributes release on scope exit; move ownership by nulling the
 * variable (see steal_pointer / steal_fd). */
#pragma once

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED __attribute__((unused))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#define NORETURN __attribute__((noreturn))

void *xmalloc(size_t n);
void *xzalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap);

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

#define cleanup_free __attribute__((cleanup(freep)))
#define cleanup_close __attribute__((cleanup(closep)))
#define cleanup_fclose __attribute__((cleanup(fclosep)))
#define cleanup_dir __attribute__((cleanup(closedirp)))

static inline void *steal_ptr_(void **p)
{
    void *r = *p;
    *p = NULL;
    return r;
}
#define steal_pointer(pp) steal_ptr_((void **)(pp))
static inline int steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

static inline bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}
static inline bool str_empty(const char *s) { return !s || !*s; }
static inline bool str_has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Monotonic clock in milliseconds / nanoseconds. */
uint64_t now_ms(void);
uint64_t now_ns(void);

/* Write all of buf to a blocking fd, retrying on EINTR. 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes; 0, -errno, or -EPIPE on early EOF. */
int read_all(int fd, void *buf, size_t len);
/* Write a whole file (O_CREAT|O_TRUNC with mode). 0 or -errno. */
int write_file(const char *path, const char *data, size_t len, int mode);
/* Read a whole small file into a NUL-terminated buffer. 0 or -errno. */
int read_file(const char *path, char **ret, size_t *ret_len);

int set_nonblock(int fd, bool on);
int set_cloexec(int fd, bool on);
