/* bench/bridge — what gcs's bridge adds to a request's round trip.
 *
 * Both peers dial the same unix socket the same way: first a raw echo (a
 * forked child that reads frames and writes each one straight back), then
 * the real gcs. The host side sends Start requests (a no-op that succeeds,
 * docs/protocol.md §4.2) and measures:
 *   latency:    N sequential round trips, median and p99
 *   throughput: M requests pipelined (writes and reads interleaved)
 * and prints the ratios gcs/echo. Nothing is asserted: machines are noisy.
 *
 * usage: bridge [GCS_BINARY] [N] [M]
 */
#include "bridge/bridge.h"
#include "bridge/frame.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static const char REQ[] = "{\"ContainerId\":\"5e3c3b1d9f0a4c2e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d\","
                          "\"ActivityId\":\"00000000-0000-0000-0000-000000000000\"}\n";

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

static int accept_one(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1) {
        fprintf(stderr, "nobody dialed in\n");
        exit(1);
    }
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* The baseline peer: echo every frame back, as fast as a peer can. */
static void echo_child(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        _exit(1);
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            _exit(0);
        if (write_all(fd, buf, (size_t)n) < 0)
            _exit(0);
    }
}

typedef struct {
    int fd;
    frame_reader rd;
    size_t surplus; /* frames already read beyond what a caller asked for */
} peer;

static void read_frames(peer *p, size_t want)
{
    static uint8_t buf[1 << 16];
    size_t got = p->surplus < want ? p->surplus : want;
    p->surplus -= got;
    while (got < want) {
        ssize_t n = read(p->fd, buf, sizeof(buf));
        if (n <= 0) {
            fprintf(stderr, "peer closed\n");
            exit(1);
        }
        size_t off = 0;
        while (off < (size_t)n) {
            bool done;
            frame_hdr h;
            char *pl;
            size_t plen;
            long u = frame_reader_feed(&p->rd, buf + off, (size_t)n - off, &done, &h, &pl, &plen);
            if (u < 0)
                exit(1);
            off += (size_t)u;
            if (done) {
                free(pl);
                if (got < want)
                    got++;
                else
                    p->surplus++;
            }
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double median_us, p99_us, rps;
} result;

static result measure(peer *p, int n, int m)
{
    result r;
    size_t flen;
    char *f = bridge_encode_frame(0x10100201, 1, REQ, sizeof(REQ) - 1, &flen);
    uint64_t *lat = xmalloc(sizeof(uint64_t) * (size_t)n);
    for (int i = 0; i < n + 200; i++) {
        uint64_t t0 = now_ns();
        write_all(p->fd, f, flen);
        read_frames(p, 1);
        if (i >= 200)
            lat[i - 200] = now_ns() - t0;
    }
    qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
    r.median_us = (double)lat[n / 2] / 1e3;
    r.p99_us = (double)lat[(size_t)n * 99 / 100] / 1e3;
    free(lat);

    /* pipelined: keep up to 256 requests in flight */
    size_t batch = 64;
    char *blob = xmalloc(flen * batch);
    for (size_t i = 0; i < batch; i++)
        memcpy(blob + i * flen, f, flen);
    uint64_t t0 = now_ns();
    int sent = 0, done = 0;
    while (done < m) {
        while (sent < m && sent - done < 256) {
            write_all(p->fd, blob, flen * batch);
            sent += (int)batch;
        }
        read_frames(p, batch);
        done += (int)batch;
    }
    r.rps = (double)m / ((double)(now_ns() - t0) / 1e9);
    free(blob);
    free(f);
    return r;
}

int main(int argc, char **argv)
{
    const char *gcs = argc > 1 ? argv[1] : "build/gcs";
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    int m = argc > 3 ? atoi(argv[3]) : 200000;
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/gcs-bench-bridge.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    cleanup_free char *path = xasprintf("%s/%u", dir, GCS_BRIDGE_PORT);
    int lfd = listen_unix(path);

    /* baseline: raw echo over the same socket type */
    pid_t echo = fork();
    if (echo == 0)
        echo_child(path);
    peer e = {.fd = accept_one(lfd)};
    frame_reader_init(&e.rd, 1 << 20);
    result base = measure(&e, n, m);
    close(e.fd);
    waitpid(echo, NULL, 0);
    frame_reader_reset(&e.rd);

    /* gcs */
    cleanup_free char *tr = xasprintf("unix:%s", dir);
    pid_t g = fork();
    if (g == 0) {
        execl(gcs, gcs, "-v4", "-loglevel", "info", "-logfile", "/dev/null", "-transport", tr, (char *)NULL);
        _exit(127);
    }
    peer p = {.fd = accept_one(lfd)};
    frame_reader_init(&p.rd, 1 << 20);
    static const char neg[] = "{\"ContainerId\":\"\",\"ActivityId\":\"00000000-0000-0000-0000-000000000000\","
                              "\"MinimumVersion\":4,\"MaximumVersion\":4}\n";
    size_t flen;
    char *f = bridge_encode_frame(0x10100b01, 0, neg, sizeof(neg) - 1, &flen);
    write_all(p.fd, f, flen);
    free(f);
    read_frames(&p, 1);
    result gr = measure(&p, n, m);
    close(p.fd);
    kill(g, SIGTERM);
    waitpid(g, NULL, 0);
    frame_reader_reset(&p.rd);
    close(lfd);
    unlink(path);
    rmdir(dir);

    printf("bench/bridge: %d sequential round trips, %d pipelined requests (Start, %zu-byte frames)\n", n, m,
           sizeof(REQ) - 1 + 16);
    printf("  %-10s median %8.1f us   p99 %8.1f us   pipelined %10.0f req/s\n", "raw echo", base.median_us,
           base.p99_us, base.rps);
    printf("  %-10s median %8.1f us   p99 %8.1f us   pipelined %10.0f req/s\n", "gcs", gr.median_us, gr.p99_us,
           gr.rps);
    printf("  latency ratio gcs/echo (median): %.2f   (goal <= 1.3)\n", gr.median_us / base.median_us);
    printf("  throughput gcs: %.0f req/s   (goal >= 100000)\n", gr.rps);
    return 0;
}
