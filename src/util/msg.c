/* msg.c - the table of error ids, from msgs.def. */
#include "msg.h"

static const struct {
    const char *id;
    const char *meaning;
} table[MSG_COUNT] = {
#define MSG(name, id, meaning) [name] = {id, meaning},
#include "msgs.def"
#undef MSG
};

const char *msg_id(enum msg m)
{
    return (unsigned)m < MSG_COUNT ? table[m].id : table[M_API_INTERNAL].id;
}

const char *msg_meaning(enum msg m)
{
    return (unsigned)m < MSG_COUNT ? table[m].meaning : "";
}
