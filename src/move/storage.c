/* storage.c - what a migration does with each disk. A disk on storage both hosts see as the
 * same (a network disk, or a file on a shared filesystem, as libvirt itself decides) stays
 * put; a local disk is copied to a volume pre-created on the destination (same path, format
 * and capacity) through the destination's storage API; a local read-only image (CD-ROM)
 * must already exist there. Volumes kimchid created are removed again when the move fails. */
#include <errno.h>
#include <libvirt/virterror.h>
#include <libxml/entities.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/array.h"
#include "../util/log.h"
#include "move_priv.h"

/* Filesystems libvirt treats as shared (virFileIsSharedFSType), by their mount table name. */
static const char *const shared_fs[] = {
    "nfs",  "nfs4", "gfs",  "gfs2",           "ocfs2",        "afs",    "smb3",      "smbfs",
    "cifs", "ceph", "gpfs", "fuse.glusterfs", "fuse.quobyte", "beegfs", "glusterfs",
};

/* Undoes the octal escapes of /proc/self/mountinfo ("\040" for a space) in place. */
static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++, o++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
            *o = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
            s += 3;
        } else {
            *o = *s;
        }
    }
    *o = 0;
}

void virt_fs_type(const char *mountinfo, const char *path, char *type, size_t len)
{
    snprintf(type, len, "unknown");
    FILE *f = fopen(mountinfo, "r");
    if (!f)
        return;
    char line[4096];
    size_t best = 0;
    while (fgets(line, sizeof(line), f)) {
        char mnt[PATH_MAX], fstype[64];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(dash + 3, "%63s", fstype) != 1)
            continue;
        unescape(mnt);
        size_t n = strlen(mnt);
        bool under = strcmp(mnt, "/") == 0 ||
                     (strncmp(path, mnt, n) == 0 && (path[n] == '/' || path[n] == 0));
        if (under && n >= best) {
            best = n;
            snprintf(type, len, "%s", fstype);
        }
    }
    fclose(f);
}

bool virt_path_is_shared(const char *path)
{
    char real[PATH_MAX], type[64];
    if (!realpath(path, real))
        snprintf(real, sizeof(real), "%s", path);
    virt_fs_type("/proc/self/mountinfo", real, type, sizeof(type));
    for (size_t i = 0; i < ARRAY_SIZE(shared_fs); i++)
        if (strcmp(type, shared_fs[i]) == 0)
            return true;
    return false;
}

static char *prop(xmlNodePtr n, const char *name)
{
    xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
    char *s = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, (const xmlChar *)name))
            return c;
    return NULL;
}

/* The path behind a <source pool= volume=>, through the storage API. */
static char *volume_path(virConnectPtr c, const char *pool, const char *vol)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(c, pool);
    virStorageVolPtr v = p ? virStorageVolLookupByName(p, vol) : NULL;
    char *path = v ? virStorageVolGetPath(v) : NULL;
    if (v)
        virStorageVolFree(v);
    if (p)
        virStoragePoolFree(p);
    return path;
}

/* Fills one disk's facts from its <disk> element; 0 with d->path NULL for an empty drive. */
static int read_disk(virConnectPtr c, virDomainPtr dom, xmlNodePtr n, struct virt_disk *d,
                     struct err *e)
{
    char *type = prop(n, "type"), *device = prop(n, "device");
    xmlNodePtr src = child(n, "source");
    char *tgt = prop(child(n, "target"), "dev"), *fmt = prop(child(n, "driver"), "type");
    snprintf(d->target, sizeof(d->target), "%s", tgt ? tgt : "?");
    snprintf(d->format, sizeof(d->format), "%s", fmt ? fmt : "raw");
    d->readonly = child(n, "readonly") || (device && strcmp(device, "cdrom") == 0);
    d->network = type && strcmp(type, "network") == 0;
    if (type && strcmp(type, "volume") == 0) {
        char *pool = prop(src, "pool"), *vol = prop(src, "volume");
        d->path = pool && vol ? volume_path(c, pool, vol) : NULL;
        free(pool);
        free(vol);
    } else if (!d->network) {
        d->path = prop(src, "file");
        if (!d->path)
            d->path = prop(src, "dev");
        d->block = type && strcmp(type, "block") == 0;
    }
    d->shared = d->network || (d->path && virt_path_is_shared(d->path));
    virDomainBlockInfo bi;
    if (d->path && !d->readonly && virDomainGetBlockInfo(dom, d->target, &bi, 0) == 0) {
        d->capacity = bi.capacity;
        d->physical = bi.physical;
    }
    free(type);
    free(device);
    free(tgt);
    free(fmt);
    if (d->path && !d->readonly && !d->shared && d->capacity == 0)
        return virt_err_libvirt(e, ERR_BACKEND, M_MIG_DISKS, "Cannot read the size of a disk");
    return 0;
}

