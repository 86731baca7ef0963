/* config.c - options: defaults, then the config file (-c), then the command line. */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "util/cidr.h"
#include "util/net.h"
#include "util/timers.h"

#ifndef KIMCHID_VERSION
#define KIMCHID_VERSION "0.1.0"
#endif
#ifndef KIMCHID_DATADIR
#define KIMCHID_DATADIR "/usr/local/share/kimchid"
#endif

static const char usage[] =
    "Usage: kimchid [OPTION]...\n"
    "A virtual machine manager for libvirt/KVM hosts that speaks Kimchi's REST API.\n\n"
    "  -c, --config FILE       read options from FILE (lines \"name = value\")\n"
    "  -l, --listen ADDR:PORT  address to listen on (default 0.0.0.0:8001)\n"
    "  -u, --uri URI           libvirt URI (default qemu:///system)\n"
    "  -s, --state-dir DIR     task database and certificate (default /var/lib/kimchid)\n"
    "      --ui-dir DIR        web UI files (default: ui/ beside the binary, else " KIMCHID_DATADIR
    "/ui)\n"
    "      --tls-cert FILE     PEM certificate (default: self-signed, made on first start)\n"
    "      --tls-key FILE      PEM private key for --tls-cert\n"
    "      --http              plain HTTP; only on a loopback address (reverse proxy, tests)\n"
    "      --audit-log FILE    the audit trail (default STATE-DIR/audit.log)\n"
    "      --audit-max SIZE    past SIZE bytes (K, M or G suffix) the trail becomes FILE.1,\n"
    "                          replacing the one before (default 64M; 0: never)\n"
    "      --trusted-proxy ADDR  the reverse proxy's address: its X-Forwarded-For and\n"
    "                          X-Forwarded-Proto are believed (default: none)\n"
    "      --server-name NAMES  the DNS names clients use for kimchid, comma-separated\n"
    "                          (besides its addresses, localhost and the host name)\n"
    "      --log-level LEVEL   error, warn, info (default) or debug\n"
    "      --workers N         task worker threads (default 4)\n"
    "      --task-ttl SECONDS  purge finished tasks older than this (default 86400)\n"
    "      --pam-service NAME  PAM service for logins (default kimchid, else login)\n"
    "      --admin-group NAME  members may change guests, with root (default sudo)\n"
    "      --session-idle S    a session unused this long ends (default 600)\n"
    "      --session-lifetime S  a session ends this long after login (default 28800)\n"
    "      --account-recheck S  read a logged-in account again (locked, removed, its rights\n"
    "                          changed?) at least this often (default 60)\n"
    "      --lockout-seconds S after 3 failed logins in 30 s, refuse the address (and the\n"
    "                          user, from new places) this long, doubling in a row (60)\n"
    "      --known-hosts-strict  trust no new host's ssh key unless the move gives it\n"
    "                          (host_key, shown by the Migrate dialog)\n"
    "      --stall-timeout S   stop a migration that moved no data for this long (default 60)\n"
    "      --converge-timeout S  stop a live migration whose remaining data has not shrunk\n"
    "                          for this long (default 300; 0: never)\n"
    "      --migration-network CIDR  send guests' memory and disks to the destination's\n"
    "                          address in this network (e.g. 198.19.0.0/24); default:\n"
    "                          the address kimchid reaches it at\n"
    "      --maintenance-file F  this host's maintenance marker (default\n"
    "                          /var/lib/libvirt/kimchid-maintenance: where other kimchids\n"
    "                          look for it)\n"
    "      --completion-timeout S  a live migration's time budget: S seconds per GiB of\n"
    "                          guest memory and copied disks, at least 120 s (default 150;\n"
    "                          0: none); past it the move is stopped\n"
    "      --shutdown-timeout S  on SIGTERM, let running tasks finish this long (default 60)\n"
    "Waits on the other host (seconds; the defaults suit real hosts, shorter ones a test lab):\n"
    "      --settle-timeout S  after a failed move, a host that does not answer for this long\n"
    "                          counts as away for that round of asking (default 30)\n"
    "      --settle-interval S  between rounds of asking both hosts where a guest is (5)\n"
    "      --libvirt-open-timeout S  a connection to a host's libvirt opens within this, or\n"
    "                          is tried once more, then counts as hung (default 20)\n"
    "      --knock-timeout S   the other host's ssh port answers within this (default 3)\n"
    "      --ssh-connect-timeout S  ssh's ConnectTimeout for libvirt's connections (15)\n"
    "      --ssh-alive-interval S  ssh's ServerAliveInterval: 3 unanswered probes end the\n"
    "                          connection (default 5)\n"
    "      --postcopy-recover-timeout S  how long a post-copy move split by the network is\n"
    "                          tried to recover (default 600)\n"
    "      --postcopy-recover-interval S  between post-copy recovery attempts (default 5)\n"
    "      --postcopy-pause-after S  a broken post-copy move whose pages stopped for S s is\n"
    "                          paused on both hosts and resumed over a new connection\n"
    "                          (default 60)\n"
    "  -h, --help              show this help\n"
    "  -V, --version           show the version\n";

