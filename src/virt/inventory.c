/* inventory.c - the published snapshot of all guests. A background thread refreshes it
 * on libvirt lifecycle events and, for the figures and what has no event, every few seconds
 * while someone follows the event stream (else every half minute, and when a request asks),
 * with three bulk calls, re-reading a guest's XML only when it is new, changed state, or an
 * event named it. HTTP threads only read the snapshot. */
#include <jansson.h>
#include <libvirt/virterror.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "../util/buf.h"
#include "../util/bus.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "virt_priv.h"

/* While someone follows the event stream the figures are refreshed every REFRESH_PERIOD_S;
 * while nobody does, only every IDLE_REFRESH_S (and on events): on a real host a refresh makes
 * libvirtd ask every running guest's QEMU for its counters (at 1000 guests on the test driver
 * it is ~10 ms of this process), and nobody is looking. A request finding figures older than
 * FRESH_MS (the period and a refresh's own time: a followed list never makes it wait) asks for
 * a refresh and waits for it, at most FRESH_WAIT_MS. */
#define REFRESH_PERIOD_S 2
#define IDLE_REFRESH_S 30
#define FRESH_MS 3000
#define FRESH_WAIT_MS 500

void virt_inventory_poke(struct virt *v)
{
    pthread_mutex_lock(&v->inv_lock);
    v->dirty = true;
    pthread_cond_signal(&v->inv_cond);
    pthread_mutex_unlock(&v->inv_lock);
}

void virt_inventory_mark_stale(struct virt *v, const char *uuid)
{
    pthread_mutex_lock(&v->inv_lock);
    if (v->nstale >= 0 && v->nstale < VIRT_MAX_STALE)
        snprintf(v->stale[v->nstale++], VIR_UUID_STRING_BUFLEN, "%s", uuid);
    else
        v->nstale = -1;
    v->dirty = true;
    pthread_cond_signal(&v->inv_cond);
    pthread_mutex_unlock(&v->inv_lock);
}

/* Marks cached XML stale: the guests events named, or all of them after an overflow. */
static void apply_stale(struct virt *v, char (*uuids)[VIR_UUID_STRING_BUFLEN], int n)
{
    pthread_mutex_lock(&v->refresh_lock);
    for (size_t i = 0; i < v->ncache; i++) {
        bool named = n < 0;
        for (int j = 0; j < n && !named; j++)
            named = strcmp(v->cache[i].uuid, uuids[j]) == 0;
        if (named)
            v->cache[i].stale = true;
    }
    pthread_mutex_unlock(&v->refresh_lock);
}

/* Extension: where this (old) definition's guest was moved, or null. */
static json_t *moved_json(const struct vm_info *in)
{
    if (!in->moved_host)
        return json_null();
    return json_pack("{s:s, s:s?}", "host", in->moved_host, "at", in->moved_at);
}

/* Kimchi's bootorder: the boot devices in order, e.g. ["hd", "cdrom"]. */
static json_t *bootorder_json(const char *words)
{
    json_t *a = json_array();
    for (const char *p = words; p && *p;) {
        size_t n = strcspn(p, " ");
        json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ' ');
    }
    return a;
}

/* The actions (virt_actions_define), set before any thread reads them. */
static json_t *actions_by_state[VIRT_NSTATES];
static json_t *actions_menu;

void virt_actions_define(const struct virt_action_def *defs, size_t n)
{
    json_decref(actions_menu);
    actions_menu = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            actions_menu, json_pack("{s:s, s:s}", "name", defs[i].name, "label", defs[i].label));
    for (int s = 0; s < VIRT_NSTATES; s++) {
        json_decref(actions_by_state[s]);
        actions_by_state[s] = json_array();
        for (size_t i = 0; i < n; i++)
            if (defs[i].states & VIRT_BIT(s))
                json_array_append_new(actions_by_state[s], json_string(defs[i].name));
    }
}

json_t *virt_actions_json(void)
{
    return actions_menu ? json_deep_copy(actions_menu) : json_array();
}

static json_t *actions_json(int state)
{
    json_t *a = state >= 0 && state < VIRT_NSTATES ? actions_by_state[state] : NULL;
    return a ? json_deep_copy(a) : json_array();
}

