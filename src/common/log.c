#include "common/log.h"

#include "common/util.h"

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

/* A growable line buffer; a line that gets huge is cut, never dropped. */
typedef struct {
    char buf[8192];
    size_t len;
} line;

static void put(line *l, const char *s, size_t n)
{
    if (l->len + n > sizeof(l->buf) - 2)
        n = sizeof(l->buf) - 2 - l->len;
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

/* JSON string escaping (also used for quoted text values). */
static void put_quoted(line *l, const char *s)
{
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': puts_(l, "\\\""); break;
        case '\\': puts_(l, "\\\\"); break;
        case '\n': puts_(l, "\\n"); break;
        case '\r': puts_(l, "\\r"); break;
        case '\t': puts_(l, "\\t"); break;
        default:
            if (*p < 0x20)
                putf(l, "\\u%04x", *p);
            else
                put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

static bool needs_quotes(const char *s)
{
    if (!*s)
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
    putf(l, ".%09ldZ", ts.tv_nsec);
}

void log_emit(enum log_level level, const char *msg, const log_field *fields)
{
    line l;
    l.len = 0;
    if (level > LOG_TRACE)
        level = LOG_TRACE;
    if (log_json) {
        puts_(&l, "{\"time\":\"");
        put_time(&l);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_names[level]);
        puts_(&l, "\",\"msg\":");
        put_quoted(&l, msg);
        for (const log_field *f = fields; f && f->type != LF_END; f++) {
            put(&l, ",", 1);
            put_quoted(&l, f->key);
            put(&l, ":", 1);
            switch (f->type) {
            case LF_STR: put_quoted(&l, f->s); break;
            case LF_INT: putf(&l, "%lld", f->i); break;
            case LF_UINT: putf(&l, "%llu", f->u); break;
            case LF_DBL: putf(&l, "%.3f", f->d); break;
            case LF_BOOL: puts_(&l, f->i ? "true" : "false"); break;
            case LF_END: break;
            }
        }
        put(&l, "}", 1);
    } else {
        puts_(&l, "time=\"");
        put_time(&l);
        puts_(&l, "\" level=");
        puts_(&l, level_names[level]);
        puts_(&l, " msg=");
        put_quoted(&l, msg);
        for (const log_field *f = fields; f && f->type != LF_END; f++) {
            put(&l, " ", 1);
            puts_(&l, f->key);
            put(&l, "=", 1);
            switch (f->type) {
            case LF_STR:
                if (needs_quotes(f->s ? f->s : ""))
                    put_quoted(&l, f->s);
                else
                    puts_(&l, f->s);
                break;
            case LF_INT: putf(&l, "%lld", f->i); break;
            case LF_UINT: putf(&l, "%llu", f->u); break;
            case LF_DBL: putf(&l, "%.3f", f->d); break;
            case LF_BOOL: puts_(&l, f->i ? "true" : "false"); break;
            case LF_END: break;
            }
        }
    }
    l.buf[l.len++] = '\n';
    (void)write_all(log_fd, l.buf, l.len);
}
