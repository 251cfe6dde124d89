/* host_internal.h — the agent's state, shared by the host's files.
 *
 * One `containers` map and one `pods` map for every kind of pod (the
 * unified pod model, docs/pod-model.md §1.4, §5.1); sandbox roots in their own
 * map (3.3). Everything lives on the loop's thread: no locks. */
#pragma once

#include "cgroup/cgroup.h"
#include "common/strmap.h"
#include "host/host.h"
#include "network/nsreg.h"
#include "pod/classify.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"
#include "stdio/stdio.h"
#include "uvmstate/uvmstate.h"

/* docs/pod-model.md §5.2 */
enum ctr_state { CTR_CREATING, CTR_CREATED, CTR_RUNNING, CTR_TERMINATED, CTR_DELETING };

typedef struct pod pod;
typedef struct container container;
typedef struct memwatch memwatch;

/* docs/protocol.md §5: what the exit notification says. */
enum exit_type { EXIT_UNEXPECTED, EXIT_GRACEFUL, EXIT_FORCED };

typedef struct waiter {
    bridge_req *req;
    loop_timer *timer;
    struct process *p;
    struct waiter *prev, *next;
} waiter;

/* A process the host can wait on: a container's init, an exec'd process, or
 * a process started in the VM itself (c == NULL). */
typedef struct process {
    host *h;
    container *c;
    pid_t pid;
    bool is_init;
    bool watched;        /* pid known and registered with the loop */
    bool exited;
    int status;          /* raw wait status */
    bool relay_finished; /* its output relays are done (or it has none) */
    relay *relay;
    relay_console_socket *cs;
    waiter *waiters;
    bool delivered;      /* a wait has received the exit code */
    char *exec_json;     /* files of an exec, removed with it */
    char *exec_pidfile;
    bridge_req *pending; /* ExecuteProcess waiting for runtime + console */
    int join;            /* async steps still to finish before answering */
    gcs_err join_err;
    stdio_conns conns;   /* host sockets kept until a pty master arrives */
} process;

struct container {
    host *h;
    char *id;
    pod_class cls;      /* kind, sandbox_id, vpid */
    char *bundle;       /* OciBundlePath as sent */
    char *scratch;      /* ScratchDirPath ("" if none) */
    char *root;         /* the sandbox root this container uses */
    char *activity_id;  /* of its CreateContainer, for the exit notification */
    char *netns_id;     /* windows.network.networkNamespace, lower-cased */
    json_t *spec;       /* the spec as written to config.json */
    enum ctr_state state;
    pid_t init_pid;
    int exit_status;    /* raw wait status once terminated */
    bool bundle_created;  /* we made the bundle directory */
    bool runtime_created; /* the runtime holds a container under this id */
    bool pod_member;      /* counted in its pod's members */
    bridge_req *pending;  /* the request waiting on an async step */
    uint64_t started_ns;
    process *init;        /* created with the container, started by ExecuteProcess */
    strmap *execs;        /* pid (decimal) -> process* */
    enum exit_type exit_type;
    bool notified;        /* the exit notification went out */
    bool owns_pidns;      /* the spec has a pid namespace without a path */
    int create_join;      /* runtime create + console receive */
    int tee_fd;           /* the tee log (tee-log-path), open from create until its start, or -1 */
    char *tee_path;
    memwatch *memw;       /* its cgroup's OOM events (memevents.c) */
    uint64_t oom_events;  /* logged so far */
};

struct pod {
    char *sandbox_id;
    char *root;          /* its sandbox root (registered under the sandbox id) */
    char *sandbox_cid;   /* the sandbox container's id (a virtual pod's may differ from sandbox_id;
                          * the root is then registered under both) */
    char *bundle;        /* the sandbox container's bundle */
    char *scratch;       /* the sandbox's scratch, removed with the pod (after the bundle's bind) */
    char *netns_id;      /* namespace entry we created implicitly, or NULL */
    bool root_created;   /* we made the root directory */
    bool dirs_set_up;    /* sandboxMounts/tmpfs/hugepages/logs exist */
    bool sandbox_gone;   /* the sandbox container was deleted; pod waits for members */
    bool delete_root;    /* deleted (not rolled back): a root that is the bundle goes too */
    cgroup *cg;          /* /pods/<sid> */
    strmap *members;     /* container id -> (void *)1, the sandbox included */
};

