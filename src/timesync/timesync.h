/* timesync.h — the VM's clock kept to the host's: chronyd against the
 * Hyper-V PTP clock, as upstream cmd/gcs/main.go startTimeSyncService does.
 *
 * - The clock is the PTP device whose <sysfs-root>/class/ptp/<name>/clock_name
 *   is "hyperv"; its node is <dev-root>/<name>.
 * - chronyd's configuration is upstream's, naming that node:
 *     refclock PHC <node> poll 3 dpoll -2 offset 0 stratum 2
 *     makestep 0.1 -1
 *   written to chronyd.conf in a private directory under /tmp.
 * - chronyd runs in the foreground (`chronyd -n -f <conf>`, found through
 *   PATH unless a path is given), started through loop/spawn; whenever it
 *   exits it is started again after a back-off of 500 ms growing by 1.5x up
 *   to 10 minutes (upstream's runWithRestartMonitor); it never blocks the loop.
 * - No such device: one warning, no chronyd, and the agent goes on
 *   (docs/differences.md D-36; upstream exits).
 * - At exit: SIGTERM to the pid it started, SIGKILL after 2 s, reaped, the
 *   configuration removed. */
#pragma once

#include "common/err.h"
#include "loop/loop.h"

#include <sys/types.h>

typedef struct timesync timesync;

typedef struct timesync_opts {
    const char *chronyd;    /* program: a name looked up in PATH, or a path */
    const char *sysfs_root; /* "/sys" */
    const char *dev_root;   /* "/dev" */
} timesync_opts;

/* The name ("ptp0") of the Hyper-V PTP clock under sysfs_root, malloc'd:
 * 0; -ENOENT when there is none (err says so); another error reading a
 * clock_name is returned with err set. Entries are looked at in name order. */
int timesync_find_ptp(const char *sysfs_root, char **ret_name, gcs_err *err);
/* The configuration text for a clock node (malloc'd). */
char *timesync_chronyd_config(const char *node);

/* Find the clock, write the configuration, start chronyd. NULL when there is
 * no clock (logged once) or the configuration cannot be written (logged);
 * a chronyd that fails to start is retried with the back-off. */
timesync *timesync_start(loop *l, const timesync_opts *o);
/* Stop chronyd (runs the loop until it is reaped, at most about 3 s) and
 * free. NULL is fine. */
void timesync_stop(timesync *t);
/* The pid of the running chronyd, 0 between runs. */
pid_t timesync_pid(const timesync *t);
