/* process.c — ExecuteProcess, WaitForProcess, SignalProcess, Shutdown*,
 * ResizeConsole, GetProperties and the container exit notification
 * (docs/protocol.md §1.3, §4.3-4.8, §5; docs/pod-model.md §5.4).
 *
 * A process is complete when it has exited and its output relays have
 * finished; only then do waits answer, so the host sees all output, EOF,
 * then the exit code. The init's exit notification goes out once, after the
 * first wait on it delivered the code (the reference's rule: the host treats
 * an unexpected or second notification as fatal). */
#include "host/host_internal.h"

#include "cgroup/cgroup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/path.h"
#include "common/shellwords.h"
#include "loop/spawn.h"
#include "spec/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/wait.h>

#define WAIT_INFINITE 0xFFFFFFFFu

static char *pid_key(pid_t pid) { return xasprintf("%d", (int)pid); }

process *process_new(host *h, container *c, bool is_init)
{
    process *p = xzalloc(sizeof(*p));
    p->h = h;
    p->c = c;
    p->is_init = is_init;
    p->conns = STDIO_CONNS_NONE;
    return p;
}

static void waiter_remove(waiter *w)
{
    process *p = w->p;
    if (w->prev)
        w->prev->next = w->next;
    else
        p->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->timer)
        loop_timer_cancel(p->h->l, w->timer);
    free(w);
}

void process_free(process *p)
{
    if (!p)
        return;
    while (p->waiters) {
        bridge_req *req = p->waiters->req;
        waiter_remove(p->waiters);
        bridge_respond_hr(req, HR_NOT_FOUND, "process %d is gone: its container was deleted", (int)p->pid);
    }
    if (p->pending) {
        bridge_respond_hr(p->pending, HR_E_FAIL, "the container was deleted");
        p->pending = NULL;
    }
    if (p->watched && !p->exited)
        loop_child_unwatch(p->h->l, p->pid);
    relay_free(p->relay);
    relay_console_socket_free(p->cs);
    stdio_conns_close(&p->conns);
    if (p->exec_json)
        unlink(p->exec_json);
    if (p->exec_pidfile)
        unlink(p->exec_pidfile);
    free(p->exec_json);
    free(p->exec_pidfile);
    err_clear(&p->join_err);
    free(p);
}

/* Exit code as the host sees it (4.5): 128 + signal for container
 * processes; a UVM process killed by a signal is -1 as u32, as upstream. */
static uint32_t exit_code(const process *p)
{
    if (WIFEXITED(p->status))
        return (uint32_t)WEXITSTATUS(p->status);
    if (WIFSIGNALED(p->status))
        return p->c ? 128u + (uint32_t)WTERMSIG(p->status) : 0xFFFFFFFFu;
    return 0xFFFFFFFFu;
}

static bool complete(const process *p) { return p->exited && p->relay_finished; }

static void send_exit_notification(container *c)
{
    static const char *const types[] = {"UnexpectedExit", "GracefulExit", "ForcedExit"};
    if (c->notified)
        return;
    c->notified = true;
    json_t *o = json_object();
    json_object_set_new(o, "ContainerId", json_string(c->id));
    json_object_set_new(o, "ActivityId", json_string(c->activity_id));
    json_object_set_new(o, "Type", json_string(types[c->exit_type]));
    json_object_set_new(o, "Operation", json_string("None"));
    json_object_set_new(o, "Result", json_integer(0));
    log_info("container exit notification", KV_S("container", c->id), KV_S("type", types[c->exit_type]));
    bridge_notify(c->h->b, o);
}

static void forget(process *p)
{
    host *h = p->h;
    cleanup_free char *k = pid_key(p->pid);
    if (p->c)
        strmap_take(p->c->execs, k);
    else
        strmap_take(h->uvm_procs, k);
    process_free(p);
}

/* Answer every wait in progress; then a delivered exec or UVM process record
 * goes, and a delivered init triggers the notification (4.5, 5). */
