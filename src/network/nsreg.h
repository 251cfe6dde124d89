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

typedef struct nsreg nsreg;
typedef struct nsreg_ns nsreg_ns;

/* The adapter fields this module needs (a subset of LCOWNetworkAdapter). */
typedef struct nsreg_adapter {
    char *id;              /* compared case-insensitively */
    char *dns_suffix;      /* comma-separated search domains, may be NULL */
    char *dns_server_list; /* comma-separated servers, may be NULL */
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
/* Fails with `previously assigned container pid <p> to network namespace "<id>"`. */
int nsreg_ns_assign_pid(nsreg_ns *ns, int pid, gcs_err *err);
int nsreg_ns_pid(const nsreg_ns *ns);

/* DNS config across all NICs, in NIC order: comma split, trimmed, lower-cased,
 * first occurrence kept. Empty items are dropped (deliberate difference:
 * upstream kept "" from "a,,b", which would write "search a  b";
 * test_dns_empty_items_dropped). */
void nsreg_ns_dns_config(const nsreg_ns *ns, nsreg_strv *ret_searches, nsreg_strv *ret_servers);
void nsreg_strv_done(nsreg_strv *v);
/* The resolv.conf content for ns (its NICs' DNS servers and suffixes, in
 * order); ns NULL gives "". */
int nsreg_ns_resolv_conf(const nsreg_ns *ns, char **ret, gcs_err *err);
