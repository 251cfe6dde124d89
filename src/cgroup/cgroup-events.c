/* cgroup-events.c — memory events as file descriptors (cgroup.h
 * "memory event watches"): v1 eventfds registered through
 * cgroup.event_control, v2 inotify on memory.events. */
#include "cgroup/cgroup-internal.h"

#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

struct cgroup_memwatch {
    enum cgroup_version v;
    enum cgroup_memwatch_kind kind;
    int fd;        /* v1: the eventfd; v2: the inotify descriptor */
    int target;    /* v1: memory.oom_control or memory.usage_in_bytes, open while registered */
    char *dir;     /* the memory controller's directory of the cgroup */
    uint64_t last_oom, last_oom_kill; /* v2: memory.events counters last seen */
    bool gone;
};

static const char *memory_dir(cgroup *cg)
{
    if (cg->mgr->version == CGROUP_V2)
        return cg->dirs[0];
    for (size_t i = 0; i < cg->ndirs; i++)
        if (cg->hiers[i] && strstr(cg->hiers[i], "memory")) {
            /* "memory" as a whole name in a comma list */
            const char *h = cg->hiers[i];
            for (const char *p = h; (p = strstr(p, "memory")); p += 6)
                if ((p == h || p[-1] == ',') && (p[6] == '\0' || p[6] == ','))
                    return cg->dirs[i];
        }
    return NULL;
}

static int v1_register(cgroup_memwatch *w, const char *file, uint64_t threshold, gcs_err *err)
{
    cleanup_free char *path = xasprintf("%s/%s", w->dir, file);
    w->target = open(path, O_RDONLY | O_CLOEXEC);
    if (w->target < 0)
        return err_errno(err, HR_E_FAIL, errno, "open %s", path);
    w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "eventfd");
    char line[96];
    if (w->kind == CG_WATCH_THRESHOLD)
        snprintf(line, sizeof(line), "%d %d %llu", w->fd, w->target, (unsigned long long)threshold);
    else
        snprintf(line, sizeof(line), "%d %d", w->fd, w->target);
    if (!cg_is_cgroupfs(w->dir))
        return err_set(err, HR_E_NOTIMPL, "%s is not on a cgroup filesystem: no memory events", w->dir);
    return cg_write(w->dir, "cgroup.event_control", line, err);
}

static void v2_counts(cgroup_memwatch *w, uint64_t *oom, uint64_t *kill)
{
    cleanup_free char *text = NULL;
    struct cgroup_memory_events ev = {0};
    if (cg_read(w->dir, "memory.events", &text) == 0)
        cgroup_parse_memory_events(text, &ev);
    *oom = ev.oom;
    *kill = ev.oom_kill;
}

int cgroup_memwatch_open(cgroup *cg, enum cgroup_memwatch_kind kind, uint64_t threshold, cgroup_memwatch **ret,
                         gcs_err *err)
{
    const char *dir = memory_dir(cg);
    if (!dir)
        return err_set(err, HR_E_FAIL, "cgroup %s has no memory hierarchy", cg->path);
    enum cgroup_version v = cg->mgr->version;
    if (v == CGROUP_V2 && kind == CG_WATCH_THRESHOLD)
        return err_set(err, HR_E_NOTIMPL, "cgroup v2 has no memory usage threshold notification");
    cgroup_memwatch *w = xzalloc(sizeof(*w));
    w->v = v;
    w->kind = kind;
    w->fd = w->target = -1;
    w->dir = xstrdup(dir);
    int r;
    if (v == CGROUP_V1) {
        r = v1_register(w, kind == CG_WATCH_OOM ? "memory.oom_control" : "memory.usage_in_bytes", threshold, err);
    } else {
        r = 0;
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        cleanup_free char *path = xasprintf("%s/memory.events", dir);
        if (w->fd < 0)
            r = err_errno(err, HR_E_FAIL, errno, "inotify_init1");
        else if (inotify_add_watch(w->fd, path, IN_MODIFY) < 0)
            r = err_errno(err, HR_E_FAIL, errno, "watch %s", path);
        else
            v2_counts(w, &w->last_oom, &w->last_oom_kill);
    }
    if (r < 0) {
        cgroup_memwatch_free(w);
        return err_wrap(err, r, "memory events of cgroup %s", cg->path);
    }
    *ret = w;
    return 0;
}

int cgroup_memwatch_fd(const cgroup_memwatch *w) { return w->fd; }

int cgroup_memwatch_consume(cgroup_memwatch *w, struct cgroup_memwatch_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (w->v == CGROUP_V1) {
        uint64_t n = 0;
        ssize_t k = read(w->fd, &n, sizeof(n));
        if (k < 0 && errno != EAGAIN)
            return -errno;
        /* the kernel signals every registered eventfd when the cgroup is
         * removed: that is not an event */
        cleanup_free char *ctl = xasprintf("%s/cgroup.event_control", w->dir);
        if (access(ctl, F_OK) < 0) {
            w->gone = ev->gone = true;
            return 0;
        }
        ev->events = k == (ssize_t)sizeof(n) ? n : 0;
        cgroup_memwatch_counts(w, &ev->oom_kills, &ev->usage);
        return 0;
    }
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t k = read(w->fd, buf, sizeof(buf));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -errno;
        }
        for (char *p = buf; p < buf + k;) {
            const struct inotify_event *ie = (const struct inotify_event *)p;
            if (ie->mask & (IN_IGNORED | IN_DELETE_SELF))
                w->gone = ev->gone = true;
            p += sizeof(*ie) + ie->len;
        }
    }
    if (w->gone)
        return 0;
    uint64_t oom, kill;
    v2_counts(w, &oom, &kill);
    uint64_t d_oom = oom > w->last_oom ? oom - w->last_oom : 0;
    uint64_t d_kill = kill > w->last_oom_kill ? kill - w->last_oom_kill : 0;
    w->last_oom = oom;
    w->last_oom_kill = kill;
    ev->events = d_oom > d_kill ? d_oom : d_kill;
    ev->oom_kills = kill;
    (void)cg_read_u64(w->dir, "memory.current", &ev->usage);
    return 0;
}

void cgroup_memwatch_counts(cgroup_memwatch *w, uint64_t *oom_kills, uint64_t *usage)
{
    *oom_kills = *usage = 0;
    if (w->v == CGROUP_V1) {
        cleanup_free char *text = NULL;
        if (cg_read(w->dir, "memory.oom_control", &text) == 0)
            (void)cg_kv_lookup(text, "oom_kill", oom_kills);
        (void)cg_read_u64(w->dir, "memory.usage_in_bytes", usage);
    } else {
        uint64_t oom;
        v2_counts(w, &oom, oom_kills);
        (void)cg_read_u64(w->dir, "memory.current", usage);
    }
}

cgroup_memwatch *cgroup_memwatch_free(cgroup_memwatch *w)
{
    if (!w)
        return NULL;
    if (w->fd >= 0)
        close(w->fd);
    if (w->target >= 0)
        close(w->target);
    free(w->dir);
    free(w);
    return NULL;
}
