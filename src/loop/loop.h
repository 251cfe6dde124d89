/* loop.h — the single-threaded event loop: fd watches (epoll), timers (a
 * binary heap driving the epoll timeout), signals (signalfd), and child
 * processes (the only waitpid in the program: every reaped status is
 * dispatched by pid to whoever registered it; unknown pids are logged).
 *
 * Callbacks run on the loop's only thread and must not block. A watch or
 * timer may be removed from inside any callback, including its own. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct loop loop;
typedef struct loop_watch loop_watch;
typedef struct loop_timer loop_timer;

typedef void (*loop_fd_cb)(loop *l, int fd, uint32_t events, void *data);
typedef void (*loop_timer_cb)(loop *l, void *data);
typedef void (*loop_child_cb)(loop *l, pid_t pid, int status, void *data);
typedef void (*loop_signal_cb)(loop *l, int signo, void *data);

loop *loop_new(void);
void loop_free(loop *l);

/* Run until loop_quit(). Returns the value given to loop_quit. */
int loop_run(loop *l);
void loop_quit(loop *l, int code);
/* One iteration, waiting at most timeout_ms (-1: until something happens). */
int loop_run_once(loop *l, int timeout_ms);

/* epoll events (EPOLLIN/EPOLLOUT/...). The fd is not owned. */
loop_watch *loop_watch_add(loop *l, int fd, uint32_t events, loop_fd_cb cb, void *data);
int loop_watch_modify(loop *l, loop_watch *w, uint32_t events);
void loop_watch_remove(loop *l, loop_watch *w);

/* One-shot timer after ms milliseconds. */
loop_timer *loop_timer_add(loop *l, uint64_t ms, loop_timer_cb cb, void *data);
void loop_timer_cancel(loop *l, loop_timer *t);

/* Signals: blocked process-wide and read from a signalfd. */
int loop_signal_add(loop *l, int signo, loop_signal_cb cb, void *data);

/* Register interest in a child's exit (pid from fork/clone/posix_spawn done
 * by the caller). A status that arrives before registration is kept and
 * delivered on registration. */
void loop_child_watch(loop *l, pid_t pid, loop_child_cb cb, void *data);
void loop_child_unwatch(loop *l, pid_t pid);
/* Number of children currently registered. */
size_t loop_child_count(loop *l);

/* Deferred call at the start of the next iteration (FIFO). */
void loop_defer(loop *l, loop_timer_cb cb, void *data);
