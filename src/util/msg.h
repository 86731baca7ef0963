/* msg.h - the names of kimchid's error ids: one table (msgs.def) gives each its id. */
#ifndef KIMCHID_MSG_H
#define KIMCHID_MSG_H

#include <stddef.h>

enum msg {
#define MSG(name, id, meaning) name,
#include "msgs.def"
#undef MSG
    MSG_COUNT
};

/* The id of a message name, as msgs.def gives it. Static string. */
const char *msg_id(enum msg m);

/* The one-line meaning of a message name, for the table's test and docs. Static string. */
const char *msg_meaning(enum msg m);

#endif
