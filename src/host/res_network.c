/* res_network.c — ModifySettings Network (LCOWNetworkAdapter) Add and
 * Remove, and the NICs of a sandbox's network namespace
 * (docs/architecture.md, "Pod networking"; upstream:
 * internal/guest/runtime/hcsv2/network.go and uvm.go modifyNetwork,
 * internal/guest/network/netns.go).
 *
 * Add registers the adapter in its namespace entry (keyed by the
 * lower-cased namespace ID; a duplicate adapter ID fails before anything
 * waits), then looks for its interface under -sysfs-root every 10 ms for
 * up to 5 s on a loop timer. Once the namespace is bound to its sandbox
 * (CreateContainer of the sandbox or standalone container), each NIC is
 * moved into the sandbox's netns and configured there (src/network/netcfg.c),
 * or configured in place for a host-network pod; a NIC without an address
 * gets one from busybox udhcpc, a child of the loop with a deadline.
 *
 * Where this differs from upstream (docs/differences.md D-50..D-53): an Add
 * after the sandbox exists configures that NIC alone; Remove takes the NIC
 * out of the sandbox's namespace again; the entry goes when its sandbox has
 * gone and its last NIC is removed; DHCP is bounded by -dhcp-timeout. */
#include "host/resources.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/path.h"
#include "network/netcfg.h"
#include "network/nic.h"
#include "network/nl.h"
#include "loop/spawn.h"
#include "pod/annotations.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define NIC_LOOKUP_TIMEOUT_MS 5000 /* upstream: hcsv2/network.go AddAdapter */
#define NIC_LOOKUP_POLL_MS 10

/* ---- jobs: configure NICs of one namespace, one after the other ---- */

typedef void (*netjob_done_fn)(host *h, const gcs_err *err, void *data);

typedef struct netjob {
    host *h;
    char *nsid;
    char **ids; /* adapters to configure, in order */
    size_t n, next;
    netjob_done_fn done;
    void *data;
    gcs_err err;
    /* DHCP of the current NIC */
    pid_t dhcp_pid;
    loop_timer *dhcp_timer;
    bool dhcp_timed_out;
    char *dhcp_script, *dhcp_out;
    uint64_t dhcp_started_ms;
    uint64_t started_ns;
    struct netjob *prev, *nxt;
} netjob;

/* An Add waiting for its interface. */
typedef struct lookup {
    res_call *call;
    char *nsid, *id;
    uint64_t deadline_ms;
    loop_timer *timer;
    struct lookup *prev, *nxt;
} lookup;

static netjob *jobs;    /* running jobs (released at agent exit) */
static lookup *lookups; /* Adds waiting for a NIC */
static unsigned dhcp_seq;

static void job_step(netjob *j);

static void job_finish(netjob *j)
{
    if (j->prev)
        j->prev->nxt = j->nxt;
    else
        jobs = j->nxt;
    if (j->nxt)
        j->nxt->prev = j->prev;
    log_debug("NIC setup finished", KV_S("namespace", j->nsid), KV_U("nics", j->n),
              KV_D("duration_ms", (double)(now_ns() - j->started_ns) / 1e6), KV_S("error", err_msg(&j->err)));
    if (j->done)
        j->done(j->h, err_isset(&j->err) ? &j->err : NULL, j->data);
    err_clear(&j->err);
    for (size_t i = 0; i < j->n; i++)
        free(j->ids[i]);
    free(j->ids);
    free(j->nsid);
    free(j);
}

/* A NIC's socket: the namespace it is configured in. */
static int open_for(nsreg_ns *ns, nl_sock **ret, gcs_err *err)
{
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    return nl_open(b->host_network ? -1 : b->netns_fd, ret, err);
}

/* Move a's interface from the agent's namespace into the sandbox's. */
static int move_in(nsreg_ns *ns, nsreg_adapter *a, gcs_err *err)
{
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    nl_sock *own = NULL;
    int r = nl_open(-1, &own, err);
    if (r < 0)
        return r;
    int index;
    if ((r = nl_link_get(own, a->ifname, &index, NULL, err)) >= 0 && (r = nl_link_set_up(own, index, false, err)) >= 0)
        r = nl_link_set_netns(own, index, b->netns_fd, err);
    nl_close(own);
    if (r < 0)
        return err_wrap(err, r, "failed to move interface %s to network namespace", a->ifname);
    return 0;
}