static json_t *vm_to_json(const struct vm_info *in, int state, bool persistent, bool autostart,
                          const struct vm_stats *st)
{
    json_t *graphics = json_pack(
        "{s:s?, s:s?, s:o, s:n, s:n}", "type", in->graphics_type, "listen", in->graphics_listen,
        "port", in->graphics_port > 0 ? json_integer(in->graphics_port) : json_null(), "passwd",
        "passwdValidTo");
    json_t *stats =
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "cpu_utilization", st->cpu, "mem_utilization",
                  st->mem, "net_throughput", st->net, "net_throughput_peak", st->net_peak,
                  "io_throughput", st->io, "io_throughput_peak", st->io_peak);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I}, s:{s:i, s:i, s:{}}, s:b, "
        "s:i, s:o, s:o, s:n, s:n, s:[], s:[], s:s, s:o, s:o, s:s, s:o}",
        "name", in->name, "uuid", in->uuid, "title", in->title ? in->title : "", "description",
        in->description ? in->description : "", "state", virt_state_name(state), "memory",
        "current", (json_int_t)(in->memory_kib / 1024), "maxmemory",
        (json_int_t)(in->maxmemory_kib / 1024), "cpu_info", "vcpus", in->vcpus, "maxvcpus",
        in->maxvcpus, "topology", "persistent", persistent, "autostart", autostart ? 1 : 0,
        "graphics", graphics, "stats", stats, "icon", "screenshot", "users", "groups", "access",
        "full", "moved_to", moved_json(in), "bootorder", bootorder_json(in->bootorder), "bootmenu",
        in->bootmenu ? "yes" : "no", "actions", actions_json(state));
}

static int cmp_names(const void *a, const void *b)
{
    const struct xml_cache_entry *x = a, *y = b;
    return strcmp(x->info.name, y->info.name);
}

/* A guest's UUID as text, as virDomainGetUUIDString writes it, which formats it with a printf
 * of 16 arguments; a refresh of 1000 guests asks 3000 times (its stats records and two sets).
 * (libvirt itself still formats each UUID for its debug lines, logged or not, in
 * virDomainGetUUID and again when the domain object is freed: what is left of an idle host's
 * refresh is mostly that.) */
static void uuid_text(virDomainPtr d, char out[VIR_UUID_STRING_BUFLEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[VIR_UUID_BUFLEN];
    if (virDomainGetUUID(d, raw) < 0) {
        out[0] = 0;
        return;
    }
    char *p = out;
    for (int i = 0; i < VIR_UUID_BUFLEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[raw[i] >> 4];
        *p++ = hex[raw[i] & 15];
    }
    *p = 0;
}

#define UUID_REC VIR_UUID_STRING_BUFLEN /* a set's record: 36 characters and a space */

static int cmp_uuid_recs(const void *a, const void *b)
{
    return memcmp(a, b, UUID_REC - 1);
}

/* Whether `uuid` is in a set uuid_set made (sorted: a lookup among 1000 guests is 10
 * comparisons, not a scan of 37 KB for each guest of each snapshot). */
static bool in_set(const char *set, size_t n, const char *uuid)
{
    return strlen(uuid) == UUID_REC - 1 && bsearch(uuid, set, n, UUID_REC, cmp_uuid_recs);
}

/* UUIDs of the guests listed with `flags`, as one string of 36-char UUIDs + spaces, sorted. */
static char *uuid_set(virConnectPtr c, unsigned int flags, struct err *e)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, flags);
    if (n < 0) {
        virt_err_libvirt(e, ERR_BACKEND, M_VIRT_LIST, "Cannot list guests");
        return NULL;
    }
    char *set = calloc((size_t)n + 1, VIR_UUID_STRING_BUFLEN);
    for (int i = 0; i < n; i++) {
        if (set)
            uuid_text(doms[i], set + (size_t)i * VIR_UUID_STRING_BUFLEN);
        virDomainFree(doms[i]);
    }
    free(doms);
    if (!set)
        err_oom(e);
    if (set) {
        for (int i = 0; i + 1 <= n; i++)
            set[(size_t)i * UUID_REC + UUID_REC - 1] = ' ';
        qsort(set, (size_t)n, UUID_REC, cmp_uuid_recs);
    }
    return set;
}

/* A copy of `set` with `uuid` in it or not, as `member` says, still sorted; NULL when out of
 * memory. */
static char *set_with(const char *set, const char *uuid, bool member)
{
    size_t n = strlen(set) / UUID_REC, at = 0;
    while (at < n && memcmp(set + at * UUID_REC, uuid, UUID_REC - 1) < 0)
        at++;
    bool has = at < n && memcmp(set + at * UUID_REC, uuid, UUID_REC - 1) == 0;
    char *out = malloc((n + 2) * UUID_REC);
    if (!out)
        return NULL;
    memcpy(out, set, at * UUID_REC);
    size_t len = at * UUID_REC;
    if (member) {
        memcpy(out + len, uuid, UUID_REC - 1);
        out[len + UUID_REC - 1] = ' ';
        len += UUID_REC;
    }
    size_t rest = has ? at + 1 : at;
    memcpy(out + len, set + rest * UUID_REC, (n - rest) * UUID_REC);
    out[len + (n - rest) * UUID_REC] = 0;
    return out;
}

/* The transient guests' set and the autostart set, listed (the transient ones, not the
 * persistent: a host's few, where the persistent are nearly all; at 1000 guests that set cost
 * 2 ms of each refresh's 10). 0, or -1 with `e` and both NULL. */
