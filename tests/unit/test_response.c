/* Response encoding: signed Result, ActivityId echo, error records, the
 * 65536-byte cap on everything the guest sends (docs/protocol.md §2.3, §4.0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/bridge.h"
#include "bridge/frame.h"

static json_t *decode_frame(const char *f, size_t len, frame_hdr *h)
{
    frame_hdr_decode((const uint8_t *)f, h);
    assert_int_equal(h->size, len);
    json_t *doc = json_loadb(f + 16, len - 16, 0, NULL);
    assert_non_null(doc);
    return doc;
}

static void test_success_base(void **state)
{
    (void)state;
    size_t len;
    json_t *extra = json_object();
    json_object_set_new(extra, "ProcessId", json_integer(412));
    char *f = bridge_encode_response(0x10100501, 99, "00000000-0000-0000-0000-000000000000", 0, NULL, extra, &len);
    frame_hdr h;
    json_t *doc = decode_frame(f, len, &h);
    assert_int_equal(h.type, 0x20100501);
    assert_int_equal(h.id, 99);
    assert_int_equal(json_integer_value(json_object_get(doc, "Result")), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "ActivityId")), "00000000-0000-0000-0000-000000000000");
    assert_int_equal(json_integer_value(json_object_get(doc, "ProcessId")), 412);
    assert_null(json_object_get(doc, "ErrorMessage"));
    assert_null(json_object_get(doc, "ErrorRecords"));
    json_decref(doc);
    free(f);
}

static void test_error_signed_and_records(void **state)
{
    (void)state;
    size_t len;
    char *f = bridge_encode_response(0x10100601, 5, "00000000-0000-0000-0000-000000000000",
                                     HR_VMCOMPUTE_SYSTEM_NOT_FOUND, "HRESULT: 0xc037010e", NULL, &len);
    /* the reference's answer for an unknown container (docs/protocol.md §4.0), byte for byte */
    const char *want = "{\"Result\":-1070137074,\"ActivityId\":\"00000000-0000-0000-0000-000000000000\","
                       "\"ErrorMessage\":\"HRESULT: 0xc037010e\",\"ErrorRecords\":[{\"Result\":-1070137074,"
                       "\"Message\":\"HRESULT: 0xc037010e\",\"ModuleName\":\"gcs\",\"FileName\":\"\",\"Line\":4294967295}]}";
    assert_int_equal(len - 16, strlen(want));
    assert_memory_equal(f + 16, want, strlen(want));
    free(f);
}

static void test_activity_id_echo_rules(void **state)
{
    (void)state;
    size_t len;
    frame_hdr h;
    /* anything that is not a GUID is omitted: the host would fail to decode it */
    const char *bad[] = {NULL, "", "not-a-guid", "00000000-0000-0000-0000-00000000000z"};
    for (size_t i = 0; i < 4; i++) {
        char *f = bridge_encode_response(0x10100201, 1, bad[i], 0, NULL, NULL, &len);
        json_t *doc = decode_frame(f, len, &h);
        assert_null(json_object_get(doc, "ActivityId"));
        json_decref(doc);
        free(f);
    }
}

static void check_fits(const char *msg)
{
    size_t len;
    char *f = bridge_encode_response(0x10100101, 1, "00000000-0000-0000-0000-000000000000", HR_E_FAIL, msg, NULL,
                                     &len);
    frame_hdr h;
    assert_true(len <= 65536);
    json_t *doc = decode_frame(f, len, &h);
    const char *m = json_string_value(json_object_get(doc, "ErrorMessage"));
    assert_non_null(m);
    /* still a useful prefix of the original, marked as cut */
    assert_true(strlen(m) > 10000);
    assert_non_null(strstr(m, "[truncated]"));
    assert_int_equal(strncmp(m, msg, 100), 0);
    json_t *rec = json_array_get(json_object_get(doc, "ErrorRecords"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "Message")), m);
    json_decref(doc);
    free(f);
}

static void test_truncation(void **state)
{
    (void)state;
    /* plain ASCII */
    char *big = xmalloc(200001);
    memset(big, 'a', 200000);
    big[200000] = 0;
    check_fits(big);
    /* characters that expand when escaped (\u0001 is six bytes) */
    for (size_t i = 0; i < 200000; i++)
        big[i] = (i % 3) ? 'b' : '\001';
    check_fits(big);
    /* multi-byte UTF-8 must not be split into an invalid sequence */
    for (size_t i = 0; i + 3 <= 200000; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3); /* euro sign */
    big[199998] = 0;
    check_fits(big);
    free(big);
    /* exactly at the limit: nothing is cut */
    size_t len;
    char *f = bridge_encode_response(0x10100101, 1, NULL, HR_E_FAIL, "short", NULL, &len);
    f = xrealloc(f, len + 1);
    f[len] = 0;
    assert_null(strstr(f + 16, "truncated"));
    free(f);
}

static void test_oversized_success_becomes_error(void **state)
{
    (void)state;
    char *big = xmalloc(70001);
    memset(big, 'x', 70000);
    big[70000] = 0;
    json_t *extra = json_object();
    json_object_set_new(extra, "GuestStacks", json_string(big));
    size_t len;
    char *f = bridge_encode_response(0x10100c01, 3, NULL, 0, NULL, extra, &len);
    assert_true(len <= 65536);
    frame_hdr h;
    json_t *doc = decode_frame(f, len, &h);
    assert_int_equal(json_integer_value(json_object_get(doc, "Result")), HR_E_FAIL);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "ErrorMessage")), "exceeds"));
    json_decref(doc);
    free(f);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_base),
        cmocka_unit_test(test_error_signed_and_records),
        cmocka_unit_test(test_activity_id_echo_rules),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_oversized_success_becomes_error),
    };
    return cmocka_run_group_tests_name("response", tests, NULL, NULL);
}
