/* cgroup-stats.c — the v1 Metrics message as JSON, the pure v2 -> v1
 * conversion (docs/pod-model.md §4.8), and reading v2
 * statistics files. */
#include "cgroup/cgroup-internal.h"

#include <errno.h>
#include <inttypes.h>

void cgroup_metrics_clear(struct cgroup_metrics *m)
{
    if (!m)
        return;
    free(m->cpu.per_cpu);
    free(m->hugetlb);
    free(m->io_service_bytes);
    free(m->io_serviced);
    free(m->rdma_current);
    free(m->rdma_limit);
    memset(m, 0, sizeof(*m));
}

void cgroup_v2_stats_clear(struct cgroup_v2_stats *s)
{
    if (!s)
        return;
    free(s->io);
    free(s->hugetlb);
    free(s->rdma_current);
    free(s->rdma_limit);
    memset(s, 0, sizeof(*s));
}

/* ---- JSON ---- */

/* JSON keys of the v1 Metrics message, enum cgroup_mem_stat order. */
static const char *const mem_json_keys[CG_MEM__MAX] = {
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pg_pg_in", "pg_pg_out", "pg_fault",
    "pg_maj_fault", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
    "hierarchical_memory_limit", "hierarchical_swap_limit", "total_cache", "total_rss", "total_rss_huge",
    "total_mapped_file", "total_dirty", "total_writeback", "total_pg_pg_in", "total_pg_pg_out", "total_pg_fault",
    "total_pg_maj_fault", "total_inactive_anon", "total_active_anon", "total_inactive_file", "total_active_file",
    "total_unevictable",
};

/* jansson integers are signed 64-bit: values above INT64_MAX (v2 "max" read
 * as UINT64_MAX) are written as INT64_MAX, which a Go uint64 still decodes;
 * a float would not decode at all. */
static void put_u64(json_t *obj, const char *key, uint64_t v)
{
    if (v == 0)
        return; /* omit-if-zero, as the protobuf JSON tags say */
    json_object_set_new(obj, key, json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v));
}

static json_t *mem_entry_json(const struct cgroup_mem_entry *e)
{
    json_t *o = json_object();
    put_u64(o, "usage", e->usage);
    put_u64(o, "max", e->max);
    put_u64(o, "failcnt", e->failcnt);
    put_u64(o, "limit", e->limit);
    return o;
}

json_t *cgroup_metrics_to_json(const struct cgroup_metrics *m)
{
    json_t *root = json_object();
    if (!m)
        return root;
    if (m->n_hugetlb) {
        json_t *arr = json_array();
        for (size_t i = 0; i < m->n_hugetlb; i++) {
            json_t *h = json_object();
            put_u64(h, "usage", m->hugetlb[i].usage);
            put_u64(h, "max", m->hugetlb[i].max);
            put_u64(h, "failcnt", m->hugetlb[i].failcnt);
            if (m->hugetlb[i].pagesize[0])
                json_object_set_new(h, "pagesize", json_string(m->hugetlb[i].pagesize));
            json_array_append_new(arr, h);
        }
        json_object_set_new(root, "hugetlb", arr);
    }
    if (m->has_pids) {
        json_t *p = json_object();
        put_u64(p, "current", m->pids.current);
        put_u64(p, "limit", m->pids.limit);
        json_object_set_new(root, "pids", p);
    }
    if (m->has_cpu) {
        json_t *usage = json_object(), *thr = json_object();
        put_u64(usage, "total", m->cpu.total);
        put_u64(usage, "kernel", m->cpu.kernel);
        put_u64(usage, "user", m->cpu.user);
        if (m->cpu.n_per_cpu) {
            json_t *arr = json_array();
            for (size_t i = 0; i < m->cpu.n_per_cpu; i++)
                json_array_append_new(arr, json_integer(m->cpu.per_cpu[i] > (uint64_t)INT64_MAX
                                                            ? INT64_MAX
                                                            : (json_int_t)m->cpu.per_cpu[i]));
            json_object_set_new(usage, "per_cpu", arr);
        }
        put_u64(thr, "periods", m->cpu.periods);
        put_u64(thr, "throttled_periods", m->cpu.throttled_periods);
        put_u64(thr, "throttled_time", m->cpu.throttled_time);
        json_object_set_new(root, "cpu", json_pack("{s:o,s:o}", "usage", usage, "throttling", thr));
    }
    if (m->has_memory) {
        json_t *mem = json_object();
        for (size_t i = 0; i < CG_MEM__MAX; i++)
            put_u64(mem, mem_json_keys[i], m->memory.stat[i]);
        json_object_set_new(mem, "usage", mem_entry_json(&m->memory.usage));
        json_object_set_new(mem, "swap", mem_entry_json(&m->memory.swap));
        json_object_set_new(mem, "kernel", mem_entry_json(&m->memory.kernel));
        json_object_set_new(mem, "kernel_tcp", mem_entry_json(&m->memory.kernel_tcp));
        json_object_set_new(root, "memory", mem);
    }
    /* uvm.go GetProperties: blkio and rdma are reset to keep the response
     * small (docs/protocol.md §4.8); network is dropped. */
    json_object_set_new(root, "blkio", json_object());
    json_object_set_new(root, "rdma", json_object());
    if (m->has_oom) {
        json_t *o = json_object();
        put_u64(o, "oom_kill_disable", m->oom.oom_kill_disable);
        put_u64(o, "under_oom", m->oom.under_oom);
        put_u64(o, "oom_kill", m->oom.oom_kill);
        json_object_set_new(root, "memory_oom_control", o);
    }
    return root;
}