static int list_sets(virConnectPtr c, char **tset, char **aset, struct err *e)
{
    *tset = uuid_set(c, VIR_CONNECT_LIST_DOMAINS_TRANSIENT, e);
    *aset = *tset ? uuid_set(c, VIR_CONNECT_LIST_DOMAINS_AUTOSTART, e) : NULL;
    if (*aset)
        return 0;
    free(*tset);
    *tset = NULL;
    return -1;
}

static int cmp_entry_uuid(const void *a, const void *b)
{
    const struct xml_cache_entry *const *x = a, *const *y = b;
    return strcmp((*x)->uuid, (*y)->uuid);
}

/* The cache's entries sorted by UUID, for a whole refresh's lookups (a binary search each
 * instead of a walk of the cache for each guest: 500,000 comparisons at 1000 guests); NULL
 * when it cannot be had, and cache_find walks. */
static struct xml_cache_entry **uuid_index(struct virt *v)
{
    struct xml_cache_entry **ix = malloc((v->ncache + 1) * sizeof(*ix));
    for (size_t i = 0; ix && i < v->ncache; i++)
        ix[i] = &v->cache[i];
    if (ix)
        qsort(ix, v->ncache, sizeof(*ix), cmp_entry_uuid);
    return ix;
}

static struct xml_cache_entry *cache_find(struct virt *v, struct xml_cache_entry **ix,
                                          const char *uuid)
{
    if (ix) {
        struct xml_cache_entry key, *k = &key;
        snprintf(key.uuid, sizeof(key.uuid), "%s", uuid);
        struct xml_cache_entry **hit = bsearch(&k, ix, v->ncache, sizeof(*ix), cmp_entry_uuid);
        return hit ? *hit : NULL;
    }
    for (size_t i = 0; i < v->ncache; i++)
        if (strcmp(v->cache[i].uuid, uuid) == 0)
            return &v->cache[i];
    return NULL;
}

static int record_state(virDomainStatsRecordPtr r)
{
    for (int i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].field, "state.state") == 0)
            return r->params[i].value.i;
    return VIR_DOMAIN_NOSTATE;
}

/* What the bulk call asks for: the state, and the counters Kimchi's figures come from. */
#define STATS_FLAGS                                                                                \
    (VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON |              \
     VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK)
#define MIN_SAMPLE_NS 500000000LL /* a refresh sooner than this keeps the previous figures */

static unsigned long long param_ull(const virTypedParameter *p)
{
    switch (p->type) {
    case VIR_TYPED_PARAM_ULLONG:
        return p->value.ul;
    case VIR_TYPED_PARAM_LLONG:
        return p->value.l > 0 ? (unsigned long long)p->value.l : 0;
    case VIR_TYPED_PARAM_UINT:
        return p->value.ui;
    case VIR_TYPED_PARAM_INT:
        return p->value.i > 0 ? (unsigned long long)p->value.i : 0;
    default:
        return 0;
    }
}

/* True when `field` is "<prefix>.<N>.<suffix>" (net.0.rx.bytes, block.1.wr.bytes). */
static bool indexed(const char *field, const char *prefix, const char *suffix)
{
    size_t n = strlen(prefix);
    if (strncmp(field, prefix, n) || field[n] != '.')
        return false;
    const char *dot = strchr(field + n + 1, '.');
    return dot && !strcmp(dot + 1, suffix);
}

struct counters {
    unsigned long long cpu_ns, net_bytes, io_bytes, available, unused, rss;
    bool have_net, have_io; /* a group libvirt skipped (NOWAIT, a busy guest) is absent */
};

static void read_counters(virDomainStatsRecordPtr r, struct counters *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < r->nparams; i++) {
        const char *f = r->params[i].field;
        unsigned long long v = param_ull(&r->params[i]);
        if (!strcmp(f, "cpu.time"))
            c->cpu_ns = v;
        else if (!strcmp(f, "balloon.available"))
            c->available = v;
        else if (!strcmp(f, "balloon.unused"))
            c->unused = v;
        else if (!strcmp(f, "balloon.rss"))
            c->rss = v;
        else if (indexed(f, "net", "rx.bytes") || indexed(f, "net", "tx.bytes"))
            c->net_bytes += v, c->have_net = true;
        else if (indexed(f, "block", "rd.bytes") || indexed(f, "block", "wr.bytes"))
            c->io_bytes += v, c->have_io = true;
    }
}

static double clamp_pct(double x)
{
    return x < 0 ? 0 : x > 100 ? 100 : x;
}

/* A rate in KB/s (Kimchi's unit) from two counter readings; a counter that went back (the
 * guest restarted) counts from zero. */
static double kbps(unsigned long long now, unsigned long long before, double seconds)
{
    return (double)(now >= before ? now - before : now) / 1000.0 / seconds;
}

