/* spec.c — build OCI specs for `gcsctl create --kind`. */
#include "gcsctl/spec.h"

#include "pod/annotations.h"

#include <errno.h>
#include <fcntl.h>

#define CAPS                                                                                                           \
    "[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_FSETID\",\"CAP_FOWNER\",\"CAP_MKNOD\",\"CAP_NET_RAW\","                 \
    "\"CAP_SETGID\",\"CAP_SETUID\",\"CAP_SETFCAP\",\"CAP_SETPCAP\",\"CAP_NET_BIND_SERVICE\",\"CAP_SYS_CHROOT\","       \
    "\"CAP_KILL\",\"CAP_AUDIT_WRITE\"]"

/* Close to hcsshim's default Linux spec: Docker's capability set, the usual
 * pseudo-filesystems, a private pid/ipc/uts/mount namespace, a device
 * allow-list, masked and read-only /proc paths. root and args are filled in. */
static const char DEFAULT_SPEC[] =
    "{\"ociVersion\":\"1.0.1\","
    "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[],"
    "\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"TERM=xterm\"],"
    "\"cwd\":\"/\",\"capabilities\":{"
    "\"bounding\":" CAPS ",\"effective\":" CAPS ",\"inheritable\":" CAPS ",\"permitted\":" CAPS "}},"
    "\"root\":{\"path\":\"\",\"readonly\":true},"
    "\"mounts\":["
    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
    "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\",\"gid=5\"]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
    "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}"
    "],"
    "\"linux\":{\"resources\":{\"devices\":["
    "{\"allow\":false,\"access\":\"rwm\"},"
    "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"},"
    "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":5,\"access\":\"rwm\"},"
    "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":8,\"access\":\"rwm\"},"
    "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":9,\"access\":\"rwm\"},"
    "{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":0,\"access\":\"rwm\"},"
    "{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":1,\"access\":\"rwm\"}]},"
    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}],"
    "\"maskedPaths\":[\"/proc/kcore\",\"/proc/keys\",\"/proc/latency_stats\",\"/proc/timer_list\","
    "\"/proc/timer_stats\",\"/proc/sched_debug\",\"/proc/scsi\",\"/sys/firmware\"],"
    "\"readonlyPaths\":[\"/proc/asound\",\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
    "\"/proc/sysrq-trigger\"]}}";

int ctlspec_kind_parse(const char *s, enum ctlspec_kind *ret)
{
    static const char *const names[] = {"sandbox", "workload", "standalone"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (streq(s, names[i])) {
            *ret = (enum ctlspec_kind)i;
            return 0;
        }
    }
    return -EINVAL;
}

static json_t *default_spec(void)
{
    json_error_t je;
    json_t *s = json_loads(DEFAULT_SPEC, 0, &je);
    if (!s) {
        /* a compile-time constant: a parse error is a bug, not a condition */
        fprintf(stderr, "gcsctl: built-in spec: %s at %d\n", je.text, je.position);
        abort();
    }
    return s;
}

json_t *ctlspec_build(const ctlspec_opts *o)
{
    json_t *s = default_spec();
    json_t *process = json_object_get(s, "process");
    json_t *args = json_array();
    if (o->nargs) {
        for (size_t i = 0; i < o->nargs; i++)
            json_array_append_new(args, json_string(o->args[i]));
    } else {
        /* busybox sleep takes no "infinity" */
        json_array_append_new(args, json_string("/bin/sh"));
        json_array_append_new(args, json_string("-c"));
        json_array_append_new(args, json_string("while :; do sleep 3600; done"));
    }
    json_object_set_new(process, "args", args);
    if (o->terminal)
        json_object_set_new(process, "terminal", json_true());
    json_object_set_new(json_object_get(s, "root"), "path", json_string(o->rootfs));
    if (!str_empty(o->hostname))
        json_object_set_new(s, "hostname", json_string(o->hostname));
    if (o->memory_limit > 0) {
        json_t *mem = json_object();
        json_object_set_new(mem, "limit", json_integer(o->memory_limit));
        json_object_set_new(json_object_get(json_object_get(s, "linux"), "resources"), "memory", mem);
    }

    json_t *ann = json_object();
    if (o->kind != CTLSPEC_STANDALONE)
        json_object_set_new(ann, POD_ANN_CONTAINER_TYPE,
                            json_string(o->kind == CTLSPEC_SANDBOX ? "sandbox" : "container"));
    if (o->kind == CTLSPEC_SANDBOX)
        json_object_set_new(ann, POD_ANN_SANDBOX_ID, json_string(o->id));
    else if (o->kind == CTLSPEC_WORKLOAD && o->sandbox_id)
        json_object_set_new(ann, POD_ANN_SANDBOX_ID, json_string(o->sandbox_id));
    if (o->vpid)
        json_object_set_new(ann, POD_ANN_VIRTUAL_POD_ID, json_string(o->vpid));
    if (o->skip_networking)
        json_object_set_new(ann, POD_ANN_SKIP_POD_NETWORKING, json_string("true"));
    else if (o->kind == CTLSPEC_SANDBOX) /* a network namespace of its own, for the NICs of `gcsctl nic` */
        json_array_append_new(json_object_get(json_object_get(s, "linux"), "namespaces"),
                              json_pack("{s:s}", "type", "network"));
    json_object_set_new(s, "annotations", ann);

    json_t *win = json_object();
    json_object_set_new(win, "layerFolders", json_null());
    if (!str_empty(o->netns)) {
        json_t *net = json_object();
        json_object_set_new(net, "networkNamespace", json_string(o->netns));
        json_object_set_new(win, "network", net);
    }
    json_object_set_new(s, "windows", win);
    return s;
}

json_t *ctlspec_container_config(json_t *spec, const char *bundle)
{
    json_t *doc = json_object();
    json_t *ver = json_object();
    json_object_set_new(ver, "Major", json_integer(2));
    json_object_set_new(ver, "Minor", json_integer(1));
    json_object_set_new(doc, "SchemaVersion", ver);
    json_object_set_new(doc, "OciBundlePath", json_string(bundle));
    json_object_set_new(doc, "OciSpecification", spec);
    json_object_set_new(doc, "ScratchDirPath", json_string(""));
    return doc;
}

char *ctlspec_new_guid(void)
{
    uint8_t b[16] = {0};
    cleanup_close int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read_all(fd, b, sizeof(b)) < 0) {
        /* no randomness: still unique enough for a name within one VM */
        uint64_t t = now_ns() ^ ((uint64_t)getpid() << 32);
        memcpy(b, &t, sizeof(t));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
                     b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