/* ---- v2 -> v1 ---- */

static uint64_t usec_to_ns(uint64_t us)
{
    return us > UINT64_MAX / 1000 ? UINT64_MAX : us * 1000;
}

static struct cgroup_rdma_entry *dup_rdma(const struct cgroup_rdma_entry *v, size_t n)
{
    if (!n)
        return NULL;
    struct cgroup_rdma_entry *c = xmalloc(n * sizeof(*c));
    memcpy(c, v, n * sizeof(*c));
    return c;
}

void cgroup_v2_stats_to_v1(const struct cgroup_v2_stats *in, struct cgroup_metrics *out)
{
    memset(out, 0, sizeof(*out));
    if (!in)
        return; /* empty, never NULL (upstream container_stats_test.go) */
    if (in->has_memory) {
        out->has_memory = true;
        uint64_t *st = out->memory.stat;
        out->memory.usage = (struct cgroup_mem_entry){
            .usage = in->memory.usage, .limit = in->memory.usage_limit, .max = in->memory.max_usage};
        out->memory.swap = (struct cgroup_mem_entry){
            .usage = in->memory.swap_usage, .limit = in->memory.swap_limit, .max = in->memory.swap_max_usage};
        out->memory.kernel.usage = in->memory.kernel_stack;
        out->memory.kernel_tcp.usage = in->memory.sock;
        st[CG_MEM_HIER_LIMIT] = in->memory.usage_limit;
        st[CG_MEM_HIER_SWAP_LIMIT] = in->memory.swap_limit;
        st[CG_MEM_RSS] = in->memory.anon;
        st[CG_MEM_CACHE] = in->memory.file;
        st[CG_MEM_MAPPED_FILE] = in->memory.file_mapped;
        st[CG_MEM_DIRTY] = in->memory.file_dirty;
        st[CG_MEM_WRITEBACK] = in->memory.file_writeback;
        st[CG_MEM_PGFAULT] = in->memory.pgfault;
        st[CG_MEM_PGMAJFAULT] = in->memory.pgmajfault;
        st[CG_MEM_INACTIVE_ANON] = in->memory.inactive_anon;
        st[CG_MEM_ACTIVE_ANON] = in->memory.active_anon;
        st[CG_MEM_INACTIVE_FILE] = in->memory.inactive_file;
        st[CG_MEM_ACTIVE_FILE] = in->memory.active_file;
        st[CG_MEM_UNEVICTABLE] = in->memory.unevictable;
    }
    if (in->has_memory_events) {
        out->has_oom = true;
        out->oom.oom_kill = in->memory_events.oom_kill; /* oom_kill, not oom (as upstream ConvertV2StatsToV1) */
    }
    if (in->has_cpu) {
        out->has_cpu = true;
        out->cpu.total = usec_to_ns(in->cpu.usage_usec);
        out->cpu.user = usec_to_ns(in->cpu.user_usec);
        out->cpu.kernel = usec_to_ns(in->cpu.system_usec);
        out->cpu.periods = in->cpu.nr_periods;
        out->cpu.throttled_periods = in->cpu.nr_throttled;
        out->cpu.throttled_time = usec_to_ns(in->cpu.throttled_usec);
    }
    if (in->n_io) {
        out->has_blkio = true;
        out->io_service_bytes = xmalloc(in->n_io * 2 * sizeof(struct cgroup_blkio_entry));
        out->io_serviced = xmalloc(in->n_io * 2 * sizeof(struct cgroup_blkio_entry));
        for (size_t i = 0; i < in->n_io; i++) {
            const struct cgroup_v2_io_entry *e = &in->io[i];
            out->io_service_bytes[out->n_io_service_bytes++] =
                (struct cgroup_blkio_entry){e->major, e->minor, "Read", e->rbytes};
            out->io_service_bytes[out->n_io_service_bytes++] =
                (struct cgroup_blkio_entry){e->major, e->minor, "Write", e->wbytes};
            out->io_serviced[out->n_io_serviced++] = (struct cgroup_blkio_entry){e->major, e->minor, "Read", e->rios};
            out->io_serviced[out->n_io_serviced++] = (struct cgroup_blkio_entry){e->major, e->minor, "Write", e->wios};
        }
    }
    if (in->has_pids) {
        out->has_pids = true;
        out->pids.current = in->pids.current;
        out->pids.limit = in->pids.limit;
    }
    if (in->n_hugetlb) {
        out->hugetlb = xzalloc(in->n_hugetlb * sizeof(*out->hugetlb));
        out->n_hugetlb = in->n_hugetlb;
        for (size_t i = 0; i < in->n_hugetlb; i++) {
            snprintf(out->hugetlb[i].pagesize, sizeof(out->hugetlb[i].pagesize), "%s", in->hugetlb[i].pagesize);
            out->hugetlb[i].usage = in->hugetlb[i].current;
            out->hugetlb[i].max = in->hugetlb[i].max;
            out->hugetlb[i].failcnt = 0;
        }
    }
    if (in->has_rdma) {
        out->has_rdma = true;
        out->rdma_current = dup_rdma(in->rdma_current, in->n_rdma_current);
        out->n_rdma_current = in->n_rdma_current;
        out->rdma_limit = dup_rdma(in->rdma_limit, in->n_rdma_limit);
        out->n_rdma_limit = in->n_rdma_limit;
    }
}

