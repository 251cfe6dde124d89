#include "init/initargs.h"

#include "transport/transport.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* upstream init/init.c: the LCOW v1 default when nothing is passed */
static char *const default_child[] = {"/bin/gcs", "-loglevel", "debug", "-logfile=/run/gcs/gcs.log", NULL};

int init_args_parse(int argc, char *const *argv, init_args *ret, char *msg, size_t msglen)
{
    memset(ret, 0, sizeof(*ret));
    if (argc <= 1) {
        ret->defaulted = true;
        ret->child = default_child;
        ret->child_argc = 4;
        ret->debug_shell = "/bin/sh";
        return 0;
    }
    optind = 0; /* glibc: a full re-initialisation */
    opterr = 0;
    for (int opt; (opt = getopt(argc, argv, "+:d:e:w")) >= 0;) {
        switch (opt) {
        case 'd':
            ret->debug_shell = optarg;
            break;
        case 'e':
            if (transport_port_parse(optarg, &ret->entropy_port) < 0) {
                snprintf(msg, msglen, "invalid entropy port \"%s\" (want 1..4294967294)", optarg);
                return -1;
            }
            break;
        case 'w':
            ret->writable_overlays = true;
            break;
        case ':':
            snprintf(msg, msglen, "option -%c needs an argument", optopt);
            return -1;
        default:
            if (optopt)
                snprintf(msg, msglen, "unknown option -%c (want -d PATH, -e PORT, -w, then the command)", optopt);
            else
                snprintf(msg, msglen, "unknown option %s (want -d PATH, -e PORT, -w, then the command)",
                         argv[optind - 1]);
            return -1;
        }
    }
    ret->child_argc = argc - optind;
    ret->child = ret->child_argc > 0 ? argv + optind : NULL;
    if (!ret->child && !ret->debug_shell) {
        snprintf(msg, msglen, "no command after the options");
        return -1;
    }
    return 0;
}
