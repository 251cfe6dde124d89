/* bench/pods — what gcs adds to creating and deleting pods with runc.
 *
 * For each N (default 10 and 200), a fresh gcs in a private mount namespace
 * (so its peak RSS is its own for that N):
 *   through gcs: create N pods (sandbox, then one workload each), read the
 *                agent's VmRSS/VmHWM with all N alive, delete them all
 *                (workload, then sandbox);
 *   direct:      the same runtime calls gcs makes (runc --root R --log
 *                B/runc.log --log-format json create --bundle B --pid-file P
 *                ID, later delete ID), on bundles prepared here with an
 *                equivalent config.json, timed as a whole.
 * The agent's own time is the end-to-end time minus what it spent inside
 * runtime invocations, from DumpStacks' "runtime: runc invocations=N
 * in_flight=N total_ms=X" line read before and after. Nothing is asserted:
 * the machine is shared.
 *
 * usage: pods [GCS_BINARY] [N...]
 */
#include "bridge/bridge.h"
#include "bridge/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define RPC(n) (0x10100001u | ((uint32_t)(n) << 8))
#define RPC_CREATE RPC(1)
#define RPC_NEGOTIATE RPC(11)
#define RPC_DUMP_STACKS RPC(12)
#define RPC_DELETE RPC(13)

static const char *const APPLETS[] = {"sh", "sleep"};

/* A spec like gcsctl's: hcsshim's default Linux spec, trimmed. */
static const char SPEC[] =
    "{\"ociVersion\":\"1.0.1\","
    "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
    "\"args\":[\"/bin/sh\",\"-c\",\"while :; do sleep 3600; done\"],"
    "\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"cwd\":\"/\","
    "\"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"]}},"
    "\"root\":{\"path\":\"\",\"readonly\":true},"
    "\"mounts\":["
    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\",\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"mode=755\"]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\",\"options\":[\"nosuid\",\"nodev\"]},"
    "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\",\"options\":[\"nosuid\",\"noexec\",\"ro\"]}],"
    "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]}}";

static char g_dir[64];
static char g_rootfs[128];
static pid_t g_gcs = -1;

static void die(const char *fmt, ...) PRINTF(1, 2);

/* ---- a synchronous bridge peer ---- */

typedef struct peer {
    int fd;
    frame_reader rd;
    uint64_t next_id;
} peer;

static json_t *call(peer *p, uint32_t type, json_t *req)
{
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    uint64_t id = p->next_id++;
    size_t flen;
    char *f = bridge_encode_frame(type, id, body, strlen(body), &flen);
    free(body);
    if (write_all(p->fd, f, flen) < 0)
        die("write to gcs: %s", strerror(errno));
    free(f);
    static uint8_t buf[1 << 16];
    static size_t have, off;
    for (;;) {
        if (off == have) {
            ssize_t n = read(p->fd, buf, sizeof(buf));
            if (n <= 0)
                die("gcs closed the bridge");
            have = (size_t)n;
            off = 0;
        }
        bool done;
        frame_hdr h;
        char *pl;
        size_t plen;
        long u = frame_reader_feed(&p->rd, buf + off, have - off, &done, &h, &pl, &plen);
        if (u < 0)
            die("bad frame from gcs");
        off += (size_t)u;
        if (!done)
            continue;
        json_t *doc = json_loadb(pl, plen, 0, NULL);
        free(pl);
        if ((h.type >> 28) == 2 && h.id == id)
            return doc;
        json_decref(doc); /* a notification */
    }
}

static json_t *envelope(const char *cid)
{
    return json_pack("{s:s,s:s}", "ContainerId", cid, "ActivityId", "00000000-0000-0000-0000-000000000000");
}

static int result_of(json_t *resp, const char *what)
{
    json_int_t r = json_integer_value(json_object_get(resp, "Result"));
    if (r != 0)
        fprintf(stderr, "pods: %s: %s (0x%08x)\n", what, json_string_value(json_object_get(resp, "ErrorMessage")),
                (uint32_t)r);
    json_decref(resp);
    return r == 0 ? 0 : -1;
}

/* ---- specs ---- */

