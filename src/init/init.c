/* init.c — PID 1 of the gcs utility VM, a drop-in for hcsshim's init/init.c.
 *
 * A stock host boots the VM with the kernel command line ending in
 *
 *     ... nr_cpus=N brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json ...
 *
 * and the kernel hands everything after "--" to init as its argv. init's own
 * options come first (initargs.h: -e PORT entropy, -d PATH debug shell, -w
 * writable /etc and /var), the rest is the child it starts (vsockexec, which
 * connects gcs's stderr to the host's log port and execs gcs). No shell; libc
 * and the transport code only, linked statically (build/gcs-init, /init in
 * build/uvm/initrd.img).
 *
 *   1. parse argv; block every signal (they are read from a signalfd later)
 *   2. /dev (devtmpfs: Debian kernels have DEVTMPFS_MOUNT off), then proc,
 *      sys, /run, /tmp, /dev/shm, /dev/pts; fds 0-2 stay what the kernel gave
 *      (the console; /dev/null where it gave nothing)
 *   3. RLIMIT_NOFILE hard limit raised, the hostname from /etc/hostname (the
 *      kernel's "(none)" is not a valid hostname, and gcs gives the VM's name
 *      to sandboxes whose spec names none)
 *   4. kernel modules: every line of /lib/modules/<release>/modules.load
 *      (written by scripts/make-uvm in dependency order) via finit_module;
 *      before -w (overlay may be a module) and before entropy (hv_sock)
 *   5. -w: /etc and /var become overlays with their upper layers on a tmpfs
 *      at /run/over (40% of memory), as upstream
 *   6. cgroups: pure v2 at /sys/fs/cgroup with every available controller
 *      enabled in the root's subtree_control (after upstream's probe that
 *      BPF_CGROUP_DEVICE works); v1 hierarchies instead when
 *      hcsshim.cgroup=v1 is anywhere on the kernel command line or v2 cannot
 *      be used
 *   7. loopback up (IPv4 and IPv6)
 *   8. -e PORT: dial CID 2 on PORT through the transport (real vsock, or the
 *      development mapping when the kernel command line carries
 *      gcs.devtransport=, src/transport/transport.h), read to EOF, add it
 *      with RNDADDENTROPY. A failure is logged, never fatal
 *   9. the child through PATH=/sbin:/usr/sbin:/bin:/usr/bin (its whole
 *      environment, as upstream), and with -d the debug shell
 *  10. reap every child; when the primary one (the shell with -d, else the
 *      child) exits, kill what is left, sync, power off. SIGTERM, SIGPWR and
 *      SIGINT (ctrl-alt-del, which the kernel turns into a signal to init)
 *      are passed to the primary child as SIGTERM: the VM goes down when it
 *      has exited (upstream returns from main and lets the kernel panic
 *      into a reboot; docs/differences.md D-32)
 *
 * Messages go to /dev/kmsg ("gcs-init: ...", info at level 6, problems at 4,
 * fatal ones at 3): under hcsshim there is no UART (8250_core.nr_uarts=0),
 * and gcs forwards kmsg into the log stream the host reads. Each message
 * opens /dev/kmsg anew, as upstream does, so the kernel's per-open rate
 * limit of user messages never drops one. Before /dev exists, or when kmsg
 * cannot be opened, they go to stderr.
 *
 * Unlike the agent, init calls waitpid itself: reaping is its job, and it has
 * no event loop. It refuses to run unless it is PID 1, so it can never mount
 * anything on a development machine by accident.
 */
#include "init/initargs.h"
#include "transport/transport.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/random.h>
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

#define CMDLINE_MAX 4096

/* upstream: the child's whole environment, and the PATH execvpe searches */
#define CHILD_PATH "/sbin:/usr/sbin:/bin:/usr/bin"
static char *const child_envp[] = {"PATH=" CHILD_PATH, NULL};

/* ---- logging: one /dev/kmsg record per event ---- */

enum { KMSG_ERR = 3, KMSG_WARN = 4, KMSG_INFO = 6 };

__attribute__((format(printf, 2, 3))) static void say_at(int level, const char *fmt, ...)
{
    char line[1000];
    int n = snprintf(line, sizeof(line), "<%d>gcs-init: ", level);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
    line[len++] = '\n';
    int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    ssize_t w;
    if (fd >= 0) {
        w = write(fd, line, len);
        close(fd);
        if (w == (ssize_t)len)
            return;
    }
    /* no kmsg (yet): stderr, without the level prefix */
    const char *text = strchr(line, '>') + 1;
    w = write(2, text, len - (size_t)(text - line));
    (void)w;
}