void virt_stats_compute(virDomainStatsRecordPtr r, int state, const struct vm_info *info,
                        const struct vm_stats *old, long long now_ns, struct vm_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->net_peak = old && old->net_peak > 100 ? old->net_peak : 100;
    st->io_peak = old && old->io_peak > 100 ? old->io_peak : 100;
    if (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_BLOCKED && state != VIR_DOMAIN_PAUSED)
        return; /* not running: no figures, no sample to count from */
    struct counters c;
    read_counters(r, &c);
    if (old && old->at_ns && now_ns - old->at_ns < MIN_SAMPLE_NS) {
        *st = *old; /* too soon for a meaningful rate: keep the last one */
        return;
    }
    bool sampled = old && old->at_ns;
    st->at_ns = now_ns;
    st->cpu_ns = c.cpu_ns;
    /* a group libvirt left out this time keeps its last counter and figure */
    st->net_bytes = c.have_net || !sampled ? c.net_bytes : old->net_bytes;
    st->io_bytes = c.have_io || !sampled ? c.io_bytes : old->io_bytes;
    if (c.available && c.unused <= c.available)
        st->mem = clamp_pct(100.0 * (double)(c.available - c.unused) / (double)c.available);
    else if (c.rss && info->memory_kib)
        st->mem = clamp_pct(100.0 * (double)c.rss / (double)info->memory_kib);
    else if (sampled)
        st->mem = old->mem;
    if (!sampled)
        return;
    double seconds = (double)(now_ns - old->at_ns) / 1e9;
    double cpu_s = (double)(c.cpu_ns >= old->cpu_ns ? c.cpu_ns - old->cpu_ns : 0) / 1e9;
    st->cpu = clamp_pct(100.0 * cpu_s / seconds / (info->vcpus ? info->vcpus : 1));
    st->net = c.have_net ? kbps(c.net_bytes, old->net_bytes, seconds) : old->net;
    st->io = c.have_io ? kbps(c.io_bytes, old->io_bytes, seconds) : old->io;
    st->net_peak = st->net > st->net_peak ? st->net : st->net_peak;
    st->io_peak = st->io > st->io_peak ? st->io : st->io_peak;
}

/* Whether kimchid itself is moving guest `name`. Its XML is then not read by a whole refresh:
 * libvirt answers that read of a running guest only between the migration's phases (it asks
 * QEMU for the current memory under a job), which held the refresh, and every request and move
 * waiting for it, ~220 ms at each switch-over. The move's end reads the guest again. */
static bool being_moved(struct virt *v, const char *name)
{
    char what[64];
    const char *w = name ? virt_busy_what(v, name, what, sizeof(what)) : NULL;
    return w && strcmp(w, VIRT_BUSY_MIGRATING) == 0;
}

/* Fills `out` for one stats record: the cached XML facts when still valid (same definition
 * and state), or, with `defer`, while kimchid moves the guest (the entry then stays stale);
 * else its XML is read. Cached facts are moved out of the old entry (which the new cache
 * replaces), not copied. */
static int refresh_entry(struct virt *v, struct xml_cache_entry **ix, virDomainStatsRecordPtr r,
                         long long now_ns, bool defer, struct xml_cache_entry *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    uuid_text(r->dom, out->uuid);
    out->state = record_state(r);
    struct xml_cache_entry *old = cache_find(v, ix, out->uuid);
    bool same = old && !old->stale && old->state == out->state;
    if (old && old->info.name && (same || (defer && being_moved(v, old->info.name)))) {
        out->reused = same;
        out->stale = !same; /* read at the next refresh that may */
        virt_stats_compute(r, out->state, &old->info, &old->stats, now_ns, &out->stats);
        out->info = old->info;
        memset(&old->info, 0, sizeof(old->info));
        return 0;
    }
    char *xml = virDomainGetXMLDesc(r->dom, 0);
    if (!xml)
        return virt_err_libvirt(e, ERR_BACKEND, M_VIRT_XML, "Cannot read a guest's XML");
    int rc = virt_domxml_parse(xml, &out->info, e);
    free(xml);
    if (rc == 0)
        virt_stats_compute(r, out->state, &out->info, old ? &old->stats : NULL, now_ns,
                           &out->stats);
    return rc;
}

static int append_json(const char *data, size_t len, void *b)
{
    return buf_append(b, data, len);
}

/* The list is written once, each guest's object straight into it; GET /vms/:name and the
 * change announcements read a guest's object as its span of the list. */
