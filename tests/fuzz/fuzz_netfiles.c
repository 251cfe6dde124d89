/* libFuzzer: the networking files (network/netfiles.h) and the DNS
 * aggregation feeding resolv.conf (network/nsreg.h).
 * Input: hostname length byte, hostname bytes (may hold NUL or newline),
 * then up to 3 adapters as dns_suffix \0 dns_server_list \0 ... .
 * Asserts: an accepted hostname has no NUL, its hostname file is exactly one
 * line and its hosts file exactly 9 lines (nothing injected); the DNS lists
 * are trimmed, lower-case, non-empty and unique; a generated resolv.conf has
 * only "search ", "nameserver " and "options " lines, each ending in '\n',
 * one search line of at most 6 domains and one nameserver line per server. */
#include "network/netfiles.h"
#include "network/nsreg.h"

#include "fuzz_input.h"

#include <ctype.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void check_hostname(const char *h, size_t len)
{
    gcs_err err = GCS_ERR_INIT;
    if (netfiles_validate_hostname_n(h, len, &err) < 0) {
        FUZZ_CHECK(err_isset(&err), "refused hostname without an error");
        err_clear(&err);
        return;
    }
    FUZZ_CHECK(strnlen(h, len) == len, "hostname with a NUL accepted");
    cleanup_free char *hs = xstrndup(h, len);
    FUZZ_CHECK(netfiles_validate_hostname(hs, &err) == 0, "counted and C-string validators disagree on \"%s\"", hs);
    cleanup_free char *name = netfiles_hostname_content(hs);
    FUZZ_CHECK(count_char(name, '\n') == 1 && name[strlen(name) - 1] == '\n', "hostname file \"%s\"", name);
    cleanup_free char *hosts = netfiles_hosts_content(hs);
    FUZZ_CHECK(count_char(hosts, '\n') == 9 && hosts[strlen(hosts) - 1] == '\n', "hosts file for \"%s\":\n%s", hs,
               hosts);
    FUZZ_CHECK(!strchr(hs, '\r') && !strchr(hs, ' ') && !strchr(hs, '#'), "odd hostname \"%s\" accepted", hs);
}

static void check_strv(const nsreg_strv *v, const char *what)
{
    for (size_t i = 0; i < v->n; i++) {
        const char *s = v->v[i];
        FUZZ_CHECK(*s, "empty %s item", what);
        FUZZ_CHECK(!isspace((unsigned char)s[0]) && !isspace((unsigned char)s[strlen(s) - 1]), "untrimmed %s \"%s\"",
                   what, s);
        for (const char *p = s; *p; p++)
            FUZZ_CHECK(!isupper((unsigned char)*p) && *p != ',', "%s item \"%s\" not lower-cased or split", what, s);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(v->v[j], s) != 0, "duplicate %s \"%s\"", what, s);
    }
    FUZZ_CHECK(v->n == 0 || v->v[v->n] == NULL, "%s vector not NULL-terminated", what);
}

static void check_resolv(const char *const *fields, size_t nf, bool with_options)
{
    nsreg *reg = nsreg_new();
    nsreg_ns *ns = nsreg_get_or_create(reg, "NS");
    for (size_t i = 0; i + 1 < nf; i += 2) {
        char id[8];
        snprintf(id, sizeof(id), "nic%zu", i / 2);
        nsreg_adapter a = {.id = id, .dns_suffix = (char *)fields[i], .dns_server_list = (char *)fields[i + 1]};
        gcs_err err = GCS_ERR_INIT;
        FUZZ_CHECK(nsreg_ns_add_adapter(ns, &a, &err) == 0, "add adapter %s: %s", id, err_msg(&err));
    }
    nsreg_strv se = {0}, sv = {0};
    nsreg_ns_dns_config(ns, &se, &sv);
    check_strv(&se, "search");
    check_strv(&sv, "server");

    static const char *const opts[] = {"ndots:5", "timeout:1"};
    char *out = NULL;
    gcs_err err = GCS_ERR_INIT;
    int r = netfiles_resolv_conf_content((const char *const *)se.v, se.n, (const char *const *)sv.v, sv.n, opts,
                                         with_options ? 2 : 0, &out, &err);
    if (r < 0) {
        FUZZ_CHECK(err_isset(&err), "resolv.conf refused without an error");
        err_clear(&err);
    } else {
        FUZZ_CHECK(se.n <= NETFILES_MAX_DNS_SEARCHES, "%zu searches accepted", se.n);
        size_t nsearch = 0, nserver = 0, nopt = 0;
        const char *p = out;
        while (*p) {
            const char *nl = strchr(p, '\n');
            FUZZ_CHECK(nl, "resolv.conf does not end in a newline:\n%s", out);
            if (str_has_prefix(p, "search "))
                nsearch++;
            else if (str_has_prefix(p, "nameserver "))
                nserver++;
            else if (str_has_prefix(p, "options "))
                nopt++;
            else
                FUZZ_CHECK(false, "resolv.conf line \"%.*s\":\n%s", (int)(nl - p), p, out);
            p = nl + 1;
        }
        FUZZ_CHECK(nsearch == (se.n > 0) && nserver == sv.n && nopt == (with_options ? 1u : 0u),
                   "resolv.conf has %zu search, %zu nameserver, %zu options lines for %zu/%zu:\n%s", nsearch,
                   nserver, nopt, se.n, sv.n, out);
        free(out);
    }
    nsreg_strv_done(&se);
    nsreg_strv_done(&sv);
    nsreg_free(reg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t hl = data[0] & 0x7f;
    bool with_options = data[0] & 0x80;
    if (hl > size - 1)
        hl = size - 1;
    check_hostname((const char *)data + 1, hl);

    fuzz_fields ff;
    fuzz_split(data + 1 + hl, size - 1 - hl, 6, &ff);
    check_resolv(ff.f, 6, with_options);
    fuzz_fields_done(&ff);
    return 0;
}
