/* cgroup.h — one cgroup manager interface, two back ends (v1 and v2).
 *
 * Contract (docs/pod-model.md §4):
 * - cgroup_detect() picks the version of a cgroup ROOT (normally
 *   CGROUP_DEFAULT_ROOT; tests pass a temporary fake tree). Only a unified
 *   cgroup2 root is v2; v1 plus /unified ("hybrid") is v1 (docs/differences.md D-12).
 * - A cgroup_mgr holds (root, version); a cgroup is a handle on one cgroupfs
 *   path such as "/pods/<sid>" relative to each hierarchy root. The mgr must
 *   outlive every cgroup made from it. Paths must be absolute and must not
 *   contain "." or ".." elements.
 * - Resources are the OCI `linux.resources` object (jansson, may be NULL).
 *   v1 writes them as they are into each controller hierarchy; v2 converts
 *   them first (cgroup_v2_resources_from_oci, with the fixes of
 *   docs/differences.md D-13).
 * - delete refuses while any process lives in the subtree ("contains running
 *   processes" on both back ends; upstream's v2 says "still contains running
 *   tasks"), removes directories depth-first, retries EBUSY (5 tries, 10 ms
 *   doubling), and treats an already-removed cgroup as success (idempotent).
 * - No threads, no waitpid, no bridge knowledge. OOM and memory-threshold
 *   events come as file descriptors the caller watches on its loop
 *   (cgroup_memwatch_*: v1 eventfds, v2 inotify on memory.events); v2 has
 *   no usage threshold notification, so that one is left to the caller to
 *   poll (cgroup_memory_usage()).
 * - Fake trees: a directory that is not on a cgroup filesystem gets missing
 *   interface files created on write, and its regular files removed on
 *   delete; on a real cgroupfs neither can happen. */
#pragma once

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_DEFAULT_ROOT "/sys/fs/cgroup"
#define CGROUP_PODS_PATH "/pods"
#define CGROUP_GCS_PATH "/gcs"
/* cmd/gcs/main.go flag defaults. */
#define CGROUP_DEFAULT_ROOT_MEM_RESERVE ((uint64_t)75 * 1024 * 1024)
#define CGROUP_DEFAULT_GCS_MEM_LIMIT ((uint64_t)50 * 1024 * 1024)

enum cgroup_version {
    CGROUP_V1 = 1,
    CGROUP_V2 = 2,
};

typedef struct cgroup_mgr cgroup_mgr;
typedef struct cgroup cgroup;

/* ---- version and manager ---------------------------------------------- */

/* v2 when `root` is a cgroup2 mount, or (fake tree) has a cgroup.controllers
 * file and no v1 controller hierarchies below it; v1 when it holds v1
 * controller hierarchies (real cgroup mounts, or fake dirs with cgroup.procs).
 * Same answer on every call for the same tree. */
int cgroup_detect(const char *root, enum cgroup_version *ret, gcs_err *err);
const char *cgroup_version_name(enum cgroup_version v); /* "v1" / "v2" */

/* root NULL means CGROUP_DEFAULT_ROOT. Cannot fail. */
cgroup_mgr *cgroup_mgr_new(const char *root, enum cgroup_version version);
cgroup_mgr *cgroup_mgr_free(cgroup_mgr *mgr);
enum cgroup_version cgroup_mgr_version(const cgroup_mgr *mgr);
const char *cgroup_mgr_root(const cgroup_mgr *mgr);

/* ---- one cgroup ------------------------------------------------------- */

/* Make `path` (mkdir -p; an existing directory is fine) and apply resources.
 * v1: in every mounted controller hierarchy (named ones such as systemd and
 * "unified" skipped); a new cpuset cgroup inherits its parent's cpus/mems.
 * v2: enables the controllers the resources need in every ancestor's
 * cgroup.subtree_control (only those in that ancestor's cgroup.controllers).
 * On failure, removes the directories it made. */
int cgroup_create(cgroup_mgr *mgr, const char *path, const json_t *oci_linux_resources, cgroup **ret,
                  gcs_err *err);
/* Wrap an existing cgroup (v1: present in at least one hierarchy). */
int cgroup_load(cgroup_mgr *mgr, const char *path, cgroup **ret, gcs_err *err);
cgroup *cgroup_free(cgroup *cg);
const char *cgroup_path(const cgroup *cg);