static json_t *pod_spec(const char *sid, bool sandbox, int n)
{
    json_t *s = json_loads(SPEC, 0, NULL);
    json_object_set_new(json_object_get(s, "root"), "path", json_string(g_rootfs));
    json_t *ann = json_pack("{s:s,s:s}", "io.kubernetes.cri.container-type", sandbox ? "sandbox" : "container",
                            "io.kubernetes.cri.sandbox-id", sid);
    if (sandbox) {
        json_object_set_new(ann, "io.microsoft.cri.skip-pod-networking", json_string("true"));
        char ns[64];
        snprintf(ns, sizeof(ns), "00000000-0000-4000-8000-%012d", n);
        json_object_set_new(s, "windows",
                            json_pack("{s:n,s:{s:s}}", "layerFolders", "network", "networkNamespace", ns));
        json_object_set_new(s, "hostname", json_string("pod"));
    }
    json_object_set_new(s, "annotations", ann);
    return s;
}

static int gcs_create(peer *p, const char *cid, json_t *spec)
{
    char bundle[128];
    snprintf(bundle, sizeof(bundle), "/run/gcs/c/%s", cid);
    json_t *doc = json_pack("{s:{s:i,s:i},s:s,s:o,s:s}", "SchemaVersion", "Major", 2, "Minor", 1, "OciBundlePath",
                            bundle, "OciSpecification", spec, "ScratchDirPath", "");
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_t *req = envelope(cid);
    json_object_set_new(req, "ContainerConfig", json_string(text));
    free(text);
    char what[128];
    snprintf(what, sizeof(what), "create %s", cid);
    return result_of(call(p, RPC_CREATE, req), what);
}

static int gcs_delete(peer *p, const char *cid)
{
    char what[128];
    snprintf(what, sizeof(what), "delete %s", cid);
    return result_of(call(p, RPC_DELETE, envelope(cid)), what);
}

/* The agent's runtime counters from DumpStacks. */
static void gcs_runtime_stats(peer *p, unsigned long long *count, double *ms)
{
    json_t *resp = call(p, RPC_DUMP_STACKS, envelope("00000000-0000-0000-0000-000000000000"));
    const char *t = json_string_value(json_object_get(resp, "GuestStacks"));
    const char *l = t ? strstr(t, "runtime: ") : NULL;
    size_t inflight;
    if (!l || sscanf(l, "runtime: %*s invocations=%llu in_flight=%zu total_ms=%lf", count, &inflight, ms) != 3)
        die("no runtime line in DumpStacks");
    json_decref(resp);
}

static void proc_mem(pid_t pid, long *rss_kb, long *hwm_kb)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    *rss_kb = *hwm_kb = -1;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "VmRSS: %ld", rss_kb);
        sscanf(line, "VmHWM: %ld", hwm_kb);
    }
    fclose(f);
}

/* ---- processes ---- */