enum {
    OPT_UI = 256,
    OPT_CERT,
    OPT_KEY,
    OPT_HTTP,
    OPT_STRICT_HOSTS,
    OPT_LOG,
    OPT_WORKERS,
    OPT_TTL,
    OPT_PAM,
    OPT_ADMIN,
    OPT_IDLE,
    OPT_LIFE,
    OPT_LOCK,
    OPT_STALL,
    OPT_CONVERGE,
    OPT_COMPLETION,
    OPT_NETWORK,
    OPT_MAINT_FILE,
    OPT_SHUTDOWN,
    OPT_PROXY,
    OPT_NAME,
    OPT_AUDIT,
    OPT_AUDIT_MAX,
    OPT_RECHECK,
/* The timers' options (util/timers.h), written once: option name, field, bounds. Each
 * becomes an option id, a getopt entry and a row of timer_opts, in this order. */
#define TIMER_OPTS(X)                                                                              \
    X("settle-timeout", settle_s, 1, 3600)                                                         \
    X("settle-interval", settle_every_s, 1, 300)                                                   \
    X("libvirt-open-timeout", open_s, 1, 600)                                                      \
    X("knock-timeout", knock_s, 1, 60)                                                             \
    X("ssh-connect-timeout", ssh_connect_s, 1, 600)                                                \
    X("ssh-alive-interval", ssh_alive_s, 1, 300)                                                   \
    X("postcopy-recover-timeout", recover_s, 0, 86400)                                             \
    X("postcopy-recover-interval", recover_every_s, 1, 300)                                        \
    X("postcopy-pause-after", pc_pause_s, 1, 3600)
#define TIMER_ID(name, field, lo, hi) OPT_TIMER_##field,
    TIMER_OPTS(TIMER_ID) OPT_TIMER_END
};
#define OPT_TIMER_FIRST OPT_TIMER_settle_s

static const struct timer_opt {
    const char *name;
    size_t off;
    long min, max;
} timer_opts[] = {
#define TIMER_ROW(name, field, lo, hi) {name, offsetof(struct timers, field), lo, hi},
    TIMER_OPTS(TIMER_ROW)};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"uri", required_argument, NULL, 'u'},
    {"state-dir", required_argument, NULL, 's'},
    {"ui-dir", required_argument, NULL, OPT_UI},
    {"tls-cert", required_argument, NULL, OPT_CERT},
    {"tls-key", required_argument, NULL, OPT_KEY},
    {"http", no_argument, NULL, OPT_HTTP},
    {"known-hosts-strict", no_argument, NULL, OPT_STRICT_HOSTS},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"task-ttl", required_argument, NULL, OPT_TTL},
    {"pam-service", required_argument, NULL, OPT_PAM},
    {"admin-group", required_argument, NULL, OPT_ADMIN},
    {"trusted-proxy", required_argument, NULL, OPT_PROXY},
    {"server-name", required_argument, NULL, OPT_NAME},
    {"audit-log", required_argument, NULL, OPT_AUDIT},
    {"audit-max", required_argument, NULL, OPT_AUDIT_MAX},
    {"session-idle", required_argument, NULL, OPT_IDLE},
    {"session-lifetime", required_argument, NULL, OPT_LIFE},
    {"account-recheck", required_argument, NULL, OPT_RECHECK},
    {"lockout-seconds", required_argument, NULL, OPT_LOCK},
    {"stall-timeout", required_argument, NULL, OPT_STALL},
    {"converge-timeout", required_argument, NULL, OPT_CONVERGE},
    {"completion-timeout", required_argument, NULL, OPT_COMPLETION},
    {"migration-network", required_argument, NULL, OPT_NETWORK},
    {"maintenance-file", required_argument, NULL, OPT_MAINT_FILE},
    {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN},