static struct snapshot *build_snapshot(struct xml_cache_entry *ents, size_t n, const char *tset,
                                       const char *aset)
{
    struct snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->names = calloc(n + 1, sizeof(char *));
    s->spans = calloc(n + 1, sizeof(*s->spans));
    size_t nt = strlen(tset) / UUID_REC, na = strlen(aset) / UUID_REC;
    struct buf b;
    buf_init(&b, 0);
    buf_append(&b, "[", 1);
    for (size_t i = 0; s->names && s->spans && !b.failed && i < n; i++) {
        json_t *o = vm_to_json(&ents[i].info, ents[i].state, !in_set(tset, nt, ents[i].uuid),
                               in_set(aset, na, ents[i].uuid), &ents[i].stats);
        if (i)
            buf_append(&b, ",", 1);
        s->spans[i].at = b.len;
        if (!o || json_dump_callback(o, append_json, &b, JSON_COMPACT) < 0)
            b.failed = true;
        s->spans[i].len = b.len - s->spans[i].at;
        json_decref(o);
        if (!(s->names[i] = strdup(ents[i].info.name)))
            b.failed = true;
        s->n = i + 1;
    }
    buf_append(&b, "]", 1);
    s->list_len = b.len;
    s->list_json = s->n == n ? buf_steal(&b) : NULL; /* NULL too when b failed */
    char *fit = s->list_json ? realloc(s->list_json, s->list_len + 1) : NULL;
    if (fit) /* the buffer grew by doubling: give back the unused part */
        s->list_json = fit;
    buf_free(&b);
    if (!s->list_json) {
        virt_snapshot_put(s);
        return NULL;
    }
    return s;
}

static void announce(struct virt *v, const char *change, const struct snapshot *s, size_t i)
{
    const char *name = s->names[i];
    json_t *vm = strcmp(change, "removed") != 0
                     ? json_loadb(s->list_json + s->spans[i].at, s->spans[i].len, 0, NULL)
                     : NULL;
    char busy[64];
    const char *why = vm ? NULL : virt_busy_what(v, name, busy, sizeof(busy));
    bus_publish_json(v->events, "vm",
                     json_pack("{s:s, s:s, s:o, s:s?}", "change", change, "name", name, "vm",
                               vm ? vm : json_null(), "while", why));
}

static bool same_span(const struct snapshot *a, size_t i, const struct snapshot *b, size_t j)
{
    return a->spans[i].len == b->spans[j].len &&
           memcmp(a->list_json + a->spans[i].at, b->list_json + b->spans[j].at, a->spans[i].len) ==
               0;
}

/* Tells stream clients which guests appeared, went or changed between two snapshots (both
 * sorted by name): a changed guest's whole VM object, as GET /vms/:name gives it. */
static void announce_changes(struct virt *v, const struct snapshot *old, const struct snapshot *s)
{
    size_t i = 0, j = 0, on = old ? old->n : 0;
    while (v->events && s && (i < on || j < s->n)) { /* s NULL: stopping */
        int c = i == on ? 1 : j == s->n ? -1 : strcmp(old->names[i], s->names[j]);
        if (c < 0)
            announce(v, "removed", old, i++);
        else if (c > 0)
            announce(v, "added", s, j++);
        else if (!same_span(old, i++, s, j))
            announce(v, "changed", s, j++);
        else
            j++;
    }
}

/* gzip of `in` (level 1: a 600 KB list takes a few ms, once per change, and shrinks about
 * tenfold); NULL when it cannot. */
static char *gzip_text(const char *in, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, len);
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    bool done = out && deflate(&z, Z_FINISH) == Z_STREAM_END;
    *out_len = z.total_out;
    deflateEnd(&z);
    if (!done)
        out = (free(out), NULL);
    return out;
}

/* A new snapshot whose list is the published one's, byte for byte (nothing changed since the
 * last refresh, the usual case), is dropped: readers keep the old one, its ETag and its gzip,
 * and nothing is compressed again. */
static bool unchanged(const struct snapshot *old, const struct snapshot *s)
{
    return old && s && old->list_len == s->list_len &&
           memcmp(old->list_json, s->list_json, s->list_len) == 0;
}

static void publish(struct virt *v, struct snapshot *s)
{
    if (unchanged(v->snap, s)) {
        virt_snapshot_put(s);
        return;
    }
    if (s) {
        s->list_gz = gzip_text(s->list_json, s->list_len, &s->list_gz_len);
        s->gen = ++v->snap_gen;
    }
    announce_changes(v, v->snap, s); /* v->snap changes only here, under refresh_lock */
    pthread_mutex_lock(&v->inv_lock);
    struct snapshot *old = v->snap;
    v->snap = s;
    pthread_mutex_unlock(&v->inv_lock);
    virt_snapshot_put(old);
}

static bool same_figures(const struct vm_stats *a, const struct vm_stats *b)
{
    return a->cpu == b->cpu && a->mem == b->mem && a->net == b->net && a->io == b->io &&
           a->net_peak == b->net_peak && a->io_peak == b->io_peak;
}

/* True when the new entries would give the same VM objects as the cache (same guests in the
 * same order, definitions and states unchanged, the same figures, the same transient and
 * autostart sets): then no snapshot is built at all, the usual case of an idle host, whose
 * refresh then costs one bulk stats call. */