/* Undo a NIC: its rules go, and a moved one comes back to the agent's
 * namespace, down (deliberate difference D-51: upstream only forgets it). */
static int nic_return(nsreg_ns *ns, nsreg_adapter *a, gcs_err *err)
{
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    nl_sock *s = NULL;
    int r = nl_open(a->in_place ? -1 : b->netns_fd, &s, err);
    if (r < 0)
        return r;
    r = netcfg_unconfigure(s, a, err);
    if (!a->in_place) {
        gcs_err e = GCS_ERR_INIT;
        int index;
        cleanup_close int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0)
            r = err_errno(err, HR_E_FAIL, errno, "open the agent's network namespace");
        else if (nl_link_get(s, a->ifname, &index, NULL, &e) < 0 || nl_link_set_netns(s, index, own, &e) < 0) {
            if (r >= 0) {
                err_move(err, &e);
                r = -EIO;
            }
        }
        err_clear(&e);
    }
    nl_close(s);
    a->in_place = false;
    a->state = NIC_PENDING;
    log_info("NIC taken out of the namespace", KV_S("namespace", nsreg_ns_id(ns)), KV_S("adapter", a->id),
             KV_S("ifname", a->ifname), KV_S("error", r < 0 ? err_msg(err) : ""));
    return r;
}

static void job_fail_nic(netjob *j, nsreg_ns *ns, nsreg_adapter *a, gcs_err *err)
{
    cleanup_err gcs_err e = GCS_ERR_INIT;
    if (a->state == NIC_CONFIGURING)
        nic_return(ns, a, &e);
    a->state = NIC_PENDING;
    err_wrap(err, err->code, "failed to configure adapter aid: %s, if id: %s", a->id, a->ifname);
    err_move(&j->err, err);
    job_finish(j);
}

static void job_nic_done(netjob *j, nsreg_adapter *a, nsreg_ns *ns)
{
    a->state = NIC_CONFIGURED;
    log_info("NIC configured", KV_S("namespace", nsreg_ns_id(ns)), KV_S("adapter", a->id), KV_S("ifname", a->ifname),
             KV_B("in_place", a->in_place), KV_B("low_metric", a->enable_low_metric));
    j->next++;
    job_step(j);
}

/* Look the job's current NIC up again (the registry may have changed
 * while DHCP ran). */
static nsreg_adapter *job_current(netjob *j, nsreg_ns **ret_ns, size_t *ret_index)
{
    nsreg_ns *ns = nsreg_get(j->h->netns, j->nsid, NULL);
    *ret_ns = ns;
    return ns ? nsreg_ns_find_adapter(ns, j->ids[j->next], ret_index) : NULL;
}

/* ---- DHCP: busybox udhcpc in the namespace, bounded ---- */

static const char dhcp_script[] = "#!/bin/sh\n"
                                  "# written by gcs: report the lease on stdout, configure nothing\n"
                                  "case \"$1\" in\n"
                                  "bound|renew) echo \"gcs-lease ip=$ip mask=$subnet router=$router\" ;;\n"
                                  "esac\n"
                                  "exit 0\n";

static void dhcp_cleanup(netjob *j)
{
    if (j->dhcp_timer)
        loop_timer_cancel(j->h->l, j->dhcp_timer);
    j->dhcp_timer = NULL;
    if (j->dhcp_script)
        unlink(j->dhcp_script);
    if (j->dhcp_out)
        unlink(j->dhcp_out);
    free(j->dhcp_script);
    free(j->dhcp_out);
    j->dhcp_script = j->dhcp_out = NULL;
    j->dhcp_pid = 0;
}

