/* Unit tests for src/kmsg: the record parser (upstream
 * internal/guest/kmsg/kmsg.go parse, with the text ending at the first
 * newline) and the reader on a pipe standing in for the device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "kmsg/kmsg.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>

static void parse_ok(const char *rec, unsigned pri, unsigned fac, uint64_t seq, uint64_t usec, const char *flags,
                     const char *msg)
{
    kmsg_entry e;
    assert_int_equal(kmsg_parse(rec, strlen(rec), &e), 0);
    assert_int_equal(e.priority, pri);
    assert_int_equal(e.facility, fac);
    assert_int_equal(e.seq, seq);
    assert_int_equal(e.usec, usec);
    assert_string_equal(e.flags, flags);
    assert_int_equal(e.msg_len, strlen(msg));
    assert_memory_equal(e.msg, msg, e.msg_len);
}

static void test_parse(void **state)
{
    (void)state;
    parse_ok("6,339,5140900,-;NET: Registered protocol family 10\n", 6, 0, 339, 5140900, "-",
             "NET: Registered protocol family 10");
    /* facility 1 (user), a continuation line of key/values is not the text */
    parse_ok("14,2227,10002283272,-;hello world  \n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:01.0\n", 6, 1, 2227,
             10002283272ull, "-", "hello world");
    /* extra prefix fields after the flags are ignored; ';' in the text stays */
    parse_ok("3,1,2,c,caller=T1;a;b", 3, 0, 1, 2, "c", "a;b");
    parse_ok("0,0,0,+;", 0, 0, 0, 0, "+", "");
    parse_ok("65535,18446744073709551615,1,-;x", 7, 8191, UINT64_MAX, 1, "-", "x");
    static const char *const bad[] = {
        "", "no semicolon", "6,339;text", "6,339,5;text", "x,1,2,-;t", "6,,2,-;t", "65536,1,2,-;t",
        "6,18446744073709551616,2,-;t", "-6,1,2,-;t", "6 ,1,2,-;t",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        kmsg_entry e;
        assert_int_equal(kmsg_parse(bad[i], strlen(bad[i]), &e), -1);
    }
    assert_string_equal(kmsg_level_name(0), "Emerg");
    assert_string_equal(kmsg_level_name(4), "Warning");
    assert_string_equal(kmsg_level_name(7), "Debug");
}

/* The reader forwards records at or below the threshold as "kmsg read"
 * lines (one per read, as the device returns them), skips the rest, logs a
 * bad record as an error, and never blocks the loop. */
static void test_reader_on_a_fifo(void **state)
{
    (void)state;
    char dir[] = "/tmp/gcs-kmsg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cleanup_free char *path = xasprintf("%s/kmsg", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int wfd = open(path, O_RDWR | O_NONBLOCK); /* keeps the fifo open for the reader */
    assert_true(wfd >= 0);
    int lp[2];
    assert_int_equal(pipe2(lp, O_NONBLOCK), 0);
    log_setup(lp[1], LOG_DEBUG, true);
    loop *l = loop_new();
    kmsg_reader *k = kmsg_start(l, path, KMSG_WARNING);
    assert_non_null(k);
    const char *recs[] = {"6,1,100,-;too chatty\n", "4,2,200,-;a warning \"quoted\"\n", "garbage\n",
                          "11,3,300,c;user error\n"};
    for (size_t i = 0; i < ARRAY_SIZE(recs); i++) {
        assert_int_equal(write(wfd, recs[i], strlen(recs[i])), (ssize_t)strlen(recs[i]));
        loop_run_once(l, 1000); /* one record per read, as the device gives them */
    }
    assert_int_equal(kmsg_forwarded(k), 2);
    char buf[8192];
    ssize_t n = read(lp[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    size_t kmsg_lines = 0, errors = 0;
    for (char *save = NULL, *ln = strtok_r(buf, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *o = json_loads(ln, 0, &e);
        assert_non_null(o);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        if (streq(msg, "kmsg read")) {
            assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
            const char *text = json_string_value(json_object_get(o, "message"));
            if (kmsg_lines == 0) {
                assert_string_equal(text, "a warning \"quoted\"");
                assert_string_equal(json_string_value(json_object_get(o, "priority")), "Warning");
                assert_int_equal(json_integer_value(json_object_get(o, "seq")), 2);
                assert_int_equal(json_integer_value(json_object_get(o, "timesincebootmicro")), 200);
                assert_int_equal(json_integer_value(json_object_get(o, "facility")), 0);
                assert_string_equal(json_string_value(json_object_get(o, "flags")), "-");
            } else {
                assert_string_equal(text, "user error");
                assert_string_equal(json_string_value(json_object_get(o, "priority")), "Err");
                assert_int_equal(json_integer_value(json_object_get(o, "facility")), 1);
            }
            kmsg_lines++;
        } else if (streq(msg, "failed to parse kmsg entry")) {
            assert_string_equal(json_string_value(json_object_get(o, "line")), "garbage\n");
            errors++;
        }
        json_decref(o);
    }
    assert_int_equal(kmsg_lines, 2);
    assert_int_equal(errors, 1);
    kmsg_stop(k);
    loop_free(l);
    log_setup(2, LOG_INFO, false);
    close(lp[0]);
    close(lp[1]);
    close(wfd);
    unlink(path);
    rmdir(dir);
}

static void test_missing_device(void **state)
{
    (void)state;
    log_setup(-1, LOG_ERROR, false);
    loop *l = loop_new();
    assert_null(kmsg_start(l, "/nonexistent/kmsg", 4));
    kmsg_stop(NULL);
    loop_free(l);
    log_setup(2, LOG_INFO, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_reader_on_a_fifo),
        cmocka_unit_test(test_missing_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