int virt_storage_plan(virConnectPtr c, virDomainPtr dom, struct virt_storage *s, struct err *e)
{
    memset(s, 0, sizeof(*s));
    char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return virt_err_libvirt(e, ERR_BACKEND, M_MIG_DISKS, "Cannot read the guest's disks");
    struct virt_xml x;
    if (virt_xml_open(&x, xml, "/domain/devices/disk", e) < 0)
        return -1;
    int rc = 0;
    if (!(s->disks = calloc((size_t)x.n + 1, sizeof(*s->disks))))
        rc = err_oom(e);
    for (int i = 0; rc == 0 && i < x.n; i++) {
        struct virt_disk *d = &s->disks[s->n];
        rc = read_disk(c, dom, x.set->nodesetval->nodeTab[i], d, e);
        if (rc == 0 && (d->path || d->network))
            s->n++;
        else
            free(d->path), d->path = NULL;
    }
    virt_xml_close(&x);
    if (rc < 0)
        virt_storage_clear(s);
    return rc;
}

bool virt_disk_copied(const struct virt_disk *d)
{
    return d->path && !d->shared && !d->readonly;
}

size_t virt_storage_copies(const struct virt_storage *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        k += virt_disk_copied(&s->disks[i]);
    return k;
}

void virt_storage_clear(struct virt_storage *s)
{
    for (size_t i = 0; s->disks && i < s->n; i++)
        free(s->disks[i].path);
    free(s->disks);
    memset(s, 0, sizeof(*s));
}

/* ---- the destination ---- */

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static int no_pool(const char *host, const struct virt_disk *d, const char *dir, struct err *e)
{
    return err_set(e, ERR_INVALID, M_MIG_NO_POOL_THERE,
                   "Disk \"%s\" (\"%s\") is on this host's local storage, so it must be copied, "
                   "but no active storage pool on \"%s\" has \"%s\" as its directory. Create one "
                   "there (virsh pool-define-as images dir --target %s; virsh pool-start images) "
                   "or move the disk to storage both hosts share, then try again.",
                   d->target, d->path, host, dir, dir);
}

/* The destination's active pool over the directory of copied disk `d` (refreshed), with no
 * volume of the disk's name in it yet: kimchid never overwrites a file there. */
static virStoragePoolPtr target_pool(virConnectPtr remote, const char *host,
                                     const struct virt_disk *d, struct err *e)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)(base_name(d->path) - d->path - 1), d->path);
    if (d->block) {
        err_set(e, ERR_INVALID, M_MIG_BLOCK_DEVICE,
                "Disk \"%s\" is the local block device \"%s\"; kimchid copies only file disks. "
                "Put the guest's disk on shared storage to move it.",
                d->target, d->path);
        return NULL;
    }
    virStoragePoolPtr pool = virStoragePoolLookupByTargetPath(remote, dir);
    if (pool && virStoragePoolIsActive(pool) != 1) {
        virStoragePoolFree(pool);
        pool = NULL;
    }
    if (!pool) {
        no_pool(host, d, dir, e);
        return NULL;
    }
    virStoragePoolRefresh(pool, 0);
    virStorageVolPtr old = virStorageVolLookupByName(pool, base_name(d->path));
    if (!old)
        return pool;
    virStorageVolFree(old);
    virStoragePoolFree(pool);
    err_set(e, ERR_CONFLICT, M_MIG_FILE_EXISTS,
            "\"%s\" already exists on \"%s\", and kimchid never overwrites a file there. If it is "
            "a leftover, remove it on \"%s\" (virsh vol-delete %s) and try again.",
            d->path, host, host, d->path);
    return NULL;
}

