/* main.c - start-up and shutdown order, and the signal wait; nothing else. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/auth.h"
#include "config.h"
#include "http/http.h"
#include "move/move.h"
#include "pki/pki.h"
#include "sshc/sshc.h"
#include "task/jobs.h"
#include "util/bus.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/log.h"
#include "util/maint.h"
#include "util/net.h"
#include "util/secret.h"
#include "util/statelock.h"
#include "util/trail.h"
#include "virt/virt.h"

#define PURGE_PERIOD_S 60

/* Each HTTP connection takes two descriptors (its socket and the guard's duplicate, see
 * http/guard.c): raise the soft limit towards the hard one so 1024 connections fit. */
static void raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= 4096)
        return;
    r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max > 4096 ? 4096 : r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur < 4096)
        log_warn("only %lu file descriptors allowed: fewer HTTP connections fit (raise "
                 "LimitNOFILE)",
                 (unsigned long)r.rlim_cur);
}

static int make_state_dir(const char *dir, struct err *e)
{
    if (file_mkdir(dir, 0700) == 0)
        return 0;
    return err_set(e, ERR_INTERNAL, M_D_STATE_DIR,
                   "Cannot create the state directory \"%s\": %s. Run as root or pass "
                   "--state-dir.",
                   dir, strerror(errno));
}

static int check_config(const struct config *cfg, struct err *e)
{
    if (cfg->http && !net_addr_is_loopback(cfg->addr))
        return err_set(e, ERR_INVALID, M_D_HTTP_LOOPBACK,
                       "--http serves plain HTTP and is accepted only on a loopback address "
                       "(127.0.0.1 or ::1), not \"%s\". Drop --http to serve HTTPS.",
                       cfg->addr);
    if (cfg->http && cfg->tls_cert)
        return err_set(e, ERR_INVALID, M_D_HTTP_TLS, "--http and --tls-cert exclude each other.");
    return 0;
}

/* Blocks until SIGINT or SIGTERM, purging old tasks now and then. */
static void wait_for_signal(const sigset_t *set, struct task_engine *tasks)
{
    for (;;) {
        struct timespec ts = {PURGE_PERIOD_S, 0};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("signal %d: shutting down", sig);
            return;
        }
        if (sig < 0 && errno == EAGAIN)
            task_engine_purge(tasks);
    }
}

/* Start-up can block for long (a libvirtd that accepts but does not answer, PAM, resuming
 * tasks) with SIGTERM held: a watcher thread answers it meanwhile. Before start-up is done,
 * nothing is served and every record is committed, so it ends the process at once; a signal
 * that comes as start-up ends is handed to main. */
struct startup_watch {
    const sigset_t *set;
    atomic_bool started;
    atomic_int pending; /* a signal taken after start-up ended, for main */
    pthread_t thread;
};

static void *watch_startup(void *arg)
{
    struct startup_watch *w = arg;
    while (!atomic_load(&w->started)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(w->set, NULL, &ts);
        if (sig != SIGINT && sig != SIGTERM)
            continue;
        if (atomic_load(&w->started)) {
            atomic_store(&w->pending, sig);
            break;
        }
        log_info("signal %d during start-up: stopping before serving anything", sig);
        _exit(0);
    }
    return NULL;
}

/* What the event stream keeps for clients that reconnect (the newest frames, by size). */
#define EVENTS_KEPT (2 * 1024 * 1024)

struct daemon {
    struct auth *auth;
    struct virt *virt;
    struct task_engine *tasks;
    struct api_ctx api;
    struct http_server *http;
    struct trail *audit;
    struct bus *events;
    char *cert;
    char *key;
};

