/* libFuzzer: the /dev/kmsg record parser (kmsg/kmsg.h). Input: one record,
 * bytes as they are (not NUL-terminated for the parser). Asserts: a parsed
 * record has a priority 0..7, its text lies within the record, holds no
 * newline and has no surrounding white space, and the flags are
 * NUL-terminated. */
#include "kmsg/kmsg.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *rec = xmalloc(size ? size : 1); /* exact size: ASan catches a read past the end */
    memcpy(rec, data, size);
    kmsg_entry e;
    if (kmsg_parse(rec, size, &e) == 0) {
        FUZZ_CHECK(e.priority <= 7, "priority %u", e.priority);
        FUZZ_CHECK(e.msg >= rec && e.msg + e.msg_len <= rec + size, "text outside the record");
        FUZZ_CHECK(!memchr(e.msg, '\n', e.msg_len), "newline in the text");
        FUZZ_CHECK(e.msg_len == 0 || (e.msg[0] != ' ' && e.msg[e.msg_len - 1] != ' '), "untrimmed text");
        FUZZ_CHECK(memchr(e.flags, '\0', sizeof(e.flags)) != NULL, "flags not terminated");
        FUZZ_CHECK(memchr(rec, ';', size) != NULL, "parsed without a ';'");
    }
    free(rec);
    return 0;
}