static int run_quiet(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void stop_gcs(void)
{
    if (g_gcs > 0) {
        kill(g_gcs, SIGTERM);
        waitpid(g_gcs, NULL, 0);
        g_gcs = -1;
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pods: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    stop_gcs();
    if (g_dir[0])
        rm_rf(g_dir);
    exit(1);
}

static int accept_one(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1)
        die("gcs did not dial in");
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static peer start_gcs(const char *gcs)
{
    char host[96], sock[128], rt[96], tr[128];
    snprintf(host, sizeof(host), "%s/host", g_dir);
    snprintf(sock, sizeof(sock), "%s/%u", host, GCS_BRIDGE_PORT);
    snprintf(rt, sizeof(rt), "%s/rt", g_dir);
    snprintf(tr, sizeof(tr), "unix:%s", host);
    mkdir(host, 0700);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof(sa.sun_path))
        die("socket path %s too long", sock);
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    unlink(sock);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
        die("listen %s: %s", sock, strerror(errno));
    g_gcs = fork();
    if (g_gcs == 0) {
        execlp("unshare", "unshare", "--mount", "--propagation", "private", gcs, "-v4", "-loglevel", "info",
               "-logfile", "/dev/null", "-transport", tr, "-runtime", "runc", "-runtime-root", rt, (char *)NULL);
        _exit(127);
    }
    peer p = {.fd = accept_one(lfd)};
    close(lfd);
    unlink(sock);
    frame_reader_init(&p.rd, 1 << 24);
    json_t *neg = envelope("");
    json_object_set_new(neg, "MinimumVersion", json_integer(4));
    json_object_set_new(neg, "MaximumVersion", json_integer(4));
    if (result_of(call(&p, RPC_NEGOTIATE, neg), "negotiate") < 0)
        die("negotiation failed");
    return p;
}

/* ---- the direct baseline ---- */

/* A config.json like the one gcs writes: the same spec, a pod cgroup, and
 * the sandbox's hostname/hosts/resolv.conf bound read-only. */
static void direct_bundle(const char *bundle, const char *sid, const char *cid, bool sandbox, int n)
{
    char path[256];
    mkdir(bundle, 0755);
    json_t *s = pod_spec(sid, sandbox, n);
    json_object_del(s, "windows");
    char cg[128];
    snprintf(cg, sizeof(cg), "/gcs-bench-%d/%s/%s", (int)getpid(), sid, cid);
    json_object_set_new(json_object_get(s, "linux"), "cgroupsPath", json_string(cg));
    static const char *const files[] = {"hostname", "hosts", "resolv.conf"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        snprintf(path, sizeof(path), "%s/direct/%s/%s", g_dir, sid, files[i]);
        if (sandbox)
            write_file(path, "pod\n", 4, 0644);
        char dst[64];
        snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
        json_array_append_new(json_object_get(s, "mounts"),
                              json_pack("{s:s,s:s,s:s,s:[ss]}", "destination", dst, "type", "bind", "source", path,
                                        "options", "bind", "ro"));
    }
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    if (json_dump_file(s, path, JSON_COMPACT) < 0)
        die("write %s", path);
    json_decref(s);
}

static int direct_create(const char *cid, const char *bundle)
{
    char root[96], log[256], pidf[256];
    snprintf(root, sizeof(root), "%s/rt2", g_dir);
    snprintf(log, sizeof(log), "%s/runc.log", bundle);
    snprintf(pidf, sizeof(pidf), "%s/init.pid", bundle);
    char *const argv[] = {"runc", "--root", root, "--log", log, "--log-format", "json", "create", "--bundle",
                          (char *)bundle, "--pid-file", pidf, (char *)cid, NULL};
    return run_quiet(argv);
}

static int direct_delete(const char *cid, const char *bundle, bool force)
{
    char root[96], log[256];
    snprintf(root, sizeof(root), "%s/rt2", g_dir);
    snprintf(log, sizeof(log), "%s/runc.log", bundle);
    char *argv[12] = {"runc", "--root", root, "--log", log, "--log-format", "json", "delete"};
    size_t n = 8;
    if (force)
        argv[n++] = "--force";
    argv[n++] = (char *)cid;
    argv[n] = NULL;
    return run_quiet(argv);
}

/* runc leaves the parents of its cgroups: /gcs-bench-<pid>/<sid> in every hierarchy. */
static void rm_cgroups(void)
{
    cleanup_dir DIR *d = opendir("/sys/fs/cgroup");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        cleanup_free char *top = xasprintf("/sys/fs/cgroup/%s/gcs-bench-%d", e->d_name, (int)getpid());
        cleanup_dir DIR *sub = opendir(top);
        struct dirent *s;
        while (sub && (s = readdir(sub)) != NULL) {
            if (s->d_type != DT_DIR || s->d_name[0] == '.')
                continue;
            cleanup_free char *p = xasprintf("%s/%s", top, s->d_name);
            rmdir(p);
        }
        rmdir(top);
    }
}

/* ---- one round ---- */

typedef struct round_result {
    int n, done;
    double gcs_ms, rt_ms, direct_ms;
    unsigned long long invocations;
    long rss_idle_kb, rss_kb, hwm_kb, rss_after_kb;
} round_result;

static void id_of(char *buf, size_t len, char kind, int i)
{
    snprintf(buf, len, "bp%d%c%04d", (int)getpid(), kind, i);
}

