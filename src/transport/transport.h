/* transport.h — how the guest reaches the host. The guest always dials.
 *
 *   vsock      AF_VSOCK to CID 2 (the host), port P. The default, and the
 *              only production transport. Never used by tests: on these
 *              machines a vsock connect leaves the machine.
 *   unix:DIR   AF_UNIX stream socket DIR/<P> (P in decimal) — same dials,
 *              for tests, the demo and development.
 *   serial:DEV[,tcp=IPV4][,ip=IPV4/N][,nic=IFNAME]
 *   serial:name=NAME[,tcp=IPV4][,ip=IPV4/N][,nic=IFNAME]
 *              The development mapping of "vsock CID 2 port P", for a VM
 *              without vsock (QEMU under TCG here). One table, used by every
 *              dial in the image (init's entropy, vsockexec, gcs's bridge and
 *              stdio, Plan 9):
 *                P = 0x40000000 (the bridge)   the virtio-serial port DEV, or
 *                      the port whose /sys/class/virtio-ports/<x>/name is
 *                      NAME (then /dev/<x>). A dial opens the device and fails
 *                      (to be retried) while the host end is not connected;
 *                      the host disconnecting reads as EOF, the redial
 *                      opens the device again.
 *                P = 0x40000001..0x400063BF (stdio)  TCP IPV4:(P - 0x40000000 + 40000),
 *                      i.e. 40001..65535
 *                P = 1..9999 (entropy 1, log 109, Plan 9 564, ...)
 *                      TCP IPV4:(30000 + P), i.e. 30001..39999
 *                any other P   refused (-ERANGE)
 *              Without tcp= the TCP rows fail. Under QEMU user networking,
 *              tcp=10.0.2.2 reaches 127.0.0.1 of the network namespace QEMU
 *              runs in. ip=IPV4/N: before its first TCP dial a process gives
 *              the NIC nic= (default eth0) that address and brings it up if
 *              the NIC has no IPv4 address yet (init dials entropy before
 *              anything else could configure the network).
 *
 * Which transport a program uses (transport_default): the agent's
 * -transport flag when given; otherwise the development mapping when the
 * kernel command line carries gcs.devtransport=SPEC (SPEC one of the serial:
 * forms above; a parameter before " -- ", so the kernel keeps it away from
 * init's argv and environment, and every program reads it from
 * /proc/cmdline); otherwise vsock. init and vsockexec have no flag and use
 * the same choice. The environment variable GCS_DEVTRANSPORT=SPEC (any
 * -transport value) takes precedence over the kernel parameter: it exists
 * for tests of vsockexec on a development machine, where /proc/cmdline is
 * the machine's own. Nothing sets it in the image.
 *   inouterr   (-use-inouterr, not a -transport value) the bridge is the
 *              agent's own stdin/stdout (no re-dial); stdio ports still dial
 *              through the transport.
 */
#pragma once

#include "common/err.h"

#include <stdint.h>

enum transport_kind { TRANSPORT_VSOCK, TRANSPORT_UNIX, TRANSPORT_SERIAL };

/* Stdio port P maps to TCP port P - TRANSPORT_SERIAL_PORT_BASE + TRANSPORT_SERIAL_TCP_BASE;
 * small port P (1..TRANSPORT_SERIAL_SMALL_MAX) to TRANSPORT_SERIAL_SMALL_TCP_BASE + P. */
#define TRANSPORT_SERIAL_PORT_BASE 0x40000000u
#define TRANSPORT_SERIAL_TCP_BASE 40000u
#define TRANSPORT_SERIAL_SMALL_MAX 9999u
#define TRANSPORT_SERIAL_SMALL_TCP_BASE 30000u

/* The kernel parameter and the environment variable that select a transport
 * for programs without a -transport flag (above). */
#define TRANSPORT_KERNEL_PARAM "gcs.devtransport"
#define TRANSPORT_ENV "GCS_DEVTRANSPORT"

typedef struct transport {
    enum transport_kind kind;
    char *dir;         /* TRANSPORT_UNIX */
    char *serial_dev;  /* TRANSPORT_SERIAL: device path, or NULL when found by name */
    char *serial_name; /* TRANSPORT_SERIAL: virtio-serial port name, or NULL */
    char *tcp_addr;    /* TRANSPORT_SERIAL: IPv4 address for the TCP rows, or NULL */
    char *guest_ip;    /* TRANSPORT_SERIAL: "A.B.C.D/N" for the NIC before a TCP dial, or NULL */
    char *nic;         /* TRANSPORT_SERIAL: the NIC guest_ip goes on, or NULL (eth0) */
    /* Where serial_name is looked up; "/sys/class/virtio-ports" and "/dev"
     * unless a test points them at a fake tree. Not owned. */
    const char *sysfs_ports, *dev_dir;
} transport;

/* Parse "vsock", "unix:DIR" or "serial:..." (above). */
int transport_parse(const char *spec, transport *ret, gcs_err *err);

/* The transport of a program without an explicit choice: $GCS_DEVTRANSPORT,
 * else gcs.devtransport= on /proc/cmdline, else vsock. *source (if not NULL)
 * says which ("environment", "kernel parameter", "default"). */
int transport_default(transport *ret, const char **source, gcs_err *err);

/* The value of gcs.devtransport= among the kernel's own parameters of
 * cmdline (before " -- "; the last one wins; surrounding double quotes
 * removed), as a new string, or NULL when absent. */
char *transport_cmdline_value(const char *cmdline);
void transport_done(transport *t);

/* Connect to port; blocking, returns a connected fd (close-on-exec) or
 * a negative errno with err set. vsock: a connect that times out is retried
 * up to 10 times, 100 ms apart (docs/protocol.md §1.1). serial: the bridge
 * port opens the virtio-serial device, other ports connect over TCP. */
int transport_dial(const transport *t, uint32_t port, gcs_err *err);

/* The address a dial of port goes to, for logs ("vsock:2:1073741824"). */
char *transport_describe(const transport *t, uint32_t port);

/* A vsock port on a command line (init -e, vsockexec -i/-o/-e): decimal
 * digits only, 1..0xFFFFFFFE (0 is no port, 0xFFFFFFFF is VMADDR_PORT_ANY).
 * Returns 0, or -EINVAL with *ret untouched. */
int transport_port_parse(const char *s, uint32_t *ret);

/* serial: the TCP port a port maps to (stdio and small ports), or -ERANGE
 * (the bridge port and everything outside the table). */
int transport_serial_tcp_port(uint32_t port);

/* serial: the device of the virtio-serial port called name: the entry x of
 * sysfs_ports whose x/name holds name gives dev_dir/x (*ret, to free). */
int transport_serial_find(const char *sysfs_ports, const char *dev_dir, const char *name, char **ret,
                          gcs_err *err);
