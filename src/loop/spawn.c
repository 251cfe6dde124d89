/* spawn.c — fork and exec with fd and signal hygiene (spawn.h). */
#include "loop/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

extern char **environ;

/* Which step of the child failed, sent with its errno. */
enum child_step { STEP_FDS = 1, STEP_SESSION, STEP_NETNS, STEP_CHDIR, STEP_EXEC };

struct child_report {
    int step;
    int err;
};

/* Child side: only async-signal-safe calls until exec. */
NORETURN static void child(const spawn_opts *o, int ep)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    struct child_report rep = {STEP_FDS, 0};
    /* Move the sources above the report pipe first so dup2 onto 0..2 never
     * clobbers one of them. */
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, ep + 1);
        if (fds[i] < 0)
            goto fail;
    }
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            goto fail;
    if (ep > 3)
        close_range(3, (unsigned)ep - 1, 0);
    close_range((unsigned)ep + 1, ~0u, 0);
    if (o->setsid_ctty) {
        rep.step = STEP_SESSION;
        if (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0)
            goto fail;
    }
    if (o->netns) {
        rep.step = STEP_NETNS;
        int nfd = open(o->netns, O_RDONLY | O_CLOEXEC);
        if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0)
            goto fail;
        close(nfd);
    }
    if (o->cwd) {
        rep.step = STEP_CHDIR;
        if (chdir(o->cwd) < 0)
            goto fail;
    }
    rep.step = STEP_EXEC;
    char *const *envp = o->envp ? o->envp : environ;
    if (o->search_path)
        execvpe(o->path, o->argv, envp);
    else
        execve(o->path, o->argv, envp);
fail:
    rep.err = errno;
    (void)!write(ep, &rep, sizeof(rep));
    _exit(127);
}

static void reap_ignore(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    (void)pid;
    (void)status;
    (void)data;
}

int spawn(loop *l, const spawn_opts *o, const char *what, pid_t *ret_pid, gcs_err *err)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return err_errno(err, HR_E_FAIL, errno, "%s: pipe", what);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        return err_errno(err, HR_E_FAIL, e, "%s: fork", what);
    }
    if (pid == 0)
        child(o, ep[1]);
    close(ep[1]);
    struct child_report rep;
    ssize_t n;
    do
        n = read(ep[0], &rep, sizeof(rep));
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof(rep)) {
        loop_child_watch(l, pid, reap_ignore, NULL); /* the loop reaps it */
        switch (rep.step) {
        case STEP_SESSION:
            return err_errno(err, HR_E_FAIL, rep.err, "%s: controlling terminal", what);
        case STEP_NETNS:
            return err_errno(err, HR_E_FAIL, rep.err, "%s: enter network namespace %s", what, o->netns);
        case STEP_CHDIR:
            return err_errno(err, HR_E_FAIL, rep.err, "%s: chdir %s", what, o->cwd);
        case STEP_EXEC:
            return err_errno(err, HR_E_FAIL, rep.err, "%s: exec %s", what, o->path);
        default:
            return err_errno(err, HR_E_FAIL, rep.err, "%s: set up stdio", what);
        }
    }
    *ret_pid = pid;
    return 0;
}
