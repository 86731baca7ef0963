/* pcdecide.c - the post-copy recovery decision (see pcdecide.h). Order matters: what is
 * certain (a completion, a half gone) before what can change (a side not answering), and
 * waiting before acting while pages still move. */
#include "pcdecide.h"

#include <jansson.h>
#include <string.h>

static bool stuck(struct pc_side s)
{
    return (s.status == PC_ACTIVE || s.status == PC_RECOVERING) && !s.moving;
}

static enum pc_action half_gone(struct pc_side src, struct pc_side dst, enum pc_ran ran)
{
    if (dst.status == PC_GONE || dst.status == PC_FAILED) /* the incoming side gave up */
        return ran == PC_RAN_NO && src.status != PC_GONE ? PC_RUN_SOURCE : PC_LOST;
    return PC_LOST; /* the source's half is gone: what it held is nowhere else */
}

enum pc_action pc_decide(struct pc_side src, struct pc_side dst, enum pc_ran dst_ran)
{
    if (src.status == PC_COMPLETED || dst.status == PC_COMPLETED)
        return PC_DONE;
    if (src.status == PC_GONE && dst.status == PC_UNKNOWN)
        return PC_WAIT; /* libvirt ends the source's QEMU when it completes the move itself:
                         * only the destination can tell that from a loss */
    if (src.status == PC_GONE || dst.status == PC_GONE || dst.status == PC_FAILED)
        return half_gone(src, dst, dst_ran);
    if (dst.status == PC_UNKNOWN && stuck(src) && src.status == PC_ACTIVE)
        return PC_PAUSE; /* the source's half is ours to pause, whatever the other side does */
    if (src.status == PC_UNKNOWN || dst.status == PC_UNKNOWN)
        return PC_WAIT; /* a host away: nothing can be decided for both from one */
    if ((src.status == PC_ACTIVE && src.moving) || (dst.status == PC_ACTIVE && dst.moving) ||
        (src.status == PC_RECOVERING && src.moving) || (dst.status == PC_RECOVERING && dst.moving))
        return PC_WAIT;
    if (src.status == PC_RECOVERING || dst.status == PC_RECOVERING)
        return PC_UNSTICK;
    if (stuck(src) || stuck(dst))
        return PC_PAUSE;
    if (src.status == PC_PAUSED && dst.status == PC_PAUSED)
        return PC_RESUME;
    /* a source not migrating (failed, or none) beside a destination still holding part of the
     * guest: the source's QEMU kept its pages, but libvirt no longer joins them */
    return PC_LOST;
}

const char *pc_action_name(enum pc_action a)
{
    switch (a) {
    case PC_DONE:
        return "done";
    case PC_WAIT:
        return "wait";
    case PC_PAUSE:
        return "pause";
    case PC_RESUME:
        return "resume";
    case PC_UNSTICK:
        return "unstick";
    case PC_RUN_SOURCE:
        return "run the source";
    case PC_LOST:
        return "lost";
    }
    return "?";
}

static enum pc_status status_of(const char *s)
{
    static const struct {
        const char *qmp;
        enum pc_status st;
    } map[] = {{"postcopy-active", PC_ACTIVE},
               {"postcopy-paused", PC_PAUSED},
               {"postcopy-recover", PC_RECOVERING},
               {"completed", PC_COMPLETED},
               {"failed", PC_FAILED},
               {"none", PC_NONE},
               {"cancelled", PC_NONE},
               {"active", PC_NONE},
               {"setup", PC_NONE}};
    for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(s, map[i].qmp) == 0)
            return map[i].st;
    return PC_UNKNOWN;
}

struct pc_side pc_side_from_qmp(const char *json, long long *transferred)
{
    struct pc_side side = {PC_UNKNOWN, false};
    json_t *root = json ? json_loads(json, 0, NULL) : NULL;
    json_t *ret = json_object_get(root, "return");
    side.status = status_of(json_string_value(json_object_get(ret, "status")));
    json_t *t = json_object_get(json_object_get(ret, "ram"), "transferred");
    if (json_is_integer(t)) {
        long long now = json_integer_value(t);
        side.moving = now > *transferred;
        *transferred = now;
    }
    json_decref(root);
    return side;
}
