/* log.h — structured logs: a constant message plus typed key/value fields.
 *
 *     log_info("container created", KV_S("container", id), KV_I("pid", pid));
 *
 * Text format (logrus-like):  time="…" level=info msg="container created" container=abc pid=12
 * JSON format (logrus JSON):  {"time":"…","level":"info","msg":"container created","container":"abc","pid":12}
 * One write(2) per line, so lines from the agent are never interleaved.
 *
 * Every line is valid in its format whatever the values hold (the host's
 * JSON decoder stops reading the stream for good at the first bad object,
 * upstream internal/vm/vmutils/gcs_logs.go):
 * - a string (msg, key or value) longer than LOG_VALUE_MAX bytes is cut at
 *   the last whole UTF-8 sequence within that many bytes and ends, inside
 *   its quotes, with the marker LOG_CUT_MARKER followed by its full length:
 *   "aaaa…aaaa...[cut, 1048576 bytes]";
 * - invalid UTF-8 becomes U+FFFD (one per bad byte), as Go's encoding/json
 *   writes it; control characters are \n, \r, \t or \u00XX; U+2028 and
 *   U+2029 are escaped too;
 * - a double that is not finite is written as a string ("NaN", "+Inf"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_PANIC, LOG_FATAL, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

enum log_field_type { LF_END, LF_STR, LF_INT, LF_UINT, LF_DBL, LF_BOOL };

typedef struct log_field {
    const char *key;
    enum log_field_type type;
    const char *s;
    long long i;
    unsigned long long u;
    double d;
} log_field;

#define KV_S(k, v) ((log_field){.key = (k), .type = LF_STR, .s = (v)})
#define KV_I(k, v) ((log_field){.key = (k), .type = LF_INT, .i = (long long)(v)})
#define KV_U(k, v) ((log_field){.key = (k), .type = LF_UINT, .u = (unsigned long long)(v)})
#define KV_D(k, v) ((log_field){.key = (k), .type = LF_DBL, .d = (double)(v)})
#define KV_B(k, v) ((log_field){.key = (k), .type = LF_BOOL, .i = !!(v)})
#define KV_END ((log_field){.key = 0, .type = LF_END})

/* fd: where lines go (stderr by default). */
void log_setup(int fd, enum log_level level, bool json);
enum log_level log_get_level(void);
/* Where lines go (-1: nowhere). */
int log_get_fd(void);
/* Parse a logrus level name (panic fatal error warn warning info debug trace). */
int log_parse_level(const char *s, enum log_level *ret);
static inline bool log_enabled(enum log_level l) { return l <= log_get_level(); }

void log_emit(enum log_level level, const char *msg, const log_field *fields);

/* The longest string written whole (bytes of input). */
#define LOG_VALUE_MAX 16384
#define LOG_CUT_MARKER "...[cut, "
/* The line log_emit would write (with its '\n'), malloc'd and followed by
 * a NUL; *ret_len its length (without the NUL). For tests and the fuzz target. */
char *log_format_line(enum log_level level, const char *msg, const log_field *fields, bool json, size_t *ret_len);

#define log_at(lvl, msg, ...)                                                                      \
    do {                                                                                           \
        if (log_enabled(lvl))                                                                      \
            log_emit((lvl), (msg), (const log_field[]){__VA_ARGS__ __VA_OPT__(, ) KV_END});        \
    } while (0)
#define log_error(msg, ...) log_at(LOG_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_at(LOG_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...) log_at(LOG_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_at(LOG_DEBUG, msg, __VA_ARGS__)