#define say(...) say_at(KMSG_INFO, __VA_ARGS__)
#define warn(...) say_at(KMSG_WARN, __VA_ARGS__)

/* Before the child runs there is nothing to clean up: a VM that cannot set
 * itself up is powered off (returning from PID 1 would panic the kernel). */
__attribute__((noreturn)) static void power_off(void)
{
    sync();
    reboot(RB_POWER_OFF);
    say_at(KMSG_ERR, "reboot(RB_POWER_OFF) failed: %s", strerror(errno));
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
    say_at(KMSG_ERR, "fatal: %s; powering off", msg);
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

static void setup_dev(void)
{
    mkdir_or_die("/dev", 0755);
    /* EBUSY: a kernel with DEVTMPFS_MOUNT already mounted it. */
    if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") < 0 && errno != EBUSY)
        fatal("mount /dev: %s", strerror(errno));
    /* The kernel gave us the console as 0-2 if it could open one; the
     * children inherit them (the debug shell needs a terminal). A missing
     * one becomes /dev/null, so no socket a child opens lands on fd 0-2. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0 && null != fd) {
                dup2(null, fd);
                close(null);
            }
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

/* As upstream: lo up through an IPv4 and an IPv6 socket (a kernel without
 * IPv6 refuses the second socket, which is fine). */
static void setup_loopback(int domain)
{
    const char *fam = domain == AF_INET ? "IPv4" : "IPv6";
    int s = socket(domain, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        if (errno != EAFNOSUPPORT)
            warn("loopback (%s): socket: %s", fam, strerror(errno));
        return;
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(s, SIOCSIFFLAGS, &ifr) < 0))
        warn("loopback (%s) up: %s", fam, strerror(errno));
    close(s);
}

static void setup_hostname(void)
{
    char name[256];
    ssize_t n = read_small_file("/etc/hostname", name, sizeof(name));
    if (n < 0) {
        warn("hostname: /etc/hostname: %s", strerror((int)-n));
        return;
    }
    name[strcspn(name, "\r\n")] = '\0';
    if (name[0] != '\0' && sethostname(name, strlen(name)) < 0)
        warn("hostname %s: %s", name, strerror(errno));
}

/* ---- 4. modules ---- */

/* The dependencies of module path in modules.dep ("path: dep dep ..."), or "". */
static const char *module_deps(const char *dep, const char *path, char *out, size_t outlen)
{
    size_t plen = strlen(path);
    out[0] = '\0';
    for (const char *l = dep; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, path, plen) == 0 && l[plen] == ':') {
            const char *d = l + plen + 1, *end = strchr(d, '\n');
            size_t n = end ? (size_t)(end - d) : strlen(d);
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, d, n);
            out[n] = '\0';
            break;
        }
    }
    return out;
}

/* Load modules.load in order. A module whose device is absent (hv_vmbus
 * off Hyper-V says ENODEV) is not an error, and the modules that need it
 * are skipped instead of failing on its missing symbols. */
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
    char deppath[sizeof(dir) + 16];
    snprintf(deppath, sizeof(deppath), "%s/modules.dep", dir);
    char *dep = NULL;
    size_t deplen;
    if (read_file(deppath, &dep, &deplen) < 0)
        dep = NULL;
    char absent[4096] = " "; /* " path path ... " of modules that could not load */
    char line[512];
    int loaded = 0, present = 0, nodev = 0, failed = 0;
    while (fgets(line, sizeof(line), list)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char deps[1024], needs[520] = "";
        module_deps(dep, line, deps, sizeof(deps));
        char *save = NULL;
        for (char *d = strtok_r(deps, " ", &save); d; d = strtok_r(NULL, " ", &save)) {
            char key[520];
            snprintf(key, sizeof(key), " %s ", d);
            if (strstr(absent, key)) {
                snprintf(needs, sizeof(needs), "%s", d);
                break;
            }
        }
        bool ok = false;
        if (needs[0]) {
            say("module %s: skipped (needs %s)", line, needs);
            nodev++;
        } else {
            int fd = openat(dfd, line, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                warn("module %s: %s", line, strerror(errno));
                failed++;
            } else if (syscall(SYS_finit_module, fd, "", 0) == 0) {
                loaded++;
                ok = true;
            } else if (errno == EEXIST) {
                present++;
                ok = true;
            } else if (errno == ENODEV) {
                say("module %s: no device for it here", line);
                nodev++;
            } else {
                warn("module %s: finit_module: %s", line, strerror(errno));
                failed++;
            }
            if (fd >= 0)
                close(fd);
        }
        size_t used = strlen(absent);
        if (!ok && used + strlen(line) + 2 < sizeof(absent))
            snprintf(absent + used, sizeof(absent) - used, "%s ", line);
    }
    free(dep);
    fclose(list);
    close(dfd);
    say("modules: %d loaded, %d already present, %d without their device, %d failed", loaded, present, nodev,
        failed);
}

