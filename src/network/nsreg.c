/* nsreg.c — see nsreg.h. */
#include "network/nsreg.h"
#include "network/netfiles.h"

#include "common/strmap.h"

#include <ctype.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct nsreg_ns {
    char *id;
    int pid;
    nsreg_ns_bind bind;
    nsreg_adapter *nics;
    size_t nnics;
};

struct nsreg {
    strmap *map; /* lower-case id -> nsreg_ns */
};

static void adapter_done(nsreg_adapter *a)
{
    free(a->id);
    free(a->dns_suffix);
    free(a->dns_server_list);
    for (size_t i = 0; i < a->nips; i++)
        free(a->ips[i].address);
    free(a->ips);
    for (size_t i = 0; i < a->nroutes; i++) {
        free(a->routes[i].next_hop);
        free(a->routes[i].destination_prefix);
    }
    free(a->routes);
    free(a->ifname);
    free(a->rules);
}

static void ns_free(void *p)
{
    nsreg_ns *ns = p;
    if (!ns)
        return;
    for (size_t i = 0; i < ns->nnics; i++)
        adapter_done(&ns->nics[i]);
    free(ns->nics);
    free(ns->id);
    if (ns->bind.netns_fd >= 0)
        close(ns->bind.netns_fd);
    free(ns->bind.owner);
    free(ns);
}

static char *lower(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

nsreg *nsreg_new(void)
{
    nsreg *reg = xzalloc(sizeof(*reg));
    reg->map = strmap_new(ns_free);
    return reg;
}

nsreg *nsreg_free(nsreg *reg)
{
    if (!reg)
        return NULL;
    strmap_free(reg->map);
    free(reg);
    return NULL;
}

nsreg_ns *nsreg_get(nsreg *reg, const char *id, gcs_err *err)
{
    cleanup_free char *key = lower(id);
    nsreg_ns *ns = strmap_get(reg->map, key);
    if (!ns)
        err_set(err, HR_NOT_FOUND, "namespace '%s' not found", key);
    return ns;
}

nsreg_ns *nsreg_get_or_create(nsreg *reg, const char *id)
{
    cleanup_free char *key = lower(id);
    nsreg_ns *ns = strmap_get(reg->map, key);
    if (!ns) {
        ns = xzalloc(sizeof(*ns));
        ns->id = xstrdup(key);
        ns->bind.netns_fd = -1;
        strmap_set(reg->map, key, ns);
    }
    return ns;
}

int nsreg_remove(nsreg *reg, const char *id, gcs_err *err)
{
    cleanup_free char *key = lower(id);
    nsreg_ns *ns = strmap_get(reg->map, key);
    if (!ns)
        return 0;
    if (ns->nnics > 0)
        return err_set(err, HR_E_FAIL, "network namespace '%s' contains adapters", key);
    strmap_del(reg->map, key);
    return 0;
}

size_t nsreg_count(const nsreg *reg) { return strmap_count(reg->map); }

const char *nsreg_ns_id(const nsreg_ns *ns) { return ns->id; }

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

int nsreg_ns_add_adapter(nsreg_ns *ns, const nsreg_adapter *a, gcs_err *err)
{
    const char *id = a->id ? a->id : "";
    for (size_t i = 0; i < ns->nnics; i++)
        if (strcasecmp(ns->nics[i].id, id) == 0)
            return err_set(err, HR_E_FAIL, "adapter with id: '%s' already present in namespace", id);
    ns->nics = xrealloc(ns->nics, (ns->nnics + 1) * sizeof(*ns->nics));
    nsreg_adapter *n = &ns->nics[ns->nnics++];
    *n = (nsreg_adapter){
        .id = xstrdup(id),
        .dns_suffix = dup_or_null(a->dns_suffix),
        .dns_server_list = dup_or_null(a->dns_server_list),
        .encap_overhead = a->encap_overhead,
        .vpci_assigned = a->vpci_assigned,
        .policy_based_routing = a->policy_based_routing,
        .enable_low_metric = a->enable_low_metric,
        .state = NIC_RESOLVING,
    };
    if (a->nips) {
        n->ips = xzalloc(a->nips * sizeof(*n->ips));
        for (size_t i = 0; i < a->nips; i++)
            n->ips[i] = (nsreg_ipconfig){dup_or_null(a->ips[i].address), a->ips[i].prefix_length};
        n->nips = a->nips;
    }
    if (a->nroutes) {
        n->routes = xzalloc(a->nroutes * sizeof(*n->routes));
        for (size_t i = 0; i < a->nroutes; i++)
            n->routes[i] = (nsreg_route){dup_or_null(a->routes[i].next_hop),
                                         dup_or_null(a->routes[i].destination_prefix), a->routes[i].metric};
        n->nroutes = a->nroutes;
    }
    return 0;
}

bool nsreg_ns_remove_adapter(nsreg_ns *ns, const char *adapter_id)
{
    for (size_t i = 0; i < ns->nnics; i++) {
        if (strcasecmp(ns->nics[i].id, adapter_id) == 0) {
            adapter_done(&ns->nics[i]);
            memmove(&ns->nics[i], &ns->nics[i + 1], (ns->nnics - i - 1) * sizeof(*ns->nics));
            ns->nnics--;
            return true;
        }
    }
    return false;
}

size_t nsreg_ns_adapter_count(const nsreg_ns *ns) { return ns->nnics; }

const nsreg_adapter *nsreg_ns_adapter(const nsreg_ns *ns, size_t i) { return i < ns->nnics ? &ns->nics[i] : NULL; }

int nsreg_ns_assign_pid(nsreg_ns *ns, int pid, gcs_err *err)
{
    if (ns->pid != 0)
        return err_set(err, HR_E_FAIL, "previously assigned container pid %d to network namespace \"%s\"", ns->pid,
                       ns->id);
    ns->pid = pid;
    return 0;
}

int nsreg_ns_pid(const nsreg_ns *ns) { return ns->pid; }

void nsreg_ns_clear_pid(nsreg_ns *ns) { ns->pid = 0; }

nsreg_ns_bind *nsreg_ns_binding(nsreg_ns *ns) { return &ns->bind; }

nsreg_adapter *nsreg_ns_adapter_mut(nsreg_ns *ns, size_t i) { return i < ns->nnics ? &ns->nics[i] : NULL; }

nsreg_adapter *nsreg_ns_find_adapter(nsreg_ns *ns, const char *adapter_id, size_t *ret_index)
{
    for (size_t i = 0; i < ns->nnics; i++) {
        if (strcasecmp(ns->nics[i].id, adapter_id ? adapter_id : "") == 0) {
            if (ret_index)
                *ret_index = i;
            return &ns->nics[i];
        }
    }
    return NULL;
}

void nsreg_adapter_add_rule(nsreg_adapter *a, int family, const void *addr)
{
    a->rules = xrealloc(a->rules, (a->nrules + 1) * sizeof(*a->rules));
    nsreg_rule *r = &a->rules[a->nrules++];
    memset(r, 0, sizeof(*r));
    r->family = family;
    memcpy(r->addr, addr, family == AF_INET ? 4 : 16);
}

static void strv_add_unique(nsreg_strv *v, const char *item, size_t len)
{
    while (len > 0 && isspace((unsigned char)*item))
        item++, len--;
    while (len > 0 && isspace((unsigned char)item[len - 1]))
        len--;
    if (len == 0)
        return;
    char *s = xstrndup(item, len);
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->v[i], s) == 0) {
            free(s);
            return;
        }
    }
    v->v = xrealloc(v->v, (v->n + 2) * sizeof(*v->v));
    v->v[v->n++] = s;
    v->v[v->n] = NULL;
}

