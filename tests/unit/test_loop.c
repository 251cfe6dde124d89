/* The event loop: timer order and cancellation, deferred calls, child
 * dispatch by pid (including a status that arrives before registration). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "loop/loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>

static int order[16];
static int norder;

static void rec(loop *l, void *data)
{
    (void)l;
    order[norder++] = (int)(intptr_t)data;
}

static void run_until(loop *l, bool (*cond)(void *), void *arg, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    while (!cond(arg)) {
        assert_true(now_ms() < deadline);
        assert_true(loop_run_once(l, 50) >= 0);
    }
}

static bool have_n(void *arg) { return norder >= (int)(intptr_t)arg; }

static void test_timers_fire_in_due_order(void **state)
{
    (void)state;
    loop *l = loop_new();
    norder = 0;
    loop_timer_add(l, 30, rec, (void *)3);
    loop_timer_add(l, 0, rec, (void *)1);
    loop_timer *t = loop_timer_add(l, 5, rec, (void *)99);
    loop_timer_add(l, 10, rec, (void *)2);
    loop_timer_cancel(l, t);
    run_until(l, have_n, (void *)3, 2000);
    assert_int_equal(norder, 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);
    loop_free(l);
}

static void test_many_timers_heap(void **state)
{
    (void)state;
    loop *l = loop_new();
    loop_timer *ts[500];
    for (int i = 0; i < 500; i++)
        ts[i] = loop_timer_add(l, 100000 + (uint64_t)((i * 7919) % 500), rec, NULL);
    for (int i = 0; i < 500; i += 2)
        loop_timer_cancel(l, ts[i]);
    loop_free(l); /* frees the remaining 250 without leaking (ASan checks) */
}

static void test_defer_fifo(void **state)
{
    (void)state;
    loop *l = loop_new();
    norder = 0;
    loop_defer(l, rec, (void *)1);
    loop_defer(l, rec, (void *)2);
    loop_run_once(l, 0);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    loop_free(l);
}

static int child_status = -1;
static pid_t child_pid;
static void on_child(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    (void)data;
    child_pid = pid;
    child_status = status;
}
static bool child_done(void *arg)
{
    (void)arg;
    return child_status != -1;
}

static void test_child_dispatch(void **state)
{
    (void)state;
    loop *l = loop_new();
    assert_int_equal(loop_signal_add(l, SIGCHLD, NULL, NULL), 0);
    pid_t p = fork();
    if (p == 0)
        _exit(7);
    child_status = -1;
    loop_child_watch(l, p, on_child, NULL);
    assert_int_equal(loop_child_count(l), 1);
    run_until(l, child_done, NULL, 5000);
    assert_int_equal(child_pid, p);
    assert_true(WIFEXITED(child_status));
    assert_int_equal(WEXITSTATUS(child_status), 7);
    assert_int_equal(loop_child_count(l), 0);

    /* exit before registration: the status is kept and delivered on watch */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    p = fork();
    if (p == 0)
        _exit(3);
    close(pfd[1]);
    /* let the loop reap it with nobody registered */
    for (uint64_t deadline = now_ms() + 5000; now_ms() < deadline;) {
        loop_run_once(l, 20);
        if (kill(p, 0) < 0)
            break;
    }
    child_status = -1;
    loop_child_watch(l, p, on_child, NULL);
    assert_int_equal(child_status >> 8, 3);
    close(pfd[0]);
    loop_free(l);
}

static int fd_events;
static void on_fd(loop *l, int fd, uint32_t ev, void *data)
{
    (void)fd;
    (void)ev;
    fd_events++;
    loop_watch_remove(l, data ? *(loop_watch **)data : NULL); /* removal from inside its own callback */
}

static void test_watch_remove_in_callback(void **state)
{
    (void)state;
    loop *l = loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0);
    loop_watch *w = NULL;
    w = loop_watch_add(l, p[0], EPOLLIN, on_fd, &w);
    assert_non_null(w);
    assert_int_equal(write(p[1], "x", 1), 1);
    fd_events = 0;
    loop_run_once(l, 1000);
    loop_run_once(l, 10);
    assert_int_equal(fd_events, 1);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_fire_in_due_order), cmocka_unit_test(test_many_timers_heap),
        cmocka_unit_test(test_defer_fifo), cmocka_unit_test(test_child_dispatch),
        cmocka_unit_test(test_watch_remove_in_callback),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
