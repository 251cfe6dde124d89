/* libFuzzer: what the host puts on the kernel command line. The input is
 * one command line: transport_cmdline_value picks gcs.devtransport= out of
 * it (and transport_parse reads the value); split on blanks after "--" it is
 * init's argv (init_args_parse), and from the first non-option on,
 * vsockexec's (vsx_args_parse). Nothing may crash or read out of bounds,
 * and the child argv always lies inside the argv given. */
#include "init/initargs.h"
#include "transport/transport.h"
#include "vsockexec/vsxargs.h"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *cmdline = xstrndup((const char *)data, size);
    char *v = transport_cmdline_value(cmdline);
    if (v) {
        transport t;
        gcs_err err = GCS_ERR_INIT;
        if (transport_parse(v, &t, &err) == 0) {
            char *d = transport_describe(&t, 109);
            free(d);
            transport_done(&t);
        }
        err_clear(&err);
        free(v);
    }
    char *tail = strstr(cmdline, " -- ");
    tail = tail ? tail + 4 : cmdline;
    char *argv[MAXARGS + 2];
    int argc = 0;
    argv[argc++] = "/init";
    char *save = NULL;
    for (char *a = strtok_r(tail, " \t\n", &save); a && argc < MAXARGS; a = strtok_r(NULL, " \t\n", &save))
        argv[argc++] = a;
    argv[argc] = NULL;
    init_args ia;
    char msg[256];
    if (init_args_parse(argc, argv, &ia, msg, sizeof(msg)) == 0 && ia.child && !ia.defaulted) {
        assert(ia.child >= argv + 1 && ia.child + ia.child_argc == argv + argc);
        vsx_args va;
        if (vsx_args_parse(ia.child_argc, ia.child, &va, msg, sizeof(msg)) == 0)
            assert(va.child[0] != NULL);
    }
    free(cmdline);
    return 0;
}
