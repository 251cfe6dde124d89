/* runtime.c — one asynchronous child process per runtime verb. */
#include "runtime/runtime.h"

#include "common/log.h"
#include "common/path.h"
#include "common/strmap.h"
#include "loop/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define STATE_BASE "/var/run/gcsrunc"
#define CAPTURE_MAX (4u << 20) /* ps of a huge container stays well below this */
#define LOG_TAIL_MAX (256u << 10)

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

typedef struct inv inv;

struct runtime {
    loop *l;
    char *binary;
    char *path; /* resolved executable, NULL until found */
    char *name; /* basename, used in error messages */
    char *root;
    bool no_pivot;
    uint64_t timeout_ms;
    uint64_t count, total_ns;
    inv *inflight;
    size_t ninflight;
    strmap *logs; /* container id -> its <bundle>/runc.log (O(1) with many containers) */
};

struct inv {
    runtime *rt;
    inv *prev, *next;
    pid_t pid;
    bool exited;
    int status;
    int out_fd, err_fd, in_fd;
    loop_watch *out_w, *err_w, *in_w;
    buf out, errb;
    char *in_data;
    size_t in_len, in_off;
    loop_timer *timer;
    bool timed_out;
    char *argv_str;
    char *what; /* "runc create <id>" */
    char *log_path;
    off_t log_start;
    uint64_t start_ns;
    runtime_done_fn done;
    void *data;
};

/* ---- small helpers ---- */

typedef struct argv_b {
    char **v;
    size_t n, cap;
} argv_b;