static void on_dhcp_timeout(loop *l, void *data)
{
    (void)l;
    netjob *j = data;
    j->dhcp_timer = NULL;
    j->dhcp_timed_out = true;
    if (j->dhcp_pid > 0)
        kill(j->dhcp_pid, SIGKILL); /* ours, not yet reaped */
}

/* The value of key= on the gcs-lease line (router: the rest of the line). */
static char *lease_field(const char *line, const char *key, bool rest)
{
    cleanup_free char *k = xasprintf(" %s=", key);
    const char *p = strstr(line, k);
    if (!p)
        return xstrdup("");
    p += strlen(k);
    size_t n = rest ? strcspn(p, "\n") : strcspn(p, " \n");
    return xstrndup(p, n);
}

static void on_dhcp_exit(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    (void)pid;
    netjob *j = data;
    gcs_err err = GCS_ERR_INIT;
    cleanup_free char *out = NULL;
    size_t len = 0;
    if (j->dhcp_out)
        read_file(j->dhcp_out, &out, &len);
    uint64_t took = now_ms() - j->dhcp_started_ms;
    bool timed_out = j->dhcp_timed_out;
    j->dhcp_timed_out = false;
    dhcp_cleanup(j);
    nsreg_ns *ns;
    size_t idx;
    nsreg_adapter *a = job_current(j, &ns, &idx);
    if (!a) {
        j->next++;
        job_step(j);
        return;
    }
    const char *line = out ? strstr(out, "gcs-lease ") : NULL;
    if (timed_out) {
        err_set(&err, HR_E_FAIL, "DHCP on %s: no lease within %llu s", a->ifname,
                (unsigned long long)j->h->cfg->dhcp_timeout);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !line) {
        size_t n = out ? strlen(out) : 0;
        err_set(&err, HR_E_FAIL, "DHCP on %s: udhcpc failed (status %d): %s", a->ifname, status,
                out ? out + (n > 300 ? n - 300 : 0) : "");
    }
    if (err_isset(&err)) {
        job_fail_nic(j, ns, a, &err);
        return;
    }
    cleanup_free char *ip = lease_field(line - 1, "ip", false);
    cleanup_free char *mask = lease_field(line - 1, "mask", false);
    cleanup_free char *router = lease_field(line - 1, "router", true);
    nl_sock *s = NULL;
    int r = open_for(ns, &s, &err);
    if (r >= 0)
        r = netcfg_apply_lease(s, a, ip, mask, router, &err);
    nl_close(s);
    if (r < 0) {
        job_fail_nic(j, ns, a, &err);
        return;
    }
    log_info("DHCP lease applied", KV_S("ifname", a->ifname), KV_S("ip", ip), KV_S("mask", mask),
             KV_S("router", router), KV_U("duration_ms", took));
    job_nic_done(j, a, ns);
}

/* udhcpc from PATH, else the busybox applet. */
static const char *dhcp_client(bool *applet)
{
    const char *path = getenv("PATH");
    cleanup_free char *copy = xstrdup(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        cleanup_free char *p = path_join(d, "udhcpc");
        if (access(p, X_OK) == 0) {
            *applet = false;
            return "udhcpc";
        }
    }
    *applet = true;
    return "busybox";
}

