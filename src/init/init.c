/* init.c — PID 1 of the gcs utility VM (the role of hcsshim's init/init.c).
 *
 * One job: turn the kernel's bare initramfs into a place where gcs can run,
 * start gcs, reap orphans, and power the VM off when gcs is gone. No shell;
 * libc only, linked statically (build/gcs-init, /init in build/uvm/initrd.img).
 *
 *   1. block every signal (they are read from a signalfd later)
 *   2. /dev (devtmpfs: the cloud kernel has DEVTMPFS_MOUNT off), the console
 *      as stdout/stderr, then proc, sys, /run, /tmp, /dev/shm, /dev/pts
 *   3. RLIMIT_NOFILE hard limit raised, loopback up, the hostname from
 *      /etc/hostname (the kernel's "(none)" is not a valid hostname, and gcs
 *      gives the VM's name to sandboxes whose spec names none)
 *   4. kernel modules: every line of /lib/modules/<release>/modules.load
 *      (written by scripts/make-uvm in dependency order) via finit_module
 *   5. cgroups: pure v2 at /sys/fs/cgroup with every available controller
 *      enabled in the root's subtree_control; v1 hierarchies instead when the
 *      kernel command line says hcsshim.cgroup=v1 or v2 cannot be mounted
 *   6. gcs: argv is everything after " -- " on the kernel command line
 *      (default /bin/gcs -v4 -loglevel debug); stdout/stderr are the console,
 *      which the host reads from the VM's serial port
 *   7. reap every child; when gcs exits, kill what is left, sync, power off.
 *      SIGTERM, SIGPWR and SIGINT (ctrl-alt-del, which the kernel turns into
 *      a signal to init) are passed to gcs as SIGTERM: the VM goes down when
 *      gcs has exited
 *
 * Unlike the agent, init calls waitpid itself: reaping is its job, and it has
 * no event loop. It refuses to run unless it is PID 1, so it can never mount
 * anything on a development machine by accident.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 64
#define CMDLINE_MAX 4096

static const char *const default_argv[] = {"/bin/gcs", "-v4", "-loglevel", "debug", NULL};
static char *const gcs_envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/",
                                 "TERM=linux", NULL};

/* ---- logging: one line per event on the console (fd 2 once set up) ---- */

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "gcs-init: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

/* Before gcs runs there is nothing to clean up: a VM that cannot set itself
 * up is powered off (returning from PID 1 would panic the kernel instead). */
__attribute__((noreturn)) static void power_off(void)
{
    sync();
    reboot(RB_POWER_OFF);
    say("reboot(RB_POWER_OFF) failed: %s", strerror(errno));
    for (;;)
        pause();
}

__attribute__((noreturn, format(printf, 1, 2))) static void fatal(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    say("fatal: %s; powering off", msg);
    power_off();
}

static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static int write_small_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = write(fd, s, strlen(s)) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* ---- 2. filesystems ---- */

struct mount_op {
    const char *source, *target, *type;
    unsigned long flags;
    const char *data;
};

#define NODEV_NOSUID_NOEXEC (MS_NODEV | MS_NOSUID | MS_NOEXEC)

static const struct mount_op mounts[] = {
    {"proc", "/proc", "proc", NODEV_NOSUID_NOEXEC, NULL},
    {"sysfs", "/sys", "sysfs", NODEV_NOSUID_NOEXEC, NULL},
    {"tmpfs", "/run", "tmpfs", NODEV_NOSUID_NOEXEC, "mode=0755"},
    {"tmpfs", "/tmp", "tmpfs", NODEV_NOSUID_NOEXEC, NULL},
    {"shm", "/dev/shm", "tmpfs", NODEV_NOSUID_NOEXEC, NULL},
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, NULL},
};

static void mkdir_or_die(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        fatal("mkdir %s: %s", path, strerror(errno));
}

static void setup_dev_and_console(void)
{
    mkdir_or_die("/dev", 0755);
    /* EBUSY: a kernel with DEVTMPFS_MOUNT already mounted it. */
    if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") < 0 && errno != EBUSY)
        fatal("mount /dev: %s", strerror(errno));
    int con = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (con >= 0) {
        dup2(con, 1);
        dup2(con, 2);
        close(con);
    }
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        close(null);
    }
    static const char *const links[][2] = {
        {"/proc/self/fd", "/dev/fd"},
        {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"},
        {"/proc/self/fd/2", "/dev/stderr"},
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
        if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
            say("symlink %s: %s", links[i][1], strerror(errno));
}

static void setup_mounts(void)
{
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        const struct mount_op *m = &mounts[i];
        mkdir_or_die(m->target, 0755);
        if (mount(m->source, m->target, m->type, m->flags, m->data) < 0)
            fatal("mount %s on %s: %s", m->type, m->target, strerror(errno));
    }
}

