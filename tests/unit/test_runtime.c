/* test_runtime.c — the OCI runtime driver against real runc (and crun when
 * it can run here), plus fake runtimes written as shell scripts.
 *
 * Everything lives in one mkdtemp directory with a private runtime root; the
 * group teardown force-deletes any container left in that root, kills
 * recorded pids and removes the directory. The test process is a child
 * subreaper so container init processes are reaped by the loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "loop/loop.h"
#include "runtime/runtime.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char tmp[64];      /* the test's temp dir */
static char rroot[128];   /* runc --root */
static char rootfs[128];  /* busybox rootfs */
static char runc_bin[256];
static pid_t pids_to_kill[64];
static size_t npids_to_kill;

/* ---- helpers ---- */

static void remember_pid(pid_t p)
{
    if (p > 0 && npids_to_kill < ARRAY_SIZE(pids_to_kill))
        pids_to_kill[npids_to_kill++] = p;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static void put_file(const char *path, const char *text, int mode)
{
    assert_int_equal(write_file(path, text, strlen(text), mode), 0);
}

static char *tpath(const char *fmt, ...) PRINTF(1, 2);
static char *tpath(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *rel = xvasprintf(fmt, ap);
    va_end(ap);
    return xasprintf("%s/%s", tmp, rel);
}

/* A fake runtime: a shell script in the temp dir. */
static char *fake_runtime(const char *name, const char *body)
{
    char *p = tpath("%s", name);
    cleanup_free char *text = xasprintf("#!/bin/sh\n%s\n", body);
    put_file(p, text, 0755);
    return p;
}

static const char *config_fmt =
    "{\"ociVersion\":\"1.0.2\","
    "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
    "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\",\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"%s\",\"readonly\":true},"
    "\"hostname\":\"gcs-unit\","
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]}}";

/* <tmp>/<name>/config.json running args (a JSON array). */
static char *make_bundle(const char *name, const char *args)
{
    char *b = tpath("%s", name);
    assert_int_equal(mkdir(b, 0700), 0);
    cleanup_free char *cfg = xasprintf(config_fmt, args, rootfs);
    cleanup_free char *p = xasprintf("%s/config.json", b);
    put_file(p, cfg, 0600);
    return b;
}

typedef struct got {
    bool done;
    int status;
    bool timed_out;
    int32_t hr;
    int code;
    char *msg;
    char *out;
    uint64_t duration_ns;
} got;

static void got_clear(got *g)
{
    free(g->msg);
    free(g->out);
    memset(g, 0, sizeof(*g));
}

static void on_done(runtime_result *res, void *data)
{
    got *g = data;
    g->done = true;
    g->status = res->status;
    g->timed_out = res->timed_out;
    g->hr = res->err.hr;
    g->code = res->err.code;
    g->msg = res->err.msg ? xstrdup(res->err.msg) : NULL;
    g->out = steal_pointer(&res->out);
    g->duration_ns = res->duration_ns;
}

static bool run_until(loop *l, const bool *flag, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    while (!*flag && now_ms() < deadline)
        loop_run_once(l, 50);
    return *flag;
}

static loop *new_loop(void)
{
    loop *l = loop_new();
    assert_int_equal(loop_signal_add(l, SIGCHLD, NULL, NULL), 0);
    return l;
}

static pid_t read_pid(const char *path)
{
    cleanup_free char *s = NULL;
    if (read_file(path, &s, NULL) < 0)
        return -1;
    return (pid_t)atoi(s);
}

/* Wait until pid no longer exists (the loop reaps it). */
static bool pid_gone(loop *l, pid_t pid, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    for (;;) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return true;
        if (now_ms() >= deadline)
            return false;
        loop_run_once(l, 20);
    }
}

