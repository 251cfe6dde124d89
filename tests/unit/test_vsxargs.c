/* vsockexec's command line (src/vsockexec/vsxargs.c): upstream's getopt
 * "+i:o:e:r", the program's argv left alone, and what it refuses
 * (docs/differences.md D-33). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "vsockexec/vsxargs.h"

#include <string.h>

#define MAXA 16

typedef struct {
    const char *argv[MAXA];
    int ok;
    uint32_t in, out, err;
    bool relay;
    uint32_t relay_port;
    const char *child[MAXA];
    const char *msg;
} vsx_case;

static const vsx_case cases[] = {
    /* hcsshim's */
    {{"-e", "109", "/bin/gcs", "-v4", "-log-format", "json"}, 1, 0, 0, 109, false, 109,
     {"/bin/gcs", "-v4", "-log-format", "json"}, NULL},
    {{"-o", "109", "-e", "109", "/bin/gcs", "-v4"}, 1, 0, 109, 109, false, 109, {"/bin/gcs", "-v4"}, NULL},
    {{"-r", "-e", "109", "/bin/gcs"}, 1, 0, 0, 109, true, 109, {"/bin/gcs"}, NULL},
    {{"-r", "-o", "109", "-e", "109", "/bin/gcs"}, 1, 0, 109, 109, true, 109, {"/bin/gcs"}, NULL},
    /* the rest */
    {{"-i", "1", "-o", "2", "-e", "3", "cat"}, 1, 1, 2, 3, false, 3, {"cat"}, NULL},
    {{"-i1", "-o2", "-e3", "cat", "-e", "4"}, 1, 1, 2, 3, false, 3, {"cat", "-e", "4"}, NULL},
    {{"-ro", "7", "cat"}, 1, 0, 7, 0, true, 7, {"cat"}, NULL}, /* -r with stdout only relays stdout */
    {{"-r", "-i", "5", "-o", "7", "cat"}, 1, 5, 7, 0, true, 7, {"cat"}, NULL},
    {{"-e", "2", "-e", "9", "x"}, 1, 0, 0, 9, false, 9, {"x"}, NULL},
    {{"--", "-e", "1"}, 1, 0, 0, 0, false, 0, {"-e", "1"}, NULL},
    {{"-o", "1", "--", "prog"}, 1, 0, 1, 0, false, 1, {"prog"}, NULL},
    {{"prog"}, 1, 0, 0, 0, false, 0, {"prog"}, NULL}, /* nothing to connect: just exec */
    {{"-e", "4294967294", "x"}, 1, 0, 0, 4294967294u, false, 4294967294u, {"x"}, NULL},
    /* refused */
    {{NULL}, 0, 0, 0, 0, false, 0, {NULL}, "missing program argument"},
    {{"-e", "109"}, 0, 0, 0, 0, false, 0, {NULL}, "missing program argument"},
    {{"-e", "109", "--"}, 0, 0, 0, 0, false, 0, {NULL}, "missing program argument"},
    {{"-r", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "-r requires -o or -e"},
    {{"-r", "-i", "3", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "-r requires -o or -e"},
    {{"-e", "x", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "invalid port \"x\" for -e"},
    {{"-o", "0", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "invalid port \"0\" for -o"},
    {{"-i", "-1", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "invalid port \"-1\" for -i"},
    {{"-e", "109x", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "invalid port"},
    {{"-e", "4294967295", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "invalid port"},
    {{"-e", "", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "invalid port"},
    {{"-e"}, 0, 0, 0, 0, false, 0, {NULL}, "option -e needs an argument"},
    {{"-x", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "unknown option -x"},
    {{"-rq", "prog"}, 0, 0, 0, 0, false, 0, {NULL}, "unknown option -q"},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const vsx_case *c = &cases[i];
        char *argv[MAXA + 2];
        int argc = 0;
        argv[argc++] = "/bin/vsockexec";
        for (; c->argv[argc - 1]; argc++)
            argv[argc] = (char *)c->argv[argc - 1];
        argv[argc] = NULL;
        vsx_args a;
        char msg[256] = "";
        int r = vsx_args_parse(argc, argv, &a, msg, sizeof(msg));
        if (!c->ok) {
            if (r == 0)
                fail_msg("case %zu accepted", i);
            if (!strstr(msg, c->msg))
                fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, msg, c->msg);
            continue;
        }
        if (r != 0)
            fail_msg("case %zu refused: %s", i, msg);
        assert_int_equal(a.ports[0], c->in);
        assert_int_equal(a.ports[1], c->out);
        assert_int_equal(a.ports[2], c->err);
        assert_int_equal(a.relay, c->relay);
        assert_int_equal(vsx_relay_port(&a), c->relay_port);
        int n = 0;
        for (; c->child[n]; n++)
            assert_string_equal(a.child[n], c->child[n]);
        assert_null(a.child[n]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
