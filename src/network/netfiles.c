/* netfiles.c — see netfiles.h. */
#include "network/netfiles.h"

#include "common/quote.h"

#include <ctype.h>
#include <errno.h>

#define HOSTNAME_RE "^[a-zA-Z0-9_\\-\\.]{0,255}$"

static bool hostname_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
}

int netfiles_validate_hostname(const char *hostname, gcs_err *err)
{
    return netfiles_validate_hostname_n(hostname, strlen(hostname), err);
}

int netfiles_validate_hostname_n(const char *hostname, size_t n, gcs_err *err)
{
    bool ok = n <= 255;
    for (size_t i = 0; ok && i < n; i++)
        ok = hostname_char_ok(hostname[i]);
    if (!ok) {
        cleanup_free char *copy = xstrndup(hostname, n);
        cleanup_free char *q = quote_go(copy);
        return err_set(err, HR_E_INVALIDARG, "hostname %s invalid: must match %s", q, HOSTNAME_RE);
    }
    return 0;
}

char *netfiles_hostname_content(const char *hostname) { return xasprintf("%s\n", hostname); }

char *netfiles_hosts_content(const char *hostname)
{
    const char *dot = strchr(hostname, '.');
    cleanup_free char *line2 = dot ? xasprintf("127.0.0.1 %s %.*s\n", hostname, (int)(dot - hostname), hostname)
                                   : xasprintf("127.0.0.1 %s\n", hostname);
    return xasprintf("127.0.0.1 localhost\n"
                     "%s"
                     "\n"
                     "# The following lines are desirable for IPv6 capable hosts\n"
                     "::1     ip6-localhost ip6-loopback\n"
                     "fe00::0 ip6-localnet\n"
                     "ff00::0 ip6-mcastprefix\n"
                     "ff02::1 ip6-allnodes\n"
                     "ff02::2 ip6-allrouters\n",
                     line2);
}

static void append(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static void append_line(char **buf, size_t *len, const char *head, const char *const *v, size_t n)
{
    append(buf, len, head);
    for (size_t i = 0; i < n; i++) {
        append(buf, len, " ");
        append(buf, len, v[i]);
    }
    append(buf, len, "\n");
}

static bool item_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
            return false;
    return true;
}

int netfiles_resolv_conf_content(const char *const *searches, size_t nsearches, const char *const *servers,
                                 size_t nservers, const char *const *options, size_t noptions, char **ret,
                                 gcs_err *err)
{
    if (nsearches > NETFILES_MAX_DNS_SEARCHES)
        return err_set(err, HR_E_INVALIDARG, "searches has more than %d domains", NETFILES_MAX_DNS_SEARCHES);
    /* an item with a newline would inject a line, one with a blank would add
     * items (found by fuzz_netfiles: a DNS suffix "a\nb" from the host) */
    const struct {
        const char *what;
        const char *const *v;
        size_t n;
    } lists[] = {{"search domain", searches, nsearches}, {"nameserver", servers, nservers},
                 {"option", options, noptions}};
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
        for (size_t i = 0; i < lists[l].n; i++)
            if (!item_ok(lists[l].v[i]))
                return err_set(err, HR_E_INVALIDARG, "resolv.conf %s \"%s\" is empty or contains a blank or a "
                               "control character", lists[l].what, lists[l].v[i]);
    char *buf = xstrdup("");
    size_t len = 0;
    if (nsearches > 0)
        append_line(&buf, &len, "search", searches, nsearches);
    for (size_t i = 0; i < nservers; i++)
        append_line(&buf, &len, "nameserver", &servers[i], 1);
    if (noptions > 0)
        append_line(&buf, &len, "options", options, noptions);
    *ret = buf;
    return 0;
}

int netfiles_write(const char *path, const char *content, gcs_err *err)
{
    int r = write_file(path, content, strlen(content), 0644);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "write %s", path);
    return 0;
}

int netfiles_write_set(const char *dir, const char *hostname, const char *resolv_conf, unsigned which,
                       gcs_err *err)
{
    int r;
    if ((which & (NETFILE_HOSTNAME | NETFILE_HOSTS)) && (r = netfiles_validate_hostname(hostname, err)) < 0)
        return r;
    static const struct {
        unsigned bit;
        const char *name;
    } files[] = {{NETFILE_HOSTNAME, "hostname"}, {NETFILE_HOSTS, "hosts"}, {NETFILE_RESOLV_CONF, "resolv.conf"}};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        if (!(which & files[i].bit))
            continue;
        cleanup_free char *content = files[i].bit == NETFILE_HOSTNAME ? netfiles_hostname_content(hostname)
                                     : files[i].bit == NETFILE_HOSTS  ? netfiles_hosts_content(hostname)
                                                                      : xstrdup(resolv_conf ? resolv_conf : "");
        cleanup_free char *path = xasprintf("%s/%s", dir, files[i].name);
        if ((r = netfiles_write(path, content, err)) < 0)
            return r;
    }
    return 0;
}