/* Write pid to cgroup.procs (v1: in every hierarchy of the cgroup). */
int cgroup_add_pid(cgroup *cg, pid_t pid, gcs_err *err);
/* Rewrite the limits given in resources (NULL: nothing to do). */
int cgroup_update(cgroup *cg, const json_t *oci_linux_resources, gcs_err *err);
/* Any pid in cgroup.procs of the cgroup or any descendant (any hierarchy). */
int cgroup_has_processes(cgroup *cg, bool *ret, gcs_err *err);
/* v2: write 1 to cgroup.kill when the kernel has it; otherwise (and on v1)
 * SIGKILL every pid listed in the subtree. Reaping is the caller's job. */
int cgroup_kill_all(cgroup *cg, gcs_err *err);
/* See the contract above. Never removes the root. The handle stays valid
 * (and must still be freed). Short nanosleep back-off on EBUSY only. */
int cgroup_delete(cgroup *cg, gcs_err *err);

/* LCOWMetrics object (docs/protocol.md §4.8): containerd cgroup-v1 Metrics
 * JSON, snake_case keys, zero members omitted, blkio and rdma always {}.
 * v2 statistics are converted (cgroup_v2_stats_to_v1). */
int cgroup_stats(cgroup *cg, json_t **ret_lcow_metrics, gcs_err *err);
/* Number of OOM kills so far (v2 memory.events oom_kill; v1
 * memory.oom_control oom_kill). Poll it; an increase is an OOM event. */
int cgroup_oom_kill_count(cgroup *cg, uint64_t *ret, gcs_err *err);
/* Current memory usage (v2 memory.current; v1 memory.usage_in_bytes), for a
 * polled threshold (docs/pod-model.md §4.2 step 6: above threshold and above last). */
int cgroup_memory_usage(cgroup *cg, uint64_t *ret, gcs_err *err);

/* ---- memory event watches --------------------------------------------- */

enum cgroup_memwatch_kind {
    CG_WATCH_OOM,       /* v1: memory.oom_control eventfd; v2: oom/oom_kill in memory.events */
    CG_WATCH_THRESHOLD, /* v1 only: memory.usage_in_bytes crossing a threshold */
};
typedef struct cgroup_memwatch cgroup_memwatch;
struct cgroup_memwatch_event {
    uint64_t events;    /* notifications since the last consume (v2: the growth of oom/oom_kill) */
    uint64_t oom_kills; /* the cgroup's oom_kill counter now */
    uint64_t usage;     /* its memory usage now */
    bool gone;          /* the cgroup was removed: stop watching */
};
/* Open a watch; its fd (cgroup_memwatch_fd) becomes readable on an event.
 * v2 with CG_WATCH_THRESHOLD: HR_E_NOTIMPL. A directory that is not on a
 * cgroup filesystem (a fake tree) cannot be registered on v1. */
int cgroup_memwatch_open(cgroup *cg, enum cgroup_memwatch_kind kind, uint64_t threshold, cgroup_memwatch **ret,
                         gcs_err *err);
int cgroup_memwatch_fd(const cgroup_memwatch *w);
/* After the fd was readable: drain it and say what happened (events 0: a
 * wake-up that was not one, e.g. a v2 "high" or "max" change). 0 or -errno. */
int cgroup_memwatch_consume(cgroup_memwatch *w, struct cgroup_memwatch_event *ev);
/* The cgroup's oom_kill counter and memory usage now. A v1 OOM
 * notification comes as the OOM killer starts, before the kill is
 * counted: read the counter again a moment later for it. */
void cgroup_memwatch_counts(cgroup_memwatch *w, uint64_t *oom_kills, uint64_t *usage);
/* Closes the descriptors (v1: unregisters). NULL is fine; returns NULL. */
cgroup_memwatch *cgroup_memwatch_free(cgroup_memwatch *w);

/* ---- agent startup (docs/pod-model.md §4.2) ---------------------------- */

/* Total RAM: sysinfo totalram * mem_unit (0 counts as 1), overflow checked. */
int cgroup_total_memory(uint64_t *ret, gcs_err *err);
/* /pods limit = total - reserve. Errors: "... must be greater than root
 * memory reserve ..." and "... exceeds maximum supported value ...". */
int cgroup_pods_limit(uint64_t total, uint64_t reserve, int64_t *ret, gcs_err *err);

/* The refresher state for the /pods memory limit (docs/pod-model.md §4.2 steps 7-8). */
typedef struct cgroup_pods_limiter {
    cgroup *pods;         /* borrowed */
    uint64_t reserve;
    int64_t last_applied; /* the limit last written, 0 before any */
} cgroup_pods_limiter;