static round_result run_round(const char *gcs, int n)
{
    round_result r = {.n = n};
    peer p = start_gcs(gcs);
    long hwm0;
    proc_mem(g_gcs, &r.rss_idle_kb, &hwm0);
    bool *sb_ok = xzalloc(sizeof(bool) * (size_t)n), *wl_ok = xzalloc(sizeof(bool) * (size_t)n);
    char sid[64], wid[64];
    unsigned long long c0, c1;
    double ms0, ms1;

    gcs_runtime_stats(&p, &c0, &ms0);
    uint64_t t0 = now_ns();
    int made = 0;
    for (int i = 0; i < n; i++) {
        id_of(sid, sizeof(sid), 's', i);
        id_of(wid, sizeof(wid), 'w', i);
        if (!(sb_ok[i] = gcs_create(&p, sid, pod_spec(sid, true, i)) == 0))
            break;
        if (!(wl_ok[i] = gcs_create(&p, wid, pod_spec(sid, false, i)) == 0))
            break;
        made++;
    }
    uint64_t t1 = now_ns();
    proc_mem(g_gcs, &r.rss_kb, &r.hwm_kb);
    uint64_t t2 = now_ns();
    for (int i = 0; i < n; i++) {
        id_of(sid, sizeof(sid), 's', i);
        id_of(wid, sizeof(wid), 'w', i);
        if (wl_ok[i])
            gcs_delete(&p, wid);
        if (sb_ok[i])
            gcs_delete(&p, sid);
    }
    uint64_t t3 = now_ns();
    gcs_runtime_stats(&p, &c1, &ms1);
    long hwm_after;
    proc_mem(g_gcs, &r.rss_after_kb, &hwm_after);
    close(p.fd);
    frame_reader_reset(&p.rd);
    stop_gcs();
    r.done = made;
    r.gcs_ms = (double)((t1 - t0) + (t3 - t2)) / 1e6;
    r.rt_ms = ms1 - ms0;
    r.invocations = c1 - c0;

    /* the same runtime calls, made directly */
    memset(sb_ok, 0, sizeof(bool) * (size_t)n);
    memset(wl_ok, 0, sizeof(bool) * (size_t)n);
    char bs[256], bw[256];
    snprintf(bs, sizeof(bs), "%s/direct", g_dir);
    mkdir(bs, 0755);
    for (int i = 0; i < made; i++) {
        id_of(sid, sizeof(sid), 's', i);
        id_of(wid, sizeof(wid), 'w', i);
        snprintf(bs, sizeof(bs), "%s/direct/%s", g_dir, sid);
        snprintf(bw, sizeof(bw), "%s/direct/%s", g_dir, wid);
        direct_bundle(bs, sid, sid, true, i);
        direct_bundle(bw, sid, wid, false, i);
    }
    double direct_ns = 0;
    int dmade = 0;
    for (int i = 0; i < made; i++) {
        id_of(sid, sizeof(sid), 's', i);
        id_of(wid, sizeof(wid), 'w', i);
        snprintf(bs, sizeof(bs), "%s/direct/%s", g_dir, sid);
        snprintf(bw, sizeof(bw), "%s/direct/%s", g_dir, wid);
        uint64_t a = now_ns();
        sb_ok[i] = direct_create(sid, bs) == 0;
        wl_ok[i] = sb_ok[i] && direct_create(wid, bw) == 0;
        direct_ns += (double)(now_ns() - a);
        if (!wl_ok[i]) {
            fprintf(stderr, "pods: direct runc create failed for pod %d\n", i);
            break;
        }
        dmade++;
    }
    for (int i = 0; i < made; i++) {
        id_of(sid, sizeof(sid), 's', i);
        id_of(wid, sizeof(wid), 'w', i);
        snprintf(bs, sizeof(bs), "%s/direct/%s", g_dir, sid);
        snprintf(bw, sizeof(bw), "%s/direct/%s", g_dir, wid);
        uint64_t a = now_ns();
        if (wl_ok[i] && direct_delete(wid, bw, false) < 0)
            direct_delete(wid, bw, true);
        if (sb_ok[i] && direct_delete(sid, bs, false) < 0)
            direct_delete(sid, bs, true);
        direct_ns += (double)(now_ns() - a);
    }
    rm_cgroups();
    char d[128];
    snprintf(d, sizeof(d), "%s/direct", g_dir);
    rm_rf(d);
    r.direct_ms = dmade == made ? direct_ns / 1e6 : -1;
    free(sb_ok);
    free(wl_ok);
    return r;
}

