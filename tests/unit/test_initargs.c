/* gcs-init's command line (src/init/initargs.c): upstream's getopt "+d:e:w"
 * in every combination, the child's argv left alone, the default with no
 * arguments, and the ports and options it refuses (docs/differences.md D-31). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "init/initargs.h"

#include <string.h>

#define MAXA 16

typedef struct {
    const char *argv[MAXA]; /* after "/init"; NULL-terminated */
    int ok;
    const char *shell;
    uint32_t port;
    bool w;
    const char *child[MAXA]; /* NULL-terminated; child[0] NULL: none */
    const char *msg;         /* a part of the error */
} init_case;

static const init_case cases[] = {
    /* hcsshim's command lines (internal/uvm/create_lcow.go) */
    {{"-e", "1", "/bin/vsockexec", "-e", "109", "/bin/gcs", "-v4", "-log-format", "json", "-loglevel", "debug"},
     1, NULL, 1, false,
     {"/bin/vsockexec", "-e", "109", "/bin/gcs", "-v4", "-log-format", "json", "-loglevel", "debug"}, NULL},
    {{"-e", "1", "-w", "/bin/vsockexec", "-o", "109", "-e", "109", "/bin/gcs"}, 1, NULL, 1, true,
     {"/bin/vsockexec", "-o", "109", "-e", "109", "/bin/gcs"}, NULL},
    {{"-e", "1", "sh", "-c", "/bin/vsockexec -e 109 /bin/gcs & exec sh"}, 1, NULL, 1, false,
     {"sh", "-c", "/bin/vsockexec -e 109 /bin/gcs & exec sh"}, NULL},
    /* confidential boot/startup.sh */
    {{"-e", "1", "/bin/vsockexec", "-o", "109", "-e", "109", "/bin/gcs", "-scrub-logs"}, 1, NULL, 1, false,
     {"/bin/vsockexec", "-o", "109", "-e", "109", "/bin/gcs", "-scrub-logs"}, NULL},
    /* every flag, in every order and spelling getopt allows */
    {{"/bin/gcs"}, 1, NULL, 0, false, {"/bin/gcs"}, NULL},
    {{"-w", "/bin/gcs"}, 1, NULL, 0, true, {"/bin/gcs"}, NULL},
    {{"-d", "/bin/sh", "/bin/gcs"}, 1, "/bin/sh", 0, false, {"/bin/gcs"}, NULL},
    {{"-d/bin/sh", "-e7", "-w", "x"}, 1, "/bin/sh", 7, true, {"x"}, NULL},
    {{"-we", "5", "x"}, 1, NULL, 5, true, {"x"}, NULL},
    {{"-we5", "x"}, 1, NULL, 5, true, {"x"}, NULL},
    {{"-w", "-w", "x"}, 1, NULL, 0, true, {"x"}, NULL},
    {{"-e", "1", "-e", "2", "x"}, 1, NULL, 2, false, {"x"}, NULL}, /* the last one wins, as getopt */
    {{"-d", "/a", "-d", "/b", "x"}, 1, "/b", 0, false, {"x"}, NULL},
    {{"-e", "1", "-d", "/bin/sh", "-w", "x", "-e", "9"}, 1, "/bin/sh", 1, true, {"x", "-e", "9"}, NULL},
    {{"-e", "4294967294", "x"}, 1, NULL, 4294967294u, false, {"x"}, NULL},
    {{"--", "-e", "1"}, 1, NULL, 0, false, {"-e", "1"}, NULL}, /* "--" ends the options */
    {{"-e", "1", "--", "-w"}, 1, NULL, 1, false, {"-w"}, NULL},
    {{"-", "x"}, 1, NULL, 0, false, {"-", "x"}, NULL}, /* "-" is not an option */
    {{"-d", "/bin/sh"}, 1, "/bin/sh", 0, false, {NULL}, NULL}, /* only a shell */
    {{"-d", "-e", "x"}, 1, "-e", 0, false, {"x"}, NULL},        /* -d takes the next word, whatever it is */
    /* refused */
    {{"-e", "0", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port \"0\""},
    {{"-e", "", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port"},
    {{"-e", "abc", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port \"abc\""},
    {{"-e", "1x", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port \"1x\""},
    {{"-e", "-5", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port \"-5\""},
    {{"-e", "+5", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port"},
    {{"-e", " 5", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port"},
    {{"-e", "0x10", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port"},
    {{"-e", "4294967295", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port"}, /* VMADDR_PORT_ANY */
    {{"-e", "99999999999999999999", "x"}, 0, NULL, 0, false, {NULL}, "invalid entropy port"},
    {{"-e"}, 0, NULL, 0, false, {NULL}, "option -e needs an argument"},
    {{"-d"}, 0, NULL, 0, false, {NULL}, "option -d needs an argument"},
    {{"-x", "gcs"}, 0, NULL, 0, false, {NULL}, "unknown option -x"},
    {{"-wx", "gcs"}, 0, NULL, 0, false, {NULL}, "unknown option -x"},
    {{"--long", "gcs"}, 0, NULL, 0, false, {NULL}, "unknown option"},
    {{"-e", "1"}, 0, NULL, 0, false, {NULL}, "no command after the options"},
    {{"-w", "--"}, 0, NULL, 0, false, {NULL}, "no command after the options"},
};

static int argv_of(const char *const *in, char **out)
{
    int n = 0;
    out[n++] = "/init";
    for (; in[n - 1]; n++)
        out[n] = (char *)in[n - 1];
    out[n] = NULL;
    return n;
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const init_case *c = &cases[i];
        char *argv[MAXA + 2], *copy[MAXA + 2];
        int argc = argv_of(c->argv, argv);
        memcpy(copy, argv, sizeof(argv));
        init_args a;
        char msg[256] = "";
        int r = init_args_parse(argc, argv, &a, msg, sizeof(msg));
        for (int k = 0; k <= argc; k++)
            assert_ptr_equal(argv[k], copy[k]); /* never permuted */
        if (!c->ok) {
            if (r == 0)
                fail_msg("case %zu (%s ...) accepted", i, c->argv[0] ? c->argv[0] : "");
            if (!strstr(msg, c->msg))
                fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, msg, c->msg);
            continue;
        }
        if (r != 0)
            fail_msg("case %zu (%s ...) refused: %s", i, c->argv[0], msg);
        assert_false(a.defaulted);
        if (c->shell)
            assert_string_equal(a.debug_shell, c->shell);
        else
            assert_null(a.debug_shell);
        assert_int_equal(a.entropy_port, c->port);
        assert_int_equal(a.writable_overlays, c->w);
        if (!c->child[0]) {
            assert_null(a.child);
            assert_int_equal(a.child_argc, 0);
            continue;
        }
        int n = 0;
        for (; c->child[n]; n++)
            assert_string_equal(a.child[n], c->child[n]);
        assert_null(a.child[n]);
        assert_int_equal(a.child_argc, n);
    }
}

/* No arguments at all: upstream's LCOW v1 default child, and /bin/sh as the
 * debug shell. */
static void test_no_arguments(void **state)
{
    (void)state;
    char *argv[] = {"/init", NULL};
    init_args a;
    char msg[64];
    assert_int_equal(init_args_parse(1, argv, &a, msg, sizeof(msg)), 0);
    assert_true(a.defaulted);
    assert_string_equal(a.child[0], "/bin/gcs");
    assert_string_equal(a.child[1], "-loglevel");
    assert_string_equal(a.child[2], "debug");
    assert_string_equal(a.child[3], "-logfile=/run/gcs/gcs.log");
    assert_null(a.child[4]);
    assert_int_equal(a.child_argc, 4);
    assert_string_equal(a.debug_shell, "/bin/sh");
    assert_int_equal(a.entropy_port, 0);
    assert_false(a.writable_overlays);
    /* argc 0 (a kernel that passes nothing) is the same */
    char *none[] = {NULL};
    assert_int_equal(init_args_parse(0, none, &a, msg, sizeof(msg)), 0);
    assert_true(a.defaulted);
}

/* The parser resets getopt: a refused argv does not leave state behind. */
static void test_repeatable(void **state)
{
    (void)state;
    char *bad[] = {"/init", "-wx", "y", NULL};
    char *good[] = {"/init", "-e", "3", "z", NULL};
    init_args a;
    char msg[128];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(init_args_parse(3, bad, &a, msg, sizeof(msg)), -1);
        assert_int_equal(init_args_parse(4, good, &a, msg, sizeof(msg)), 0);
        assert_int_equal(a.entropy_port, 3);
        assert_string_equal(a.child[0], "z");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_no_arguments),
        cmocka_unit_test(test_repeatable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