/* Compute the limit for `total` and write memory limit to lim->pods only if
 * it differs from lim->last_applied. *ret_limit is the limit now in force,
 * *ret_updated whether a write happened. On error nothing changes. */
int cgroup_pods_limiter_apply(cgroup_pods_limiter *lim, uint64_t total, int64_t *ret_limit, bool *ret_updated,
                              gcs_err *err);
/* Same with total = cgroup_total_memory(). */
int cgroup_pods_limiter_refresh(cgroup_pods_limiter *lim, int64_t *ret_limit, bool *ret_updated, gcs_err *err);

/* v1: memory.use_hierarchy = 1 first (missing: error naming CONFIG_MEMCG_V1).
 * Create /pods with memory limit total - reserve, create /gcs, move `self`
 * into /gcs. On failure nothing is left behind. ret_pods_limit may be NULL. */
int cgroup_setup_agent(cgroup_mgr *mgr, uint64_t reserve, pid_t self, cgroup **ret_pods, cgroup **ret_gcs,
                       int64_t *ret_pods_limit, gcs_err *err);
/* Move `self` back to the root cgroup, delete /gcs and /pods (if not NULL)
 * and free both handles. Returns the first error; always frees. */
int cgroup_teardown_agent(cgroup_mgr *mgr, pid_t self, cgroup *pods, cgroup *gcs, gcs_err *err);

/* ---- pure helpers (unit-tested without a kernel) ------------------------ */

/* Converted v2 resources; has_* says whether the file is written. */
struct cgroup_v2_resources {
    bool has_memory_max, has_memory_low, has_memory_swap_max, has_cpu_weight, has_cpu_max, has_pids_max,
        has_io_bfq_weight;
    int64_t memory_max;      /* -1 = "max" */
    int64_t memory_low;      /* -1 = "max" */
    int64_t memory_swap_max; /* -1 = "max" */
    uint64_t cpu_weight;     /* 1..10000 */
    char cpu_max[48];        /* "<quota|max> <period>" */
    int64_t pids_max;
    uint64_t io_bfq_weight;
};

/* docs/pod-model.md §4.5 table, with docs/differences.md D-13 on purpose:
 * - cpu.weight = 1 + ((max(S,2) - 2) * 9999) / 262142, clamped to [1,10000]
 *   (upstream gives > 10000 for S > 262144, which the kernel rejects);
 * - OCI memory.swap is memory+swap (v1 semantics) while memory.swap.max is
 *   swap only: with both limit and swap set, swap.max = swap - limit when
 *   swap > limit, 0 when swap <= limit, "max" when swap == -1; swap without
 *   a limit is passed through (upstream passes it through always).
 * NULL oci gives an empty result. Fields of the wrong JSON type are ignored. */
void cgroup_v2_resources_from_oci(const json_t *oci, struct cgroup_v2_resources *out);
/* The controllers the resources need, space separated ("cpu io memory pids"
 * subset, in that order); "" when none. buf must hold 32 bytes. */
void cgroup_v2_resources_controllers(const struct cgroup_v2_resources *r, char buf[32]);

struct cgroup_memory_events {
    bool has_low, has_high, has_max, has_oom, has_oom_kill, has_oom_group_kill;
    uint64_t low, high, max, oom, oom_kill, oom_group_kill;
};
/* memory.events: "key value" lines; lines with a bad number, a missing value
 * or extra fields are skipped; unknown keys ignored. */
void cgroup_parse_memory_events(const char *text, struct cgroup_memory_events *out);

/* ---- statistics (v2 -> v1 conversion is a pure function) -------------- */

struct cgroup_mem_entry {
    uint64_t usage, max, failcnt, limit;
};

