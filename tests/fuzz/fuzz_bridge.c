/* libFuzzer: the whole bridge. The input is the byte stream a host sends on
 * the bridge (prefixed by a valid NegotiateProtocol so handlers are reached);
 * the agent's event loop runs until the stream ends. Every frame the agent
 * sends back must be a response or notification of at most 64 KiB. */
#include "bridge/bridge.h"
#include "bridge/frame.h"
#include "host/host.h"

#include <assert.h>
#include <signal.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool gone;
static void on_gone(void *ctx)
{
    (void)ctx;
    gone = true;
}

static void check_output(int fd, frame_reader *r)
{
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        size_t off = 0;
        while (off < (size_t)n) {
            bool done;
            frame_hdr h;
            char *p;
            size_t pl;
            long used = frame_reader_feed(r, buf + off, (size_t)n - off, &done, &h, &p, &pl);
            assert(used >= 0); /* never a frame over 64 KiB or under 16 bytes */
            off += (size_t)used;
            if (done) {
                assert((h.type >> 28) == 2 || (h.type >> 28) == 3);
                json_t *doc = json_loadb(p, pl, 0, NULL);
                assert(doc && json_is_integer(json_object_get(doc, "Result")));
                json_decref(doc);
                free(p);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char neg[] = "{\"ContainerId\":\"\",\"ActivityId\":\"00000000-0000-0000-0000-000000000000\","
                              "\"MinimumVersion\":4,\"MaximumVersion\":4}";
    signal(SIGPIPE, SIG_IGN);
    int in[2], out[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) < 0)
        abort();
    set_nonblock(out[1], true);
    size_t flen;
    char *f = bridge_encode_frame(0x10100b01, 0, neg, sizeof(neg) - 1, &flen);
    loop *l = loop_new();
    gcs_config cfg;
    gcs_config_defaults(&cfg);
    transport t = {0};
    bridge_config bc = {.transport = &t, .use_stdio = true, .in_fd = in[0], .out_fd = out[0], .v4 = true,
                        .max_in_frame = 1 << 20, .caps = {true, true, true, true}};
    bridge *b = bridge_new(l, &bc);
    gone = false;
    bridge_set_on_gone(b, on_gone, NULL);
    host *h = host_new(l, &cfg, &t);
    host_register_handlers(h, b);
    bridge_start(b);
    frame_reader rd;
    frame_reader_init(&rd, 65536);
    /* write the stream in pieces, letting the loop run in between */
    size_t off = 0;
    write_all(in[1], f, flen);
    while (off < size) {
        size_t n = size - off < 4096 ? size - off : 4096;
        if (write(in[1], data + off, n) < 0)
            break;
        off += n;
        loop_run_once(l, 0);
        check_output(out[1], &rd);
    }
    shutdown(in[1], SHUT_WR);
    for (int i = 0; i < 1000 && !gone; i++) {
        loop_run_once(l, 10);
        check_output(out[1], &rd);
    }
    bridge_free(b);
    host_free(h);
    loop_free(l);
    frame_reader_reset(&rd);
    free(f);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    return 0;
}