static bool nothing_changed(const struct virt *v, const struct xml_cache_entry *ents, size_t n,
                            const char *tset, const char *aset)
{
    if (!v->snap || n != v->ncache || !v->cache_tset || strcmp(tset, v->cache_tset) != 0 ||
        strcmp(aset, v->cache_aset) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ents[i].reused || strcmp(ents[i].uuid, v->cache[i].uuid) != 0 ||
            !same_figures(&ents[i].stats, &v->cache[i].stats))
            return false;
    return true;
}

static void replace_cache(struct virt *v, struct xml_cache_entry *ents, size_t n)
{
    for (size_t i = 0; i < v->ncache; i++)
        virt_vm_info_clear(&v->cache[i].info);
    free(v->cache);
    v->cache = ents;
    v->ncache = n;
}

/* Takes a refresh's result: `ents` becomes the cache (the facts it took from the old one
 * were moved out of it, so replace_cache frees only what the refresh dropped), and snapshot
 * `s` is published with the sets it was built from. Without a snapshot (it could not be
 * built) the facts are still the new ones, and no sets are kept, so that the next refresh
 * does not find "nothing changed" and builds it. Takes `tset` and `aset`. */
static void adopt(struct virt *v, struct xml_cache_entry *ents, size_t n, struct snapshot *s,
                  char *tset, char *aset)
{
    replace_cache(v, ents, n);
    free(v->cache_tset);
    free(v->cache_aset);
    v->cache_tset = s ? tset : (free(tset), NULL);
    v->cache_aset = s ? aset : (free(aset), NULL);
    if (s)
        publish(v, s);
}

static long long mono_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* What a whole refresh asks libvirt: every guest's state and counters, and the transient and
 * autostart sets. */
struct bulk {
    virDomainStatsRecordPtr *recs;
    int n;
    long long at_ns; /* when the counters were read */
    char *tset, *aset;
};

static void bulk_free(struct bulk *b)
{
    if (b->recs)
        virDomainStatsRecordListFree(b->recs);
    free(b->tset);
    free(b->aset);
    memset(b, 0, sizeof(*b));
}

