/* frame.h — the 16-byte little-endian header and an incremental reader.
 *
 * The reader is fed arbitrary chunks of the byte stream and yields whole
 * frames. A Size below 16 or above the cap is a protocol error: the caller
 * must drop the connection (docs/protocol.md §2.3). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct frame_hdr {
    uint32_t type;
    uint32_t size; /* whole frame, header included */
    uint64_t id;
} frame_hdr;

void frame_hdr_encode(const frame_hdr *h, uint8_t out[16]);
void frame_hdr_decode(const uint8_t in[16], frame_hdr *h);

typedef struct frame_reader {
    size_t max_size;
    uint8_t hbuf[16];
    size_t hlen;
    frame_hdr hdr;
    char *payload; /* size - 16 bytes + NUL */
    size_t plen;   /* bytes of payload received */
    bool error;
} frame_reader;

void frame_reader_init(frame_reader *r, size_t max_size);
void frame_reader_reset(frame_reader *r);

/* Consume up to len bytes. Returns the number consumed (>= 0), or -EPROTO
 * on a bad Size. When a frame completes, *done is set, ret_hdr is filled and
 * *ret_payload receives the NUL-terminated payload (the caller frees it) and
 * *ret_len its length; consumption stops right after that frame. */
long frame_reader_feed(frame_reader *r, const uint8_t *buf, size_t len, bool *done, frame_hdr *ret_hdr,
                       char **ret_payload, size_t *ret_len);
