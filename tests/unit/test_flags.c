/* The agent's command line: Go flag syntax, every reference flag, defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "main/flags.h"
#include "common/util.h"

static enum flags_result parse(gcs_config *c, const char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    gcs_config_defaults(c);
    FILE *devnull = fopen("/dev/null", "w");
    enum flags_result r = gcs_flags_parse(c, argc, (char **)argv, devnull);
    fclose(devnull);
    return r;
}

static void test_defaults(void **state)
{
    (void)state;
    gcs_config c;
    const char *argv[] = {"gcs", NULL};
    assert_int_equal(parse(&c, argv), FLAGS_OK);
    assert_string_equal(c.loglevel, "debug");
    assert_string_equal(c.log_format, "text");
    assert_false(c.v4);
    assert_false(c.use_inouterr);
    assert_true(c.scrub_logs);
    assert_int_equal(c.root_mem_reserve_bytes, 78643200);
    assert_int_equal(c.gcs_mem_limit_bytes, 52428800);
    assert_string_equal(c.initial_policy_stance, "allow");
    assert_int_equal(c.kmsg_log_level, 4);
    assert_string_equal(c.transport, ""); /* vsock, or gcs.devtransport= on the kernel command line */
    assert_false(c.disable_time_sync);
    assert_true(c.runtime_no_pivot); /* upstream's runc create always passes --no-pivot */
    assert_string_equal(c.chronyd, "chronyd");
    assert_string_equal(c.runtime, "runc");
    assert_string_equal(c.cgroup_root, "/sys/fs/cgroup");
    assert_string_equal(c.sysfs_root, "/sys");
    assert_string_equal(c.dev_root, "/dev");
    assert_string_equal(c.allowed_roots, "/run/gcs:/run/mounts:/run/layers");
}

/* the exact tail hcsshim puts on the kernel command line (upstream internal/uvm/create_lcow.go) */
static void test_hcsshim_command_line(void **state)
{
    (void)state;
    gcs_config c;
    const char *argv[] = {"/bin/gcs", "-v4", "-log-format", "json", "-loglevel", "info", "-disable-time-sync",
                          "-scrub-logs=false", "-core-dump-location", "/tmp/core", NULL};
    assert_int_equal(parse(&c, argv), FLAGS_OK);
    assert_true(c.v4);
    assert_string_equal(c.log_format, "json");
    assert_string_equal(c.loglevel, "info");
    assert_true(c.disable_time_sync);
    assert_false(c.scrub_logs);
    assert_string_equal(c.core_dump_location, "/tmp/core");
    assert_true(c.runtime_no_pivot);
    const char *off[] = {"gcs", "-runtime-no-pivot=false", NULL};
    assert_int_equal(parse(&c, off), FLAGS_OK);
    assert_false(c.runtime_no_pivot);
}

static void test_syntaxes(void **state)
{
    (void)state;
    gcs_config c;
    const char *a1[] = {"gcs", "--v4", "--transport=unix:/x", "-root-mem-reserve-bytes=0x100",
                        "--gcs-mem-limit-bytes", "1024", "-kmsgLogLevel=7", "-use-inouterr=true", NULL};
    assert_int_equal(parse(&c, a1), FLAGS_OK);
    assert_true(c.v4);
    assert_string_equal(c.transport, "unix:/x");
    assert_int_equal(c.root_mem_reserve_bytes, 256);
    assert_int_equal(c.gcs_mem_limit_bytes, 1024);
    assert_int_equal(c.kmsg_log_level, 7);
    assert_true(c.use_inouterr);
    /* bool flags never consume the next argument; parsing stops at a non-flag */
    const char *a2[] = {"gcs", "-v4", "false", "-use-inouterr", NULL};
    assert_int_equal(parse(&c, a2), FLAGS_OK);
    assert_true(c.v4);
    assert_false(c.use_inouterr);
    const char *a3[] = {"gcs", "--", "-v4", NULL};
    assert_int_equal(parse(&c, a3), FLAGS_OK);
    assert_false(c.v4);
    const char *bools[] = {"1", "t", "T", "TRUE", "true", "True"};
    for (size_t i = 0; i < ARRAY_SIZE(bools); i++) {
        bool b = false;
        assert_int_equal(flags_parse_bool(bools[i], &b), 0);
        assert_true(b);
    }
}

static void test_errors(void **state)
{
    (void)state;
    gcs_config c;
    const char *bad[][4] = {
        {"gcs", "-nope", NULL},
        {"gcs", "-loglevel", NULL},                    /* missing value */
        {"gcs", "-v4=maybe", NULL},                    /* bad bool */
        {"gcs", "-root-mem-reserve-bytes", "-1", NULL}, /* negative uint */
        {"gcs", "-root-mem-reserve-bytes=12abc", NULL},
        {"gcs", "---v4", NULL},
        {"gcs", "-=x", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(parse(&c, bad[i]), FLAGS_ERROR);
    const char *h[] = {"gcs", "-h", NULL};
    assert_int_equal(parse(&c, h), FLAGS_HELP);
    const char *h2[] = {"gcs", "--help", NULL};
    assert_int_equal(parse(&c, h2), FLAGS_HELP);
}

static void test_usage_lists_every_flag(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    gcs_flags_usage(f, "gcs");
    fclose(f);
    const char *names[] = {"-loglevel", "-logfile", "-log-format", "-use-inouterr", "-v4", "-root-mem-reserve-bytes",
                           "-gcs-mem-limit-bytes", "-disable-time-sync", "-scrub-logs", "-initial-policy-stance",
                           "-core-dump-location", "-kmsgLogLevel", "-transport", "-runtime", "-runtime-root",
                           "-cgroup-root"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strstr(buf, names[i]))
            fail_msg("usage lacks %s", names[i]);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_hcsshim_command_line),
        cmocka_unit_test(test_syntaxes), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_usage_lists_every_flag),
    };
    return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