/* ---- 3. limits and loopback ---- */

static void setup_rlimit(void)
{
    /* Same numbers as upstream: a large hard limit costs nothing on a modern
     * kernel; the soft limit stays 1024 for old software's select(). */
    struct rlimit rl = {.rlim_cur = 1024, .rlim_max = 1024 * 1024};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        say("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
}

static void setup_loopback(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        say("loopback: socket: %s", strerror(errno));
        return;
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0))
        say("loopback up: %s", strerror(errno));
    close(s);
}

static void setup_hostname(void)
{
    char name[256];
    ssize_t n = read_small_file("/etc/hostname", name, sizeof(name));
    if (n < 0) {
        say("hostname: /etc/hostname: %s", strerror((int)-n));
        return;
    }
    name[strcspn(name, "\r\n")] = '\0';
    if (name[0] != '\0' && sethostname(name, strlen(name)) < 0)
        say("hostname %s: %s", name, strerror(errno));
}

/* ---- 4. modules ---- */

static void load_modules(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        fatal("uname: %s", strerror(errno));
    char dir[sizeof(u.release) + 32];
    snprintf(dir, sizeof(dir), "/lib/modules/%s", u.release);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        say("no modules for kernel %s (%s)", u.release, strerror(errno));
        return;
    }
    FILE *list = NULL;
    int lfd = openat(dfd, "modules.load", O_RDONLY | O_CLOEXEC);
    if (lfd >= 0)
        list = fdopen(lfd, "r");
    if (!list) {
        say("%s/modules.load: %s", dir, strerror(errno));
        close(dfd);
        return;
    }
    char line[512];
    int loaded = 0, present = 0, failed = 0;
    while (fgets(line, sizeof(line), list)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        int fd = openat(dfd, line, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            say("module %s: %s", line, strerror(errno));
            failed++;
            continue;
        }
        if (syscall(SYS_finit_module, fd, "", 0) == 0)
            loaded++;
        else if (errno == EEXIST)
            present++;
        else {
            say("module %s: finit_module: %s", line, strerror(errno));
            failed++;
        }
        close(fd);
    }
    fclose(list);
    close(dfd);
    say("modules: %d loaded, %d already present, %d failed", loaded, present, failed);
}

/* ---- 5. cgroups ---- */

/* The kernel's own parameters: the part of the command line before " -- ". */
static bool kernel_param_present(const char *cmdline, const char *param)
{
    size_t plen = strlen(param);
    const char *end = strstr(cmdline, " -- ");
    if (!end)
        end = cmdline + strlen(cmdline);
    for (const char *p = cmdline; p < end;) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        const char *w = p;
        while (p < end && !isspace((unsigned char)*p))
            p++;
        if ((size_t)(p - w) == plen && memcmp(w, param, plen) == 0)
            return true;
    }
    return false;
}

static void enable_all_controllers(void)
{
    char ctrls[512];
    if (read_small_file("/sys/fs/cgroup/cgroup.controllers", ctrls, sizeof(ctrls)) < 0) {
        say("cgroup v2: cannot read cgroup.controllers: %s", strerror(errno));
        return;
    }
    /* One write per controller: the kernel rejects a whole multi-controller
     * write if one of them cannot be enabled. */
    char *save = NULL;
    for (char *c = strtok_r(ctrls, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
        char plus[80];
        snprintf(plus, sizeof(plus), "+%s", c);
        int r = write_small_file("/sys/fs/cgroup/cgroup.subtree_control", plus);
        if (r < 0)
            say("cgroup v2: cannot enable %s: %s", c, strerror(-r));
    }
}

static bool setup_cgroup_v2(void)
{
    /* As upstream: no mount options (in particular no nsdelegate). */
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", NODEV_NOSUID_NOEXEC, NULL) < 0) {
        say("cgroup v2: mount failed (%s); falling back to v1", strerror(errno));
        return false;
    }
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) < 0) {
        say("cgroup v2: no cgroup.controllers; falling back to v1");
        umount("/sys/fs/cgroup");
        return false;
    }
    enable_all_controllers();
    char sub[512];
    if (read_small_file("/sys/fs/cgroup/cgroup.subtree_control", sub, sizeof(sub)) >= 0) {
        sub[strcspn(sub, "\n")] = '\0';
        say("cgroup v2: subtree_control: %s", sub);
    }
    return true;
}