/* ---- reading v2 files ---- */

static void read_io_stat(const char *text, struct cgroup_v2_stats *s)
{
    cleanup_free char *copy = xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct cgroup_v2_io_entry e = {0};
        int off = 0;
        if (sscanf(line, "%" SCNu32 ":%" SCNu32 "%n", &e.major, &e.minor, &off) != 2)
            continue;
        char key[16];
        unsigned long long v;
        int n;
        for (const char *p = line + off; sscanf(p, " %15[a-z]=%llu%n", key, &v, &n) == 2; p += n) {
            if (streq(key, "rbytes"))
                e.rbytes = v;
            else if (streq(key, "wbytes"))
                e.wbytes = v;
            else if (streq(key, "rios"))
                e.rios = v;
            else if (streq(key, "wios"))
                e.wios = v;
        }
        s->io = xrealloc(s->io, (s->n_io + 1) * sizeof(*s->io));
        s->io[s->n_io++] = e;
    }
}

static void read_rdma(const char *text, struct cgroup_rdma_entry **v, size_t *n)
{
    cleanup_free char *copy = xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct cgroup_rdma_entry e = {0};
        char h[24] = "", o[24] = "";
        if (sscanf(line, "%63s hca_handle=%23s hca_object=%23s", e.device, h, o) != 3)
            continue;
        e.hca_handles = streq(h, "max") ? UINT32_MAX : (uint32_t)strtoul(h, NULL, 10);
        e.hca_objects = streq(o, "max") ? UINT32_MAX : (uint32_t)strtoul(o, NULL, 10);
        *v = xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[(*n)++] = e;
    }
}

