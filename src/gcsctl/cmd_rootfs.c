/* cmd_rootfs.c — make-rootfs: a minimal busybox root filesystem for demos
 * and tests, usable read-only (the agent bind-mounts /etc/hostname, hosts
 * and resolv.conf over the empty files here). */
#include "gcsctl/gcsctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>

static const char *const APPLETS[] = {"sh", "sleep", "cat",  "echo", "true", "ls",
                                      "ps", "id",    "stty", "head", "env",  "hostname"};
static const char *const DIRS[] = {"bin", "etc", "proc", "sys", "dev", "tmp"};
static const char PASSWD[] = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
static const char GROUP[] = "root:x:0:\nnogroup:x:65534:\n";

static int mkdir_in(int dfd, const char *name, mode_t mode)
{
    if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int write_in(int dfd, const char *name, const char *data, size_t len, mode_t mode)
{
    cleanup_close int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    int r = write_all(fd, data, len);
    if (r < 0)
        return r;
    return fchmod(fd, mode) < 0 ? -errno : 0;
}

/* Copy busybox in through a temporary name, so a running copy is never
 * truncated underneath itself. */
static int copy_busybox(int dfd, const char *src)
{
    cleanup_free char *data = NULL;
    size_t len;
    int r = read_file(src, &data, &len);
    if (r < 0)
        return r;
    if ((r = write_in(dfd, "bin/.busybox.tmp", data, len, 0755)) < 0)
        return r;
    if (renameat(dfd, "bin/.busybox.tmp", dfd, "bin/busybox") < 0)
        return -errno;
    return 0;
}

int cmd_make_rootfs(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"busybox", required_argument, NULL, 'b'}, {0}};
    const char *busybox = "/bin/busybox";
    int o;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o == 'b')
            busybox = optarg;
        else if (o == ':')
            return ctl_usage_error(x, "%s needs a value", argv[optind - 1]);
        else
            return ctl_usage_error(x, "unknown option %s", argv[optind - 1]);
    }
    if (argc - optind != 1)
        return ctl_usage_error(x, "needs exactly one DIR");
    const char *dir = argv[optind];
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return ctl_fail("make-rootfs: mkdir %s: %s", dir, strerror(errno));
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ctl_fail("make-rootfs: open %s: %s", dir, strerror(errno));
    int r;
    for (size_t i = 0; i < ARRAY_SIZE(DIRS); i++) {
        if ((r = mkdir_in(dfd, DIRS[i], streq(DIRS[i], "tmp") ? 01777 : 0755)) < 0)
            return ctl_fail("make-rootfs: mkdir %s/%s: %s", dir, DIRS[i], strerror(-r));
    }
    if (fchmodat(dfd, "tmp", 01777, 0) < 0)
        return ctl_fail("make-rootfs: chmod %s/tmp: %s", dir, strerror(errno));
    if ((r = copy_busybox(dfd, busybox)) < 0)
        return ctl_fail("make-rootfs: copy %s: %s", busybox, strerror(-r));
    for (size_t i = 0; i < ARRAY_SIZE(APPLETS); i++) {
        cleanup_free char *link = xasprintf("bin/%s", APPLETS[i]);
        if (symlinkat("busybox", dfd, link) < 0 && errno != EEXIST)
            return ctl_fail("make-rootfs: symlink %s/%s: %s", dir, link, strerror(errno));
    }
    if ((r = write_in(dfd, "etc/passwd", PASSWD, sizeof(PASSWD) - 1, 0644)) < 0 ||
        (r = write_in(dfd, "etc/group", GROUP, sizeof(GROUP) - 1, 0644)) < 0)
        return ctl_fail("make-rootfs: write %s/etc: %s", dir, strerror(-r));
    static const char *const empty[] = {"etc/hostname", "etc/hosts", "etc/resolv.conf"};
    for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
        if ((r = write_in(dfd, empty[i], "", 0, 0644)) < 0)
            return ctl_fail("make-rootfs: write %s/%s: %s", dir, empty[i], strerror(-r));
    }
    return CTL_OK;
}