static int bulk_read(virConnectPtr c, struct bulk *b, struct err *e)
{
    memset(b, 0, sizeof(*b));
    /* NOWAIT: a guest whose libvirt job is busy (a migration) gets what can be read without
     * waiting for it; the rest keeps its last figures. A refresh never holds a move up. */
    b->n = virConnectGetAllDomainStats(c, STATS_FLAGS, &b->recs,
                                       VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
    b->at_ns = mono_ns();
    if (b->n < 0) {
        virt_err_libvirt(e, ERR_BACKEND, M_VIRT_LIST, "Cannot list guests");
        return -1;
    }
    if (list_sets(c, &b->tset, &b->aset, e) < 0) {
        bulk_free(b);
        return -1;
    }
    return 0;
}

/* The cache and the list from `b` (freed here); under refresh_lock. */
static int refresh_from(struct virt *v, struct bulk *b, struct err *e)
{
    struct xml_cache_entry *ents = calloc((size_t)b->n + 1, sizeof(*ents));
    if (!ents) {
        bulk_free(b);
        return err_oom(e);
    }
    struct xml_cache_entry **ix = uuid_index(v);
    size_t got = 0;
    for (int i = 0; i < b->n; i++) {
        struct err ignore;
        if (refresh_entry(v, ix, b->recs[i], b->at_ns, true, &ents[got], &ignore) == 0)
            got++; /* a guest that vanished meanwhile is simply left out */
    }
    free(ix);
    qsort(ents, got, sizeof(*ents), cmp_names);
    int rc = 0;
    if (nothing_changed(v, ents, got, b->tset, b->aset)) {
        replace_cache(v, ents, got); /* the counters move on for the next figures */
    } else {
        struct snapshot *s = build_snapshot(ents, got, b->tset, b->aset);
        adopt(v, ents, got, s, b->tset, b->aset);
        b->tset = b->aset = NULL;
        rc = s ? 0 : err_oom(e);
    }
    bulk_free(b);
    return rc;
}

static int refresh_locked(struct virt *v, virConnectPtr c, struct err *e)
{
    struct bulk b;
    return bulk_read(c, &b, e) < 0 ? -1 : refresh_from(v, &b, e);
}

enum guest_read { GUEST_GONE, GUEST_READ, GUEST_UNREAD };

/* Guest `name`'s entry afresh into `fresh` (GUEST_READ), with whether it is persistent and
 * autostarts, or GUEST_GONE when it no longer exists, or GUEST_UNREAD when it exists but
 * could not be read. Its XML is read again whatever its state: kimchid may have changed its
 * definition without changing its state (a moved mark). Only this guest is asked about: a
 * call about every guest waits for any guest libvirt has locked (one whose QEMU it is
 * stopping at the end of another move: ~200 ms). */
static enum guest_read read_guest(struct virt *v, virConnectPtr c, const char *name,
                                  struct xml_cache_entry *fresh, bool *persistent, bool *autostart)
{
    virDomainPtr d = virDomainLookupByName(c, name);
    if (!d)
        return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ? GUEST_GONE : GUEST_UNREAD;
    char uuid[VIR_UUID_STRING_BUFLEN];
    uuid_text(d, uuid);
    struct xml_cache_entry *old = cache_find(v, NULL, uuid);
    if (old)
        old->stale = true;
    virDomainStatsRecordPtr *recs = NULL;
    virDomainPtr doms[] = {d, NULL};
    struct err ignore;
    int n =
        virDomainListGetStats(doms, STATS_FLAGS, &recs, VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
    int p = virDomainIsPersistent(d), a = 0;
    bool have = n == 1 && p >= 0 && virDomainGetAutostart(d, &a) == 0 &&
                refresh_entry(v, NULL, recs[0], mono_ns(), false, fresh, &ignore) == 0;
    *persistent = p == 1;
    *autostart = a != 0;
    if (recs)
        virDomainStatsRecordListFree(recs);
    virDomainFree(d);
    return have ? GUEST_READ : GUEST_UNREAD;
}

/* Whether cache entry `x` is guest `name`'s (by name, or by the UUID read afresh). */
static bool replaced(const struct xml_cache_entry *x, const char *name,
                     const struct xml_cache_entry *fresh)
{
    return (x->info.name && strcmp(x->info.name, name) == 0) ||
           (fresh && strcmp(x->uuid, fresh->uuid) == 0);
}

/* The transient and autostart sets with guest `uuid` in or out of each, as read (when
 * `have`; a guest gone is left in them: a set only answers for listed guests, and the next
 * whole refresh lists them again); listed afresh when none is cached. */
static int guest_sets(struct virt *v, virConnectPtr c, bool have, const char *uuid, bool persistent,
                      bool autostart, char **tset, char **aset, struct err *e)
{
    if (!v->cache_tset || !v->cache_aset)
        return list_sets(c, tset, aset, e);
    *tset = have ? set_with(v->cache_tset, uuid, !persistent) : strdup(v->cache_tset);
    *aset = have ? set_with(v->cache_aset, uuid, autostart) : strdup(v->cache_aset);
    if (*tset && *aset)
        return 0;
    free(*tset);
    free(*aset);
    *tset = *aset = NULL;
    return err_oom(e);
}

static int refresh_guest_locked(struct virt *v, virConnectPtr c, const char *name, struct err *e)
{
    struct xml_cache_entry fresh;
    bool persistent = false, autostart = false;
    enum guest_read r = read_guest(v, c, name, &fresh, &persistent, &autostart);
    if (r == GUEST_UNREAD) /* whatever kept it from being read, a whole refresh decides */
        return refresh_locked(v, c, e);
    bool have = r == GUEST_READ;
    char *tset = NULL, *aset = NULL;
    int rc = guest_sets(v, c, have, have ? fresh.uuid : "", persistent, autostart, &tset, &aset, e);
    struct xml_cache_entry *ents = rc == 0 ? calloc(v->ncache + 2, sizeof(*ents)) : NULL;
    if (!ents) {
        if (have)
            virt_vm_info_clear(&fresh.info);
        free(tset);
        free(aset);
        return rc < 0 ? -1 : err_oom(e); /* guest_sets said why */
    }
    /* the others' facts move to the new array as they are, as a whole refresh moves them */
    size_t got = 0;
    for (size_t i = 0; i < v->ncache; i++)
        if (!replaced(&v->cache[i], name, have ? &fresh : NULL)) {
            ents[got++] = v->cache[i];
            memset(&v->cache[i].info, 0, sizeof(v->cache[i].info));
        }
    if (have)
        ents[got++] = fresh;
    qsort(ents, got, sizeof(*ents), cmp_names);
    struct snapshot *s = build_snapshot(ents, got, tset, aset);
    adopt(v, ents, got, s, tset, aset);
    return s ? 0 : err_oom(e);
}

int virt_inventory_refresh_guest(struct virt *v, const char *name, struct err *e)
{
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return -1;
    pthread_mutex_lock(&v->refresh_lock);
    int rc = refresh_guest_locked(v, c, name, e);
    atomic_fetch_add(&v->guest_reads, 1);
    pthread_mutex_unlock(&v->refresh_lock);
    virConnectClose(c);
    return rc;
}

/* XML is re-read only for new guests, guests whose state changed (which covers the
 * actions kimchid itself runs) and guests an event named. The bulk calls are made before
 * refresh_lock is taken: libvirt answers them only once every guest is free, which at the end
 * of a move is ~200 ms after it stopped that guest's QEMU, and a move's end reading its own
 * guest (refresh_guest) need not wait for that. If such a read came in meanwhile, the bulk
 * answers may be older than it and are asked again. */
int virt_inventory_refresh(struct virt *v, struct err *e)
{
    atomic_store(&v->refreshed_ms, clock_now_ms()); /* tried: a failing libvirt is not asked
                                                       again by every request */
    virConnectPtr c = virt_conn_get(v, e);
    if (!c)
        return -1;
    unsigned long reads = atomic_load(&v->guest_reads);
    struct bulk b;
    int rc = bulk_read(c, &b, e);
    pthread_mutex_lock(&v->refresh_lock);
    if (rc == 0 && atomic_load(&v->guest_reads) == reads)
        rc = refresh_from(v, &b, e);
    else if (rc == 0) {
        bulk_free(&b);
        rc = refresh_locked(v, c, e);
    }
    pthread_mutex_unlock(&v->refresh_lock);
    virConnectClose(c);
    return rc;
}

void virt_inventory_fresh(struct virt *v)
{
    if (clock_now_ms() - atomic_load(&v->refreshed_ms) <= FRESH_MS)
        return;
    struct timespec until = clock_after(CLOCK_MONOTONIC, FRESH_WAIT_MS);
    pthread_mutex_lock(&v->inv_lock);
    unsigned long long want = v->refreshes + 1; /* one in progress may end first: fine */
    v->dirty = true;
    pthread_cond_signal(&v->inv_cond);
    while (!atomic_load(&v->stopping) && v->refreshes < want &&
           pthread_cond_timedwait(&v->fresh_cond, &v->inv_lock, &until) == 0)
        ;
    pthread_mutex_unlock(&v->inv_lock);
}

/* A refresh without an event to start it is due every REFRESH_PERIOD_S while the figures
 * are followed (or when libvirt sends no events), else every IDLE_REFRESH_S. */
static bool refresh_due(struct virt *v)
{
    if (clock_now_ms() - atomic_load(&v->refreshed_ms) >= IDLE_REFRESH_S * 1000)
        return true;
    pthread_mutex_lock(&v->refresh_lock);
    struct bus *b = v->events;
    pthread_mutex_unlock(&v->refresh_lock);
    return bus_watched(b, REFRESH_PERIOD_S * 1000) || !virt_conn_has_events(v);
}

static void *inventory_loop(void *arg)
{
    struct virt *v = arg;
    pthread_mutex_lock(&v->inv_lock);
    while (!atomic_load(&v->stopping)) {
        if (!v->dirty) {
            struct timespec ts = clock_after(CLOCK_MONOTONIC, REFRESH_PERIOD_S * 1000);
            pthread_cond_timedwait(&v->inv_cond, &v->inv_lock, &ts);
        }
        if (atomic_load(&v->stopping))
            break;
        char uuids[VIRT_MAX_STALE][VIR_UUID_STRING_BUFLEN];
        int n = v->nstale;
        if (n > 0)
            memcpy(uuids, v->stale, (size_t)n * sizeof(uuids[0]));
        v->nstale = 0;
        bool due = v->dirty;
        v->dirty = false;
        pthread_mutex_unlock(&v->inv_lock);
        if (n != 0)
            apply_stale(v, uuids, n); /* an event: that guest's XML may have changed */
        bool did = due || refresh_due(v);
        if (did) {
            struct err e;
            if (virt_inventory_refresh(v, &e) < 0)
                log_warn("guest list refresh failed: %s", e.msg);
            /* what a refresh, a new list or a burst of requests freed goes back to the system
             * instead of staying resident (at 1000 guests 1-2 MiB after the first refresh,
             * which follows libvirt's own start-up); 0.15-0.5 ms a call when idle */
            malloc_trim(0);
        }
        pthread_mutex_lock(&v->inv_lock);
        v->refreshes += did;
        if (did)
            pthread_cond_broadcast(&v->fresh_cond);
    }
    pthread_cond_broadcast(&v->fresh_cond);
    pthread_mutex_unlock(&v->inv_lock);
    return NULL;
}

int virt_inventory_start(struct virt *v, struct err *e)
{
    if (virt_inventory_refresh(v, e) < 0)
        return -1;
    if (pthread_create(&v->inv_thread, NULL, inventory_loop, v) != 0)
        return err_set(e, ERR_INTERNAL, M_VIRT_THREAD, "Cannot start the inventory thread.");
    return 0;
}

void virt_inventory_stop(struct virt *v)
{
    pthread_mutex_lock(&v->inv_lock);
    atomic_store(&v->stopping, true);
    pthread_cond_signal(&v->inv_cond);
    pthread_mutex_unlock(&v->inv_lock);
    pthread_join(v->inv_thread, NULL);
    publish(v, NULL);
}

void virt_set_events(struct virt *v, struct bus *b)
{
    pthread_mutex_lock(&v->refresh_lock);
    v->events = b;
    pthread_mutex_unlock(&v->refresh_lock);
}