/* ---- 5. cgroups ---- */

/* A word anywhere on the kernel command line, as upstream matches
 * hcsshim.cgroup=v1 (the kernel's own parameters and init's arguments). */
static bool cmdline_has_word(const char *cmdline, const char *word)
{
    size_t wlen = strlen(word);
    for (const char *p = cmdline; *p;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if ((size_t)(p - w) == wlen && memcmp(w, word, wlen) == 0)
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
    /* As upstream: runc's v2 device controller needs BPF_CGROUP_DEVICE.
     * ENOSYS (no bpf()) or EINVAL (no cgroup BPF) means v1; EPERM or
     * success means it works. */
    int cg = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg >= 0) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.query.target_fd = (unsigned)cg;
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        long r = syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr));
        int e = errno;
        close(cg);
        if (r < 0 && (e == ENOSYS || e == EINVAL)) {
            warn("cgroup v2: no BPF cgroup device support (%s); falling back to v1", strerror(e));
            umount("/sys/fs/cgroup");
            return false;
        }
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
    if (cmdline_has_word(cmdline, "hcsshim.cgroup=v1")) {
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

/* ---- -w: writable /etc and /var ---- */

static void setup_overlays(void)
{
    /* upstream's layout: a tmpfs of 40% at /run/over, upper and work dirs per tree */
    mkdir_or_die("/run/over", 0755);
    if (mount("tmpfs", "/run/over", "tmpfs", NODEV_NOSUID_NOEXEC, "size=40%,mode=0755") < 0)
        fatal("mount tmpfs on /run/over: %s", strerror(errno));
    static const struct {
        const char *tree;
        unsigned long flags;
    } trees[] = {{"/etc", NODEV_NOSUID_NOEXEC}, {"/var", MS_NODEV | MS_NOSUID}}; /* /var may hold executables */
    for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
        char base[64], upper[80], work[80], opts[300];
        snprintf(base, sizeof(base), "/run/over%s", trees[i].tree);
        snprintf(upper, sizeof(upper), "%s/upper", base);
        snprintf(work, sizeof(work), "%s/work", base);
        mkdir_or_die(trees[i].tree, 0755);
        mkdir_or_die(base, 0755);
        mkdir_or_die(upper, 0755);
        mkdir_or_die(work, 0755);
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", trees[i].tree, upper, work);
        if (mount("overlay", trees[i].tree, "overlay", trees[i].flags, opts) < 0)
            fatal("mount overlay on %s: %s", trees[i].tree, strerror(errno));
    }
    say("writable /etc and /var: overlays on /run/over");
}

/* ---- entropy ---- */

/* Read the host's bytes to EOF and add them to the pool, crediting 8 bits a
 * byte (upstream's accounting). Never fatal: the VM works without. */
