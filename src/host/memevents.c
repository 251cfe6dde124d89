/* memevents.c — OOM and memory-threshold events of the agent's cgroups and
 * of every container, from the kernel's notifications (docs/pod-model.md
 * §4.6), on the loop:
 * - /pods: an OOM event (v1 eventfd on memory.oom_control; v2 inotify on
 *   memory.events, which counts the whole subtree) is logged as upstream
 *   logs it, "memory usage for cgroup exceeded threshold";
 * - /gcs: usage crossing -gcs-mem-limit-bytes (v1 threshold eventfd on
 *   memory.usage_in_bytes). cgroup v2 has no such notification; there, as
 *   upstream does, memory.current is compared once a second;
 * - each container's own cgroup: "container OOM event" with the container,
 *   its pod, the count and the cgroup's oom_kill counter (which its
 *   statistics report as memory_oom_control.oom_kill).
 * A notification is logged SETTLE_MS after it arrived, so that the kill the
 * OOM killer was starting is in the counters read for the line. Nothing is
 * killed or sent to the host. */
#include "host/host_internal.h"

#include "common/log.h"
#include "pod/paths.h"

#include <errno.h>
#include <sys/epoll.h>

#define GCS_USAGE_POLL_MS 1000
#define SETTLE_MS 50

enum mw_what { MW_PODS, MW_GCS, MW_CONTAINER };

struct memwatch {
    host *h;
    enum mw_what what;
    container *c;          /* MW_CONTAINER */
    cgroup_memwatch *w;
    loop_watch *lw;
    loop_timer *settle;
    uint64_t pending;      /* notifications not logged yet */
    uint64_t count;        /* lines logged so far (one per burst of notifications, as upstream counts reads) */
    uint64_t kills_seen;   /* MW_CONTAINER: the cgroup's oom_kill counter when last logged */
};

static void mw_free(memwatch *m)
{
    if (!m)
        return;
    if (m->lw)
        loop_watch_remove(m->h->l, m->lw);
    if (m->settle)
        loop_timer_cancel(m->h->l, m->settle);
    cgroup_memwatch_free(m->w);
    free(m);
}

static const char *cgroup_name(memwatch *m)
{
    if (m->what == MW_PODS)
        return CGROUP_PODS_PATH;
    if (m->what == MW_GCS)
        return CGROUP_GCS_PATH;
    json_t *cgp = json_object_get(json_object_get(m->c->spec, "linux"), "cgroupsPath");
    return json_is_string(cgp) ? json_string_value(cgp) : "";
}

static void log_threshold(host *h, const char *cgname, uint64_t threshold, uint64_t count, uint64_t usage,
                          uint64_t oom_kills)
{
    log_warn("memory usage for cgroup exceeded threshold", KV_S("cgroup", cgname), KV_U("thresholdBytes", threshold),
             KV_U("count", count), KV_S("cgroup_version", cgroup_version_name(cgroup_mgr_version(h->cgm))),
             KV_U("memoryUsage", usage), KV_U("oom_kills", oom_kills));
}

static void on_settled(loop *l, void *data)
{
    (void)l;
    memwatch *m = data;
    m->settle = NULL;
    uint64_t kills, usage;
    cgroup_memwatch_counts(m->w, &kills, &usage);
    host *h = m->h;
    switch (m->what) {
    case MW_PODS:
        log_threshold(h, CGROUP_PODS_PATH, (uint64_t)h->limiter.last_applied, ++m->count, usage, kills);
        break;
    case MW_GCS:
        if (usage > h->cfg->gcs_mem_limit_bytes) {
            /* the v1 threshold fires on crossing either way; only up is news */
            log_threshold(h, CGROUP_GCS_PATH, h->cfg->gcs_mem_limit_bytes, ++m->count, usage, kills);
        } else {
            log_debug("memory usage for cgroup back under threshold", KV_S("cgroup", CGROUP_GCS_PATH),
                      KV_U("memoryUsage", usage), KV_U("thresholdBytes", h->cfg->gcs_mem_limit_bytes));
        }
        break;
    case MW_CONTAINER:
        /* v1 also signals a cgroup's eventfd when an ancestor (/pods, the
         * pod) is out of memory; the container's own news is a kill in it
         * (or, v2, any OOM its memory.events counts) */
        if (kills <= m->kills_seen && cgroup_mgr_version(h->cgm) == CGROUP_V1) {
            log_debug("out of memory above the container", KV_S("container", m->c->id),
                      KV_S("cgroup", cgroup_name(m)), KV_U("notifications", m->pending));
            break;
        }
        m->kills_seen = kills;
        m->c->oom_events = ++m->count;
        log_warn("container OOM event", KV_S("container", m->c->id),
                 KV_S("pod", m->c->cls.sandbox_id ? m->c->cls.sandbox_id : ""), KV_S("cgroup", cgroup_name(m)),
                 KV_U("count", m->count), KV_U("oom_kills", kills), KV_U("memoryUsage", usage),
                 KV_U("notifications", m->pending));
        break;
    }
    m->pending = 0;
}