#define TIMER_LONGOPT(name, field, lo, hi) {name, required_argument, NULL, OPT_TIMER_##field},
    /* clang-format off */
    TIMER_OPTS(TIMER_LONGOPT)
    /* clang-format on */
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : -1;
}

static int parse_listen(struct config *cfg, const char *v, struct err *e)
{
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    size_t alen = colon ? (size_t)(colon - v) : 0;
    if (alen > 1 && v[0] == '[' && v[alen - 1] == ']') {
        v++; /* [::1]:8001 */
        alen -= 2;
    }
    if (!colon || !end || *end || port < 1 || port > 65535 || alen == 0 ||
        alen >= sizeof(cfg->addr))
        return err_set(e, ERR_INVALID, M_D_OPT_LISTEN,
                       "--listen takes ADDR:PORT, e.g. 0.0.0.0:8001 or [::1]:8001; got \"%s\".", v);
    memcpy(cfg->addr, v, alen);
    cfg->addr[alen] = '\0';
    cfg->port = (int)port;
    return 0;
}

static int parse_long(const char *name, const char *v, long min, long max, long *out, struct err *e)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max)
        return err_set(e, ERR_INVALID, M_D_OPT_NUMBER, "--%s takes a number from %ld to %ld.", name,
                       min, max);
    *out = n;
    return 0;
}

/* A size in bytes, with an optional K, M or G (binary) suffix: 0, or 64K to 1T. */
static int parse_size(const char *name, const char *v, long long *out, struct err *e)
{
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    bool digits = end != v;
    int shift = !*end                ? 0
                : strchr("kK", *end) ? 10
                : strchr("mM", *end) ? 20
                : strchr("gG", *end) ? 30
                                     : -1;
    if (shift > 0)
        end++;
    if (!digits || shift < 0 || *end || n < 0 || n > (1LL << 40) >> shift ||
        (n > 0 && (n << shift) < 65536))
        return err_set(e, ERR_INVALID, M_D_OPT_NUMBER,
                       "--%s takes a size in bytes, with an optional K, M or G suffix: 0 "
                       "(never) or from 64K to 1024G; got \"%.40s\".",
                       name, v);
    *out = n << shift;
    return 0;
}

static int apply_timer(struct config *cfg, int opt, const char *v, struct err *e)
{
    const struct timer_opt *t = &timer_opts[opt - OPT_TIMER_FIRST];
    return parse_long(t->name, v, t->min, t->max, (long *)((char *)&cfg->timers + t->off), e);
}

static int apply_seconds(struct config *cfg, int opt, const char *v, struct err *e)
{
    long n;
    if (opt >= OPT_TIMER_FIRST && opt < OPT_TIMER_END)
        return apply_timer(cfg, opt, v, e);
    const char *name = opt == OPT_IDLE   ? "session-idle"
                       : opt == OPT_LIFE ? "session-lifetime"
                                         : "lockout-seconds";
    long *dst = opt == OPT_IDLE   ? &cfg->session_idle
                : opt == OPT_LIFE ? &cfg->session_lifetime
                                  : &cfg->lockout;
    if (opt != OPT_IDLE && opt != OPT_LIFE && opt != OPT_LOCK)
        return err_set(e, ERR_INVALID, M_D_OPT_UNKNOWN, "Unknown option.");
    if (parse_long(name, v, 1, 30L * 86400, &n, e) < 0)
        return -1;
    *dst = n;
    return 0;
}

static bool parse_bool(const char *v)
{
    return !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
           !strcasecmp(v, "on");
}

/* --server-name: DNS names (letters, digits, '-', '.'), comma-separated; given more than
 * once, the lists add up. */