static int dhcp_start(netjob *j, nsreg_ns *ns, nsreg_adapter *a, gcs_err *err)
{
    host *h = j->h;
    unsigned seq = ++dhcp_seq;
    j->dhcp_script = xasprintf("%s/udhcpc-%u.sh", h->statedir, seq);
    j->dhcp_out = xasprintf("%s/udhcpc-%u.out", h->statedir, seq);
    int r = write_file(j->dhcp_script, dhcp_script, strlen(dhcp_script), 0700);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "write %s", j->dhcp_script);
    cleanup_close int outfd = open(j->dhcp_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cleanup_close int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (outfd < 0 || nullfd < 0)
        return err_errno(err, HR_E_FAIL, errno, "open the DHCP client's output");
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    cleanup_free char *netns = b->host_network ? NULL : xasprintf("/proc/%d/fd/%d", (int)getpid(), b->netns_fd);
    unsigned secs = (unsigned)(h->cfg->dhcp_timeout ? h->cfg->dhcp_timeout : 1);
    cleanup_free char *tries = xasprintf("%u", secs);
    bool applet;
    const char *prog = dhcp_client(&applet);
    /* -f foreground, -q quit with the lease, -n fail when none came;
     * one discover a second: udhcpc gives up by itself near the deadline,
     * the loop's timer kills it at the deadline */
    const char *argv_full[] = {"busybox", "udhcpc", "-f", "-q", "-n", "-i", a->ifname, "-s", j->dhcp_script,
                               "-t", tries, "-T", "1", "-A", "1", NULL};
    char *const *argv = (char *const *)(applet ? argv_full : argv_full + 1);
    spawn_opts o = {
        .path = prog,
        .argv = argv,
        .fds = {nullfd, outfd, outfd},
        .search_path = true,
        .netns = netns,
    };
    pid_t pid;
    if ((r = spawn(h->l, &o, "DHCP client", &pid, err)) < 0)
        return r;
    j->dhcp_pid = pid;
    j->dhcp_started_ms = now_ms();
    loop_child_watch(h->l, pid, on_dhcp_exit, j);
    j->dhcp_timer = loop_timer_add(h->l, h->cfg->dhcp_timeout * 1000, on_dhcp_timeout, j);
    log_info("DHCP started", KV_S("ifname", a->ifname), KV_I("pid", pid), KV_U("timeout_s", h->cfg->dhcp_timeout));
    return 0;
}

/* ---- one NIC: move, configure ---- */

static void job_step(netjob *j)
{
    for (; j->next < j->n; j->next++) {
        nsreg_ns *ns;
        size_t idx;
        nsreg_adapter *a = job_current(j, &ns, &idx);
        if (!a || a->state != NIC_PENDING)
            continue;
        nsreg_ns_bind *b = nsreg_ns_binding(ns);
        gcs_err err = GCS_ERR_INIT;
        /* upstream Sync: with PolicyBasedRouting every NIC after the first
         * gets the low-metric policy (whatever the host sent) */
        if (a->policy_based_routing)
            a->enable_low_metric = idx > 0;
        a->in_place = b->host_network;
        a->state = NIC_CONFIGURING;
        int r = 0;
        if (!b->host_network)
            r = move_in(ns, a, &err);
        if (r < 0) {
            a->state = NIC_PENDING;
            job_fail_nic(j, ns, a, &err);
            return;
        }
        nl_sock *s = NULL;
        bool need_dhcp = false;
        if ((r = open_for(ns, &s, &err)) >= 0 && (r = netcfg_configure(s, a, &need_dhcp, &err)) >= 0 &&
            !b->host_network)
            r = netcfg_loopback_up(s, &err);
        nl_close(s);
        if (r >= 0 && need_dhcp) {
            if ((r = dhcp_start(j, ns, a, &err)) >= 0)
                return; /* on_dhcp_exit goes on */
            dhcp_cleanup(j);
        }
        if (r < 0) {
            job_fail_nic(j, ns, a, &err);
            return;
        }
        a->state = NIC_CONFIGURED;
        log_info("NIC configured", KV_S("namespace", nsreg_ns_id(ns)), KV_S("adapter", a->id),
                 KV_S("ifname", a->ifname), KV_B("in_place", a->in_place), KV_B("low_metric", a->enable_low_metric));
    }
    job_finish(j);
}

/* Configure the NICs ids[0..n) of ns (all pending NICs when ids NULL). */
static void job_start(host *h, nsreg_ns *ns, const char *only_id, netjob_done_fn done, void *data)
{
    netjob *j = xzalloc(sizeof(*j));
    j->h = h;
    j->nsid = xstrdup(nsreg_ns_id(ns));
    size_t n = nsreg_ns_adapter_count(ns);
    j->ids = xzalloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const nsreg_adapter *a = nsreg_ns_adapter(ns, i);
        if (a->state == NIC_PENDING && (!only_id || strcasecmp(a->id, only_id) == 0))
            j->ids[j->n++] = xstrdup(a->id);
    }
    j->done = done;
    j->data = data;
    j->started_ns = now_ns();
    j->nxt = jobs;
    if (jobs)
        jobs->prev = j;
    jobs = j;
    job_step(j);
}

