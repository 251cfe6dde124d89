/* annotations.c — see annotations.h. */
#include "pod/annotations.h"

#include "common/util.h"

#include <errno.h>
#include <strings.h>

int pod_parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (streq(s, yes[i])) {
            *ret = true;
            return 0;
        }
        if (streq(s, no[i])) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

const char *pod_annotation(const json_t *annotations, const char *key)
{
    if (!json_is_object(annotations))
        return NULL;
    return json_string_value(json_object_get(annotations, key));
}

bool pod_annotation_bool(const json_t *annotations, const char *key, bool def)
{
    const char *v = pod_annotation(annotations, key);
    bool b;
    if (!v || pod_parse_bool(v, &b) < 0)
        return def;
    return b;
}

bool pod_annotation_skip_networking(const json_t *annotations)
{
    const char *v = pod_annotation(annotations, POD_ANN_SKIP_POD_NETWORKING);
    return v && strcasecmp(v, "true") == 0;
}