static int add_names(struct config *cfg, const char *v, struct err *e)
{
    size_t n = strlen(v);
    if (n == 0 || n > 1000 ||
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789-.,") != n)
        return err_set(e, ERR_INVALID, M_D_OPT_SERVER_NAME,
                       "--server-name takes DNS names separated by commas (e.g. "
                       "kvm1.example.com,kvm1), not \"%.100s\".",
                       v);
    char *old = cfg->server_names, *joined = NULL;
    if (asprintf(&joined, "%s%s%s", old ? old : "", old ? "," : "", v) < 0)
        return err_oom(e);
    free(old);
    cfg->server_names = joined;
    return 0;
}

/* --migration-network: a network such as 198.19.0.0/24 */
static int set_network(struct config *cfg, const char *v, struct err *e)
{
    struct cidr c;
    if (cidr_parse(v, &c) < 0)
        return err_set(e, ERR_INVALID, M_D_OPT_NETWORK,
                       "--migration-network takes a network in CIDR notation (e.g. "
                       "198.19.0.0/24 or fd00:19::/64), not \"%.100s\".",
                       v);
    return set_str(&cfg->migration_network, v) < 0 ? err_oom(e) : 0;
}

static int apply(struct config *cfg, int opt, const char *v, struct err *e)
{
    long n;
    switch (opt) {
    case 'l':
        return parse_listen(cfg, v, e);
    case 'u':
        return set_str(&cfg->uri, v);
    case 's':
        return set_str(&cfg->state_dir, v);
    case OPT_UI:
        return set_str(&cfg->ui_dir, v);
    case OPT_CERT:
        return set_str(&cfg->tls_cert, v);
    case OPT_KEY:
        return set_str(&cfg->tls_key, v);
    case OPT_HTTP:
        cfg->http = v ? parse_bool(v) : true;
        return 0;
    case OPT_STRICT_HOSTS:
        cfg->known_hosts_strict = v ? parse_bool(v) : true;
        return 0;
    case OPT_LOG:
        if (log_level_parse(v, &cfg->log_level) < 0)
            return err_set(e, ERR_INVALID, M_D_OPT_LOG_LEVEL,
                           "--log-level takes error, warn, info or debug.");
        return 0;
    case OPT_WORKERS:
        if (parse_long("workers", v, 1, 64, &n, e) < 0)
            return -1;
        cfg->workers = (int)n;
        return 0;
    case OPT_TTL:
        if (parse_long("task-ttl", v, 60, 365L * 86400, &n, e) < 0)
            return -1;
        cfg->task_ttl = n;
        return 0;
    case OPT_RECHECK:
        if (parse_long("account-recheck", v, 1, 3600, &n, e) < 0)
            return -1;
        cfg->account_recheck = n;
        return 0;
    case OPT_STALL:
        if (parse_long("stall-timeout", v, 5, 86400, &n, e) < 0)
            return -1;
        cfg->stall_timeout = n;
        return 0;
    case OPT_CONVERGE:
        if (parse_long("converge-timeout", v, 0, 86400, &n, e) < 0)
            return -1;
        cfg->converge_timeout = n;
        return 0;
    case OPT_NETWORK:
        return set_network(cfg, v, e);
    case OPT_MAINT_FILE:
        return set_str(&cfg->maintenance_file, v);
    case OPT_COMPLETION:
        if (parse_long("completion-timeout", v, 0, 3600, &n, e) < 0)
            return -1;
        cfg->completion_timeout = n;
        return 0;
    case OPT_SHUTDOWN:
        if (parse_long("shutdown-timeout", v, 0, 3600, &n, e) < 0)
            return -1;
        cfg->shutdown_timeout = n;
        return 0;
    case OPT_PAM:
        return set_str(&cfg->pam_service, v);
    case OPT_ADMIN:
        return set_str(&cfg->admin_group, v);
    case OPT_AUDIT:
        return set_str(&cfg->audit_log, v);
    case OPT_AUDIT_MAX:
        return parse_size("audit-max", v, &cfg->audit_max, e);
    case OPT_PROXY:
        if (!net_is_ip(v))
            return err_set(e, ERR_INVALID, M_D_OPT_PROXY,
                           "--trusted-proxy takes the proxy's numeric address (e.g. 127.0.0.1), "
                           "not \"%.100s\".",
                           v);
        return set_str(&cfg->trusted_proxy, v);
    case OPT_NAME:
        return add_names(cfg, v, e);
    default:
        return apply_seconds(cfg, opt, v, e);
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int file_line(struct config *cfg, const char *path, int lineno, char *line, struct err *e)
{
    char *s = trim(line);
    if (!*s || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    char *key = s, *val = eq ? trim(eq + 1) : (char *)"true";
    if (eq)
        *eq = '\0';
    key = trim(key);
    for (const struct option *o = long_opts; o->name; o++)
        if (!strcmp(o->name, key) && o->val != 'c' && o->val != 'h' && o->val != 'V')
            return apply(cfg, o->val, val, e);
    return err_set(e, ERR_INVALID, M_D_CONF_UNKNOWN, "%s:%d: unknown option \"%s\".", path, lineno,
                   key);
}

static int load_file(struct config *cfg, const char *path, struct err *e)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set(e, ERR_INVALID, M_D_CONF_OPEN, "Cannot open the config file \"%s\".", path);
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f))
        rc = file_line(cfg, path, ++lineno, line, e);
    fclose(f);
    return rc;
}

/* ui/ above the binary: build/kimchid or build/asan/kimchid in a checkout. */
static char *default_ui_dir(void)
{
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    const char *ups[] = {"..", "../.."};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = NULL;
    if (n > 0) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
    }
    for (size_t i = 0; slash && i < 2; i++) {
        *slash = '\0';
        snprintf(dir, sizeof(dir), "%s/%s/ui", exe, ups[i]);
        if (access(dir, R_OK) == 0)
            return realpath(dir, NULL);
    }
    return strdup(KIMCHID_DATADIR "/ui");
}

