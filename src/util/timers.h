/* timers.h - how long kimchid waits on the other side of a remote step: production values
 * by default, each an option (--settle-timeout ...) so that a test lab can wait less. */
#ifndef KIMCHID_TIMERS_H
#define KIMCHID_TIMERS_H

struct timers {
    long settle_s;        /* while settling where a guest is, a host that does not answer
                           * for this long counts as away for this round (30) */
    long settle_every_s;  /* between rounds of asking both hosts while settling (5) */
    long open_s;          /* a libvirt connection to a host opens within this, else it is
                           * tried once more and then counts as hung (20) */
    long knock_s;         /* the remote ssh port answers a TCP connect within this (3) */
    long ssh_connect_s;   /* ssh's ConnectTimeout for libvirt's connections (15) */
    long ssh_alive_s;     /* ssh's ServerAliveInterval: 3 unanswered probes end it (5) */
    long recover_s;       /* post-copy recovery is tried this long (600) */
    long recover_every_s; /* between post-copy recovery attempts (5) */
    long pc_pause_s;      /* a broken post-copy move whose pages stopped moving this long is
                             paused on both hosts, for recovery over a new connection (60) */
};

/* Set once by main before any thread starts (config.c fills them); read-only after. */
extern struct timers timers;

/* The production values. */
void timers_defaults(struct timers *t);

#endif
