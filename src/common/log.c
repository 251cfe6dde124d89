#include "common/log.h"

#include "common/util.h"

#include <math.h>
#include <stdarg.h>
#include <strings.h>
#include <time.h>

static int log_fd = 2;
static enum log_level log_level_cur = LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"panic", "fatal", "error", "warning", "info", "debug", "trace"};

void log_setup(int fd, enum log_level level, bool json)
{
    log_fd = fd;
    log_level_cur = level;
    log_json = json;
}

enum log_level log_get_level(void) { return log_level_cur; }

int log_get_fd(void) { return log_fd; }

int log_parse_level(const char *s, enum log_level *ret)
{
    static const struct {
        const char *n;
        enum log_level l;
    } map[] = {{"panic", LOG_PANIC}, {"fatal", LOG_FATAL}, {"error", LOG_ERROR}, {"warn", LOG_WARN},
               {"warning", LOG_WARN}, {"info", LOG_INFO},   {"debug", LOG_DEBUG}, {"trace", LOG_TRACE}};
    for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
        if (strcasecmp(s, map[i].n) == 0) {
            *ret = map[i].l;
            return 0;
        }
    }
    return -1;
}

/* A line buffer: on the stack for ordinary lines, on the heap once it
 * outgrows that. Nothing is ever cut here: values are bounded when they are
 * quoted, so a line stays well-formed. */
typedef struct {
    char *buf;
    size_t len, cap;
    char small[4096];
} line;

static void line_init(line *l)
{
    l->buf = l->small;
    l->len = 0;
    l->cap = sizeof(l->small);
}

static void reserve(line *l, size_t n)
{
    if (l->len + n <= l->cap)
        return;
    size_t cap = l->cap * 2;
    while (cap < l->len + n)
        cap *= 2;
    if (l->buf == l->small) {
        l->buf = xmalloc(cap);
        memcpy(l->buf, l->small, l->len);
    } else {
        l->buf = xrealloc(l->buf, cap);
    }
    l->cap = cap;
}

static void put(line *l, const char *s, size_t n)
{
    reserve(l, n);
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}
static void puts_(line *l, const char *s) { put(l, s, strlen(s)); }

static void putf(line *l, const char *fmt, ...) PRINTF(2, 3);
static void putf(line *l, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), 0 if the
 * byte there does not start one (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

/* A JSON string (also the quoted form of text values), bounded by
 * LOG_VALUE_MAX input bytes; see log.h for what is escaped and the cut. */
static void put_quoted(line *l, const char *str)
{
    const unsigned char *p = (const unsigned char *)(str ? str : "");
    size_t n = strlen((const char *)p), i = 0;
    reserve(l, (n < LOG_VALUE_MAX ? n : LOG_VALUE_MAX) + 2);
    put(l, "\"", 1);
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (i + (k ? k : 1) > LOG_VALUE_MAX)
            break;
        if (k == 0) {
            puts_(l, "\\ufffd");
            i++;
            continue;
        }
        unsigned char c = p[i];
        if (k == 1) {
            switch (c) {
            case '"': puts_(l, "\\\""); break;
            case '\\': puts_(l, "\\\\"); break;
            case '\n': puts_(l, "\\n"); break;
            case '\r': puts_(l, "\\r"); break;
            case '\t': puts_(l, "\\t"); break;
            default:
                if (c < 0x20)
                    putf(l, "\\u%04x", c);
                else
                    put(l, (const char *)p + i, 1);
            }
        } else if (k == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
            puts_(l, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
        } else {
            put(l, (const char *)p + i, k);
        }
        i += k;
    }
    if (i < n)
        putf(l, LOG_CUT_MARKER "%zu bytes]", n);
    put(l, "\"", 1);
}

static void put_double(line *l, double d, bool json)
{
    if (isfinite(d))
        putf(l, "%.3f", d);
    else if (json)
        puts_(l, isnan(d) ? "\"NaN\"" : d > 0 ? "\"+Inf\"" : "\"-Inf\"");
    else
        puts_(l, isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
}

static bool needs_quotes(const char *s)
{
    if (!*s || strlen(s) > LOG_VALUE_MAX)
        return true;
    for (; *s; s++)
        if (*s <= ' ' || *s == '"' || *s == '=' || (unsigned char)*s >= 0x7f)
            return true;
    return false;
}

static void put_time(line *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tmp[48];
    size_t n = strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    put(l, tmp, n);
    /* Go's RFC3339Nano, as logrus writes it: trailing zeros of the
     * fraction dropped (and the dot with them) */
    char frac[16];
    int fl = snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
    while (fl > 1 && frac[fl - 1] == '0')
        fl--;
    if (fl > 1)
        put(l, frac, (size_t)fl);
    put(l, "Z", 1);
}

static void format_line(line *l, enum log_level level, const char *msg, const log_field *fields, bool json)
{
    if (level > LOG_TRACE)
        level = LOG_TRACE;
    if (json) {
        puts_(l, "{\"time\":\"");
        put_time(l);
        puts_(l, "\",\"level\":\"");
        puts_(l, level_names[level]);
        puts_(l, "\",\"msg\":");
        put_quoted(l, msg);
        for (const log_field *f = fields; f && f->type != LF_END; f++) {
            put(l, ",", 1);
            put_quoted(l, f->key);
            put(l, ":", 1);
            switch (f->type) {
            case LF_STR: put_quoted(l, f->s); break;
            case LF_INT: putf(l, "%lld", f->i); break;
            case LF_UINT: putf(l, "%llu", f->u); break;
            case LF_DBL: put_double(l, f->d, true); break;
            case LF_BOOL: puts_(l, f->i ? "true" : "false"); break;
            case LF_END: break;
            }
        }
        put(l, "}", 1);
    } else {
        puts_(l, "time=\"");
        put_time(l);
        puts_(l, "\" level=");
        puts_(l, level_names[level]);
        puts_(l, " msg=");
        put_quoted(l, msg);
        for (const log_field *f = fields; f && f->type != LF_END; f++) {
            put(l, " ", 1);
            if (needs_quotes(f->key ? f->key : ""))
                put_quoted(l, f->key);
            else
                puts_(l, f->key);
            put(l, "=", 1);
            switch (f->type) {
            case LF_STR:
                if (needs_quotes(f->s ? f->s : ""))
                    put_quoted(l, f->s);
                else
                    puts_(l, f->s);
                break;
            case LF_INT: putf(l, "%lld", f->i); break;
            case LF_UINT: putf(l, "%llu", f->u); break;
            case LF_DBL: put_double(l, f->d, false); break;
            case LF_BOOL: puts_(l, f->i ? "true" : "false"); break;
            case LF_END: break;
            }
        }
    }
    put(l, "\n", 1);
}

char *log_format_line(enum log_level level, const char *msg, const log_field *fields, bool json, size_t *ret_len)
{
    line l;
    line_init(&l);
    format_line(&l, level, msg, fields, json);
    put(&l, "", 1); /* a NUL after the line, not counted */
    *ret_len = --l.len;
    if (l.buf == l.small) {
        char *out = xmalloc(l.len + 1);
        memcpy(out, l.small, l.len + 1);
        return out;
    }
    return l.buf;
}

void log_emit(enum log_level level, const char *msg, const log_field *fields)
{
    if (log_fd < 0)
        return;
    line l;
    line_init(&l);
    format_line(&l, level, msg, fields, log_json);
    (void)write_all(log_fd, l.buf, l.len);
    if (l.buf != l.small)
        free(l.buf);
}