static void deliver(process *p)
{
    if (!complete(p) || !p->waiters)
        return;
    uint32_t code = exit_code(p);
    while (p->waiters) {
        bridge_req *req = p->waiters->req;
        waiter_remove(p->waiters);
        json_t *o = json_object();
        json_object_set_new(o, "ExitCode", json_integer(code));
        bridge_respond(req, o);
    }
    p->delivered = true;
    if (p->is_init)
        send_exit_notification(p->c);
    else
        forget(p);
}

static void on_relay_done(relay *r, void *data)
{
    (void)r;
    process *p = data;
    p->relay_finished = true;
    deliver(p);
}

static void on_killall_done(runtime_result *res, void *data)
{
    (void)res;
    free(data);
}

/* An operator wants to know a container died of its memory limit: the
 * container's own cgroup still exists until the runtime deletes it. */
static void log_if_oom_killed(container *c)
{
    json_t *cgp = json_object_get(json_object_get(c->spec, "linux"), "cgroupsPath");
    cgroup *cg = NULL;
    uint64_t kills = 0;
    gcs_err e = GCS_ERR_INIT;
    if (json_is_string(cgp) && cgroup_load(c->h->cgm, json_string_value(cgp), &cg, &e) == 0 &&
        cgroup_oom_kill_count(cg, &kills, &e) == 0 && kills > 0)
        log_warn("container OOM-killed", KV_S("container", c->id), KV_S("cgroup", json_string_value(cgp)),
                 KV_U("oom_kills", kills));
    err_clear(&e);
    cgroup_free(cg);
}

static void on_process_exit(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    process *p = data;
    p->exited = true;
    p->status = status;
    container *c = p->c;
    log_info("process exited", KV_S("container", c ? c->id : ""), KV_I("pid", pid), KV_B("init", p->is_init),
             KV_U("exit_code", exit_code(p)));
    if (p->is_init && c) {
        c->exit_status = status;
        log_if_oom_killed(c);
        if (c->state == CTR_CREATED || c->state == CTR_RUNNING)
            c->state = CTR_TERMINATED;
        /* docs/pod-model.md §5.4: without its own pid namespace, the
         * container's other processes would outlive init */
        if (!c->owns_pidns) {
            gcs_err e = GCS_ERR_INIT;
            char *id = xstrdup(c->id);
            if (runtime_kill(p->h->rt, c->id, SIGKILL, true, on_killall_done, id, &e) < 0) {
                free(id);
                err_clear(&e);
            }
        }
    }
    relay_process_exited(p->relay);
    if (!p->relay)
        p->relay_finished = true;
    deliver(p);
}

void process_watch(process *p, pid_t pid)
{
    p->pid = pid;
    p->watched = true;
    loop_child_watch(p->h->l, pid, on_process_exit, p);
}

/* ---- lookups ---- */

static process *find_process(host *h, const char *cid, uint32_t pid, container **ret_c, gcs_err *err)
{
    cleanup_free char *k = pid_key((pid_t)pid);
    if (streq(cid, NULL_CONTAINER_ID)) {
        process *p = strmap_get(h->uvm_procs, k);
        if (!p)
            err_set(err, HR_NOT_FOUND, "no process %u in the utility VM", pid);
        if (ret_c)
            *ret_c = NULL;
        return p;
    }
    container *c = host_lookup(h, cid, err);
    if (!c)
        return NULL;
    if (ret_c)
        *ret_c = c;
    if (c->init && c->init->watched && (uint32_t)c->init->pid == pid)
        return c->init;
    process *p = strmap_get(c->execs, k);
    if (!p)
        err_set(err, HR_NOT_FOUND, "container %s has no process %u", cid, pid);
    return p;
}

static void respond_err(bridge_req *req, gcs_err *err)
{
    bridge_respond_error(req, err);
    err_clear(err);
}

/* ---- ExecuteProcess ---- */

static void exec_join_done(process *p)
{
    if (--p->join > 0)
        return;
    bridge_req *req = p->pending;
    p->pending = NULL;
    if (err_isset(&p->join_err)) {
        gcs_err e = GCS_ERR_INIT;
        err_move(&e, &p->join_err);
        if (p->c && !p->is_init)
            forget(p);
        respond_err(req, &e);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "ProcessId", json_integer(p->pid));
    bridge_respond(req, o);
}