/* Creates the target volume of one copied disk on the destination. */
static int create_target(virConnectPtr remote, const char *host, struct virt_disk *d, struct err *e)
{
    virStoragePoolPtr pool = target_pool(remote, host, d, e);
    if (!pool)
        return -1;
    /* as libvirt's own pre-creation (a move without kimchid) makes it: qcow2 v3 with its
     * metadata allocated, not the storage API's default, a v2 image with none, which the
     * copy fills more slowly (a 256 MiB disk's move: 2.19 s against 1.87 s, README) */
    bool qcow2 = strcmp(d->format, "qcow2") == 0;
    /* a file name may hold '&' or '<' */
    xmlChar *vol = xmlEncodeSpecialChars(NULL, (const xmlChar *)base_name(d->path));
    char xml[6 * PATH_MAX + 256];
    snprintf(xml, sizeof(xml),
             "<volume><name>%s</name><capacity unit='bytes'>%llu</capacity>"
             "<target><format type='%s'/>%s</target></volume>",
             vol ? (const char *)vol : "", d->capacity, d->format,
             qcow2 ? "<compat>1.1</compat>" : "");
    xmlFree(vol);
    virStorageVolPtr v =
        virStorageVolCreateXML(pool, xml, qcow2 ? VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA : 0);
    virStoragePoolFree(pool);
    if (!v) {
        char what[PATH_MAX + 64];
        snprintf(what, sizeof(what), "Cannot create \"%s\" on \"%s\"", d->path, host);
        return virt_err_libvirt(e, ERR_BACKEND, M_MIG_VOLUME, what);
    }
    d->created = true;
    virStorageVolFree(v);
    return 0;
}

/* What happens to disk `d`, in words, after `sep`: appended to `out`. */
static void say_disk(char *out, size_t len, const char *sep, const struct virt_disk *d,
                     const char *pool, const char *host)
{
    size_t used = strlen(out);
    if (virt_disk_copied(d))
        snprintf(out + used, len - used, "%s%s is copied into pool \"%s\" on \"%s\"", sep,
                 d->target, pool, host);
    else if (d->shared || d->network)
        snprintf(out + used, len - used, "%s%s stays on shared storage", sep, d->target);
    else
        snprintf(out + used, len - used, "%s%s (read-only) is used from \"%s\" as it is there", sep,
                 d->target, host);
}

int virt_storage_check(virConnectPtr remote, const char *host, const struct virt_storage *s,
                       char *said, size_t len, struct err *e)
{
    said[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        const struct virt_disk *d = &s->disks[i];
        char pool_name[256] = "";
        if (virt_disk_copied(d)) {
            virStoragePoolPtr pool = target_pool(remote, host, d, e);
            if (!pool)
                return -1;
            snprintf(pool_name, sizeof(pool_name), "%s", virStoragePoolGetName(pool));
            virStoragePoolFree(pool);
        }
        say_disk(said, len, i ? "; " : "", d, pool_name, host);
    }
    return 0;
}

int virt_storage_prepare(virConnectPtr remote, const char *host, struct virt_storage *s,
                         struct err *e)
{
    for (size_t i = 0; i < s->n; i++)
        if (virt_disk_copied(&s->disks[i]) && create_target(remote, host, &s->disks[i], e) < 0)
            return -1;
    return 0;
}

/* Deletes the pool volume at `path` through connection c: 0 deleted, 1 no pool holds that
 * path, -1 failed (libvirt's error is set). */
static int delete_path(virConnectPtr c, const char *path)
{
    virStorageVolPtr v = virStorageVolLookupByPath(c, path);
    if (!v) {
        virErrorPtr le = virGetLastError();
        return le && le->code == VIR_ERR_NO_STORAGE_VOL ? 1 : -1;
    }
    int rc = virStorageVolDelete(v, 0);
    virStorageVolFree(v);
    return rc;
}

/* The destination may have just died or restarted: try fresh connections for a while. */
#define CLEANUP_TRIES 8

void virt_storage_unprepare(struct virt *v, const char *host, struct virt_storage *s, char *note,
                            size_t len)
{
    note[0] = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct virt_disk *d = &s->disks[i];
        unsigned int delay_ms = 250;
        for (int t = 0; d->created && t < CLEANUP_TRIES; t++, delay_ms *= 2) {
            virConnectPtr remote = virt_remote_get(v, host, NULL);
            if (remote && delete_path(remote, d->path) >= 0)
                d->created = false; /* deleted, or gone already */
            if (remote)
                virConnectClose(remote);
            if (d->created)
                usleep(delay_ms * 1000);
        }
        if (d->created) {
            log_warn("could not remove \"%s\" on %s after a failed migration", d->path, host);
            size_t used = strlen(note);
            snprintf(note + used, len - used, "%s\"%s\"", used ? ", " : "", d->path);
        }
    }
}