/* ---- Add ---- */

static void lookup_free(lookup *lk)
{
    if (lk->prev)
        lk->prev->nxt = lk->nxt;
    else
        lookups = lk->nxt;
    if (lk->nxt)
        lk->nxt->prev = lk->prev;
    free(lk->nsid);
    free(lk->id);
    free(lk);
}

static void add_configured(host *h, const gcs_err *err, void *data)
{
    res_call *call = data;
    if (err) {
        /* the NIC is back in the agent's namespace: forget it, so the host
         * may try the Add again (upstream keeps it: "already present") */
        nsreg_ns *ns = nsreg_get(h->netns, call->settings.net.namespace_id ? call->settings.net.namespace_id : "",
                                 NULL);
        if (ns)
            nsreg_ns_remove_adapter(ns, call->settings.net.id);
    }
    res_call_done(call, err);
}

static void lookup_poll(loop *l, void *data)
{
    lookup *lk = data;
    host *h = lk->call->h;
    lk->timer = NULL;
    gcs_err err = GCS_ERR_INIT;
    nsreg_ns *ns = nsreg_get(h->netns, lk->nsid, NULL);
    nsreg_adapter *a = ns ? nsreg_ns_find_adapter(ns, lk->id, NULL) : NULL;
    if (!a) { /* cannot happen: Remove refuses a resolving NIC */
        err_set(&err, HR_E_FAIL, "adapter %s vanished while it was being added", lk->id);
        res_call_done(lk->call, &err);
        err_clear(&err);
        lookup_free(lk);
        return;
    }
    char *ifname = NULL, *why = NULL;
    int r = nic_lookup(h->cfg->sysfs_root, lk->id, a->vpci_assigned, &ifname, &why, &err);
    if (r == 0 && now_ms() < lk->deadline_ms) {
        free(why);
        lk->timer = loop_timer_add(l, NIC_LOOKUP_POLL_MS, lookup_poll, lk);
        return;
    }
    if (r == 0)
        err_set(&err, HR_E_FAIL, "failed to find adapter %s sysfs path: timed out waiting for %s", lk->id, why);
    free(why);
    if (r <= 0) {
        nsreg_ns_remove_adapter(ns, lk->id);
        res_call_done(lk->call, &err);
        err_clear(&err);
        lookup_free(lk);
        return;
    }
    a->ifname = ifname;
    a->state = NIC_PENDING;
    log_info("NIC found", KV_S("namespace", lk->nsid), KV_S("adapter", lk->id), KV_S("ifname", ifname));
    res_call *call = lk->call;
    lookup_free(lk);
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    if (b->owner) {
        /* the sandbox exists: this NIC alone (D-50; upstream re-moved all) */
        job_start(h, ns, a->id, add_configured, call);
        return;
    }
    res_call_done(call, NULL);
}

static int network_add(res_call *call, gcs_err *err)
{
    host *h = call->h;
    const res_network_adapter *n = &call->settings.net;
    int r = nic_check_id(n->id, err);
    if (r < 0)
        return r;
    const char *nsid = n->namespace_id ? n->namespace_id : "";
    nsreg_ns *ns = nsreg_get_or_create(h->netns, nsid);
    nsreg_adapter in = {
        .id = (char *)n->id,
        .dns_suffix = (char *)n->dns_suffix,
        .dns_server_list = (char *)n->dns_server_list,
        .encap_overhead = n->encap_overhead,
        .vpci_assigned = n->vpci_assigned,
        .policy_based_routing = n->policy_based_routing,
        .enable_low_metric = n->enable_low_metric,
    };
    cleanup_free nsreg_ipconfig *ips = xzalloc((n->ip_configs.n + 1) * sizeof(*ips));
    cleanup_free nsreg_route *routes = xzalloc((n->routes.n + 1) * sizeof(*routes));
    const res_ip_config *ic = n->ip_configs.v;
    const res_route *rt = n->routes.v;
    for (size_t i = 0; i < n->ip_configs.n; i++)
        ips[i] = (nsreg_ipconfig){(char *)ic[i].ip_address, ic[i].prefix_length};
    for (size_t i = 0; i < n->routes.n; i++)
        routes[i] = (nsreg_route){(char *)rt[i].next_hop, (char *)rt[i].destination_prefix, rt[i].metric};
    in.ips = ips;
    in.nips = n->ip_configs.n;
    in.routes = routes;
    in.nroutes = n->routes.n;
    if ((r = nsreg_ns_add_adapter(ns, &in, err)) < 0)
        return r;
    lookup *lk = xzalloc(sizeof(*lk));
    lk->call = call;
    lk->nsid = xstrdup(nsreg_ns_id(ns));
    lk->id = xstrdup(n->id);
    lk->deadline_ms = now_ms() + NIC_LOOKUP_TIMEOUT_MS;
    lk->nxt = lookups;
    if (lookups)
        lookups->prev = lk;
    lookups = lk;
    lookup_poll(h->l, lk);
    return RES_PENDING;
}