/* B: the container's init, created with the container (4.4 case B). */
static void on_started(runtime_result *res, void *data)
{
    process *p = data;
    container *c = p->c;
    if (err_isset(&res->err)) {
        err_move(&p->join_err, &res->err);
        relay_process_exited(p->relay);
    } else if (c->state == CTR_CREATED) {
        c->state = CTR_RUNNING;
        log_info("container started", KV_S("container", c->id), KV_I("pid", p->pid));
    }
    exec_join_done(p);
}

static void exec_init(bridge_req *req, host *h, container *c, const msg_exec *m)
{
    const msg_process_params *pp = &m->settings.process_parameters;
    gcs_err err = GCS_ERR_INIT;
    process *p = c->init;
    if (c->state != CTR_CREATED || !p || p->pending) {
        bridge_respond_hr(req, HR_VMCOMPUTE_INVALID_STATE, "container %s cannot be started: it is %s", c->id,
                          c->state == CTR_RUNNING ? "already running" : "not in the created state");
        return;
    }
    stdio_conns conns = STDIO_CONNS_NONE;
    const msg_vsock_stdio *ports = &m->settings.vsock_stdio_relay_settings;
    /* The init's stdout and stderr re-dial after a host disconnect and replay
     * their tail (internal/guest/runtime/hcsv2/container.go); stdin does not,
     * nor do exec'd processes. The tee log is the init's only. */
    if (c->tee_fd >= 0)
        relay_set_tee(p->relay, steal_fd(&c->tee_fd), c->tee_path);
    if (relay_set_reconnect(p->relay, h->t, pp->create_stdout_pipe ? ports->std_out : 0,
                            pp->create_stderr_pipe ? ports->std_err : 0, &err) < 0 ||
        stdio_connect(h->t, ports, pp->create_stdin_pipe, pp->create_stdout_pipe, pp->create_stderr_pipe, &conns,
                      &err) < 0 ||
        relay_start(h->l, p->relay, &conns, on_relay_done, p, &err) < 0) {
        err_wrap(&err, err.code, "start container %s", c->id);
        respond_err(req, &err);
        return;
    }
    p->pending = req;
    p->join = 1;
    if (runtime_start(h->rt, c->id, on_started, p, &err) < 0) {
        p->pending = NULL;
        respond_err(req, &err);
    }
}

/* C: an extra process in a running container (4.4 case C). */
static void on_console_for_exec(relay_console_socket *cs, int master, const gcs_err *e, void *data)
{
    (void)cs;
    process *p = data;
    if (e) {
        if (!err_isset(&p->join_err)) {
            p->join_err.hr = e->hr;
            p->join_err.msg = xstrdup(err_msg(e));
        }
    } else {
        gcs_err err = GCS_ERR_INIT;
        p->relay = relay_pty_new(master);
        if (relay_start(p->h->l, p->relay, &p->conns, on_relay_done, p, &err) < 0 && !err_isset(&p->join_err))
            err_move(&p->join_err, &err);
        err_clear(&err);
    }
    exec_join_done(p);
}

static void on_exec_started(runtime_result *res, void *data)
{
    process *p = data;
    if (err_isset(&res->err)) {
        if (!err_isset(&p->join_err))
            err_move(&p->join_err, &res->err);
        if (p->cs)
            relay_console_cancel(p->cs);
        if (p->join > 1)
            p->join = 1; /* no console will come */
        exec_join_done(p);
        return;
    }
    pid_t pid = 0;
    cleanup_err gcs_err perr = GCS_ERR_INIT;
    if (read_pid_file(p->exec_pidfile, &pid, &perr) < 0) {
        err_set(&p->join_err, HR_E_FAIL, "exec in %s: no pid from the runtime: %s", p->c->id, err_msg(&perr));
        exec_join_done(p);
        return;
    }
    cleanup_free char *k = pid_key(pid);
    strmap_set(p->c->execs, k, p);
    process_watch(p, pid);
    log_info("process started", KV_S("container", p->c->id), KV_I("pid", pid));
    exec_join_done(p);
}

/* The OCI process an exec runs: the container's rlimits and user unless the
 * exec says otherwise (4.4 case C). */