static void on_event(loop *l, int fd, uint32_t events, void *data)
{
    (void)fd;
    (void)events;
    memwatch *m = data;
    struct cgroup_memwatch_event ev;
    int r = cgroup_memwatch_consume(m->w, &ev);
    if (r < 0 || ev.gone) {
        if (r < 0)
            log_warn("memory events unreadable", KV_S("cgroup", cgroup_name(m)), KV_S("error", strerror(-r)));
        loop_watch_remove(l, m->lw);
        m->lw = NULL; /* the handle stays until its owner frees it */
        return;
    }
    if (!ev.events)
        return;
    m->pending += ev.events;
    if (!m->settle)
        m->settle = loop_timer_add(l, SETTLE_MS, on_settled, m);
}

static memwatch *mw_open(host *h, enum mw_what what, container *c, cgroup *cg, enum cgroup_memwatch_kind kind,
                         uint64_t threshold)
{
    memwatch *m = xzalloc(sizeof(*m));
    m->h = h;
    m->what = what;
    m->c = c;
    gcs_err e = GCS_ERR_INIT;
    if (cgroup_memwatch_open(cg, kind, threshold, &m->w, &e) < 0) {
        log_warn("cannot watch memory events", KV_S("cgroup", cgroup_path(cg)), KV_S("error", err_msg(&e)));
        err_clear(&e);
        free(m);
        return NULL;
    }
    m->lw = loop_watch_add(h->l, cgroup_memwatch_fd(m->w), EPOLLIN, on_event, m);
    if (!m->lw) {
        log_warn("cannot watch memory events", KV_S("cgroup", cgroup_path(cg)), KV_S("error", strerror(errno)));
        mw_free(m);
        return NULL;
    }
    return m;
}

/* cgroup v2 only: upstream's V2Mgr.RegisterMemoryEvent compares
 * memory.current with the threshold once a second (above it and above the
 * last reading). */
static void gcs_usage_poll(loop *l, void *data)
{
    host *h = data;
    h->gcs_poll_timer = loop_timer_add(l, GCS_USAGE_POLL_MS, gcs_usage_poll, h);
    uint64_t v = 0;
    gcs_err e = GCS_ERR_INIT;
    if (h->gcs_cg && cgroup_memory_usage(h->gcs_cg, &v, &e) == 0) {
        if (v > h->cfg->gcs_mem_limit_bytes && v > h->last_gcs_usage)
            log_threshold(h, CGROUP_GCS_PATH, h->cfg->gcs_mem_limit_bytes, ++h->gcs_thr_events, v, 0);
        h->last_gcs_usage = v;
    }
    err_clear(&e);
}

void memevents_start(host *h)
{
    h->pods_mw = mw_open(h, MW_PODS, NULL, h->pods_cg, CG_WATCH_OOM, 0);
    if (cgroup_mgr_version(h->cgm) == CGROUP_V1)
        h->gcs_mw = mw_open(h, MW_GCS, NULL, h->gcs_cg, CG_WATCH_THRESHOLD, h->cfg->gcs_mem_limit_bytes);
    else
        h->gcs_poll_timer = loop_timer_add(h->l, GCS_USAGE_POLL_MS, gcs_usage_poll, h);
    log_debug("memory events watched", KV_B("pods_oom", h->pods_mw != NULL),
              KV_B("gcs_threshold_event", h->gcs_mw != NULL), KV_B("gcs_threshold_polled", h->gcs_poll_timer != NULL),
              KV_U("gcs_threshold", h->cfg->gcs_mem_limit_bytes));
}

void memevents_stop(host *h)
{
    mw_free(h->pods_mw);
    mw_free(h->gcs_mw);
    h->pods_mw = h->gcs_mw = NULL;
    if (h->gcs_poll_timer)
        loop_timer_cancel(h->l, h->gcs_poll_timer);
    h->gcs_poll_timer = NULL;
}

void container_memwatch_start(container *c)
{
    json_t *cgp = json_object_get(json_object_get(c->spec, "linux"), "cgroupsPath");
    if (!json_is_string(cgp) || c->memw)
        return;
    cgroup *cg = NULL;
    gcs_err e = GCS_ERR_INIT;
    if (cgroup_load(c->h->cgm, json_string_value(cgp), &cg, &e) < 0) {
        log_warn("cannot watch memory events", KV_S("container", c->id), KV_S("error", err_msg(&e)));
        err_clear(&e);
        return;
    }
    c->memw = mw_open(c->h, MW_CONTAINER, c, cg, CG_WATCH_OOM, 0);
    cgroup_free(cg);
}

void container_memwatch_stop(container *c)
{
    memwatch *m = c->memw;
    if (m && m->settle) { /* a notification still settling: log it now */
        loop_timer_cancel(m->h->l, m->settle);
        on_settled(m->h->l, m);
    }
    mw_free(c->memw);
    c->memw = NULL;
}
