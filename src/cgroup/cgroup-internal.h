/* cgroup-internal.h — what the cgroup back ends share; not for other modules
 * (unit tests include it to check the vtables, as upstream's
 * internal/guest/cgroup/cgroup_test.go checks its interface). */
#pragma once

#include "cgroup/cgroup.h"

struct cgroup_ops {
    const char *name;
    int (*create)(cgroup *cg, const json_t *res, gcs_err *err);
    int (*load)(cgroup *cg, gcs_err *err);
    int (*add_pid)(cgroup *cg, pid_t pid, gcs_err *err);
    int (*update)(cgroup *cg, const json_t *res, gcs_err *err);
    int (*has_processes)(cgroup *cg, bool *ret, gcs_err *err);
    int (*kill_all)(cgroup *cg, gcs_err *err);
    int (*delete)(cgroup *cg, gcs_err *err);
    int (*stats)(cgroup *cg, struct cgroup_metrics *ret, gcs_err *err);
    int (*oom_kill_count)(cgroup *cg, uint64_t *ret, gcs_err *err);
    int (*memory_usage)(cgroup *cg, uint64_t *ret, gcs_err *err);
};

extern const struct cgroup_ops cgroup_v1_ops;
extern const struct cgroup_ops cgroup_v2_ops;
const struct cgroup_ops *cgroup_ops_for(enum cgroup_version v);

struct cgroup_mgr {
    char *root;
    enum cgroup_version version;
    const struct cgroup_ops *ops;
};

/* One directory per hierarchy the cgroup lives in (v2: exactly one). */
struct cgroup {
    cgroup_mgr *mgr;
    char *path;   /* normalised, "/a/b" ("/" for the root) */
    char **dirs;  /* absolute directories */
    char **hiers; /* v1: hierarchy name per dir ("cpu,cpuacct"); v2: NULL */
    size_t ndirs;
};

void cg_add_dir(cgroup *cg, const char *dir, const char *hier);

/* ---- filesystem helpers (cgroup-fs.c) ---- */

/* True when path is on a cgroup (v1 or v2) filesystem. */
bool cg_is_cgroupfs(const char *path);
bool cg_is_cgroup1_mount(const char *path);
/* Write val to dir/file. A missing file is created only outside cgroupfs
 * (fake trees); on cgroupfs it is an error. */
int cg_write(const char *dir, const char *file, const char *val, gcs_err *err);
int cg_write_i64(const char *dir, const char *file, int64_t v, gcs_err *err);
/* 0 or -errno (no err: callers decide whether a missing file matters). */
int cg_read(const char *dir, const char *file, char **ret);
/* First token as u64; "max" is UINT64_MAX. 0, -errno or -EINVAL. */
int cg_read_u64(const char *dir, const char *file, uint64_t *ret);
/* Look up "key value" in a flat-keyed file's text; false if absent/bad. */
bool cg_kv_lookup(const char *text, const char *key, uint64_t *ret);

/* mkdir base/rel component by component; existing directories are fine.
 * Each directory made is appended to *created (caller frees). */
int cg_mkdir_p(const char *base, const char *rel, char ***created, size_t *ncreated, gcs_err *err);
/* rmdir created[] in reverse order, ignoring errors; frees the array. */
void cg_rollback(char **created, size_t ncreated);

int cg_tree_has_procs(const char *dir, bool *ret, gcs_err *err);
int cg_tree_kill(const char *dir, gcs_err *err);
/* Depth-first rmdir with EBUSY back-off; a missing dir is success. */
int cg_tree_remove(const char *dir, gcs_err *err);

/* Shared implementations over cg->dirs. */
int cg_common_has_processes(cgroup *cg, bool *ret, gcs_err *err);
int cg_common_delete(cgroup *cg, gcs_err *err);
int cg_common_add_pid(cgroup *cg, pid_t pid, gcs_err *err);

/* OCI JSON getters: true when key is present with an integer value. */
bool cg_json_i64(const json_t *obj, const char *key, int64_t *ret);
bool cg_json_u64(const json_t *obj, const char *key, uint64_t *ret);

/* v1 stats/v2 stats readers (cgroup-stats.c). */
int cg_v2_read_stats(const char *dir, struct cgroup_v2_stats *out, gcs_err *err);