static int start(struct daemon *d, const struct config *cfg, struct err *e)
{
    char db[4096];
    snprintf(db, sizeof(db), "%s/tasks.db", cfg->state_dir);
    struct auth_config ac = {.pam_service = cfg->pam_service,
                             .admin_group = cfg->admin_group,
                             .idle_seconds = cfg->session_idle,
                             .lifetime_seconds = cfg->session_lifetime,
                             .lockout_seconds = cfg->lockout,
                             .max_failures = 3,
                             .failure_window_seconds = 30,
                             .failure_floor_ms = AUTH_FAILURE_FLOOR_MS,
                             .recheck_seconds = cfg->account_recheck};
    api_actions_define(); /* before the first snapshot lists them */
    char audit[4200];
    snprintf(audit, sizeof(audit), "%s/audit.log", cfg->state_dir);
    if (!(d->auth = auth_new(&ac, e)) ||
        !(d->audit =
              trail_open(cfg->audit_log ? cfg->audit_log : audit, (size_t)cfg->audit_max, e)))
        return -1;
    if (!(d->events = bus_new(EVENTS_KEPT)))
        return err_oom(e);
    if (!cfg->http &&
        http_tls_load(cfg->state_dir, cfg->tls_cert, cfg->tls_key, &d->cert, &d->key, e) < 0)
        return -1;
    /* serving first: the pages and logins need none of what follows (see api_ctx_init) */
    d->api.auth = d->auth;
    d->api.audit = d->audit;
    d->api.events = d->events;
    api_ctx_init(&d->api);
    struct http_config hc = {cfg->addr,   cfg->port,          d->cert,          d->key,
                             cfg->ui_dir, cfg->trusted_proxy, cfg->server_names};
    if (!(d->http = http_server_start(&hc, &d->api, e)))
        return -1;
    long long t0 = clock_now_ms();
    if (!(d->virt = virt_new(cfg->uri, e)) || virt_mover_open(d->virt, e) < 0 ||
        !(d->tasks = task_engine_new(db, cfg->workers, cfg->task_ttl, e)))
        return -1;
    log_debug("libvirt open and its guests read in %lld ms", clock_now_ms() - t0);
    task_engine_purge(d->tasks);
    virt_set_events(d->virt, d->events);
    task_engine_set_events(d->tasks, d->events);
    virt_set_stall_timeout(d->virt, cfg->stall_timeout);
    virt_set_converge_timeout(d->virt, cfg->converge_timeout);
    virt_set_completion_timeout(d->virt, cfg->completion_timeout);
    task_migrate_set_network(cfg->migration_network);
    maint_init(cfg->maintenance_file);
    char ssh[1100];
    if (sshc_command_install(cfg->state_dir, ssh, sizeof(ssh), e) < 0)
        return -1;
    virt_set_ssh_command(d->virt, ssh);
    sshc_peers_init(cfg->state_dir);
    sshc_set_strict(cfg->known_hosts_strict);
    if (pki_init(cfg->state_dir, e) < 0) /* the CA that makes migrations encrypted */
        return -1;
    task_engine_set_audit(d->tasks, d->audit);
    task_jobs_register(d->tasks);
    task_engine_resume(d->tasks, d->virt); /* claims its guests before any request comes */
    d->api.virt = d->virt;
    d->api.tasks = d->tasks;
    log_info("kimchid serving %s://%s%s%s:%d/ with libvirt \"%s\"", cfg->http ? "http" : "https",
             strchr(cfg->addr, ':') ? "[" : "", cfg->addr, strchr(cfg->addr, ':') ? "]" : "",
             cfg->port, cfg->uri);
    api_ctx_ready(&d->api);
    return 0;
}

/* How long cancelled tasks get to wind down after --shutdown-timeout. */
#define CANCEL_GRACE_S 15

/* SIGTERM while tasks run: HTTP keeps answering (reads work, new tasks get 503) while they
 * finish, for at most `timeout` seconds; then what can be cancelled is cancelled. Returns
 * how many tasks still run after that. */
static size_t drain(struct daemon *d, long timeout)
{
    size_t left = task_engine_drain(d->tasks, timeout);
    if (left == 0)
        return 0;
    log_warn("%zu task(s) still running after %ld s: cancelling what can be cancelled", left,
             timeout);
    task_engine_cancel_all(d->tasks, "kimchid (shutting down)");
    left = task_engine_drain(d->tasks, CANCEL_GRACE_S);
    if (left)
        log_error("%zu task(s) could not be stopped; their records say \"running\", and the "
                  "next start of kimchid settles them",
                  left);
    return left;
}

/* Shutdown order: HTTP, then tasks (drain and join), then libvirt. */
static void stop(struct daemon *d)
{
    bus_close(d->events);    /* stream clients end, so HTTP's threads can be joined */
    api_ctx_failed(&d->api); /* requests waiting for a start-up that failed answer now */
    http_server_stop(d->http);
    api_ctx_destroy(&d->api);
    task_engine_free(d->tasks);
    virt_mover_close(d->virt);
    virt_free(d->virt);
    auth_free(d->auth);
    trail_close(d->audit);
    bus_free(d->events);
    sshc_pool_close();
    pki_done();
    secret_free(d->key); /* a memset before free may be optimized away */
    free(d->cert);
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct err e;
    struct daemon d = {0};
    err_clear(&e);
    int rc = config_parse(argc, argv, &cfg, &e);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "kimchid: %s\n", e.msg);
        config_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    log_set_level(cfg.log_level);
    /* glibc gives each thread that allocates an arena of its own (up to 8 a core), each
     * keeping what it freed; kimchid's threads allocate little and briefly, so two arenas
     * hold less memory at no measurable cost in throughput (bench/list.sh) */
    mallopt(M_ARENA_MAX, 2);
    timers = cfg.timers; /* before any thread reads them */
    /* passwords and the TLS key pass through memory: no core dump may carry them */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread: all inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    struct startup_watch w = {.set = &set};
    bool watching = pthread_create(&w.thread, NULL, watch_startup, &w) == 0;
    int started = check_config(&cfg, &e) < 0 || make_state_dir(cfg.state_dir, &e) < 0 ||
                          state_lock(cfg.state_dir, &e) < 0 || start(&d, &cfg, &e) < 0
                      ? -1
                      : 0;
    atomic_store(&w.started, true);
    if (watching)
        pthread_join(w.thread, NULL);
    if (started < 0) {
        log_error("%s", e.msg);
        rc = 1;
    } else {
        if (atomic_load(&w.pending))
            log_info("signal %d: shutting down", atomic_load(&w.pending));
        else
            wait_for_signal(&set, d.tasks);
        if (drain(&d, cfg.shutdown_timeout) > 0) {
            /* a task stuck in a remote call cannot be joined: stop serving and leave; the
             * records are on disk (each write is committed) */
            bus_close(d.events);
            http_server_stop(d.http);
            log_info("kimchid stopped, leaving running tasks to the next start");
            _exit(0);
        }
    }
    stop(&d);
    config_free(&cfg);
    log_info("kimchid stopped");
    return rc;
}
