/* kmsg.c — /dev/kmsg into the log stream (kmsg.h). */
#include "kmsg/kmsg.h"

#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kernel refuses a read() into a buffer smaller than one whole record
 * (CONSOLE_EXT_LOG_MAX, 8 KiB) with EINVAL. */
#define KMSG_BUF 16384

struct kmsg_reader {
    loop *l;
    int fd;
    loop_watch *w;
    unsigned max_level;
    uint64_t forwarded;
    char *buf;
};

static const char *const level_names[] = {"Emerg", "Alert", "Crit", "Err", "Warning", "Notice", "Info", "Debug"};

const char *kmsg_level_name(unsigned priority) { return level_names[priority & 7]; }

/* A decimal number of at most max in [p, end); advances p. */
static bool parse_dec(const char **p, const char *end, uint64_t max, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s == end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *p = s;
    *ret = v;
    return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

int kmsg_parse(const char *rec, size_t n, kmsg_entry *out)
{
    const char *end = rec + n;
    const char *semi = memchr(rec, ';', n);
    if (!semi)
        return -1;
    const char *p = rec;
    uint64_t pri, seq, usec;
    /* upstream: syslog value as uint16, sequence and timestamp as uint64 */
    if (!parse_dec(&p, semi, 0xffff, &pri) || p == semi || *p++ != ',')
        return -1;
    if (!parse_dec(&p, semi, UINT64_MAX, &seq) || p == semi || *p++ != ',')
        return -1;
    if (!parse_dec(&p, semi, UINT64_MAX, &usec) || p == semi || *p++ != ',')
        return -1;
    const char *fe = memchr(p, ',', (size_t)(semi - p));
    if (!fe)
        fe = semi;
    size_t fl = (size_t)(fe - p);
    if (fl >= sizeof(out->flags))
        fl = sizeof(out->flags) - 1;
    memcpy(out->flags, p, fl);
    out->flags[fl] = '\0';
    out->priority = (unsigned)(pri & 7);
    out->facility = (unsigned)(pri >> 3);
    out->seq = seq;
    out->usec = usec;
    const char *m = semi + 1;
    const char *me = memchr(m, '\n', (size_t)(end - m));
    if (!me)
        me = end;
    while (m < me && is_space(*m))
        m++;
    while (me > m && is_space(me[-1]))
        me--;
    out->msg = m;
    out->msg_len = (size_t)(me - m);
    return 0;
}

static void forward(kmsg_reader *k, const char *rec, size_t n)
{
    kmsg_entry e;
    if (kmsg_parse(rec, n, &e) < 0) {
        cleanup_free char *raw = xstrndup(rec, n);
        log_error("failed to parse kmsg entry", KV_S("error", "invalid kmsg format"), KV_S("line", raw));
        return;
    }
    if (e.priority > k->max_level)
        return;
    k->forwarded++;
    cleanup_free char *msg = xstrndup(e.msg, e.msg_len);
    log_info("kmsg read", KV_S("priority", kmsg_level_name(e.priority)), KV_U("facility", e.facility),
             KV_U("seq", e.seq), KV_U("timesincebootmicro", e.usec), KV_S("flags", e.flags), KV_S("message", msg));
}

static void on_readable(loop *l, int fd, uint32_t events, void *data)
{
    (void)l;
    (void)events;
    kmsg_reader *k = data;
    /* a bounded batch per wake-up, so a flood of kernel messages cannot
     * starve the bridge */
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(fd, k->buf, KMSG_BUF);
        if (n > 0) {
            forward(k, k->buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0 && errno == EPIPE) {
            /* the ring buffer overwrote records we had not read; the read
             * position moved on to the next one */
            log_warn("kmsg entry overwritten; skipping entry");
            continue;
        }
        log_error("kmsg read failure", KV_S("error", n == 0 ? "end of file" : strerror(errno)));
        loop_watch_remove(k->l, k->w);
        k->w = NULL;
        return;
    }
}

kmsg_reader *kmsg_start(loop *l, const char *path, unsigned max_level)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        log_error("failed to open /dev/kmsg", KV_S("path", path), KV_S("error", strerror(errno)));
        return NULL;
    }
    /* lines written to the kernel's log would come back as records and be
     * logged again, without end */
    struct stat ks, ls;
    if (fstat(fd, &ks) == 0 && S_ISCHR(ks.st_mode) && log_get_fd() >= 0 && fstat(log_get_fd(), &ls) == 0 &&
        S_ISCHR(ls.st_mode) && ls.st_rdev == ks.st_rdev) {
        log_warn("the agent logs into the kernel's log: kernel messages are not forwarded", KV_S("path", path));
        close(fd);
        return NULL;
    }
    kmsg_reader *k = xzalloc(sizeof(*k));
    k->l = l;
    k->fd = fd;
    k->max_level = max_level;
    k->buf = xmalloc(KMSG_BUF);
    k->w = loop_watch_add(l, fd, EPOLLIN, on_readable, k);
    if (!k->w) {
        log_error("cannot watch /dev/kmsg", KV_S("path", path), KV_S("error", strerror(errno)));
        kmsg_stop(k);
        return NULL;
    }
    log_debug("forwarding kernel messages", KV_S("path", path), KV_U("max_priority", max_level));
    /* records already there: epoll reports them, but read them now so the
     * boot messages come before the agent's next lines */
    on_readable(l, fd, EPOLLIN, k);
    return k;
}

void kmsg_stop(kmsg_reader *k)
{
    if (!k)
        return;
    if (k->w)
        loop_watch_remove(k->l, k->w);
    close(k->fd);
    free(k->buf);
    free(k);
}

uint64_t kmsg_forwarded(const kmsg_reader *k) { return k ? k->forwarded : 0; }