#define SYNC(l, g, call)                                                                                          \
    do {                                                                                                          \
        got_clear(&(g));                                                                                          \
        cleanup_err gcs_err e_ = GCS_ERR_INIT;                                                                    \
        int r_ = (call);                                                                                          \
        if (r_ < 0)                                                                                               \
            fail_msg("%s: %s", #call, err_msg(&e_));                                                              \
        assert_true(run_until((l), &(g).done, 20000));                                                            \
    } while (0)

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s ? s : "", 0, NULL);
    assert_non_null(j);
    return j;
}

/* ---- group setup / teardown ---- */

static void copy_file(const char *from, const char *to)
{
    cleanup_free char *data = NULL;
    size_t len = 0;
    assert_int_equal(read_file(from, &data, &len), 0);
    assert_int_equal(write_file(to, data, len, 0755), 0);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return -1;
    snprintf(tmp, sizeof(tmp), "/tmp/gcs-unit-runtime-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    snprintf(rroot, sizeof(rroot), "%s/state", tmp);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
    cleanup_free char *bin = xasprintf("%s/bin", rootfs);
    cleanup_free char *bb = xasprintf("%s/busybox", bin);
    if (mkdir(rroot, 0700) < 0 || mkdir(rootfs, 0755) < 0 || mkdir(bin, 0755) < 0)
        return -1;
    copy_file("/bin/busybox", bb);
    static const char *links[] = {"sh", "sleep", "cat", "echo", "true", "ls", "ps"};
    for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
        cleanup_free char *l = xasprintf("%s/%s", bin, links[i]);
        if (symlink("busybox", l) < 0)
            return -1;
    }
    cleanup_free char *proc = xasprintf("%s/proc", rootfs);
    cleanup_free char *t = xasprintf("%s/tmp", rootfs);
    if (mkdir(proc, 0755) < 0 || mkdir(t, 0755) < 0)
        return -1;
    const char *cands[] = {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"};
    for (size_t i = 0; i < ARRAY_SIZE(cands) && !runc_bin[0]; i++)
        if (access(cands[i], X_OK) == 0)
            snprintf(runc_bin, sizeof(runc_bin), "%s", cands[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* Force-delete whatever a failed test left in the private root. */
    if (runc_bin[0]) {
        cleanup_free char *cmd =
            xasprintf("for c in $(%s --root %s list -q 2>/dev/null); do %s --root %s delete --force $c; done", runc_bin,
                      rroot, runc_bin, rroot);
        if (system(cmd) != 0)
            fprintf(stderr, "teardown: runc cleanup failed\n");
    }
    for (size_t i = 0; i < npids_to_kill; i++)
        kill(pids_to_kill[i], SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    rm_rf(tmp);
    return 0;
}

/* ---- pure functions ---- */

static void test_paths(void **state)
{
    (void)state;
    static const struct {
        const char *bundle, *want;
    } cases[] = {
        {"/run/gcs/c/sandbox-1", "/run/gcs/c/sandbox-1/runc.log"}, /* upstream runc_test.go */
        {"/run/gcs/c/sb/ctr", "/run/gcs/c/sb/ctr/runc.log"},       /* upstream runc_test.go */
        {"/run/gcs/c/sb/ctr/", "/run/gcs/c/sb/ctr/runc.log"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cleanup_free char *p = runtime_log_path(cases[i].bundle);
        assert_string_equal(p, cases[i].want);
    }
    cleanup_free char *d = runtime_state_dir("test-id"); /* upstream runc_test.go */
    assert_string_equal(d, "/var/run/gcsrunc/test-id");
    cleanup_free char *pd = runtime_process_dir("test-id", 42);
    assert_string_equal(pd, "/var/run/gcsrunc/test-id/42");
}

static void test_error_hresult(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        int32_t hr;
    } cases[] = {
        {"container not running", HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED},
        {"cannot kill: container is not running", HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED},
        {"container still running", HR_VMCOMPUTE_INVALID_STATE},
        {"container is running", HR_VMCOMPUTE_INVALID_STATE},
        {"cannot delete container abc that is not stopped: container is running", HR_VMCOMPUTE_INVALID_STATE},
        {"invalid container ID format", HR_E_INVALIDARG},
        {"invalid id format: a/b", HR_E_INVALIDARG},
        {"container \"x\" does not exist", HR_VMCOMPUTE_SYSTEM_NOT_FOUND},
        {"container does not exist", HR_VMCOMPUTE_SYSTEM_NOT_FOUND},
        {"container with given ID already exists", HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS},
        {"container with id exists: x", HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS},
        /* crun 1.8 */
        {"container `p1` already exists", HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS},
        {"the container `p1` is not in `created` or `stopped` state", HR_VMCOMPUTE_INVALID_STATE},
        {"kill container: No such process", HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED},
        {"container `p1` is not running", HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED},
        {"error opening file `/run/crun/p1/status`: No such file or directory", HR_VMCOMPUTE_SYSTEM_NOT_FOUND},
        {"cannot open directory '/run/crun/p1': No such file or directory", HR_VMCOMPUTE_SYSTEM_NOT_FOUND},
        {"open /dev directory in `/x/rootfs`: No such file or directory", HR_E_FAIL},
        {"boom: it failed", HR_E_FAIL},
        {"", HR_E_FAIL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        if (runtime_error_hresult(cases[i].msg) != cases[i].hr)
            fail_msg("%s: got 0x%08x want 0x%08x", cases[i].msg, (unsigned)runtime_error_hresult(cases[i].msg),
                     (unsigned)cases[i].hr);
    }
    assert_int_equal(runtime_error_hresult(NULL), HR_E_FAIL);
}

/* ---- real runc ---- */

static bool have_runc(void)
{
    if (!runc_bin[0]) {
        fprintf(stderr, "runc not installed: skipping\n");
        return false;
    }
    return true;
}

static void test_runc_lifecycle(void **state)
{
    (void)state;
    if (!have_runc())
        skip();
    loop *l = new_loop();
    runtime *rt = runtime_new(l, "runc", rroot);
    cleanup_free char *bundle = make_bundle("life", "[\"/bin/sleep\",\"1000\"]");
    cleanup_free char *id = xasprintf("gcs-unit-rt-%d", (int)getpid());
    cleanup_free char *pidf = tpath("life.pid");
    got g = {0};

    SYNC(l, g, runtime_create(rt, id, bundle, pidf, NULL, NULL, on_done, &g, &e_));
    assert_null(g.msg);
    assert_int_equal(g.status, 0);
    pid_t init = read_pid(pidf);
    assert_true(init > 1);
    remember_pid(init);
    cleanup_free char *log = runtime_log_path(bundle);
    assert_int_equal(access(log, F_OK), 0); /* --log <bundle>/runc.log was passed */

    SYNC(l, g, runtime_state(rt, id, on_done, &g, &e_));
    assert_null(g.msg);
    json_t *st = parse(g.out);
    assert_string_equal(json_string_value(json_object_get(st, "status")), "created");
    assert_int_equal(json_integer_value(json_object_get(st, "pid")), init);
    json_decref(st);

    SYNC(l, g, runtime_start(rt, id, on_done, &g, &e_));
    assert_null(g.msg);

    SYNC(l, g, runtime_state(rt, id, on_done, &g, &e_));
    st = parse(g.out);
    assert_string_equal(json_string_value(json_object_get(st, "status")), "running");
    json_decref(st);

    /* update: the resources JSON travels on stdin and reaches the cgroup. */
    SYNC(l, g, runtime_update(rt, id, "{\"pids\":{\"limit\":123}}", on_done, &g, &e_));
    assert_null(g.msg);
    cleanup_free char *pmax_path = xasprintf("/sys/fs/cgroup/pids/%s/pids.max", id);
    cleanup_free char *pmax = NULL;
    if (access("/sys/fs/cgroup/pids", F_OK) == 0) { /* cgroup v1 pids here; runc's default path is /<id> */
        assert_int_equal(read_file(pmax_path, &pmax, NULL), 0);
        assert_int_equal(atoi(pmax), 123);
    }

    /* exec -d a second process, then ps lists both. */
    cleanup_free char *procj = tpath("life-process.json");
    put_file(procj,
             "{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"/bin/sleep\",\"999\"],"
             "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"}",
             0600);
    cleanup_free char *epidf = tpath("life-exec.pid");
    SYNC(l, g, runtime_exec(rt, id, procj, epidf, NULL, NULL, on_done, &g, &e_));
    assert_null(g.msg);
    pid_t epid = read_pid(epidf);
    assert_true(epid > 1);
    remember_pid(epid);

    SYNC(l, g, runtime_ps(rt, id, on_done, &g, &e_));
    assert_null(g.msg);
    json_t *ps = parse(g.out);
    assert_true(json_is_array(ps));
    bool seen_init = false, seen_exec = false;
    size_t i;
    json_t *v;
    json_array_foreach(ps, i, v)
    {
        seen_init |= json_integer_value(v) == init;
        seen_exec |= json_integer_value(v) == epid;
    }
    json_decref(ps);
    assert_true(seen_init);
    assert_true(seen_exec);

    /* delete while running: the runtime refuses, with the invalid-state code. */
    SYNC(l, g, runtime_delete(rt, id, false, on_done, &g, &e_));
    assert_non_null(g.msg);
    assert_int_equal(g.hr, HR_VMCOMPUTE_INVALID_STATE);

    SYNC(l, g, runtime_kill(rt, id, 9, true, on_done, &g, &e_));
    assert_null(g.msg);
    assert_true(pid_gone(l, init, 10000));
    assert_true(pid_gone(l, epid, 10000));

    /* kill on a stopped container: "container not running" -> 0xC0370110 */
    SYNC(l, g, runtime_kill(rt, id, 15, false, on_done, &g, &e_));
    assert_non_null(g.msg);
    assert_true(str_has_prefix(g.msg, "runc kill "));
    assert_int_equal(g.hr, HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED);

    SYNC(l, g, runtime_delete(rt, id, false, on_done, &g, &e_));
    assert_null(g.msg);

    SYNC(l, g, runtime_state(rt, id, on_done, &g, &e_));
    assert_non_null(g.msg);
    assert_int_equal(g.hr, HR_VMCOMPUTE_SYSTEM_NOT_FOUND);
    assert_int_equal(access(pmax_path, F_OK), -1); /* runc removed the container cgroup */

    uint64_t count = 0, total = 0;
    runtime_stats(rt, &count, &total);
    assert_int_equal(count, 12);
    assert_true(total > 0);
    assert_int_equal(runtime_inflight(rt), 0);
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
}

static void test_runc_bad_bundle(void **state)
{
    (void)state;
    if (!have_runc())
        skip();
    loop *l = new_loop();
    runtime *rt = runtime_new(l, "runc", rroot);
    cleanup_free char *bundle = tpath("empty-bundle"); /* exists, no config.json */
    assert_int_equal(mkdir(bundle, 0700), 0);
    cleanup_free char *pidf = tpath("bad.pid");
    got g = {0};

    SYNC(l, g, runtime_create(rt, "gcs-unit-bad", bundle, pidf, NULL, NULL, on_done, &g, &e_));
    assert_non_null(g.msg);
    assert_true(str_has_prefix(g.msg, "runc create gcs-unit-bad: "));
    assert_non_null(strstr(g.msg, "config.json")); /* the runtime's own text, from runc.log */
    assert_int_equal(g.hr, HR_E_FAIL);
    assert_true(WIFEXITED(g.status) && WEXITSTATUS(g.status) != 0);

    /* An invalid id: runc's own validation (after it has read config.json). */
    cleanup_free char *good = make_bundle("badid-bundle", "[\"/bin/true\"]");
    SYNC(l, g, runtime_create(rt, "bad/id", good, pidf, NULL, NULL, on_done, &g, &e_));
    assert_non_null(g.msg);
    assert_int_equal(g.hr, HR_E_INVALIDARG);

    /* Verbs on an unknown id: not found. */
    SYNC(l, g, runtime_kill(rt, "gcs-unit-nothere", 9, false, on_done, &g, &e_));
    assert_int_equal(g.hr, HR_VMCOMPUTE_SYSTEM_NOT_FOUND);
    assert_string_equal(g.msg, "runc kill gcs-unit-nothere: container does not exist");
    SYNC(l, g, runtime_delete(rt, "gcs-unit-nothere", false, on_done, &g, &e_));
    assert_int_equal(g.hr, HR_VMCOMPUTE_SYSTEM_NOT_FOUND);
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
}

/* ---- fake runtimes ---- */

static void test_fake_failure_stderr(void **state)
{
    (void)state;
    loop *l = new_loop();
    cleanup_free char *bin = fake_runtime("fake-fail", "echo 'some noise' >&2; echo 'boom: it failed' >&2; exit 1");
    runtime *rt = runtime_new(l, bin, "");
    got g = {0};

    int lp[2];
    assert_int_equal(pipe2(lp, O_NONBLOCK | O_CLOEXEC), 0);
    log_setup(lp[1], LOG_DEBUG, false);
    SYNC(l, g, runtime_start(rt, "c1", on_done, &g, &e_));
    log_setup(2, LOG_INFO, false);
    char logbuf[4096] = {0};
    assert_true(read(lp[0], logbuf, sizeof(logbuf) - 1) > 0);
    close(lp[0]);
    close(lp[1]);

    assert_string_equal(g.msg, "fake-fail start c1: boom: it failed");
    assert_int_equal(g.hr, HR_E_FAIL);
    assert_true(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 1);
    assert_false(g.timed_out);
    /* One debug line with the full argv and the duration. */
    cleanup_free char *want_argv = xasprintf("%s start c1", bin);
    assert_non_null(strstr(logbuf, want_argv));
    assert_non_null(strstr(logbuf, "duration_ms="));
    assert_non_null(strstr(logbuf, "exit=1"));
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
}

/* The error comes from what this call appended to <bundle>/runc.log, not an
 * older error already in the file, and not stderr. */
static void test_fake_failure_log(void **state)
{
    (void)state;
    loop *l = new_loop();
    cleanup_free char *bin = fake_runtime(
        "fake-log",
        "while [ $# -gt 0 ]; do if [ \"$1\" = --log ]; then log=$2; fi; shift; done\n"
        "printf '{\"level\":\"info\",\"msg\":\"hello\"}{\"level\":\"error\",\"msg\":\"container with id exists: c2\"}"
        "\\n{\"level\":\"warning\",\"msg\":\"late\"}\\n' >> \"$log\"\n"
        "echo 'stderr text' >&2; exit 1");
    runtime *rt = runtime_new(l, bin, "");
    cleanup_free char *bundle = tpath("fake-log-bundle");
    assert_int_equal(mkdir(bundle, 0700), 0);
    cleanup_free char *log = runtime_log_path(bundle);
    put_file(log, "{\"level\":\"error\",\"msg\":\"an old error\"}\n", 0600);
    got g = {0};

    SYNC(l, g, runtime_create(rt, "c2", bundle, "/nonexistent/pid", NULL, NULL, on_done, &g, &e_));
    assert_string_equal(g.msg, "fake-log create c2: container with id exists: c2");
    assert_int_equal(g.hr, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS);

    /* start on the same id reuses the bundle's log. */
    SYNC(l, g, runtime_start(rt, "c2", on_done, &g, &e_));
    assert_string_equal(g.msg, "fake-log start c2: container with id exists: c2");
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
}

static void test_fake_timeout(void **state)
{
    (void)state;
    loop *l = new_loop();
    cleanup_free char *pidf = tpath("hang.pid");
    cleanup_free char *body = xasprintf("echo $$ > %s; exec sleep 1000", pidf);
    cleanup_free char *bin = fake_runtime("fake-hang", body);
    runtime *rt = runtime_new(l, bin, NULL);
    runtime_set_timeout_ms(rt, 300);
    got g = {0};

    uint64_t t0 = now_ms();
    SYNC(l, g, runtime_state(rt, "c3", on_done, &g, &e_));
    pid_t pid = read_pid(pidf);
    remember_pid(pid);
    assert_true(g.timed_out);
    assert_int_equal(g.code, -ETIMEDOUT);
    assert_non_null(strstr(g.msg, "fake-hang state c3: timed out"));
    assert_true(WIFSIGNALED(g.status) && WTERMSIG(g.status) == SIGKILL);
    assert_true(now_ms() - t0 < 10000);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), -1); /* reaped by the loop already */
    assert_int_equal(errno, ESRCH);
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
}

/* The runtime exits but leaves a process holding its stdout/stderr: the
 * timeout stops waiting for EOF and reports the runtime's own (successful)
 * result, without killing anything. */
static void test_exited_pipes_held(void **state)
{
    (void)state;
    loop *l = new_loop();
    cleanup_free char *pidf = tpath("held.pid");
    cleanup_free char *body = xasprintf("sleep 1000 & echo $! > %s; echo started", pidf);
    cleanup_free char *bin = fake_runtime("fake-daemon", body);
    runtime *rt = runtime_new(l, bin, NULL);
    runtime_set_timeout_ms(rt, 300);
    got g = {0};
    SYNC(l, g, runtime_state(rt, "c7", on_done, &g, &e_));
    pid_t held = read_pid(pidf);
    remember_pid(held);
    assert_true(held > 0);
    assert_null(g.msg);
    assert_false(g.timed_out);
    assert_true(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0);
    assert_string_equal(g.out, "started\n");
    assert_int_equal(kill(held, 0), 0); /* not ours to kill */
    kill(held, SIGKILL);
    assert_true(pid_gone(l, held, 10000));
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
}

/* runtime_free kills what is still running, by pid, and never calls back. */
static void test_free_kills_inflight(void **state)
{
    (void)state;
    loop *l = new_loop();
    cleanup_free char *pidf = tpath("free.pid");
    cleanup_free char *body = xasprintf("echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 1000", pidf, pidf, pidf);
    cleanup_free char *bin = fake_runtime("fake-hang2", body);
    runtime *rt = runtime_new(l, bin, NULL);
    got g = {0};
    cleanup_err gcs_err e = GCS_ERR_INIT;
    assert_int_equal(runtime_start(rt, "c4", on_done, &g, &e), 0);
    assert_int_equal(runtime_inflight(rt), 1);
    pid_t pid = -1;
    uint64_t deadline = now_ms() + 10000;
    while ((pid = read_pid(pidf)) <= 0 && now_ms() < deadline)
        loop_run_once(l, 10);
    assert_true(pid > 0);
    remember_pid(pid);
    runtime_free(rt);
    assert_true(pid_gone(l, pid, 10000));
    assert_false(g.done);
    loop_free(l);
}

static void on_tick(loop *l, void *data)
{
    (void)l;
    *(bool *)data = true;
}

static void test_concurrent(void **state)
{
    (void)state;
    loop *l = new_loop();
    cleanup_free char *bin = fake_runtime("fake-ok", "sleep 0.2; echo ok");
    runtime *rt = runtime_new(l, bin, "");
    static got gs[20];
    memset(gs, 0, sizeof(gs));
    bool ticked = false;
    loop_timer_add(l, 50, on_tick, &ticked);
    uint64_t t0 = now_ms();
    for (int i = 0; i < 20; i++) {
        cleanup_err gcs_err e = GCS_ERR_INIT;
        cleanup_free char *id = xasprintf("c%d", i);
        assert_int_equal(runtime_state(rt, id, on_done, &gs[i], &e), 0);
    }
    /* Every call returned at once: all 20 are running together. */
    assert_int_equal(runtime_inflight(rt), 20);
    assert_true(now_ms() - t0 < 2000);
    uint64_t deadline = now_ms() + 20000;
    bool first_seen = false;
    for (;;) {
        int n = 0;
        for (int i = 0; i < 20; i++)
            n += gs[i].done;
        if (n > 0 && !first_seen) {
            first_seen = true;
            assert_true(ticked); /* the loop served a 50 ms timer while 0.2 s runtimes ran */
        }
        if (n == 20 || now_ms() >= deadline)
            break;
        loop_run_once(l, 50);
    }
    for (int i = 0; i < 20; i++) {
        assert_true(gs[i].done);
        assert_null(gs[i].msg);
        assert_string_equal(gs[i].out, "ok\n");
        got_clear(&gs[i]);
    }
    uint64_t count = 0, total = 0;
    runtime_stats(rt, &count, &total);
    assert_int_equal(count, 20);
    /* 20 overlapping 0.2 s calls: the sum is far above the wall time of one. */
    assert_true(total >= 20ull * 200000000ull);
    runtime_free(rt);
    loop_free(l);
}

/* update feeds a large JSON through a non-blocking stdin pipe while the
 * runtime's stdout is drained: neither side deadlocks. */
static void test_stdin_large(void **state)
{
    (void)state;
    loop *l = new_loop();
    cleanup_free char *bin = fake_runtime("fake-cat", "cat");
    runtime *rt = runtime_new(l, bin, "");
    size_t n = 1 << 20;
    char *big = xmalloc(n + 1);
    memset(big, 'x', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = 0;
    got g = {0};
    SYNC(l, g, runtime_update(rt, "c5", big, on_done, &g, &e_));
    assert_null(g.msg);
    assert_non_null(g.out);
    assert_int_equal(strlen(g.out), n);
    assert_memory_equal(g.out, big, n);
    free(big);
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
}

static void test_missing_binary(void **state)
{
    (void)state;
    loop *l = new_loop();
    runtime *rt = runtime_new(l, "/nonexistent/runc", NULL);
    cleanup_err gcs_err e = GCS_ERR_INIT;
    got g = {0};
    assert_true(runtime_start(rt, "c6", on_done, &g, &e) < 0);
    assert_true(err_isset(&e));
    assert_non_null(strstr(err_msg(&e), "runc start c6"));
    assert_int_equal(runtime_inflight(rt), 0);

    /* Found but not executable as a program: exec fails in the child and is
     * reported synchronously. */
    cleanup_free char *bad = tpath("not-a-program");
    put_file(bad, "\x7f" "ELF garbage", 0755);
    runtime *rt2 = runtime_new(l, bad, NULL);
    err_clear(&e);
    assert_true(runtime_start(rt2, "c6", on_done, &g, &e) < 0);
    assert_non_null(strstr(err_msg(&e), "exec"));
    assert_int_equal(runtime_inflight(rt2), 0);
    for (int i = 0; i < 20 && loop_child_count(l) > 0; i++)
        loop_run_once(l, 50);
    assert_int_equal(loop_child_count(l), 0);
    assert_false(g.done);
    runtime_free(rt2);
    runtime_free(rt);
    loop_free(l);
}

/* ---- crun, in a mount namespace without /sys/fs/cgroup/unified ---- */

static int crun_child(const char *crun)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return 77;
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return 77;
    if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return 77;
    loop *l = new_loop();
    cleanup_free char *root = tpath("crun-state");
    if (mkdir(root, 0700) < 0)
        return 2;
    runtime *rt = runtime_new(l, crun, root);
    cleanup_free char *bundle = make_bundle("crun-life", "[\"/bin/sleep\",\"1000\"]");
    cleanup_free char *id = xasprintf("gcs-unit-crun-%d", (int)getpid());
    cleanup_free char *pidf = tpath("crun.pid");
    got g = {0};
    int rc = 0;
#define CHECK(c)                                                                                                  \
    do {                                                                                                          \
        if (!(c)) {                                                                                               \
            fprintf(stderr, "crun: check failed: %s (%s)\n", #c, g.msg ? g.msg : "");                             \
            rc = 1;                                                                                               \
            goto out;                                                                                             \
        }                                                                                                         \
    } while (0)
#define CSYNC(call)                                                                                               \
    do {                                                                                                          \
        got_clear(&g);                                                                                            \
        cleanup_err gcs_err e_ = GCS_ERR_INIT;                                                                    \
        CHECK((call) == 0);                                                                                       \
        CHECK(run_until(l, &g.done, 20000));                                                                      \
    } while (0)
    CSYNC(runtime_create(rt, id, bundle, pidf, NULL, NULL, on_done, &g, &e_));
    CHECK(g.msg == NULL);
    pid_t init = read_pid(pidf);
    CHECK(init > 1);
    CSYNC(runtime_start(rt, id, on_done, &g, &e_));
    CHECK(g.msg == NULL);
    CSYNC(runtime_state(rt, id, on_done, &g, &e_));
    CHECK(g.out && strstr(g.out, "\"running\""));
    CSYNC(runtime_kill(rt, id, 9, false, on_done, &g, &e_));
    CHECK(g.msg == NULL);
    CHECK(pid_gone(l, init, 10000));
    CSYNC(runtime_delete(rt, id, false, on_done, &g, &e_));
    CHECK(g.msg == NULL);
    CSYNC(runtime_state(rt, id, on_done, &g, &e_));
    CHECK(g.msg && str_has_prefix(g.msg, "crun state "));
    CHECK(g.hr == HR_VMCOMPUTE_SYSTEM_NOT_FOUND);
out:
    if (rc) {
        got_clear(&g);
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if (runtime_delete(rt, id, true, on_done, &g, &e) == 0)
            run_until(l, &g.done, 20000);
    }
    got_clear(&g);
    runtime_free(rt);
    loop_free(l);
    {
        /* With the hybrid cgroup2 mount hidden, crun makes the container's
         * cgroup path as plain directories on the tmpfs below its mount
         * point and leaves them: remove them (this mount namespace only
         * sees them). */
        cleanup_free char *hidden = xasprintf("/sys/fs/cgroup/unified/%s", id);
        gcs_err e = GCS_ERR_INIT;
        if (storage_remove_all(hidden, &e) < 0) {
            fprintf(stderr, "crun: cannot remove %s: %s\n", hidden, err_msg(&e));
            rc = 1;
        }
        err_clear(&e);
    }
    return rc;
#undef CSYNC
#undef CHECK
}

static void test_crun_lifecycle(void **state)
{
    (void)state;
    const char *crun = access("/usr/bin/crun", X_OK) == 0 ? "/usr/bin/crun" : NULL;
    if (!crun) {
        fprintf(stderr, "crun not installed: skipping\n");
        skip();
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(crun_child(crun));
    remember_pid(pid);
    int status = 0;
    /* No loop here: this process's own child, waited for directly. */
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        fprintf(stderr, "cannot unshare the mount namespace or unmount /sys/fs/cgroup/unified: skipping crun\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_error_hresult),
        cmocka_unit_test(test_runc_lifecycle),
        cmocka_unit_test(test_runc_bad_bundle),
        cmocka_unit_test(test_fake_failure_stderr),
        cmocka_unit_test(test_fake_failure_log),
        cmocka_unit_test(test_fake_timeout),
        cmocka_unit_test(test_exited_pipes_held),
        cmocka_unit_test(test_free_kills_inflight),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_stdin_large),
        cmocka_unit_test(test_missing_binary),
        cmocka_unit_test(test_crun_lifecycle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