static void split_into(nsreg_strv *v, const char *list)
{
    if (str_empty(list))
        return;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        strv_add_unique(v, p, len);
        if (!comma)
            break;
        p = comma + 1;
    }
}

void nsreg_ns_dns_config(const nsreg_ns *ns, nsreg_strv *ret_searches, nsreg_strv *ret_servers)
{
    *ret_searches = (nsreg_strv){NULL, 0};
    *ret_servers = (nsreg_strv){NULL, 0};
    for (size_t i = 0; i < ns->nnics; i++) {
        split_into(ret_searches, ns->nics[i].dns_suffix);
        split_into(ret_servers, ns->nics[i].dns_server_list);
    }
}

void nsreg_strv_done(nsreg_strv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

int nsreg_ns_resolv_conf(const nsreg_ns *ns, char **ret, gcs_err *err)
{
    *ret = NULL;
    if (!ns) {
        *ret = xstrdup("");
        return 0;
    }
    nsreg_strv searches = {0}, servers = {0};
    nsreg_ns_dns_config(ns, &searches, &servers);
    int r = netfiles_resolv_conf_content((const char *const *)searches.v, searches.n, (const char *const *)servers.v,
                                         servers.n, NULL, 0, ret, err);
    nsreg_strv_done(&searches);
    nsreg_strv_done(&servers);
    return r;
}
