/* nic.c — see nic.h. */
#include "network/nic.h"

#include "common/path.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>

int nic_check_id(const char *id, gcs_err *err)
{
    if (str_empty(id) || strchr(id, '/') || streq(id, ".") || streq(id, "..") || strlen(id) > 255)
        return err_set(err, HR_E_INVALIDARG, "adapter ID \"%s\" is not a device instance ID", id ? id : "");
    return 0;
}

/* The entries of dir whose name starts with prefix (all when NULL):
 * the count, and the first in *ret_first. -errno if dir cannot be read. */
static int entries(const char *dir, const char *prefix, char **ret_first)
{
    *ret_first = NULL;
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (prefix && !str_has_prefix(de->d_name, prefix))
            continue;
        if (n++ == 0)
            *ret_first = xstrdup(de->d_name);
    }
    return n;
}

/* One element below dir starting with prefix: 1 found (*ret = dir/name),
 * 0 none yet, <0 several. */
static int one_below(const char *dir, const char *prefix, char **ret, char **why, gcs_err *err)
{
    cleanup_free char *first = NULL;
    int n = entries(dir, prefix, &first);
    if (n <= 0) {
        *why = xasprintf("%s/%s*", dir, prefix ? prefix : "");
        return 0;
    }
    if (n > 1)
        return err_set(err, HR_E_FAIL, "multiple devices matching %s/%s*", dir, prefix ? prefix : "");
    *ret = path_join(dir, first);
    return 1;
}

int nic_lookup(const char *sysfs_root, const char *id, bool vpci, char **ret_ifname, char **ret_why, gcs_err *err)
{
    *ret_ifname = NULL;
    *ret_why = NULL;
    int r = nic_check_id(id, err);
    if (r < 0)
        return r;
    cleanup_free char *lid = xstrdup(id);
    for (char *p = lid; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    cleanup_free char *dev = xasprintf("%s/bus/vmbus/devices/%s", sysfs_root, lid);
    cleanup_free char *netdir = NULL;
    if (vpci) {
        /* <id>/pci<dom>:<bus> (e.g. pci1234:00), then <dom>:<bus>:* below it */
        cleanup_free char *bus = NULL;
        if ((r = one_below(dev, "pci", &bus, ret_why, err)) <= 0)
            return r;
        const char *base = strrchr(bus, '/') + 1 + 3;
        cleanup_free char *fn = NULL;
        if ((r = one_below(bus, base, &fn, ret_why, err)) <= 0)
            return r;
        netdir = path_join(fn, "net");
    } else {
        netdir = path_join(dev, "net");
    }
    cleanup_free char *name = NULL;
    int n = entries(netdir, NULL, &name);
    if (n <= 0) {
        *ret_why = xstrdup(netdir);
        return 0;
    }
    if (n > 1)
        return err_set(err, HR_E_FAIL, "multiple interface names found for adapter %s", id);
    if (strlen(name) >= IFNAMSIZ)
        return err_set(err, HR_E_FAIL, "adapter %s: interface name %s too long", id, name);
    *ret_ifname = steal_pointer(&name);
    return 1;
}
