#include "vsockexec/vsxargs.h"

#include "transport/transport.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint32_t vsx_relay_port(const vsx_args *a)
{
    return a->ports[2] ? a->ports[2] : a->ports[1];
}

int vsx_args_parse(int argc, char *const *argv, vsx_args *ret, char *msg, size_t msglen)
{
    memset(ret, 0, sizeof(*ret));
    optind = 0;
    opterr = 0;
    for (int opt; (opt = getopt(argc, argv, "+:i:o:e:r")) >= 0;) {
        int slot = -1;
        switch (opt) {
        case 'i': slot = 0; break;
        case 'o': slot = 1; break;
        case 'e': slot = 2; break;
        case 'r': ret->relay = true; break;
        case ':':
            snprintf(msg, msglen, "option -%c needs an argument", optopt);
            return -1;
        default:
            if (optopt)
                snprintf(msg, msglen, "unknown option -%c", optopt);
            else
                snprintf(msg, msglen, "unknown option %s", argv[optind - 1]);
            return -1;
        }
        if (slot >= 0 && transport_port_parse(optarg, &ret->ports[slot]) < 0) {
            snprintf(msg, msglen, "invalid port \"%s\" for -%c (want 1..4294967294)", optarg, opt);
            return -1;
        }
    }
    if (optind >= argc) {
        snprintf(msg, msglen, "missing program argument");
        return -1;
    }
    if (ret->relay && !vsx_relay_port(ret)) {
        snprintf(msg, msglen, "-r requires -o or -e");
        return -1;
    }
    ret->child = argv + optind;
    return 0;
}