static void make_rootfs(void)
{
    char p[256];
    snprintf(g_rootfs, sizeof(g_rootfs), "%s/rootfs", g_dir);
    static const char *const dirs[] = {"", "/bin", "/etc", "/proc", "/sys", "/dev", "/tmp"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        snprintf(p, sizeof(p), "%s%s", g_rootfs, dirs[i]);
        mkdir(p, 0755);
    }
    cleanup_free char *bb = NULL;
    size_t len;
    if (read_file("/bin/busybox", &bb, &len) < 0)
        die("read /bin/busybox");
    snprintf(p, sizeof(p), "%s/bin/busybox", g_rootfs);
    if (write_file(p, bb, len, 0755) < 0)
        die("write %s", p);
    for (size_t i = 0; i < ARRAY_SIZE(APPLETS); i++) {
        snprintf(p, sizeof(p), "%s/bin/%s", g_rootfs, APPLETS[i]);
        symlink("busybox", p);
    }
    static const char *const etc[] = {"hostname", "hosts", "resolv.conf", "passwd", "group"};
    for (size_t i = 0; i < ARRAY_SIZE(etc); i++) {
        snprintf(p, sizeof(p), "%s/etc/%s", g_rootfs, etc[i]);
        const char *c = streq(etc[i], "passwd") ? "root:x:0:0:root:/:/bin/sh\n"
                        : streq(etc[i], "group") ? "root:x:0:\n"
                                                  : "";
        write_file(p, c, strlen(c), 0644);
    }
}

int main(int argc, char **argv)
{
    const char *gcs = argc > 1 ? argv[1] : "build/gcs";
    int ns[8] = {10, 200}, nn = 2;
    if (argc > 2) {
        nn = 0;
        for (int i = 2; i < argc && nn < 8; i++)
            ns[nn++] = atoi(argv[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_dir, sizeof(g_dir), "/tmp/gcs-bench-pods.XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    char rt2[96];
    snprintf(rt2, sizeof(rt2), "%s/rt2", g_dir);
    mkdir(rt2, 0700);
    make_rootfs();

    round_result rs[8];
    run_round(gcs, 3); /* warm-up: page cache, runc binary, cgroup code paths */
    for (int i = 0; i < nn; i++)
        rs[i] = run_round(gcs, ns[i]);
    rm_rf(g_dir);

    printf("bench/pods: create then delete N pods (sandbox + 1 workload each) with runc, through gcs vs direct\n");
    printf("  %5s %5s %12s %12s %12s %12s %8s %10s %10s %10s %10s\n", "N", "done", "e2e/pod", "direct/pod",
           "runtime/pod", "agent/pod", "e2e/dir", "rss idle", "rss N", "hwm N", "rss after");
    for (int i = 0; i < nn; i++) {
        round_result *r = &rs[i];
        int d = r->done ? r->done : 1;
        printf("  %5d %5d %9.2f ms %9.2f ms %9.2f ms %9.3f ms %8.3f %6ld KiB %6ld KiB %6ld KiB %6ld KiB\n", r->n,
               r->done, r->gcs_ms / d, r->direct_ms / d, r->rt_ms / d, (r->gcs_ms - r->rt_ms) / d,
               r->direct_ms > 0 ? r->gcs_ms / r->direct_ms : 0.0, r->rss_idle_kb, r->rss_kb, r->hwm_kb,
               r->rss_after_kb);
        printf("        runtime invocations through gcs: %llu (%.1f per pod)\n", r->invocations,
               (double)r->invocations / d);
    }
    if (nn >= 2) {
        round_result *a = &rs[0], *b = &rs[nn - 1];
        double aa = (a->gcs_ms - a->rt_ms) / (a->done ? a->done : 1);
        double bb = (b->gcs_ms - b->rt_ms) / (b->done ? b->done : 1);
        printf("  agent time per pod N=%d / N=%d: %.2f   (goal <= 1.2)\n", b->n, a->n, aa > 0 ? bb / aa : 0.0);
        printf("  agent RSS with %d pods: %.2f MiB (VmHWM %.2f MiB)   (goal <= 4 MiB)\n", b->n,
               (double)b->rss_kb / 1024, (double)b->hwm_kb / 1024);
        printf("  end-to-end / direct at N=%d: %.3f   (goal <= 1.1)\n", b->n,
               b->direct_ms > 0 ? b->gcs_ms / b->direct_ms : 0.0);
    }
    return 0;
}
