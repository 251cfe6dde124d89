/* libFuzzer: the frame reader fed the input in chunks whose sizes come from
 * the input itself; every frame it yields must match its header. */
#include "bridge/frame.h"
#include "common/util.h"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t chunk = 1 + data[0] % 64;
    frame_reader r;
    frame_reader_init(&r, 1 << 16);
    size_t off = 1;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t sub = 0;
        while (sub < n) {
            bool done;
            frame_hdr h;
            char *p = NULL;
            size_t pl = 0;
            long used = frame_reader_feed(&r, data + off + sub, n - sub, &done, &h, &p, &pl);
            if (used < 0)
                goto out;
            assert(used > 0 || n - sub == 0);
            sub += (size_t)used;
            if (done) {
                assert(pl + 16 == h.size && h.size >= 16 && h.size <= (1 << 16));
                free(p);
            }
        }
        off += n;
    }
out:
    frame_reader_reset(&r);
    return 0;
}