struct host {
    loop *l;
    const gcs_config *cfg;
    const transport *t;
    bridge *b;
    runtime *rt;
    cgroup_mgr *cgm;
    cgroup *pods_cg, *gcs_cg;
    cgroup_pods_limiter limiter;
    loop_timer *limit_timer;
    /* memevents.c: /pods OOM and /gcs threshold notifications */
    memwatch *pods_mw, *gcs_mw;
    loop_timer *gcs_poll_timer; /* v2: /gcs usage compared once a second (no notification exists) */
    uint64_t gcs_thr_events;    /* v2: threshold lines logged */
    uint64_t last_gcs_usage;    /* v2: /gcs memory usage last seen */
    strmap *containers; /* id -> container* */
    strmap *pods;       /* sandbox id -> pod* */
    sandbox_roots *roots;
    nsreg *netns;
    char *uvm_hostname;
    uint64_t started_ns;
    size_t teardowns_inflight;
    strmap *uvm_procs;  /* pid (decimal) -> process* */
    char *statedir;     /* agent-private files (console sockets) */
    unsigned exec_seq;
    uvmstate *mounts;   /* the mount ledger: what the agent mounted where */
    struct host_guard {
        host *h;
        bridge_handler_fn fn;
    } guards[RPC_MAX];
};

/* memevents.c */
void memevents_start(host *h);
void memevents_stop(host *h);
/* Watch / stop watching the container's own cgroup for OOM events. */
void container_memwatch_start(container *c);
void container_memwatch_stop(container *c);

/* container.c */
void host_handle_create(bridge_req *req, void *ctx);
void host_handle_delete(bridge_req *req, void *ctx);
void container_free(container *c);
/* Start removing a container (runtime delete, then files, pod release).
 * done gets the first error (or NULL); the container is freed before it
 * is called. force: kill a live init (used at agent shutdown). */
typedef void (*teardown_done_fn)(host *h, const gcs_err *err, void *data);
void container_teardown(container *c, bool force, teardown_done_fn done, void *data);

/* Remove a directory tree the host pointed us at, never crossing into a
 * mount (a path that is itself a mount point loses only its contents).
 * Failures are logged and the first one kept in err (may be NULL). */
void host_remove_tree(const char *path, const char *what, gcs_err *err);

void host_remove_v2_pod_dir(const char *bundle);
int host_path_allowed(host *h, const char *what, const char *p, gcs_err *err);

/* Look a container up for a request: not found -> 0xC037010E, still being
 * created -> 0x80370105 (docs/pod-model.md §5.2). */
container *host_lookup(host *h, const char *id, gcs_err *err);

/* process.c */
process *process_new(host *h, container *c, bool is_init);
/* Respond to its waiters with an error, free relays and files. */
void process_free(process *p);
void process_watch(process *p, pid_t pid);
void host_handle_execute(bridge_req *req, void *ctx);
void host_handle_wait(bridge_req *req, void *ctx);
void host_handle_signal(bridge_req *req, void *ctx);
void host_handle_shutdown(bridge_req *req, void *ctx);
void host_handle_resize(bridge_req *req, void *ctx);
void host_handle_get_properties(bridge_req *req, void *ctx);

/* res_network.c: a sandbox's (or standalone container's) network
 * namespace. attach binds the namespace entry named by the spec to the
 * container's netns (its init exists) and configures the NICs the host
 * added: 0 done (or nothing to do), RES_PENDING (1) when done() follows,
 * <0 failed. release unbinds it when the container goes: NICs still there
 * come back to the agent's namespace. */
typedef void (*host_network_done_fn)(container *c, const gcs_err *err);
int host_network_attach(container *c, host_network_done_fn done, gcs_err *err);
void host_network_release(container *c);

/* res_pod_memory.c: the /pods limiter and its refresh timer */
void res_pod_memory_start(host *h, int64_t applied_limit);

/* pod.c */
pod *pod_new(const char *sid);
void pod_free(pod *p);
/* Drop a member; when the sandbox is gone and no member is left, tear the
 * pod down (mounts, root, cgroup, entry). Errors are added to err. */
void pod_release(host *h, pod *p, const char *member, gcs_err *err);
/* Tear down the pod's files and cgroup now (create rollback or release). */
int pod_teardown(host *h, pod *p, gcs_err *err);