/* ---- Remove ---- */

/* The entry goes once its sandbox has gone and no NIC is left (D-52). */
static void maybe_free_ns(host *h, nsreg_ns *ns)
{
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    if (b->owner || !b->released || nsreg_ns_adapter_count(ns) > 0)
        return;
    cleanup_free char *id = xstrdup(nsreg_ns_id(ns));
    nsreg_remove(h->netns, id, NULL);
    log_info("network namespace entry freed", KV_S("namespace", id));
}

static int network_remove(res_call *call, gcs_err *err)
{
    host *h = call->h;
    const res_network_adapter *n = &call->settings.net;
    const char *nsid = n->namespace_id ? n->namespace_id : "";
    nsreg_ns *ns = nsreg_get(h->netns, nsid, NULL);
    if (!ns) {
        log_warn("Network Remove: namespace not found", KV_S("namespace", nsid), KV_S("adapter", n->id));
        return 0;
    }
    nsreg_adapter *a = nsreg_ns_find_adapter(ns, n->id, NULL);
    if (!a) {
        log_info("Network Remove: adapter not in the namespace", KV_S("namespace", nsid), KV_S("adapter", n->id));
        return 0;
    }
    if (a->state == NIC_RESOLVING || a->state == NIC_CONFIGURING)
        return err_set(err, HR_E_FAIL, "adapter %s is still being added to namespace %s", a->id, nsreg_ns_id(ns));
    if (a->state == NIC_CONFIGURED) {
        gcs_err e = GCS_ERR_INIT;
        /* a NIC whose namespace died with its sandbox is gone already */
        if (nic_return(ns, a, &e) < 0)
            log_warn("Network Remove: cannot take the NIC out of the namespace", KV_S("adapter", a->id),
                     KV_S("error", err_msg(&e)));
        err_clear(&e);
    }
    nsreg_ns_remove_adapter(ns, n->id);
    maybe_free_ns(h, ns);
    return 0;
}

static int network_apply(res_call *call, gcs_err *err)
{
    return call->request == REQ_REMOVE ? network_remove(call, err) : network_add(call, err);
}

/* ---- the sandbox's side (container.c) ---- */

typedef struct attach {
    container *c;
    host_network_done_fn done;
} attach;

static void attach_done(host *h, const gcs_err *err, void *data)
{
    (void)h;
    attach *at = data;
    at->done(at->c, err);
    free(at);
}