static json_t *exec_process_spec(container *c, const json_t *oci, gcs_err *err)
{
    json_t *proc = json_deep_copy(oci);
    json_t *cproc = json_object_get(c->spec, "process");
    if (!json_object_get(proc, "rlimits") && json_object_get(cproc, "rlimits"))
        json_object_set(proc, "rlimits", json_object_get(cproc, "rlimits"));
    json_t *user = json_object_get(proc, "user");
    if (json_is_string(json_object_get(user, "username"))) {
        json_t *tmp = json_pack("{s:O,s:O}", "process", proc, "root", json_object_get(c->spec, "root"));
        int r = spec_resolve_username(tmp, err);
        json_decref(tmp);
        if (r < 0) {
            json_decref(proc);
            return NULL;
        }
    } else if (!user && json_object_get(cproc, "user")) {
        json_object_set(proc, "user", json_object_get(cproc, "user"));
    }
    if (!json_object_get(proc, "cwd"))
        json_object_set_new(proc, "cwd", json_string("/"));
    return proc;
}

static void exec_container(bridge_req *req, host *h, container *c, const msg_exec *m)
{
    const msg_process_params *pp = &m->settings.process_parameters;
    gcs_err err = GCS_ERR_INIT;
    if (c->state != CTR_RUNNING) {
        bridge_respond_hr(req, HR_VMCOMPUTE_INVALID_STATE, "cannot exec in container %s: it is not running", c->id);
        return;
    }
    json_t *proc = exec_process_spec(c, pp->oci_process, &err);
    if (!proc) {
        respond_err(req, &err);
        return;
    }
    bool tty = json_is_true(json_object_get(proc, "terminal"));
    process *p = process_new(h, c, false);
    unsigned seq = ++h->exec_seq;
    p->exec_json = xasprintf("%s/exec-%u.json", c->bundle, seq);
    p->exec_pidfile = xasprintf("%s/exec-%u.pid", c->bundle, seq);
    cleanup_free char *text = json_dumps(proc, JSON_COMPACT);
    json_decref(proc);
    runtime_stdio rs = {-1, -1, -1};
    int r = write_file(p->exec_json, text, strlen(text), 0600);
    if (r < 0) {
        err_errno(&err, HR_E_FAIL, -r, "write %s", p->exec_json);
        goto fail;
    }
    /* docs/protocol.md §1.3: dial the host's ports before answering */
    if (stdio_connect(h->t, &m->settings.vsock_stdio_relay_settings, pp->create_stdin_pipe, pp->create_stdout_pipe,
                      pp->create_stderr_pipe, &p->conns, &err) < 0)
        goto fail;
    p->join = 1;
    if (tty) {
        if (relay_console_socket_new(h->statedir, &p->cs, &err) < 0 ||
            relay_console_receive(h->l, p->cs, on_console_for_exec, p, &err) < 0)
            goto fail;
        p->join++;
    } else {
        if (relay_pipes_new(pp->create_stdin_pipe, pp->create_stdout_pipe, pp->create_stderr_pipe, &p->relay, &err) <
            0)
            goto fail;
        int fds[3];
        relay_child_fds(p->relay, fds);
        rs = (runtime_stdio){fds[0], fds[1], fds[2]};
    }
    if (runtime_exec(h->rt, c->id, p->exec_json, p->exec_pidfile, p->cs ? relay_console_socket_path(p->cs) : NULL,
                     tty ? NULL : &rs, on_exec_started, p, &err) < 0)
        goto fail;
    p->pending = req;
    /* the runtime child holds its own copies of the pipe ends now */
    if (!tty && relay_start(h->l, p->relay, &p->conns, on_relay_done, p, &err) < 0)
        err_move(&p->join_err, &err);
    return;
fail:
    process_free(p);
    respond_err(req, &err);
}

/* A: a process in the VM itself (4.4 case A). No shell: argv from
 * CommandArgs, else CommandLine split by shell-word rules. */
