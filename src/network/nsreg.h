/* nsreg.h — the in-memory network-namespace registry (docs/pod-model.md §5.7).
 *
 * Namespaces are keyed by the host's namespace ID, lower-cased. Each holds
 * the NICs the host added (in order) and the PID of the container whose
 * netns they belong to (0 = none yet). Moving NICs into a netns is not done
 * here; this is bookkeeping plus the DNS aggregation resolv.conf needs.
 * Namespace pointers stay valid until nsreg_remove / nsreg_free. */
#pragma once

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nsreg nsreg;
typedef struct nsreg_ns nsreg_ns;

typedef struct nsreg_ipconfig {
    char *address;
    uint8_t prefix_length;
} nsreg_ipconfig;

typedef struct nsreg_route {
    char *next_hop;           /* may be NULL */
    char *destination_prefix; /* may be NULL */
    uint16_t metric;
} nsreg_route;

/* Where a NIC is (src/host/res_network.c moves it along). */
enum nsreg_nic_state {
    NIC_RESOLVING = 0, /* Add is waiting for its interface to appear */
    NIC_PENDING,       /* found, in the agent's namespace, not configured */
    NIC_CONFIGURING,   /* being moved and configured (DHCP may be running) */
    NIC_CONFIGURED,    /* in the sandbox's namespace (or configured in place) */
};

/* A rule the agent added for a NIC (policy routing), deleted with it. */
typedef struct nsreg_rule {
    int family;
    unsigned char addr[16];
} nsreg_rule;

/* An LCOWNetworkAdapter (internal/protocol/guestresource/resources.go) and
 * what the agent did with it. nsreg_ns_add_adapter copies the host's part;
 * the rest belongs to the configurer. */
typedef struct nsreg_adapter {
    char *id;              /* compared case-insensitively */
    char *dns_suffix;      /* comma-separated search domains, may be NULL */
    char *dns_server_list; /* comma-separated servers, may be NULL */
    uint16_t encap_overhead;
    bool vpci_assigned;
    bool policy_based_routing;
    bool enable_low_metric;
    nsreg_ipconfig *ips;
    size_t nips;
    nsreg_route *routes;
    size_t nroutes;
    /* the configurer's */
    char *ifname;
    enum nsreg_nic_state state;
    bool in_place;         /* configured in the agent's own namespace (host network) */
    nsreg_rule *rules;
    size_t nrules;
} nsreg_adapter;

typedef struct nsreg_strv {
    char **v;
    size_t n;
} nsreg_strv;

nsreg *nsreg_new(void);
/* Frees every namespace and adapter. Accepts NULL; returns NULL. */
nsreg *nsreg_free(nsreg *reg);

/* The namespace for id, or NULL with err = `namespace '<id>' not found`
 * (HR_NOT_FOUND). */
nsreg_ns *nsreg_get(nsreg *reg, const char *id, gcs_err *err);
/* The namespace for id, created when missing (even for id ""). */
nsreg_ns *nsreg_get_or_create(nsreg *reg, const char *id);
/* Remove the namespace; a missing one is not an error. Fails with
 * `network namespace '<id>' contains adapters` while NICs remain. */
int nsreg_remove(nsreg *reg, const char *id, gcs_err *err);
size_t nsreg_count(const nsreg *reg);

const char *nsreg_ns_id(const nsreg_ns *ns);
/* Copies a. Duplicate adapter ID (case-insensitive):
 * `adapter with id: '<id>' already present in namespace`. */
int nsreg_ns_add_adapter(nsreg_ns *ns, const nsreg_adapter *a, gcs_err *err);
/* Remove by ID; a missing adapter is not an error. Returns true if removed. */
bool nsreg_ns_remove_adapter(nsreg_ns *ns, const char *adapter_id);
size_t nsreg_ns_adapter_count(const nsreg_ns *ns);
const nsreg_adapter *nsreg_ns_adapter(const nsreg_ns *ns, size_t i);
/* The same, for the configurer; also by ID (case-insensitive) with its index. */
nsreg_adapter *nsreg_ns_adapter_mut(nsreg_ns *ns, size_t i);
nsreg_adapter *nsreg_ns_find_adapter(nsreg_ns *ns, const char *adapter_id, size_t *ret_index);
void nsreg_adapter_add_rule(nsreg_adapter *a, int family, const void *addr);
/* Fails with `previously assigned container pid <p> to network namespace "<id>"`. */
int nsreg_ns_assign_pid(nsreg_ns *ns, int pid, gcs_err *err);
int nsreg_ns_pid(const nsreg_ns *ns);
/* Unbind the namespace from its container (the sandbox went): pid 0. */
void nsreg_ns_clear_pid(nsreg_ns *ns);
/* Extra state the configurer keeps per namespace: the sandbox's netns
 * (an open fd, -1 none), whether the pod uses the VM's own namespace, and
 * the container the namespace is bound to. */
typedef struct nsreg_ns_bind {
    int netns_fd;
    bool host_network;
    char *owner;   /* container ID, NULL when unbound */
    bool released; /* was bound, and its container went */
} nsreg_ns_bind;
nsreg_ns_bind *nsreg_ns_binding(nsreg_ns *ns);

/* DNS config across all NICs, in NIC order: comma split, trimmed, lower-cased,
 * first occurrence kept. Empty items are dropped (deliberate difference:
 * upstream kept "" from "a,,b", which would write "search a  b";
 * test_dns_empty_items_dropped). */
void nsreg_ns_dns_config(const nsreg_ns *ns, nsreg_strv *ret_searches, nsreg_strv *ret_servers);
void nsreg_strv_done(nsreg_strv *v);
/* The resolv.conf content for ns (its NICs' DNS servers and suffixes, in
 * order); ns NULL gives "". */
int nsreg_ns_resolv_conf(const nsreg_ns *ns, char **ret, gcs_err *err);