int virt_storage_remove_source(virConnectPtr c, struct virt_storage *s, char *removed, size_t len,
                               struct err *e)
{
    removed[0] = 0;
    int rc = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct virt_disk *d = &s->disks[i];
        if (!virt_disk_copied(d))
            continue; /* shared disks are what the moved guest runs on */
        int del = delete_path(c, d->path);
        if (del < 0 || (del == 1 && unlink(d->path) < 0)) {
            err_set(e, ERR_BACKEND, M_MIG_OLD_DISK,
                    "The guest runs on the destination, but its old copy \"%s\" could not be "
                    "removed here: %s. Remove it by hand.",
                    d->path, del < 0 ? "libvirt refused" : strerror(errno));
            rc = -1;
            continue;
        }
        size_t used = strlen(removed);
        snprintf(removed + used, len - used, "%s\"%s\"", used ? ", " : "", d->path);
    }
    return rc;
}

/* ---- offline copy: the storage API's streams, from this host's volume to the new one ---- */

#define CHUNK (1024 * 1024)

static int stream_fail(virStreamPtr a, virStreamPtr b, const struct virt_disk *d, const char *host,
                       struct err *e)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof(what), "Copying disk \"%s\" (\"%s\") to \"%s\" failed", d->target,
             d->path, host);
    virt_err_libvirt(e, ERR_BACKEND, M_MIG_COPY, what);
    if (a)
        virStreamAbort(a);
    if (b)
        virStreamAbort(b);
    return -1;
}

static int send_all(virStreamPtr st, const char *buf, int n)
{
    for (int off = 0; off < n;) {
        int w = virStreamSend(st, buf + off, (size_t)(n - off));
        if (w < 0)
            return -1;
        off += w;
    }
    return 0;
}

static int copy_one(virConnectPtr lc, virConnectPtr remote, const char *host,
                    const struct virt_disk *d, virt_copied_fn fn, void *opaque, char *buf,
                    struct err *e)
{
    virStorageVolPtr src = virStorageVolLookupByPath(lc, d->path);
    virStorageVolPtr dst = virStorageVolLookupByPath(remote, d->path);
    virStreamPtr in = src ? virStreamNew(lc, 0) : NULL, out = dst ? virStreamNew(remote, 0) : NULL;
    int result = -1;
    if (!src)
        err_set(e, ERR_INVALID, M_MIG_NO_POOL_HERE,
                "Disk \"%s\" (\"%s\") is in no storage pool on this host, so kimchid cannot "
                "copy it. Define a pool over its directory and try again.",
                d->target, d->path);
    else if (!dst || !in || !out || virStorageVolDownload(src, in, 0, 0, 0) < 0 ||
             virStorageVolUpload(dst, out, 0, 0, 0) < 0)
        stream_fail(NULL, NULL, d, host, e);
    else
        for (;;) {
            int n = virStreamRecv(in, buf, CHUNK);
            if (n < 0 || (n > 0 && send_all(out, buf, n) < 0)) {
                stream_fail(in, out, d, host, e);
                break;
            }
            if (n == 0) {
                result = virStreamFinish(in) == 0 && virStreamFinish(out) == 0
                             ? 0
                             : stream_fail(NULL, NULL, d, host, e);
                break;
            }
            fn(opaque, (unsigned long long)n);
        }
    if (in)
        virStreamFree(in);
    if (out)
        virStreamFree(out);
    if (src)
        virStorageVolFree(src);
    if (dst)
        virStorageVolFree(dst);
    return result;
}

int virt_storage_stream_copy(virConnectPtr lc, virConnectPtr remote, const char *host,
                             const struct virt_storage *s, virt_copied_fn fn, void *opaque,
                             struct err *e)
{
    char *buf = malloc(CHUNK);
    if (!buf)
        return err_oom(e);
    int rcode = 0;
    for (size_t i = 0; rcode == 0 && i < s->n; i++)
        if (virt_disk_copied(&s->disks[i]))
            rcode = copy_one(lc, remote, host, &s->disks[i], fn, opaque, buf, e);
    free(buf);
    return rcode;
}
