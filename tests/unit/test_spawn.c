/* Unit tests for src/loop/spawn: the one way children start. Real
 * processes: what the child sees (descriptors, signal mask and
 * dispositions, cwd, environment), and failures reported synchronously. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "loop/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    bool exited;
    int status;
} ex;

static void on_exit_cb(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    (void)pid;
    ex *e = data;
    e->exited = true;
    e->status = status;
}

/* Run sh -c script through spawn; its stdout is returned. */
static char *run(loop *l, const char *script, const char *cwd, char *const *envp, int *status)
{
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    spawn_opts o = {.path = "sh", .argv = argv, .envp = envp, .fds = {devnull, out[1], devnull}, .cwd = cwd,
                    .search_path = true};
    cleanup_err gcs_err err = GCS_ERR_INIT;
    pid_t pid = 0;
    if (spawn(l, &o, "test", &pid, &err) < 0)
        fail_msg("spawn: %s", err_msg(&err));
    close(out[1]);
    close(devnull);
    ex e = {0};
    loop_child_watch(l, pid, on_exit_cb, &e);
    char *buf = xzalloc(4096);
    size_t len = 0;
    ssize_t n;
    while ((n = read(out[0], buf + len, 4095 - len)) > 0)
        len += (size_t)n;
    close(out[0]);
    for (int i = 0; i < 200 && !e.exited; i++)
        loop_run_once(l, 50);
    assert_true(e.exited);
    *status = e.status;
    return buf;
}

static void test_child_hygiene(void **state)
{
    (void)state;
    loop *l = loop_new();
    assert_int_equal(loop_signal_add(l, SIGCHLD, NULL, NULL), 0);
    /* the agent's own state: a blocked and an ignored signal, a stray fd */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    signal(SIGUSR2, SIG_IGN);
    int stray = open("/dev/null", O_RDONLY); /* not close-on-exec */
    int status;
    cleanup_free char *out = run(l,
                                 "ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; "
                                 "grep -E '^Sig(Blk|Ign)' /proc/self/status",
                                 NULL, NULL, &status);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* 0, 1, 2 and the fd ls itself opens on /proc/self/fd */
    if (!strstr(out, "0 1 2 3 \n"))
        fail_msg("descriptors: %s", out);
    assert_non_null(strstr(out, "SigBlk:\t0000000000000000"));
    /* sh itself ignores nothing here; SIGUSR2 (bit 12) must not be inherited */
    char *ign = strstr(out, "SigIgn:\t");
    assert_non_null(ign);
    unsigned long long mask = strtoull(ign + 8, NULL, 16);
    assert_false(mask & (1ull << (SIGUSR2 - 1)));
    close(stray);
    signal(SIGUSR2, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    loop_free(l);
}

static void test_cwd_and_env(void **state)
{
    (void)state;
    loop *l = loop_new();
    assert_int_equal(loop_signal_add(l, SIGCHLD, NULL, NULL), 0);
    char *envp[] = {"PATH=/usr/bin:/bin", "GCS_SPAWN_TEST=yes", NULL};
    int status;
    cleanup_free char *out = run(l, "pwd; echo $GCS_SPAWN_TEST; exit 3", "/tmp", envp, &status);
    assert_string_equal(out, "/tmp\nyes\n");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    loop_free(l);
}

static void test_failures_reported(void **state)
{
    (void)state;
    loop *l = loop_new();
    assert_int_equal(loop_signal_add(l, SIGCHLD, NULL, NULL), 0);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    char *argv[] = {"no-such-program-gcs", NULL};
    spawn_opts o = {.path = "no-such-program-gcs", .argv = argv, .fds = {devnull, devnull, devnull},
                    .search_path = true};
    cleanup_err gcs_err err = GCS_ERR_INIT;
    pid_t pid = 0;
    assert_true(spawn(l, &o, "start it", &pid, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "start it: exec no-such-program-gcs"));
    assert_non_null(strstr(err_msg(&err), "No such file"));
    err_clear(&err);
    char *argv2[] = {"/bin/true", NULL};
    spawn_opts o2 = {.path = "/bin/true", .argv = argv2, .fds = {devnull, devnull, devnull}, .cwd = "/nonexistent-gcs"};
    assert_true(spawn(l, &o2, "start it", &pid, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "chdir /nonexistent-gcs"));
    err_clear(&err);
    /* the failed children are the loop's to reap */
    for (int i = 0; i < 100 && loop_child_count(l) > 0; i++)
        loop_run_once(l, 50);
    assert_int_equal(loop_child_count(l), 0);
    close(devnull);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_hygiene),
        cmocka_unit_test(test_cwd_and_env),
        cmocka_unit_test(test_failures_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