static int uvm_argv(const msg_process_params *pp, char ***ret, gcs_err *err)
{
    if (pp->command_args.n > 0) {
        char **v = xzalloc((pp->command_args.n + 1) * sizeof(char *));
        for (size_t i = 0; i < pp->command_args.n; i++)
            v[i] = xstrdup(pp->command_args.v[i]);
        *ret = v;
        return 0;
    }
    size_t n;
    int r = shellwords_split(pp->command_line, ret, &n, err);
    if (r < 0)
        return r;
    if (n == 0) {
        shellwords_free(*ret);
        *ret = NULL;
        return err_set(err, HR_E_INVALIDARG, "the process has no command (CommandArgs and CommandLine are empty)");
    }
    return 0;
}

static char **uvm_env(const json_t *env)
{
    size_t n = json_object_size(env), i = 0;
    char **v = xzalloc((n + 2) * sizeof(char *));
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)env, k, val) v[i++] = xasprintf("%s=%s", k, json_string_value(val) ?: "");
    if (!json_object_get(env, "PATH"))
        v[i++] = xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    return v;
}

static void exec_uvm(bridge_req *req, host *h, const msg_exec *m)
{
    const msg_process_params *pp = &m->settings.process_parameters;
    gcs_err err = GCS_ERR_INIT;
    char **argv = NULL, **envp = NULL;
    int master = -1, slave = -1;
    cleanup_close int devnull = -1;
    cleanup_free char *what = NULL;
    process *p = process_new(h, NULL, false);
    if (uvm_argv(pp, &argv, &err) < 0)
        goto fail;
    envp = uvm_env(pp->environment);
    if (stdio_connect(h->t, &m->settings.vsock_stdio_relay_settings, pp->create_stdin_pipe, pp->create_stdout_pipe,
                      pp->create_stderr_pipe, &p->conns, &err) < 0)
        goto fail;
    if (pp->emulate_console && relay_pty_open(&master, &slave, NULL, &err) < 0)
        goto fail;
    const char *cwd = str_empty(pp->working_directory) ? "/" : pp->working_directory;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        err_errno(&err, HR_E_FAIL, errno, "open /dev/null");
        goto fail;
    }
    /* without a console the host's sockets themselves are 0/1/2
     * (docs/protocol.md §1.3) */
    spawn_opts so = {.path = argv[0], .argv = argv, .envp = envp, .cwd = cwd, .search_path = true};
    if (slave >= 0) {
        so.fds[0] = so.fds[1] = so.fds[2] = slave;
        so.setsid_ctty = true;
    } else {
        so.fds[0] = p->conns.in >= 0 ? p->conns.in : devnull;
        so.fds[1] = p->conns.out >= 0 ? p->conns.out : devnull;
        so.fds[2] = p->conns.err >= 0 ? p->conns.err : devnull;
    }
    what = xasprintf("start %s in the utility VM", argv[0]);
    pid_t pid;
    int r = spawn(h->l, &so, what, &pid, &err);
    if (slave >= 0)
        close(slave);
    slave = -1;
    if (r < 0)
        goto fail;
    if (master >= 0) {
        p->relay = relay_pty_new(master);
        master = -1;
        if (relay_start(h->l, p->relay, &p->conns, on_relay_done, p, &err) < 0)
            log_warn("utility VM process stdio relay failed", KV_S("error", err_msg(&err)));
        err_clear(&err);
    } else {
        stdio_conns_close(&p->conns); /* the child has them */
    }
    char *k = pid_key(pid);
    strmap_set(h->uvm_procs, k, p);
    free(k);
    process_watch(p, pid);
    log_info("utility VM process started", KV_I("pid", pid), KV_S("command", argv[0]));
    shellwords_free(argv);
    shellwords_free(envp);
    json_t *o = json_object();
    json_object_set_new(o, "ProcessId", json_integer(pid));
    bridge_respond(req, o);
    return;
fail:
    if (master >= 0)
        close(master);
    if (slave >= 0)
        close(slave);
    shellwords_free(argv);
    shellwords_free(envp);
    process_free(p);
    respond_err(req, &err);
}