static void argv_add(argv_b *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void argv_free(argv_b *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static char *argv_join(char **v)
{
    size_t len = 1;
    for (char **p = v; *p; p++)
        len += strlen(*p) + 1;
    char *s = xmalloc(len), *q = s;
    for (char **p = v; *p; p++) {
        if (p != v)
            *q++ = ' ';
        size_t n = strlen(*p);
        memcpy(q, *p, n);
        q += n;
    }
    *q = 0;
    return s;
}

static void buf_append(buf *b, const char *p, size_t n)
{
    if (b->len + n > CAPTURE_MAX)
        n = CAPTURE_MAX - b->len;
    if (b->len + n + 1 > b->cap) {
        b->cap = b->len + n + 1 < 256 ? 256 : (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

static char *resolve_binary(const char *bin)
{
    if (strchr(bin, '/'))
        return access(bin, X_OK) == 0 ? xstrdup(bin) : NULL;
    const char *path = getenv("PATH");
    if (str_empty(path))
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path; *p;) {
        const char *e = strchrnul(p, ':');
        if (e > p) {
            cleanup_free char *cand = xasprintf("%.*s/%s", (int)(e - p), p, bin);
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
                return steal_pointer(&cand);
        }
        p = *e ? e + 1 : e;
    }
    return NULL;
}

/* ---- paths (upstream internal/guest/runtime/runc) ---- */

char *runtime_log_path(const char *bundle)
{
    size_t n = strlen(bundle);
    while (n > 1 && bundle[n - 1] == '/')
        n--;
    return xasprintf("%.*s/runc.log", (int)n, bundle);
}

char *runtime_state_dir(const char *id) { return xasprintf(STATE_BASE "/%s", id); }

char *runtime_process_dir(const char *id, pid_t pid) { return xasprintf(STATE_BASE "/%s/%d", id, (int)pid); }

/* ---- error text ---- */

static bool has(const char *s, const char *needle) { return strcasestr(s, needle) != NULL; }

int32_t runtime_error_hresult(const char *msg)
{
    if (str_empty(msg))
        return HR_E_FAIL;
    /* crun has no "does not exist": it reports the missing state file or
     * directory of the id (test_error_hresult has its exact texts). */
    if (has(msg, "does not exist") || has(msg, "not exist") || has(msg, "/status`: no such file") ||
        (has(msg, "cannot open directory") && has(msg, "no such file")))
        return HR_VMCOMPUTE_SYSTEM_NOT_FOUND;
    if (has(msg, "container with id exists") || has(msg, "already exists"))
        return HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS;
    if (has(msg, "invalid container id") || has(msg, "invalid id format"))
        return HR_E_INVALIDARG;
    if ((has(msg, "container") && has(msg, "that is not stopped")) || has(msg, "still running") ||
        has(msg, "is running") || has(msg, "is not in `created` or `stopped` state"))
        return HR_VMCOMPUTE_INVALID_STATE;
    if (has(msg, "not running") || has(msg, "kill container: no such process"))
        return HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED;
    return HR_E_FAIL;
}

static bool level_is_error(const char *lvl)
{
    return streq(lvl, "error") || streq(lvl, "fatal") || streq(lvl, "panic");
}

/* The last error-level "msg" among concatenated JSON objects (runc writes one
 * per line; crun omits the newline). Garbage between objects is skipped. */
static char *last_json_error(const char *p, size_t len)
{
    char *last = NULL;
    size_t i = 0;
    while (i < len) {
        const char *o = memchr(p + i, '{', len - i);
        if (!o)
            break;
        i = (size_t)(o - p);
        json_error_t je;
        json_t *j = json_loadb(p + i, len - i, JSON_DISABLE_EOF_CHECK, &je);
        if (!j) {
            i++;
            continue;
        }
        i += je.position > 0 ? (size_t)je.position : 1;
        const char *lvl = json_string_value(json_object_get(j, "level"));
        const char *m = json_string_value(json_object_get(j, "msg"));
        if (m && level_is_error(lvl)) {
            free(last);
            last = xstrdup(m);
        }
        json_decref(j);
    }
    return last;
}

/* logrus text line: time="…" level=error msg="text with \"quotes\"" */
static char *logrus_text_msg(const char *line)
{
    const char *m = strstr(line, "msg=");
    if (!m || !strstr(line, "level="))
        return NULL;
    m += 4;
    if (*m != '"') {
        size_t n = strcspn(m, " ");
        return xstrndup(m, n);
    }
    buf b = {0};
    for (m++; *m && *m != '"'; m++) {
        if (*m == '\\' && m[1])
            m++;
        buf_append(&b, m, 1);
    }
    return b.p ? b.p : xstrdup("");
}

/* The runtime's message from its stderr: an error-level JSON or logrus line
 * if any, else the last non-empty line. */
static char *stderr_error(const buf *b)
{
    if (!b->len)
        return NULL;
    char *j = last_json_error(b->p, b->len);
    if (j)
        return j;
    char *last = NULL;
    const char *p = b->p, *end = b->p + b->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > p) {
            cleanup_free char *line = xstrndup(p, (size_t)(e - p));
            char *m = logrus_text_msg(line);
            free(last);
            last = m ? m : xstrdup(line);
        }
        p = nl ? nl + 1 : end;
    }
    return last;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? st.st_size : 0;
}

/* What this invocation appended to the log (remembered size at start). */
static char *appended_log_error(const inv *v)
{
    if (!v->log_path)
        return NULL;
    cleanup_close int fd = open(v->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return NULL;
    off_t from = v->log_start <= st.st_size ? v->log_start : 0; /* truncated meanwhile: read it all */
    if (st.st_size - from > (off_t)LOG_TAIL_MAX)
        from = st.st_size - (off_t)LOG_TAIL_MAX;
    size_t want = (size_t)(st.st_size - from);
    if (!want)
        return NULL;
    cleanup_free char *data = xmalloc(want);
    ssize_t n = pread(fd, data, want, from);
    if (n <= 0)
        return NULL;
    return last_json_error(data, (size_t)n);
}

/* ---- per-id log paths ---- */

static const char *id_log(runtime *rt, const char *id) { return strmap_get(rt->logs, id); }

static void id_log_set(runtime *rt, const char *id, const char *log) { strmap_set(rt->logs, id, xstrdup(log)); }

static void id_log_forget(runtime *rt, const char *id) { strmap_del(rt->logs, id); }

/* ---- runtime object ---- */

runtime *runtime_new(loop *l, const char *binary, const char *state_root)
{
    runtime *rt = xzalloc(sizeof(*rt));
    rt->l = l;
    rt->binary = xstrdup(str_empty(binary) ? "runc" : binary);
    const char *slash = strrchr(rt->binary, '/');
    rt->name = xstrdup(slash ? slash + 1 : rt->binary);
    rt->root = str_empty(state_root) ? NULL : xstrdup(state_root);
    rt->timeout_ms = RUNTIME_DEFAULT_TIMEOUT_MS;
    rt->logs = strmap_new(free);
    return rt;
}

void runtime_set_no_pivot(runtime *rt, bool on) { rt->no_pivot = on; }
void runtime_set_timeout_ms(runtime *rt, uint64_t ms) { rt->timeout_ms = ms; }
size_t runtime_inflight(const runtime *rt) { return rt->ninflight; }

void runtime_stats(const runtime *rt, uint64_t *ret_count, uint64_t *ret_total_ns)
{
    if (ret_count)
        *ret_count = rt->count;
    if (ret_total_ns)
        *ret_total_ns = rt->total_ns;
}

static void close_watch(loop *l, int *fd, loop_watch **w)
{
    loop_watch_remove(l, *w);
    *w = NULL;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void inv_unlink(inv *v)
{
    runtime *rt = v->rt;
    if (v->prev)
        v->prev->next = v->next;
    else
        rt->inflight = v->next;
    if (v->next)
        v->next->prev = v->prev;
    v->prev = v->next = NULL;
    rt->ninflight--;
}

static void inv_free(loop *l, inv *v)
{
    close_watch(l, &v->out_fd, &v->out_w);
    close_watch(l, &v->err_fd, &v->err_w);
    close_watch(l, &v->in_fd, &v->in_w);
    loop_timer_cancel(l, v->timer);
    free(v->out.p);
    free(v->errb.p);
    free(v->in_data);
    free(v->argv_str);
    free(v->what);
    free(v->log_path);
    free(v);
}

void runtime_free(runtime *rt)
{
    if (!rt)
        return;
    while (rt->inflight) {
        inv *v = rt->inflight;
        inv_unlink(v);
        if (!v->exited) {
            /* The loop reaps the zombie later as an unregistered child. */
            loop_child_unwatch(rt->l, v->pid);
            kill(v->pid, SIGKILL);
        }
        inv_free(rt->l, v);
    }
    strmap_free(rt->logs);
    free(rt->binary);
    free(rt->path);
    free(rt->name);
    free(rt->root);
    free(rt);
}

/* ---- completion ---- */

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

static void complete(loop *l, inv *v)
{
    runtime *rt = v->rt;
    uint64_t dur = now_ns() - v->start_ns;
    runtime_result res = {.status = v->exited ? v->status : -1, .timed_out = v->timed_out, .duration_ns = dur};

    if (v->timed_out) {
        err_errno(&res.err, HR_E_FAIL, ETIMEDOUT, "%s: timed out after %llu ms", v->what,
                  (unsigned long long)rt->timeout_ms);
    } else if (!v->exited || !WIFEXITED(v->status) || WEXITSTATUS(v->status) != 0) {
        cleanup_free char *msg = appended_log_error(v);
        if (!msg)
            msg = stderr_error(&v->errb);
        if (!msg && v->exited && WIFSIGNALED(v->status))
            msg = xasprintf("killed by signal %d", WTERMSIG(v->status));
        else if (!msg)
            msg = xasprintf("exit status %d", v->exited ? exit_code(v->status) : -1);
        err_set(&res.err, runtime_error_hresult(msg), "%s: %s", v->what, msg);
    }
    res.out = v->out.p ? v->out.p : xstrdup("");
    res.out_len = v->out.len;
    v->out.p = NULL;

    rt->count++;
    rt->total_ns += dur;
    log_debug("runtime", KV_S("argv", v->argv_str), KV_D("duration_ms", (double)dur / 1e6),
              KV_I("exit", v->exited ? exit_code(v->status) : -1), KV_B("timed_out", v->timed_out));

    inv_unlink(v);
    runtime_done_fn done = v->done;
    void *data = v->data;
    inv_free(l, v);
    done(&res, data); /* may free rt */
    free(res.out);
    err_clear(&res.err);
}

static void maybe_complete(loop *l, inv *v)
{
    if (!v->exited)
        return;
    if ((v->out_fd >= 0 || v->err_fd >= 0) && !v->timed_out)
        return; /* pipes not at EOF yet */
    complete(l, v);
}

static void on_exit_cb(loop *l, pid_t pid, int status, void *data)
{
    (void)pid;
    inv *v = data;
    v->exited = true;
    v->status = status;
    maybe_complete(l, v);
}

static void on_timeout(loop *l, void *data)
{
    inv *v = data;
    v->timer = NULL;
    if (v->exited) {
        /* Exited, but something it started still holds our pipes: stop
         * waiting for EOF and report what the runtime itself said. */
        close_watch(l, &v->out_fd, &v->out_w);
        close_watch(l, &v->err_fd, &v->err_w);
        complete(l, v);
        return;
    }
    v->timed_out = true;
    kill(v->pid, SIGKILL);
    close_watch(l, &v->in_fd, &v->in_w);
    /* completes when the loop reaps it */
}

static void on_readable(loop *l, int fd, uint32_t events, void *data)
{
    (void)events;
    inv *v = data;
    bool is_out = fd == v->out_fd;
    buf *b = is_out ? &v->out : &v->errb;
    char tmp[16384];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            buf_append(b, tmp, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* EOF or a hard error: either way this stream is done */
    }
    if (is_out)
        close_watch(l, &v->out_fd, &v->out_w);
    else
        close_watch(l, &v->err_fd, &v->err_w);
    maybe_complete(l, v);
}

static void on_writable(loop *l, int fd, uint32_t events, void *data)
{
    (void)events;
    inv *v = data;
    while (v->in_off < v->in_len) {
        ssize_t n = write(fd, v->in_data + v->in_off, v->in_len - v->in_off);
        if (n > 0) {
            v->in_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        break; /* EPIPE: the runtime stopped reading; its exit status tells why */
    }
    close_watch(l, &v->in_fd, &v->in_w);
}

/* ---- spawning ---- */

typedef struct invoke_opts {
    const runtime_stdio *stdio; /* NULL: capture stdout/stderr through pipes */
    const char *stdin_data;     /* fed through a pipe when non-NULL */
} invoke_opts;

static int invoke(runtime *rt, argv_b *args, const char *verb, const char *id, const char *log_path,
                  const invoke_opts *o, runtime_done_fn done, void *data, gcs_err *err)
{
    cleanup_free char *what = xasprintf("%s %s %s", rt->name, verb, id);
    if (!rt->path && !(rt->path = resolve_binary(rt->binary)))
        return err_errno(err, HR_E_FAIL, ENOENT, "%s: runtime %s not found", what, rt->binary);
    free(args->v[0]);
    args->v[0] = xstrdup(rt->path);

    cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return err_errno(err, HR_E_FAIL, errno, "%s: open /dev/null", what);
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1};
    int r = 0;
    if ((!o->stdio && (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)) ||
        (o->stdin_data && pipe2(inp, O_CLOEXEC) < 0)) {
        r = err_errno(err, HR_E_FAIL, errno, "%s: pipe", what);
        goto out;
    }
    int fds[3];
    if (o->stdio) {
        fds[0] = o->stdio->in >= 0 ? o->stdio->in : devnull;
        fds[1] = o->stdio->out >= 0 ? o->stdio->out : devnull;
        fds[2] = o->stdio->err >= 0 ? o->stdio->err : devnull;
    } else {
        fds[0] = devnull;
        fds[1] = outp[1];
        fds[2] = errp[1];
    }
    if (o->stdin_data)
        fds[0] = inp[0];

    off_t log_start = file_size(log_path);
    uint64_t start = now_ns();
    spawn_opts so = {.path = rt->path, .argv = args->v, .fds = {fds[0], fds[1], fds[2]}};
    pid_t pid;
    if ((r = spawn(rt->l, &so, what, &pid, err)) < 0)
        goto out;

    inv *v = xzalloc(sizeof(*v));
    v->rt = rt;
    v->pid = pid;
    v->out_fd = v->err_fd = v->in_fd = -1;
    v->what = steal_pointer(&what);
    v->argv_str = argv_join(args->v);
    v->log_path = log_path ? xstrdup(log_path) : NULL;
    v->log_start = log_start;
    v->start_ns = start;
    v->done = done;
    v->data = data;
    if (!o->stdio) {
        v->out_fd = steal_fd(&outp[0]);
        v->err_fd = steal_fd(&errp[0]);
        set_nonblock(v->out_fd, true);
        set_nonblock(v->err_fd, true);
        v->out_w = loop_watch_add(rt->l, v->out_fd, EPOLLIN, on_readable, v);
        v->err_w = loop_watch_add(rt->l, v->err_fd, EPOLLIN, on_readable, v);
    }
    if (o->stdin_data) {
        v->in_fd = steal_fd(&inp[1]);
        v->in_data = xstrdup(o->stdin_data);
        v->in_len = strlen(o->stdin_data);
        set_nonblock(v->in_fd, true);
        v->in_w = loop_watch_add(rt->l, v->in_fd, EPOLLOUT, on_writable, v);
    }
    v->next = rt->inflight;
    if (rt->inflight)
        rt->inflight->prev = v;
    rt->inflight = v;
    rt->ninflight++;
    if (rt->timeout_ms)
        v->timer = loop_timer_add(rt->l, rt->timeout_ms, on_timeout, v);
    loop_child_watch(rt->l, pid, on_exit_cb, v); /* may complete at once if already reaped */

out:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
        if (inp[i] >= 0)
            close(inp[i]);
    }
    return r;
}

/* argv[0] placeholder, global options, then the verb. */
static void args_begin(runtime *rt, argv_b *a, const char *log_path, const char *verb)
{
    argv_add(a, rt->binary);
    if (rt->root) {
        argv_add(a, "--root");
        argv_add(a, rt->root);
    }
    if (log_path) {
        argv_add(a, "--log");
        argv_add(a, log_path);
        argv_add(a, "--log-format");
        argv_add(a, "json");
    }
    argv_add(a, verb);
}

static int check_id(const char *id, const char *verb, gcs_err *err)
{
    if (str_empty(id))
        return err_set(err, HR_E_INVALIDARG, "runtime %s: empty container id", verb);
    return 0;
}

/* ---- verbs ---- */

int runtime_create(runtime *rt, const char *id, const char *bundle, const char *pid_file,
                   const char *console_socket, const runtime_stdio *stdio, runtime_done_fn done,
                   void *data, gcs_err *err)
{
    int r = check_id(id, "create", err);
    if (r < 0)
        return r;
    cleanup_free char *log = runtime_log_path(bundle);
    argv_b a = {0};
    args_begin(rt, &a, log, "create");
    argv_add(&a, "--bundle");
    argv_add(&a, bundle);
    argv_add(&a, "--pid-file");
    argv_add(&a, pid_file);
    if (rt->no_pivot)
        argv_add(&a, "--no-pivot");
    if (!str_empty(console_socket)) {
        argv_add(&a, "--console-socket");
        argv_add(&a, console_socket);
    }
    argv_add(&a, id);
    static const runtime_stdio null_stdio = {-1, -1, -1};
    invoke_opts o = {.stdio = stdio ? stdio : &null_stdio};
    r = invoke(rt, &a, "create", id, log, &o, done, data, err);
    argv_free(&a);
    if (r == 0)
        id_log_set(rt, id, log);
    return r;
}

static int simple(runtime *rt, const char *verb, const char *id, const char *const *extra, const char *const *tail,
                  const char *stdin_data, runtime_done_fn done, void *data, gcs_err *err)
{
    int r = check_id(id, verb, err);
    if (r < 0)
        return r;
    const char *log = id_log(rt, id);
    /* The bundle can be gone before the container is: a V1 host Removes the
     * scratch disk mounted on it before DeleteContainerState (hcsshim
     * internal/resources/resources.go). Then run without --log, as
     * upstream's runc delete always does (internal/guest/runtime/runc). */
    cleanup_free char *log_dir = log ? path_dir(log) : NULL;
    if (log_dir && access(log_dir, F_OK) < 0)
        log = NULL;
    argv_b a = {0};
    args_begin(rt, &a, log, verb);
    for (; extra && *extra; extra++)
        argv_add(&a, *extra);
    argv_add(&a, id);
    for (; tail && *tail; tail++)
        argv_add(&a, *tail);
    invoke_opts o = {.stdin_data = stdin_data};
    r = invoke(rt, &a, verb, id, log, &o, done, data, err);
    argv_free(&a);
    return r;
}

int runtime_start(runtime *rt, const char *id, runtime_done_fn done, void *data, gcs_err *err)
{
    return simple(rt, "start", id, NULL, NULL, NULL, done, data, err);
}

int runtime_kill(runtime *rt, const char *id, int signo, bool all, runtime_done_fn done, void *data,
                 gcs_err *err)
{
    char sig[16];
    snprintf(sig, sizeof(sig), "%d", signo);
    const char *extra[] = {all ? "--all" : NULL, NULL};
    const char *tail[] = {sig, NULL};
    return simple(rt, "kill", id, extra, tail, NULL, done, data, err);
}

int runtime_delete(runtime *rt, const char *id, bool force, runtime_done_fn done, void *data, gcs_err *err)
{
    const char *extra[] = {force ? "--force" : NULL, NULL};
    int r = simple(rt, "delete", id, extra, NULL, NULL, done, data, err);
    if (r == 0)
        id_log_forget(rt, id);
    return r;
}

int runtime_exec(runtime *rt, const char *id, const char *process_json_path, const char *pid_file,
                 const char *console_socket, const runtime_stdio *stdio, runtime_done_fn done, void *data,
                 gcs_err *err)
{
    int r = check_id(id, "exec", err);
    if (r < 0)
        return r;
    const char *log = id_log(rt, id);
    argv_b a = {0};
    args_begin(rt, &a, log, "exec");
    argv_add(&a, "-d");
    argv_add(&a, "--process");
    argv_add(&a, process_json_path);
    argv_add(&a, "--pid-file");
    argv_add(&a, pid_file);
    if (!str_empty(console_socket)) {
        argv_add(&a, "--console-socket");
        argv_add(&a, console_socket);
    }
    argv_add(&a, id);
    static const runtime_stdio null_stdio = {-1, -1, -1};
    invoke_opts o = {.stdio = stdio ? stdio : &null_stdio};
    r = invoke(rt, &a, "exec", id, log, &o, done, data, err);
    argv_free(&a);
    return r;
}

int runtime_ps(runtime *rt, const char *id, runtime_done_fn done, void *data, gcs_err *err)
{
    const char *extra[] = {"--format", "json", NULL};
    return simple(rt, "ps", id, extra, NULL, NULL, done, data, err);
}

int runtime_update(runtime *rt, const char *id, const char *resources_json, runtime_done_fn done, void *data,
                   gcs_err *err)
{
    const char *extra[] = {"--resources", "-", NULL};
    return simple(rt, "update", id, extra, NULL, resources_json ? resources_json : "{}", done, data, err);
}

int runtime_state(runtime *rt, const char *id, runtime_done_fn done, void *data, gcs_err *err)
{
    return simple(rt, "state", id, NULL, NULL, NULL, done, data, err);
}
