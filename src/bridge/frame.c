#include "bridge/frame.h"

#include "bridge/proto.h"
#include "common/util.h"

#include <errno.h>

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void frame_hdr_encode(const frame_hdr *h, uint8_t out[16])
{
    put32(out, h->type);
    put32(out + 4, h->size);
    put32(out + 8, (uint32_t)h->id);
    put32(out + 12, (uint32_t)(h->id >> 32));
}

void frame_hdr_decode(const uint8_t in[16], frame_hdr *h)
{
    h->type = get32(in);
    h->size = get32(in + 4);
    h->id = (uint64_t)get32(in + 8) | (uint64_t)get32(in + 12) << 32;
}

void frame_reader_init(frame_reader *r, size_t max_size)
{
    memset(r, 0, sizeof(*r));
    r->max_size = max_size ? max_size : MSG_MAX_IN_DEFAULT;
}

void frame_reader_reset(frame_reader *r)
{
    free(r->payload);
    frame_reader_init(r, r->max_size);
}

long frame_reader_feed(frame_reader *r, const uint8_t *buf, size_t len, bool *done, frame_hdr *ret_hdr,
                       char **ret_payload, size_t *ret_len)
{
    size_t used = 0;
    *done = false;
    if (r->error)
        return -EPROTO;
    if (r->hlen < MSG_HDR_SIZE) {
        size_t n = MSG_HDR_SIZE - r->hlen;
        if (n > len)
            n = len;
        memcpy(r->hbuf + r->hlen, buf, n);
        r->hlen += n;
        used += n;
        if (r->hlen < MSG_HDR_SIZE)
            return (long)used;
        frame_hdr_decode(r->hbuf, &r->hdr);
        if (r->hdr.size < MSG_HDR_SIZE || r->hdr.size > r->max_size) {
            r->error = true;
            return -EPROTO;
        }
        r->payload = xmalloc(r->hdr.size - MSG_HDR_SIZE + 1);
        r->plen = 0;
    }
    size_t want = r->hdr.size - MSG_HDR_SIZE - r->plen;
    size_t n = want < len - used ? want : len - used;
    memcpy(r->payload + r->plen, buf + used, n);
    r->plen += n;
    used += n;
    if (r->plen == r->hdr.size - MSG_HDR_SIZE) {
        r->payload[r->plen] = '\0';
        *done = true;
        *ret_hdr = r->hdr;
        *ret_len = r->plen;
        *ret_payload = r->payload;
        r->payload = NULL;
        r->hlen = 0;
        r->plen = 0;
    }
    return (long)used;
}
