/* timers.c - the waits of remote steps (see timers.h). */
#include "timers.h"

#define TIMERS_DEFAULT                                                                             \
    {                                                                                              \
        .settle_s = 30, .settle_every_s = 5, .open_s = 20, .knock_s = 3, .ssh_connect_s = 15,      \
        .ssh_alive_s = 5, .recover_s = 600, .recover_every_s = 5, .pc_pause_s = 60                 \
    }

struct timers timers = TIMERS_DEFAULT;

void timers_defaults(struct timers *t)
{
    *t = (struct timers)TIMERS_DEFAULT;
}