static void add_entropy(const transport *t, uint32_t port)
{
    char *where = transport_describe(t, port);
    gcs_err err = GCS_ERR_INIT;
    int s = transport_dial(t, port, &err);
    if (s < 0) {
        warn("entropy: dial %s: %s; going on without", where, err_msg(&err));
        err_clear(&err);
        free(where);
        return;
    }
    int rnd = open("/dev/random", O_RDWR | O_CLOEXEC);
    if (rnd < 0) {
        warn("entropy: open /dev/random: %s; going on without", strerror(errno));
        close(s);
        free(where);
        return;
    }
    struct {
        int entropy_count;
        int buf_size;
        char buf[4096];
    } pool;
    size_t total = 0;
    for (;;) {
        ssize_t n = read(s, pool.buf, sizeof(pool.buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            warn("entropy: read %s: %s; going on with %zu bytes", where, strerror(errno), total);
            break;
        }
        if (n == 0)
            break;
        pool.entropy_count = (int)n * 8;
        pool.buf_size = (int)n;
        if (ioctl(rnd, RNDADDENTROPY, &pool) < 0) {
            warn("entropy: RNDADDENTROPY: %s; going on with %zu bytes", strerror(errno), total);
            break;
        }
        total += (size_t)n;
    }
    close(rnd);
    close(s);
    say("entropy: %zu bytes from %s added", total, where);
    free(where);
}

/* ---- the child, the shell, reaping and power off ---- */

static pid_t launch(char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        /* execvpe searches the PATH of the environment it is given */
        execvpe(argv[0], argv, child_envp);
        say_at(KMSG_ERR, "exec %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static int wait_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static void reap_and_power_off(int sfd, pid_t primary, const char *name)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(si))
            fatal("signalfd read: %s", n < 0 ? strerror(errno) : "short read");
        if (si.ssi_signo != SIGCHLD) {
            /* SIGTERM/SIGINT (ctrl-alt-del)/SIGPWR: ask the primary child to
             * exit; the VM goes down when it has. */
            say("signal %u: asking %s (pid %d) to exit", si.ssi_signo, name, (int)primary);
            kill(primary, SIGTERM);
            continue;
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != primary)
                continue; /* an orphan re-parented to us, or the child next to a debug shell */
            say("%s exited with status %d; powering off", name, wait_status_code(status));
            kill(-1, SIGKILL);
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            power_off();
        }
    }
}

int main(int argc, char **argv)
{
    if (getpid() != 1) {
        fprintf(stderr, "gcs-init: must run as PID 1 (the utility VM's /init)\n");
        return 1;
    }
    init_args args;
    char argerr[256] = "";
    int argr = init_args_parse(argc, argv, &args, argerr, sizeof(argerr));

    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    /* ctrl-alt-del becomes SIGINT to us (a clean shutdown through the child)
     * instead of an immediate reboot. */
    reboot(RB_DISABLE_CAD);

    setup_dev();
    if (argr < 0)
        fatal("bad arguments: %s", argerr); /* upstream exits (a kernel panic) */
    setup_mounts();
    setup_rlimit();
    setup_hostname();

    static char cmdline[CMDLINE_MAX];
    if (read_small_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
        fatal("/proc/cmdline: %s", strerror(errno));
    cmdline[strcspn(cmdline, "\n")] = '\0';

    load_modules();
    if (args.writable_overlays)
        setup_overlays();
    setup_cgroups(cmdline);
    setup_loopback(AF_INET);
    setup_loopback(AF_INET6);
    log_mounts();

    transport t;
    const char *tsource = NULL;
    gcs_err err = GCS_ERR_INIT;
    if (transport_default(&t, &tsource, &err) < 0) {
        /* the children make the same choice and fail the same way, loudly */
        warn("transport: %s", err_msg(&err));
        err_clear(&err);
        transport_parse("vsock", &t, &err);
    } else if (t.kind != TRANSPORT_VSOCK) {
        char *b = transport_describe(&t, TRANSPORT_SERIAL_PORT_BASE);
        say("transport: development mapping from the %s (bridge %s)", tsource, b);
        free(b);
    }
    if (args.entropy_port)
        add_entropy(&t, args.entropy_port);
    transport_done(&t);

    sigset_t want;
    sigemptyset(&want);
    sigaddset(&want, SIGCHLD);
    sigaddset(&want, SIGTERM);
    sigaddset(&want, SIGINT);
    sigaddset(&want, SIGPWR);
    int sfd = signalfd(-1, &want, SFD_CLOEXEC);
    if (sfd < 0)
        fatal("signalfd: %s", strerror(errno));

    if (args.defaulted)
        say("no arguments: upstream's default child and debug shell");
    pid_t primary = -1;
    const char *name = NULL;
    if (args.child) {
        primary = launch(args.child);
        name = args.child[0];
        say("started %s (pid %d)", name, (int)primary);
    }
    if (args.debug_shell) {
        char *const shell[] = {(char *)args.debug_shell, NULL};
        primary = launch(shell); /* as upstream: the shell's exit ends the VM */
        name = args.debug_shell;
        say("started debug shell %s (pid %d)", name, (int)primary);
    }
    reap_and_power_off(sfd, primary, name);
}
