/* clock.h - deadlines and elapsed time in milliseconds. */
#ifndef KIMCHID_CLOCK_H
#define KIMCHID_CLOCK_H

#include <pthread.h>
#include <time.h>

/* The time `ms` from now on clock `clk` (for pthread_cond_timedwait and the like). */
struct timespec clock_after(clockid_t clk, long ms);

/* Initialises `c` to time its waits on CLOCK_MONOTONIC (deadlines from clock_after). */
void clock_cond_init(pthread_cond_t *c);

/* CLOCK_MONOTONIC now, in milliseconds. */
long long clock_now_ms(void);

/* Milliseconds since `t`, a CLOCK_MONOTONIC time. */
long long clock_ms_since(const struct timespec *t);

#endif
