/* timesync.c — chronyd against the Hyper-V PTP clock (timesync.h). */
#include "timesync/timesync.h"

#include "common/log.h"
#include "common/util.h"
#include "loop/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS (10 * 60 * 1000)
#define STOP_TERM_MS 2000
#define STOP_KILL_MS 1000

struct timesync {
    loop *l;
    char *chronyd;
    char *node;
    char *dir, *conf;
    int devnull;
    pid_t pid;
    uint64_t backoff_ms;
    loop_timer *restart;
    unsigned starts;
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int timesync_find_ptp(const char *sysfs_root, char **ret_name, gcs_err *err)
{
    cleanup_free char *cls = xasprintf("%s/class/ptp", sysfs_root);
    DIR *d = opendir(cls);
    if (!d)
        return err_errno(err, HR_E_FAIL, errno, "failed to open PTP class directory %s", cls);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        names = xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    int r = -ENOENT;
    for (size_t i = 0; i < n && r == -ENOENT; i++) {
        cleanup_free char *path = xasprintf("%s/%s/clock_name", cls, names[i]);
        char buf[64];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT)
                r = err_errno(err, HR_E_FAIL, errno, "failed to read clock name file at %s", path);
            continue;
        }
        ssize_t k = read(fd, buf, sizeof(buf) - 1);
        int e = errno;
        close(fd);
        if (k < 0) {
            r = err_errno(err, HR_E_FAIL, e, "failed to read clock name file at %s", path);
            continue;
        }
        buf[k] = '\0';
        if (streq(buf, "hyperv\n")) { /* the file ends with a newline (upstream compares it so) */
            *ret_name = xstrdup(names[i]);
            r = 0;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (r == -ENOENT)
        err_set(err, HR_E_FAIL, "no PTP device found with name \"hyperv\" under %s", cls);
    return r;
}

char *timesync_chronyd_config(const char *node)
{
    return xasprintf("refclock PHC %s poll 3 dpoll -2 offset 0 stratum 2\nmakestep 0.1 -1\n", node);
}

static void run_chronyd(timesync *t);

static void on_restart(loop *l, void *data)
{
    (void)l;
    timesync *t = data;
    t->restart = NULL;
    run_chronyd(t);
}

static void schedule_restart(timesync *t)
{
    uint64_t ms = t->backoff_ms;
    t->backoff_ms = ms * 3 / 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 3 / 2;
    log_debug("restart monitor: restarting chronyd", KV_U("delay_ms", ms));
    t->restart = loop_timer_add(t->l, ms, on_restart, t);
}

static void on_exit_(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    timesync *t = data;
    t->pid = 0;
    char what[64];
    if (WIFEXITED(status))
        snprintf(what, sizeof(what), "exit status %d", WEXITSTATUS(status));
    else
        snprintf(what, sizeof(what), "signal: %s", strsignal(WTERMSIG(status)));
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        log_warn("restart monitor: run command returns error", KV_S("error", what), KV_S("command", t->chronyd),
                 KV_I("pid", pid));
    else
        log_info("chronyd exited", KV_I("pid", pid));
    schedule_restart(t);
}

static void run_chronyd(timesync *t)
{
    char *argv[] = {t->chronyd, "-n", "-f", t->conf, NULL};
    spawn_opts so = {
        .path = t->chronyd,
        .argv = argv,
        .fds = {t->devnull, t->devnull, t->devnull},
        .search_path = !strchr(t->chronyd, '/'),
    };
    gcs_err err = GCS_ERR_INIT;
    pid_t pid;
    if (spawn(t->l, &so, "chronyd", &pid, &err) < 0) {
        log_warn("restart monitor: run command returns error", KV_S("error", err_msg(&err)),
                 KV_S("command", t->chronyd));
        err_clear(&err);
        schedule_restart(t);
        return;
    }
    t->pid = pid;
    t->starts++;
    loop_child_watch(t->l, pid, on_exit_, t);
    log_info("chronyd started", KV_I("pid", pid), KV_S("command", t->chronyd), KV_S("config", t->conf),
             KV_S("clock", t->node), KV_U("start", t->starts));
}

timesync *timesync_start(loop *l, const timesync_opts *o)
{
    cleanup_free char *name = NULL;
    gcs_err err = GCS_ERR_INIT;
    int r = timesync_find_ptp(o->sysfs_root, &name, &err);
    if (r < 0) {
        log_warn("time synchronization not started: no Hyper-V PTP clock", KV_S("error", err_msg(&err)));
        err_clear(&err);
        return NULL;
    }
    timesync *t = xzalloc(sizeof(*t));
    t->l = l;
    t->devnull = -1;
    t->chronyd = xstrdup(o->chronyd);
    t->node = xasprintf("%s/%s", o->dev_root, name);
    t->backoff_ms = BACKOFF_FIRST_MS;
    char tmpl[] = "/tmp/gcs-timesync.XXXXXX";
    if (!mkdtemp(tmpl)) {
        log_error("failed to start time synchronization service", KV_S("error", strerror(errno)));
        timesync_stop(t);
        return NULL;
    }
    t->dir = xstrdup(tmpl);
    t->conf = xasprintf("%s/chronyd.conf", t->dir);
    cleanup_free char *text = timesync_chronyd_config(t->node);
    r = write_file(t->conf, text, strlen(text), 0644);
    t->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (r < 0 || t->devnull < 0) {
        log_error("failed to create chronyd conf file", KV_S("path", t->conf),
                  KV_S("error", strerror(r < 0 ? -r : errno)));
        timesync_stop(t);
        return NULL;
    }
    run_chronyd(t);
    return t;
}

static void reaped(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    (void)status;
    timesync *t = data;
    if (t->pid == pid)
        t->pid = 0;
    log_debug("chronyd stopped", KV_I("pid", pid));
}

static void wait_reaped(timesync *t, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    while (t->pid && now_ms() < deadline)
        loop_run_once(t->l, 50);
}

void timesync_stop(timesync *t)
{
    if (!t)
        return;
    if (t->restart)
        loop_timer_cancel(t->l, t->restart);
    if (t->pid) {
        /* by the pid we started and have not reaped: it is ours */
        pid_t pid = t->pid;
        loop_child_watch(t->l, pid, reaped, t); /* replaces the restarting callback */
        kill(pid, SIGTERM);
        wait_reaped(t, STOP_TERM_MS);
        if (t->pid) {
            log_warn("chronyd did not stop on SIGTERM, killing it", KV_I("pid", pid));
            kill(pid, SIGKILL);
            wait_reaped(t, STOP_KILL_MS);
        }
        if (t->pid)
            loop_child_unwatch(t->l, pid);
    }
    if (t->conf)
        unlink(t->conf);
    if (t->dir)
        rmdir(t->dir);
    if (t->devnull >= 0)
        close(t->devnull);
    free(t->chronyd);
    free(t->node);
    free(t->dir);
    free(t->conf);
    free(t);
}

pid_t timesync_pid(const timesync *t) { return t ? t->pid : 0; }