void host_handle_execute(bridge_req *req, void *ctx)
{
    host *h = ctx;
    msg_exec *m = req->msg;
    const msg_process_params *pp = &m->settings.process_parameters;
    if (pp->create_in_utility_vm || streq(req->container_id, NULL_CONTAINER_ID)) {
        exec_uvm(req, h, m);
        return;
    }
    gcs_err err = GCS_ERR_INIT;
    container *c = host_lookup(h, req->container_id, &err);
    if (!c) {
        respond_err(req, &err);
        return;
    }
    if (pp->oci_process)
        exec_container(req, h, c, m);
    else
        exec_init(req, h, c, m);
}

/* ---- WaitForProcess (4.5) ---- */

static void on_wait_timeout(loop *l, void *data)
{
    (void)l;
    waiter *w = data;
    bridge_req *req = w->req;
    uint32_t pid = (uint32_t)w->p->pid;
    w->timer = NULL;
    waiter_remove(w);
    bridge_respond_hr(req, HR_VMCOMPUTE_TIMEOUT, "timed out waiting for process %u", pid);
}

void host_handle_wait(bridge_req *req, void *ctx)
{
    host *h = ctx;
    msg_wait *m = req->msg;
    gcs_err err = GCS_ERR_INIT;
    process *p = find_process(h, req->container_id, m->process_id, NULL, &err);
    if (!p) {
        respond_err(req, &err);
        return;
    }
    waiter *w = xzalloc(sizeof(*w));
    w->req = req;
    w->p = p;
    w->next = p->waiters;
    if (p->waiters)
        p->waiters->prev = w;
    p->waiters = w;
    if (complete(p)) {
        deliver(p); /* timeout 0 on an exited process answers with its code */
        return;
    }
    if (m->timeout_in_ms != WAIT_INFINITE)
        w->timer = loop_timer_add(h->l, m->timeout_in_ms, on_wait_timeout, w);
}

/* ---- SignalProcess (4.6) ---- */

void host_handle_signal(bridge_req *req, void *ctx)
{
    host *h = ctx;
    msg_signal *m = req->msg;
    gcs_err err = GCS_ERR_INIT;
    container *c = NULL;
    process *p = find_process(h, req->container_id, m->process_id, &c, &err);
    if (!p) {
        respond_err(req, &err);
        return;
    }
    int sig = m->options.signal ? m->options.signal : SIGKILL;
    if (sig < 0 || sig >= NSIG) {
        bridge_respond_hr(req, HR_E_INVALIDARG, "invalid signal %d", sig);
        return;
    }
    /* an exited pid may already belong to someone else: never signal it */
    if (p->exited || !p->watched || kill(p->pid, sig) < 0) {
        bridge_respond_hr(req, HR_NOT_FOUND, "process %u is not running", m->process_id);
        return;
    }
    if (p->is_init && c) {
        if (sig == SIGTERM)
            c->exit_type = EXIT_GRACEFUL;
        else if (sig == SIGKILL)
            c->exit_type = EXIT_FORCED;
    }
    bridge_respond(req, NULL);
}

/* ---- ShutdownGraceful / ShutdownForced (4.3) ---- */

static void on_shutdown_kill(runtime_result *res, void *data)
{
    bridge_req *req = data;
    if (err_isset(&res->err))
        bridge_respond_error(req, &res->err);
    else
        bridge_respond(req, NULL);
}

void host_handle_shutdown(bridge_req *req, void *ctx)
{
    host *h = ctx;
    bool forced = req->rpc == RPC_SHUTDOWN_FORCED;
    if (streq(req->container_id, NULL_CONTAINER_ID)) {
        /* The VM itself: the reference powers off without answering. Only
         * as PID 1 (in a VM); anywhere else the agent just exits. */
        log_info("shutdown of the utility VM requested", KV_B("forced", forced));
        if (getpid() == 1) {
            sync();
            reboot(RB_POWER_OFF);
        }
        bridge_stop(h->b);
        loop_quit(h->l, 0);
        /* no response, as the reference: drop the request silently */
        bridge_drop(req);
        return;
    }
    gcs_err err = GCS_ERR_INIT;
    container *c = host_lookup(h, req->container_id, &err);
    if (!c) {
        respond_err(req, &err);
        return;
    }
    if (c->state == CTR_TERMINATED || (c->init && c->init->exited)) {
        bridge_respond_hr(req, HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED, "container %s is not running", c->id);
        return;
    }
    c->exit_type = forced ? EXIT_FORCED : EXIT_GRACEFUL;
    /* as upstream's Container.Kill: the init's stdio no longer re-dials */
    if (c->init)
        relay_reconnect_stop(c->init->relay);
    if (runtime_kill(h->rt, c->id, forced ? SIGKILL : SIGTERM, false, on_shutdown_kill, req, &err) < 0)
        respond_err(req, &err);
}

