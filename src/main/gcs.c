/* gcs — the guest agent's entry point: flags, logging, the loop. */
#include "bridge/bridge.h"
#include "common/log.h"
#include "host/host.h"
#include "kmsg/kmsg.h"
#include "timesync/timesync.h"
#include "main/flags.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>

#ifndef GCS_VERSION
#define GCS_VERSION "dev"
#endif

static void on_term(loop *l, int signo, void *data)
{
    (void)data;
    log_info("signal received, exiting", KV_I("signal", signo));
    loop_quit(l, 0);
}

static void on_bridge_gone(void *ctx)
{
    loop *l = ctx;
    log_info("bridge stdio closed, exiting");
    loop_quit(l, 0);
}

NORETURN static void fatal(const char *msg, const char *what)
{
    log_at(LOG_FATAL, msg, KV_S("error", what));
    exit(1);
}

int main(int argc, char **argv)
{
    gcs_config cfg;
    gcs_config_defaults(&cfg);
    switch (gcs_flags_parse(&cfg, argc, argv, stderr)) {
    case FLAGS_OK: break;
    case FLAGS_HELP: return 0;
    case FLAGS_ERROR: return 2;
    }

    enum log_level level;
    if (log_parse_level(cfg.loglevel, &level) < 0) {
        fprintf(stderr, "gcs: not a valid logrus Level: \"%s\"\n", cfg.loglevel);
        return 1;
    }
    bool json = false;
    if (strcmp(cfg.log_format, "json") == 0)
        json = true;
    else if (strcmp(cfg.log_format, "text") != 0) {
        fprintf(stderr, "gcs: unknown log-format \"%s\"\n", cfg.log_format);
        return 1;
    }
    int logfd = 2;
    if (*cfg.logfile) {
        logfd = open(cfg.logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (logfd < 0) {
            fprintf(stderr, "gcs: failed to create log file %s: %s\n", cfg.logfile, strerror(errno));
            return 1;
        }
    }
    if (strcmp(cfg.initial_policy_stance, "deny") == 0) {
        /* As upstream: a closed-door stance discards the agent's logs. */
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (devnull >= 0)
            logfd = devnull;
    } else if (strcmp(cfg.initial_policy_stance, "allow") != 0) {
        fprintf(stderr, "gcs: unknown initial-policy-stance \"%s\"\n", cfg.initial_policy_stance);
        return 1;
    }
    log_setup(logfd, level, json);

    transport t;
    gcs_err err = GCS_ERR_INIT;
    /* No -transport: vsock, unless the kernel command line selects the
     * development mapping (src/transport/transport.h). */
    const char *transport_source = "flag";
    if ((*cfg.transport ? transport_parse(cfg.transport, &t, &err) : transport_default(&t, &transport_source, &err)) <
        0)
        fatal("bad -transport", err_msg(&err));

    if (*cfg.core_dump_location) {
        int r = write_file("/proc/sys/kernel/core_pattern", cfg.core_dump_location,
                           strlen(cfg.core_dump_location), 0644);
        if (r < 0)
            fatal("failed to set core dump location", strerror(-r));
    }

    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_warn("cannot become a child subreaper", KV_S("error", strerror(errno)));

    loop *l = loop_new();
    loop_signal_add(l, SIGTERM, on_term, NULL);
    loop_signal_add(l, SIGINT, on_term, NULL);
    loop_signal_add(l, SIGCHLD, NULL, NULL);

    bridge_config bc = {
        .transport = &t,
        .use_stdio = cfg.use_inouterr,
        .in_fd = 0,
        .out_fd = 1,
        .v4 = cfg.v4,
        .max_in_frame = cfg.max_frame_bytes,
        .caps = {true, true, true, true},
    };
    bridge *b = bridge_new(l, &bc);
    bridge_set_on_gone(b, on_bridge_gone, l);
    host *h = host_new(l, &cfg, &t);
    host_register_handlers(h, b);
    if (host_start(h, &err) < 0)
        fatal("cannot start the agent", err_msg(&err));

    cleanup_free char *where = cfg.use_inouterr ? xstrdup("stdio") : transport_describe(&t, GCS_BRIDGE_PORT);
    log_info("GCS started", KV_S("version", GCS_VERSION), KV_S("bridge", where),
             KV_S("transport_from", transport_source), KV_B("v4", cfg.v4),
             KV_I("pid", getpid()));
    if (!cfg.v4)
        log_warn("started without -v4: every request will be answered E_NOTIMPL, as the reference does");

    /* internal/guest/kmsg: the kernel's messages join the log stream */
    cleanup_free char *kmsg_path = xasprintf("%s/kmsg", cfg.dev_root);
    kmsg_reader *km = kmsg_start(l, kmsg_path, cfg.kmsg_log_level > 7 ? 7 : (unsigned)cfg.kmsg_log_level);

    /* after the agent's cgroups: chronyd runs in /gcs, as upstream's does */
    timesync *ts = NULL;
    if (!cfg.disable_time_sync) {
        timesync_opts to = {.chronyd = cfg.chronyd, .sysfs_root = cfg.sysfs_root, .dev_root = cfg.dev_root};
        ts = timesync_start(l, &to);
    }

    bridge_start(b);
    int rc = loop_run(l);

    timesync_stop(ts); /* before the agent's cgroups go */
    kmsg_stop(km);
    bridge_stop(b);
    host_shutdown(h);
    bridge_free(b);
    host_free(h);
    loop_free(l);
    transport_done(&t);
    log_info("GCS exiting", KV_I("code", rc));
    return rc;
}