int host_network_attach(container *c, host_network_done_fn done, gcs_err *err)
{
    host *h = c->h;
    if (c->cls.kind != POD_KIND_SANDBOX && c->cls.kind != POD_KIND_VPOD_SANDBOX && c->cls.kind != POD_KIND_STANDALONE)
        return 0;
    nsreg_ns *ns = nsreg_get(h->netns, c->netns_id ? c->netns_id : "", NULL);
    if (!ns)
        return 0;
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    if (b->owner)
        return err_set(err, HR_E_FAIL, "previously assigned container pid %d to network namespace \"%s\"",
                       nsreg_ns_pid(ns), nsreg_ns_id(ns));
    bool hostnet = pod_annotation_bool(json_object_get(c->spec, "annotations"), POD_ANN_HOST_NETWORK, false);
    int fd = -1;
    if (!hostnet) {
        cleanup_free char *p = xasprintf("/proc/%d/ns/net", (int)c->init_pid);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return err_errno(err, HR_E_FAIL, errno, "netns of container %s: open %s", c->id, p);
        struct stat theirs, ours;
        if (fstat(fd, &theirs) == 0 && stat("/proc/self/ns/net", &ours) == 0 && theirs.st_ino == ours.st_ino &&
            theirs.st_dev == ours.st_dev) {
            /* a spec without a network namespace of its own shares the
             * VM's: configured in place, as a host-network pod */
            close(fd);
            fd = -1;
            hostnet = true;
        }
    }
    if (!hostnet) {
        int r = nsreg_ns_assign_pid(ns, c->init_pid, err);
        if (r < 0) {
            close(fd);
            return r;
        }
        b->netns_fd = fd;
    }
    b->host_network = hostnet;
    b->owner = xstrdup(c->id);
    b->released = false;
    size_t pending = 0;
    for (size_t i = 0; i < nsreg_ns_adapter_count(ns); i++)
        pending += nsreg_ns_adapter(ns, i)->state == NIC_PENDING;
    log_info("network namespace bound", KV_S("namespace", nsreg_ns_id(ns)), KV_S("container", c->id),
             KV_I("pid", c->init_pid), KV_B("host_network", hostnet), KV_U("nics", pending));
    if (pending == 0)
        return 0;
    attach *at = xzalloc(sizeof(*at));
    at->c = c;
    at->done = done;
    job_start(h, ns, NULL, attach_done, at);
    return RES_PENDING;
}

void host_network_release(container *c)
{
    host *h = c->h;
    nsreg_ns *ns = c->netns_id ? nsreg_get(h->netns, c->netns_id, NULL) : NULL;
    if (!ns)
        return;
    nsreg_ns_bind *b = nsreg_ns_binding(ns);
    if (!b->owner || !streq(b->owner, c->id))
        return;
    /* NICs the host did not remove come back to the agent (a sandbox
     * that is created again for the namespace gets them anew) */
    for (size_t i = 0; i < nsreg_ns_adapter_count(ns); i++) {
        nsreg_adapter *a = nsreg_ns_adapter_mut(ns, i);
        if (a->state == NIC_CONFIGURED) {
            cleanup_err gcs_err e = GCS_ERR_INIT;
            nic_return(ns, a, &e);
        }
    }
    if (b->netns_fd >= 0)
        close(b->netns_fd);
    b->netns_fd = -1;
    free(b->owner);
    b->owner = NULL;
    b->host_network = false;
    b->released = true;
    nsreg_ns_clear_pid(ns);
    log_info("network namespace unbound", KV_S("namespace", nsreg_ns_id(ns)), KV_S("container", c->id),
             KV_U("nics_left", nsreg_ns_adapter_count(ns)));
    maybe_free_ns(h, ns);
}

static void network_release(host *h)
{
    (void)h;
    while (lookups) {
        lookup *lk = lookups;
        if (lk->timer)
            loop_timer_cancel(lk->call->h->l, lk->timer);
        gcs_err e = GCS_ERR_INIT;
        err_set(&e, HR_E_FAIL, "agent exiting");
        res_call_done(lk->call, &e);
        err_clear(&e);
        lookup_free(lk);
    }
    for (netjob *j = jobs; j; j = j->nxt) {
        if (j->dhcp_pid > 0) {
            kill(j->dhcp_pid, SIGKILL); /* ours, not yet reaped */
            loop_child_unwatch(j->h->l, j->dhcp_pid);
        }
        dhcp_cleanup(j);
    }
}

const resource_def res_network_def = {
    .type = RES_NETWORK,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_ADD) | REQ_BIT(REQ_REMOVE),
    .apply = network_apply,
    .release = network_release,
};