/* ---- ResizeConsole (4.7) ---- */

void host_handle_resize(bridge_req *req, void *ctx)
{
    host *h = ctx;
    msg_resize *m = req->msg;
    gcs_err err = GCS_ERR_INIT;
    process *p = find_process(h, req->container_id, m->process_id, NULL, &err);
    if (!p || relay_resize(p->relay, m->height, m->width, &err) < 0) {
        if (p && !err_isset(&err))
            err_set(&err, HR_E_FAIL, "process %u has no console", m->process_id);
        respond_err(req, &err);
        return;
    }
    bridge_respond(req, NULL);
}

/* ---- GetProperties (4.8) ---- */

typedef struct props {
    bridge_req *req;
    bool want_ps, want_stats;
    container *c;
} props;

static void props_finish(props *pr, json_t *list)
{
    host *h = pr->c->h;
    json_t *out = json_object();
    if (list && json_array_size(list) > 0)
        json_object_set(out, "ProcessList", list);
    if (pr->want_stats) {
        json_t *cgp = json_object_get(json_object_get(pr->c->spec, "linux"), "cgroupsPath");
        cgroup *cg = NULL;
        gcs_err e = GCS_ERR_INIT;
        json_t *metrics = NULL;
        if (json_is_string(cgp) && cgroup_load(h->cgm, json_string_value(cgp), &cg, &e) == 0 &&
            cgroup_stats(cg, &metrics, &e) == 0)
            json_object_set_new(out, "LCOWMetrics", metrics);
        else
            log_warn("statistics unavailable", KV_S("container", pr->c->id), KV_S("error", err_msg(&e)));
        err_clear(&e);
        cgroup_free(cg);
    }
    cleanup_free char *s = jx_dump(out, NULL);
    json_decref(out);
    json_t *o = json_object();
    json_object_set_new(o, "Properties", json_string(s));
    bridge_respond(pr->req, o);
    free(pr);
}

static void on_ps(runtime_result *res, void *data)
{
    props *pr = data;
    if (err_isset(&res->err)) {
        bridge_respond_error(pr->req, &res->err);
        free(pr);
        return;
    }
    json_t *pids = json_loads(res->out ? res->out : "[]", 0, NULL);
    json_t *list = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(pids, i, v)
    {
        if (!json_is_integer(v))
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "ProcessId", json_integer(json_integer_value(v)));
        json_array_append_new(list, e);
    }
    json_decref(pids);
    props_finish(pr, list);
    json_decref(list);
}

void host_handle_get_properties(bridge_req *req, void *ctx)
{
    host *h = ctx;
    msg_get_properties *m = req->msg;
    gcs_err err = GCS_ERR_INIT;
    if (streq(req->container_id, NULL_CONTAINER_ID)) {
        bridge_respond_hr(req, HR_E_FAIL, "GetProperties is not supported against the utility VM");
        return;
    }
    container *c = host_lookup(h, req->container_id, &err);
    if (!c) {
        respond_err(req, &err);
        return;
    }
    props *pr = xzalloc(sizeof(*pr));
    pr->req = req;
    pr->c = c;
    for (size_t i = 0; i < m->query.property_types.n; i++) {
        const char *t = m->query.property_types.v[i];
        if (streq(t, "ProcessList"))
            pr->want_ps = true;
        else if (streq(t, "Statistics"))
            pr->want_stats = true;
        else
            log_debug("property type ignored", KV_S("type", t));
    }
    if (pr->want_ps) {
        if (runtime_ps(h->rt, c->id, on_ps, pr, &err) < 0) {
            free(pr);
            respond_err(req, &err);
        }
        return;
    }
    props_finish(pr, NULL);
}