static void read_hugetlb(const char *dir, struct cgroup_v2_stats *s)
{
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        size_t n = strlen(name);
        if (!str_has_prefix(name, "hugetlb.") || n <= 8 + 8 || strcmp(name + n - 8, ".current") != 0 ||
            n - 16 >= 16 || memchr(name + 8, '.', n - 16))
            continue; /* hugetlb.<size>.current, not .rsvd.current */
        s->hugetlb = xrealloc(s->hugetlb, (s->n_hugetlb + 1) * sizeof(*s->hugetlb));
        memset(&s->hugetlb[s->n_hugetlb], 0, sizeof(*s->hugetlb));
        char *ps = s->hugetlb[s->n_hugetlb].pagesize;
        memcpy(ps, name + 8, n - 16);
        ps[n - 16] = '\0';
        cleanup_free char *cur = xasprintf("hugetlb.%s.current", ps), *mx = xasprintf("hugetlb.%s.max", ps);
        (void)cg_read_u64(dir, cur, &s->hugetlb[s->n_hugetlb].current);
        (void)cg_read_u64(dir, mx, &s->hugetlb[s->n_hugetlb].max);
        s->n_hugetlb++;
    }
}

int cg_v2_read_stats(const char *dir, struct cgroup_v2_stats *s, gcs_err *err)
{
    if (access(dir, F_OK) < 0)
        return err_errno(err, HR_E_FAIL, errno, "%s", dir);
    cleanup_free char *cpu = NULL, *mem = NULL, *events = NULL, *io = NULL, *rc = NULL, *rm = NULL;
    if (cg_read_u64(dir, "pids.current", &s->pids.current) == 0) {
        s->has_pids = true;
        if (cg_read_u64(dir, "pids.max", &s->pids.limit) == 0 && s->pids.limit == UINT64_MAX)
            s->pids.limit = 0; /* "max": no limit */
    }
    if (cg_read(dir, "cpu.stat", &cpu) == 0) {
        s->has_cpu = true;
        (void)cg_kv_lookup(cpu, "usage_usec", &s->cpu.usage_usec);
        (void)cg_kv_lookup(cpu, "user_usec", &s->cpu.user_usec);
        (void)cg_kv_lookup(cpu, "system_usec", &s->cpu.system_usec);
        (void)cg_kv_lookup(cpu, "nr_periods", &s->cpu.nr_periods);
        (void)cg_kv_lookup(cpu, "nr_throttled", &s->cpu.nr_throttled);
        (void)cg_kv_lookup(cpu, "throttled_usec", &s->cpu.throttled_usec);
    }
    if (cg_read(dir, "memory.stat", &mem) == 0) {
        s->has_memory = true;
        static const struct {
            const char *key;
            size_t off;
        } keys[] = {
#define K(f) {#f, offsetof(struct cgroup_v2_stats, memory.f)}
            K(anon), K(file), K(kernel_stack), K(sock), K(file_mapped), K(file_dirty), K(file_writeback),
            K(pgfault), K(pgmajfault), K(inactive_anon), K(active_anon), K(inactive_file), K(active_file),
            K(unevictable),
#undef K
        };
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
            (void)cg_kv_lookup(mem, keys[i].key, (uint64_t *)((char *)s + keys[i].off));
        (void)cg_read_u64(dir, "memory.current", &s->memory.usage);
        (void)cg_read_u64(dir, "memory.max", &s->memory.usage_limit);
        (void)cg_read_u64(dir, "memory.peak", &s->memory.max_usage);
        (void)cg_read_u64(dir, "memory.swap.current", &s->memory.swap_usage);
        (void)cg_read_u64(dir, "memory.swap.max", &s->memory.swap_limit);
        (void)cg_read_u64(dir, "memory.swap.peak", &s->memory.swap_max_usage);
    }
    if (cg_read(dir, "memory.events", &events) == 0) {
        s->has_memory_events = true;
        cgroup_parse_memory_events(events, &s->memory_events);
    }
    if (cg_read(dir, "io.stat", &io) == 0)
        read_io_stat(io, s);
    read_hugetlb(dir, s);
    bool has_rc = cg_read(dir, "rdma.current", &rc) == 0, has_rm = cg_read(dir, "rdma.max", &rm) == 0;
    if (has_rc || has_rm) {
        s->has_rdma = true;
        if (has_rc)
            read_rdma(rc, &s->rdma_current, &s->n_rdma_current);
        if (has_rm)
            read_rdma(rm, &s->rdma_limit, &s->n_rdma_limit);
    }
    return 0;
}