static void setup_cgroup_v1(void)
{
    if (mount("cgroup_root", "/sys/fs/cgroup", "tmpfs", NODEV_NOSUID_NOEXEC, "mode=0755") < 0)
        fatal("mount tmpfs on /sys/fs/cgroup: %s", strerror(errno));
    FILE *f = fopen("/proc/cgroups", "re");
    if (!f)
        fatal("/proc/cgroups: %s", strerror(errno));
    char line[256], names[512] = "";
    int mounted = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[64];
        int hier, groups, enabled;
        if (line[0] == '#' || sscanf(line, "%63s %d %d %d", name, &hier, &groups, &enabled) != 4 || !enabled)
            continue;
        char path[128];
        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", name);
        mkdir_or_die(path, 0755);
        if (mount(name, path, "cgroup", NODEV_NOSUID_NOEXEC, name) < 0)
            fatal("mount cgroup %s: %s", name, strerror(errno));
        mounted++;
        size_t used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%s%s", used ? " " : "", name);
    }
    fclose(f);
    if (!mounted)
        fatal("cgroup v1: no enabled controllers");
    say("cgroup v1: mounted %s", names);
}

static void setup_cgroups(const char *cmdline)
{
    if (kernel_param_present(cmdline, "hcsshim.cgroup=v1")) {
        say("cgroup v1 requested by hcsshim.cgroup=v1");
        setup_cgroup_v1();
        return;
    }
    if (!setup_cgroup_v2())
        setup_cgroup_v1();
}

/* What init set up, for the boot log (tests/uvm checks these lines). */
static void log_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        /* "id parent maj:min root mountpoint options ... - fstype source superopts" */
        char mnt[256], fstype[64];
        const char *dash = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %*s %*s %255s", mnt) == 1 && dash && sscanf(dash + 3, "%63s", fstype) == 1)
            say("mount %s %s", mnt, fstype);
    }
    fclose(f);
}

/* ---- 6. gcs's command line ---- */

/* Split the part after " -- " on whitespace (no quoting, like the kernel's
 * own handling of init arguments). Returns the argument count; 0 if absent. */
static int gcs_args_from_cmdline(char *cmdline, char **argv, int max)
{
    char *tail = strstr(cmdline, " -- ");
    if (tail)
        tail += 4;
    else if (strncmp(cmdline, "-- ", 3) == 0)
        tail = cmdline + 3;
    else
        return 0;
    int argc = 0;
    char *save = NULL;
    for (char *a = strtok_r(tail, " \t\n", &save); a && argc < max - 1; a = strtok_r(NULL, " \t\n", &save))
        argv[argc++] = a;
    argv[argc] = NULL;
    return argc;
}

static pid_t launch(char **argv)
{
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        execve(argv[0], argv, gcs_envp);
        say("exec %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* ---- 7. reaping and power off ---- */

static int wait_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static void reap_and_power_off(int sfd, pid_t gcs)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(si))
            fatal("signalfd read: %s", n < 0 ? strerror(errno) : "short read");
        if (si.ssi_signo != SIGCHLD) {
            /* SIGTERM/SIGINT (ctrl-alt-del)/SIGPWR: ask gcs to exit; the VM
             * goes down when it has. */
            say("signal %u: asking gcs (pid %d) to exit", si.ssi_signo, (int)gcs);
            kill(gcs, SIGTERM);
            continue;
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != gcs)
                continue; /* an orphan re-parented to us */
            say("gcs exited with status %d; powering off", wait_status_code(status));
            kill(-1, SIGKILL);
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            power_off();
        }
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (getpid() != 1) {
        fprintf(stderr, "gcs-init: must run as PID 1 (the utility VM's /init)\n");
        return 1;
    }
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    /* ctrl-alt-del becomes SIGINT to us (a clean shutdown through gcs)
     * instead of an immediate reboot. */
    reboot(RB_DISABLE_CAD);

    setup_dev_and_console();
    setup_mounts();
    setup_rlimit();
    setup_loopback();
    setup_hostname();

    static char cmdline[CMDLINE_MAX];
    if (read_small_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
        fatal("/proc/cmdline: %s", strerror(errno));
    cmdline[strcspn(cmdline, "\n")] = '\0';

    load_modules();
    setup_cgroups(cmdline);
    log_mounts();

    sigset_t want;
    sigemptyset(&want);
    sigaddset(&want, SIGCHLD);
    sigaddset(&want, SIGTERM);
    sigaddset(&want, SIGINT);
    sigaddset(&want, SIGPWR);
    int sfd = signalfd(-1, &want, SFD_CLOEXEC);
    if (sfd < 0)
        fatal("signalfd: %s", strerror(errno));

    /* gcs_args_from_cmdline cuts the buffer, so after the cgroup decision. */
    char *gcs_argv[MAX_ARGS];
    if (gcs_args_from_cmdline(cmdline, gcs_argv, MAX_ARGS) == 0)
        memcpy(gcs_argv, default_argv, sizeof(default_argv));
    pid_t gcs = launch(gcs_argv);
    say("started %s (pid %d)", gcs_argv[0], (int)gcs);
    reap_and_power_off(sfd, gcs);
}
