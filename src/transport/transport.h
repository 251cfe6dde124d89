/* transport.h — how the guest reaches the host. The guest always dials.
 *
 *   vsock      AF_VSOCK to CID 2 (the host), port P. The default, and the
 *              only production transport. Never used by tests: on these
 *              machines a vsock connect leaves the machine.
 *   unix:DIR   AF_UNIX stream socket DIR/<P> (P in decimal) — same dials,
 *              for tests, the demo and development.
 *   serial:DEV[,tcp=IPV4]
 *   serial:name=NAME[,tcp=IPV4]
 *              A test/development transport for a VM without vsock (QEMU
 *              under TCG here). The bridge (port GCS_BRIDGE_PORT) is a
 *              virtio-serial port: the device DEV, or the port whose
 *              /sys/class/virtio-ports/<x>/name is NAME (then /dev/<x>).
 *              A dial opens the device and fails (to be retried) while the
 *              host end is not connected; the host disconnecting reads as
 *              EOF, and the redial opens the device again.
 *              Every other port P (process stdio) is a TCP connect to
 *              IPV4:(P - 0x40000000 + 40000), for P in 0x40000001..0x400063BF
 *              (TCP 40001..65535); a small port P in 1..9999 (Plan 9 564,
 *              ...) to IPV4:(30000 + P); without tcp= those dials fail.
 *              Under QEMU user networking, tcp=10.0.2.2 reaches the host's
 *              127.0.0.1.
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

typedef struct transport {
    enum transport_kind kind;
    char *dir;         /* TRANSPORT_UNIX */
    char *serial_dev;  /* TRANSPORT_SERIAL: device path, or NULL when found by name */
    char *serial_name; /* TRANSPORT_SERIAL: virtio-serial port name, or NULL */
    char *tcp_addr;    /* TRANSPORT_SERIAL: IPv4 address for stdio ports, or NULL */
    /* Where serial_name is looked up; "/sys/class/virtio-ports" and "/dev"
     * unless a test points them at a fake tree. Not owned. */
    const char *sysfs_ports, *dev_dir;
} transport;

/* Parse "vsock", "unix:DIR" or "serial:..." (above). */
int transport_parse(const char *spec, transport *ret, gcs_err *err);
void transport_done(transport *t);

/* Connect to port; blocking, returns a connected fd (close-on-exec) or
 * a negative errno with err set. vsock: a connect that times out is retried
 * up to 10 times, 100 ms apart (docs/protocol.md §1.1). serial: the bridge
 * port opens the virtio-serial device, other ports connect over TCP. */
int transport_dial(const transport *t, uint32_t port, gcs_err *err);

/* The address a dial of port goes to, for logs ("vsock:2:1073741824"). */
char *transport_describe(const transport *t, uint32_t port);

/* serial: the TCP port a stdio port maps to, or -ERANGE. */
int transport_serial_tcp_port(uint32_t port);

/* serial: the device of the virtio-serial port called name: the entry x of
 * sysfs_ports whose x/name holds name gives dev_dir/x (*ret, to free). */
int transport_serial_find(const char *sysfs_ports, const char *dev_dir, const char *name, char **ret,
                          gcs_err *err);