/* memory.stat counters in v1 naming; CGROUP_MEM_FIELDS order. */
enum cgroup_mem_stat {
    CG_MEM_CACHE, CG_MEM_RSS, CG_MEM_RSS_HUGE, CG_MEM_MAPPED_FILE, CG_MEM_DIRTY, CG_MEM_WRITEBACK,
    CG_MEM_PGPGIN, CG_MEM_PGPGOUT, CG_MEM_PGFAULT, CG_MEM_PGMAJFAULT, CG_MEM_INACTIVE_ANON,
    CG_MEM_ACTIVE_ANON, CG_MEM_INACTIVE_FILE, CG_MEM_ACTIVE_FILE, CG_MEM_UNEVICTABLE,
    CG_MEM_HIER_LIMIT, CG_MEM_HIER_SWAP_LIMIT,
    CG_MEM_TOTAL_CACHE, CG_MEM_TOTAL_RSS, CG_MEM_TOTAL_RSS_HUGE, CG_MEM_TOTAL_MAPPED_FILE, CG_MEM_TOTAL_DIRTY,
    CG_MEM_TOTAL_WRITEBACK, CG_MEM_TOTAL_PGPGIN, CG_MEM_TOTAL_PGPGOUT, CG_MEM_TOTAL_PGFAULT,
    CG_MEM_TOTAL_PGMAJFAULT, CG_MEM_TOTAL_INACTIVE_ANON, CG_MEM_TOTAL_ACTIVE_ANON, CG_MEM_TOTAL_INACTIVE_FILE,
    CG_MEM_TOTAL_ACTIVE_FILE, CG_MEM_TOTAL_UNEVICTABLE,
    CG_MEM__MAX
};

struct cgroup_hugetlb_stat {
    char pagesize[16];
    uint64_t usage, max, failcnt;
};
struct cgroup_blkio_entry {
    uint32_t major, minor;
    const char *op; /* static "Read"/"Write" */
    uint64_t value;
};
struct cgroup_rdma_entry {
    char device[64];
    uint32_t hca_handles, hca_objects;
};

/* The v1 Metrics message as C. Arrays are owned (cgroup_metrics_clear). */
struct cgroup_metrics {
    bool has_pids;
    struct { uint64_t current, limit; } pids;
    bool has_cpu;
    struct {
        uint64_t total, kernel, user;
        uint64_t *per_cpu;
        size_t n_per_cpu;
        uint64_t periods, throttled_periods, throttled_time;
    } cpu;
    bool has_memory;
    struct {
        uint64_t stat[CG_MEM__MAX];
        struct cgroup_mem_entry usage, swap, kernel, kernel_tcp;
    } memory;
    bool has_oom;
    struct { uint64_t oom_kill_disable, under_oom, oom_kill; } oom;
    struct cgroup_hugetlb_stat *hugetlb;
    size_t n_hugetlb;
    bool has_blkio;
    struct cgroup_blkio_entry *io_service_bytes, *io_serviced;
    size_t n_io_service_bytes, n_io_serviced;
    bool has_rdma;
    struct cgroup_rdma_entry *rdma_current, *rdma_limit;
    size_t n_rdma_current, n_rdma_limit;
};
void cgroup_metrics_clear(struct cgroup_metrics *m);
/* LCOWMetrics JSON of m (blkio and rdma emptied to {}). Never NULL. */
json_t *cgroup_metrics_to_json(const struct cgroup_metrics *m);

/* v2 statistics as read from the files (names as in containerd's v2 stats). */
struct cgroup_v2_io_entry {
    uint32_t major, minor;
    uint64_t rbytes, wbytes, rios, wios;
};
struct cgroup_v2_stats {
    bool has_pids;
    struct { uint64_t current, limit; } pids;
    bool has_cpu;
    struct { uint64_t usage_usec, user_usec, system_usec, nr_periods, nr_throttled, throttled_usec; } cpu;
    bool has_memory;
    struct {
        uint64_t anon, file, kernel_stack, sock, file_mapped, file_dirty, file_writeback, pgfault, pgmajfault,
            inactive_anon, active_anon, inactive_file, active_file, unevictable;
        uint64_t usage, usage_limit, max_usage, swap_usage, swap_limit, swap_max_usage;
    } memory;
    bool has_memory_events;
    struct cgroup_memory_events memory_events;
    struct cgroup_v2_io_entry *io;
    size_t n_io;
    struct { char pagesize[16]; uint64_t current, max; } *hugetlb;
    size_t n_hugetlb;
    bool has_rdma;
    struct cgroup_rdma_entry *rdma_current, *rdma_limit;
    size_t n_rdma_current, n_rdma_limit;
};
void cgroup_v2_stats_clear(struct cgroup_v2_stats *s);
/* docs/pod-model.md §4.8 (statistics conversion). in NULL gives an empty result.
 * out is overwritten (not cleared first). CPU ×1000 saturates at UINT64_MAX
 * instead of wrapping (upstream wraps; its container_stats_test.go does
 * not assert it). */
void cgroup_v2_stats_to_v1(const struct cgroup_v2_stats *in, struct cgroup_metrics *out);