static void set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->addr, sizeof(cfg->addr), "0.0.0.0");
    cfg->port = 8001;
    cfg->uri = strdup("qemu:///system");
    cfg->state_dir = strdup("/var/lib/kimchid");
    cfg->log_level = LOG_INFO;
    cfg->workers = 4;
    cfg->task_ttl = 86400;
    cfg->stall_timeout = 60;
    cfg->account_recheck = AUTH_RECHECK_SECONDS;
    timers_defaults(&cfg->timers);
    cfg->converge_timeout = 300;
    cfg->completion_timeout = 150; /* KubeVirt's completionTimeoutPerGiB */
    cfg->shutdown_timeout = 60;
    cfg->audit_max = 64LL << 20;
    cfg->admin_group = strdup("sudo");
    cfg->session_idle = 600;
    cfg->session_lifetime = 8 * 3600;
    cfg->lockout = 60;
}

/* Finds -c FILE / --config FILE / --config=FILE before the real parse. */
static const char *find_config(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            return argv[i + 1];
        if (!strncmp(argv[i], "--config=", 9))
            return argv[i] + 9;
    }
    return NULL;
}

int config_parse(int argc, char **argv, struct config *cfg, struct err *e)
{
    set_defaults(cfg);
    const char *file = find_config(argc, argv);
    if (file && load_file(cfg, file, e) < 0)
        return -1;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:l:u:s:hV", long_opts, NULL)) != -1) {
        if (opt == 'h' || opt == 'V') {
            fputs(opt == 'h' ? usage : "kimchid " KIMCHID_VERSION "\n", stdout);
            return 1;
        }
        if (opt == '?' || opt == ':')
            return err_set(e, ERR_INVALID, M_D_OPT_UNKNOWN,
                           "Unknown option or missing value: \"%s\". See kimchid --help.",
                           argv[optind - 1]);
        if (opt != 'c' && apply(cfg, opt, optarg, e) < 0)
            return -1;
    }
    if (optind < argc)
        return err_set(e, ERR_INVALID, M_D_OPT_UNKNOWN, "Unexpected argument \"%s\".",
                       argv[optind]);
    if (!cfg->ui_dir)
        cfg->ui_dir = default_ui_dir();
    if (!cfg->uri || !cfg->state_dir || !cfg->ui_dir)
        return err_oom(e);
    return 0;
}

void config_free(struct config *cfg)
{
    free(cfg->uri);
    free(cfg->state_dir);
    free(cfg->ui_dir);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->pam_service);
    free(cfg->admin_group);
    free(cfg->trusted_proxy);
    free(cfg->server_names);
    free(cfg->migration_network);
    free(cfg->maintenance_file);
    free(cfg->audit_log);
    memset(cfg, 0, sizeof(*cfg));
}
