/* Memory event watches (src/cgroup/cgroup-events.c): v1 against this
 * machine's real memory controller (a threshold eventfd crossed by a child
 * that allocates, an OOM eventfd when the child outgrows the limit and is
 * killed, the removal of the cgroup reported as "gone"); v2 on a fake tree,
 * where inotify on memory.events behaves as on cgroupfs (this machine's v2
 * hierarchy has no memory controller). */
#include "cgroup/cgroup-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void write_events(const char *dir, const char *text)
{
    cleanup_free char *p = xasprintf("%s/memory.events", dir);
    assert_int_equal(write_file(p, text, strlen(text), 0644), 0);
}

static void test_v2_inotify_on_a_fake_tree(void **state)
{
    (void)state;
    char root[] = "/tmp/gcs-memwatch-XXXXXX";
    assert_non_null(mkdtemp(root));
    cleanup_free char *dir = xasprintf("%s/pods", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_events(dir, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    cgroup_mgr *mgr = cgroup_mgr_new(root, CGROUP_V2);
    cgroup *cg = NULL;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    assert_int_equal(cgroup_load(mgr, "/pods", &cg, &err), 0);
    cgroup_memwatch *w = NULL;
    /* v2 has no usage threshold notification */
    assert_true(cgroup_memwatch_open(cg, CG_WATCH_THRESHOLD, 1, &w, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "no memory usage threshold notification"));
    err_clear(&err);
    assert_int_equal(cgroup_memwatch_open(cg, CG_WATCH_OOM, 0, &w, &err), 0);
    int fd = cgroup_memwatch_fd(w);
    assert_false(readable(fd, 0));
    struct cgroup_memwatch_event ev;
    /* an OOM kill */
    write_events(dir, "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n");
    assert_true(readable(fd, 5000));
    assert_int_equal(cgroup_memwatch_consume(w, &ev), 0);
    assert_int_equal(ev.events, 1);
    assert_int_equal(ev.oom_kills, 1);
    assert_false(ev.gone);
    assert_false(readable(fd, 0)); /* drained */
    /* "high" and "max" change: a wake-up that is no OOM event */
    write_events(dir, "low 0\nhigh 7\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n");
    assert_true(readable(fd, 5000));
    assert_int_equal(cgroup_memwatch_consume(w, &ev), 0);
    assert_int_equal(ev.events, 0);
    /* three more kills at once */
    write_events(dir, "low 0\nhigh 7\nmax 9\noom 4\noom_kill 4\noom_group_kill 0\n");
    assert_true(readable(fd, 5000));
    assert_int_equal(cgroup_memwatch_consume(w, &ev), 0);
    assert_int_equal(ev.events, 3);
    assert_int_equal(ev.oom_kills, 4);
    /* the cgroup goes */
    cleanup_free char *f = xasprintf("%s/memory.events", dir);
    assert_int_equal(unlink(f), 0);
    assert_true(readable(fd, 5000));
    assert_int_equal(cgroup_memwatch_consume(w, &ev), 0);
    assert_true(ev.gone);
    cgroup_memwatch_free(w);
    cgroup_free(cg);
    cgroup_mgr_free(mgr);
    rmdir(dir);
    rmdir(root);
}

static pid_t child = -1;

/* A child that waits for a byte on the pipe, then touches that many MiB. */
static pid_t hog(int *ctl)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        unsigned char mib;
        while (read(p[0], &mib, 1) == 1) {
            size_t n = (size_t)mib << 20;
            char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                _exit(2);
            memset(m, 1, n);
        }
        _exit(0);
    }
    close(p[0]);
    *ctl = p[1];
    child = pid;
    return pid;
}

static void test_v1_real_threshold_oom_and_removal(void **state)
{
    (void)state;
    if (!cg_is_cgroup1_mount("/sys/fs/cgroup/memory"))
        skip();
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cgroup_mgr *mgr = cgroup_mgr_new(CGROUP_DEFAULT_ROOT, CGROUP_V1);
    cleanup_free char *path = xasprintf("/gcs-memwatch-%d", (int)getpid());
    json_t *res = json_pack("{s:{s:I,s:I}}", "memory", "limit", (json_int_t)(32 << 20), "swap", (json_int_t)(32 << 20));
    cgroup *cg = NULL;
    if (cgroup_create(mgr, path, res, &cg, &err) < 0)
        fail_msg("create: %s", err_msg(&err));
    json_decref(res);
    cgroup_memwatch *thr = NULL, *oom = NULL;
    assert_int_equal(cgroup_memwatch_open(cg, CG_WATCH_THRESHOLD, 8 << 20, &thr, &err), 0);
    assert_int_equal(cgroup_memwatch_open(cg, CG_WATCH_OOM, 0, &oom, &err), 0);
    int ctl;
    pid_t pid = hog(&ctl);
    assert_int_equal(cgroup_add_pid(cg, pid, &err), 0);
    assert_false(readable(cgroup_memwatch_fd(thr), 0));
    /* 16 MiB: above the threshold, under the limit */
    unsigned char mib = 16;
    assert_int_equal(write(ctl, &mib, 1), 1);
    assert_true(readable(cgroup_memwatch_fd(thr), 10000));
    struct cgroup_memwatch_event ev;
    assert_int_equal(cgroup_memwatch_consume(thr, &ev), 0);
    assert_true(ev.events >= 1);
    assert_false(ev.gone);
    assert_false(readable(cgroup_memwatch_fd(oom), 0)); /* no OOM yet */
    /* 64 MiB more: over the limit, the OOM killer takes the child */
    mib = 64;
    assert_int_equal(write(ctl, &mib, 1), 1);
    assert_true(readable(cgroup_memwatch_fd(oom), 10000));
    assert_int_equal(cgroup_memwatch_consume(oom, &ev), 0);
    assert_true(ev.events >= 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    child = -1;
    close(ctl);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    uint64_t kills, usage;
    cgroup_memwatch_counts(oom, &kills, &usage);
    assert_int_equal(kills, 1);
    /* removal signals the eventfds: reported as gone, not as an event */
    assert_int_equal(cgroup_delete(cg, &err), 0);
    assert_true(readable(cgroup_memwatch_fd(oom), 10000));
    assert_int_equal(cgroup_memwatch_consume(oom, &ev), 0);
    assert_true(ev.gone);
    cgroup_memwatch_free(thr);
    cgroup_memwatch_free(oom);
    cgroup_free(cg);
    cgroup_mgr_free(mgr);
}

static int teardown(void **state)
{
    (void)state;
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    static const char *const hiers[] = {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer",
                                        "memory", "pids", "unified", "systemd"};
    for (size_t i = 0; i < ARRAY_SIZE(hiers); i++) {
        cleanup_free char *dir = xasprintf("/sys/fs/cgroup/%s/gcs-memwatch-%d", hiers[i], (int)getpid());
        rmdir(dir);
        if (access(dir, F_OK) == 0)
            fail_msg("leaked %s", dir);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_inotify_on_a_fake_tree),
        cmocka_unit_test_teardown(test_v1_real_threshold_oom_and_removal, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
