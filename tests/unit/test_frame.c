/* Frame header codec, type composition, the incremental reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/frame.h"
#include "bridge/proto.h"
#include "common/util.h"

#include <errno.h>

/* docs/protocol.md §8: NegotiateProtocol request header, ID 0, size 125 */
static void test_header_bytes_8_1(void **state)
{
    (void)state;
    frame_hdr h = {.type = 0x10100b01, .size = 125, .id = 0};
    uint8_t out[16];
    frame_hdr_encode(&h, out);
    const uint8_t want[16] = {0x01, 0x0b, 0x10, 0x10, 0x7d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(out, want, 16);
}

/* docs/protocol.md §8: WaitForProcess request, ID 7, size 0xc0 */
static void test_header_bytes_8_3(void **state)
{
    (void)state;
    const uint8_t in[16] = {0x01, 0x06, 0x10, 0x10, 0xc0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0};
    frame_hdr h;
    frame_hdr_decode(in, &h);
    assert_int_equal(h.type, MSG_REQUEST_CODE(RPC_WAIT_FOR_PROCESS));
    assert_int_equal(h.size, 192);
    assert_int_equal(h.id, 7);
}

static void test_header_roundtrip_high_id(void **state)
{
    (void)state;
    frame_hdr h = {.type = 0x30100101, .size = 204, .id = 0x0123456789abcdefull}, g;
    uint8_t b[16];
    frame_hdr_encode(&h, b);
    assert_int_equal(b[8], 0xef);
    assert_int_equal(b[15], 0x01);
    frame_hdr_decode(b, &g);
    assert_int_equal(g.type, h.type);
    assert_int_equal(g.size, h.size);
    assert_true(g.id == h.id);
}

/* docs/protocol.md §2.5: the whole message table and the response swap rule */
static void test_type_table(void **state)
{
    (void)state;
    static const struct {
        unsigned n;
        uint32_t req, resp;
    } t[] = {
        {RPC_CREATE, 0x10100101, 0x20100101},
        {RPC_START, 0x10100201, 0x20100201},
        {RPC_SHUTDOWN_GRACEFUL, 0x10100301, 0x20100301},
        {RPC_SHUTDOWN_FORCED, 0x10100401, 0x20100401},
        {RPC_EXECUTE_PROCESS, 0x10100501, 0x20100501},
        {RPC_WAIT_FOR_PROCESS, 0x10100601, 0x20100601},
        {RPC_SIGNAL_PROCESS, 0x10100701, 0x20100701},
        {RPC_RESIZE_CONSOLE, 0x10100801, 0x20100801},
        {RPC_GET_PROPERTIES, 0x10100901, 0x20100901},
        {RPC_MODIFY_SETTINGS, 0x10100a01, 0x20100a01},
        {RPC_NEGOTIATE_PROTOCOL, 0x10100b01, 0x20100b01},
        {RPC_DUMP_STACKS, 0x10100c01, 0x20100c01},
        {RPC_DELETE_CONTAINER_STATE, 0x10100d01, 0x20100d01},
        {RPC_UPDATE_CONTAINER, 0x10100e01, 0x20100e01},
        {RPC_LIFECYCLE_NOTIFICATION, 0x10100f01, 0x20100f01},
    };
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        assert_int_equal(MSG_REQUEST_CODE(t[i].n), t[i].req);
        assert_int_equal(msg_response_code(t[i].req), t[i].resp);
        assert_int_equal(msg_rpc_of(t[i].req), t[i].n);
    }
    /* the swap rule also applies to codes we do not know */
    assert_int_equal(msg_response_code(0x10200101), 0x20200101);
    assert_int_equal(msg_response_code(0x1abcdef7), 0x2abcdef7);
    assert_int_equal(MSG_NOTIFY_CONTAINER, 0x30100101);
    /* not ComputeSystem v1 requests */
    assert_int_equal(msg_rpc_of(0x10200101), 0);
    assert_int_equal(msg_rpc_of(0x20100101), 0);
    assert_int_equal(msg_rpc_of(0x10100102), 0);
    assert_int_equal(msg_rpc_of(0x10101001), 0);
    assert_int_equal(msg_rpc_of(0x10100001), 0);
}

static void feed_frame(frame_reader *r, const uint8_t *buf, size_t len, size_t chunk, int *frames, char **last)
{
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t sub = 0;
        while (sub < n) {
            bool done;
            frame_hdr h;
            char *p;
            size_t pl;
            long used = frame_reader_feed(r, buf + off + sub, n - sub, &done, &h, &p, &pl);
            assert_true(used >= 0);
            sub += (size_t)used;
            if (done) {
                (*frames)++;
                assert_int_equal(pl, h.size - 16);
                assert_int_equal(p[pl], '\0');
                free(*last);
                *last = p;
            }
        }
        off += n;
    }
}

static void test_reader_chunking(void **state)
{
    (void)state;
    /* three frames back to back, fed in every chunk size from 1 to 40 */
    uint8_t stream[3 * (16 + 5)];
    for (int i = 0; i < 3; i++) {
        frame_hdr h = {.type = 0x10100601, .size = 21, .id = (uint64_t)i};
        frame_hdr_encode(&h, stream + i * 21);
        memcpy(stream + i * 21 + 16, "{\"a\":", 5);
        stream[i * 21 + 16 + 4] = (uint8_t)('0' + i);
    }
    for (size_t chunk = 1; chunk <= 40; chunk++) {
        frame_reader r;
        frame_reader_init(&r, 1024);
        int frames = 0;
        char *last = NULL;
        feed_frame(&r, stream, sizeof(stream), chunk, &frames, &last);
        assert_int_equal(frames, 3);
        assert_string_equal(last, "{\"a\"2");
        free(last);
        frame_reader_reset(&r);
    }
}

static void test_reader_empty_payload(void **state)
{
    (void)state;
    frame_reader r;
    frame_reader_init(&r, 1024);
    uint8_t b[16];
    frame_hdr h = {.type = 1, .size = 16, .id = 9};
    frame_hdr_encode(&h, b);
    bool done;
    frame_hdr got;
    char *p = NULL;
    size_t pl = 99;
    long used = frame_reader_feed(&r, b, 16, &done, &got, &p, &pl);
    assert_int_equal(used, 16);
    assert_true(done);
    assert_int_equal(pl, 0);
    assert_string_equal(p, "");
    free(p);
    frame_reader_reset(&r);
}

static void test_reader_bad_sizes(void **state)
{
    (void)state;
    const uint32_t bad[] = {0, 1, 15, 1025, 0xffffffffu};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        frame_reader r;
        frame_reader_init(&r, 1024);
        uint8_t b[16];
        frame_hdr h = {.type = 0x10100b01, .size = bad[i], .id = 0};
        frame_hdr_encode(&h, b);
        bool done;
        frame_hdr got;
        char *p;
        size_t pl;
        assert_int_equal(frame_reader_feed(&r, b, 16, &done, &got, &p, &pl), -EPROTO);
        assert_false(done);
        /* the reader stays failed: the caller must drop the connection */
        assert_int_equal(frame_reader_feed(&r, b, 1, &done, &got, &p, &pl), -EPROTO);
        frame_reader_reset(&r);
    }
    /* exactly the cap is fine */
    frame_reader r;
    frame_reader_init(&r, 1024);
    uint8_t b[16];
    frame_hdr h = {.type = 1, .size = 1024, .id = 0};
    frame_hdr_encode(&h, b);
    bool done;
    frame_hdr got;
    char *p;
    size_t pl;
    assert_int_equal(frame_reader_feed(&r, b, 16, &done, &got, &p, &pl), 16);
    frame_reader_reset(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_bytes_8_1),     cmocka_unit_test(test_header_bytes_8_3),
        cmocka_unit_test(test_header_roundtrip_high_id), cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_reader_chunking),      cmocka_unit_test(test_reader_empty_payload),
        cmocka_unit_test(test_reader_bad_sizes),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
