/* static.c - the UI's static files, with content types and no way out of ui_dir. */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/array.h"
#include "http_priv.h"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* Refuses "." and ".." segments, backslashes and empty names before touching the disk. */
static int url_safe(const char *url)
{
    if (url[0] != '/' || strchr(url, '\\'))
        return 0;
    for (const char *p = url; *p;) {
        p++;
        size_t len = strcspn(p, "/");
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len;
    }
    return 1;
}

char *http_static_resolve(const char *ui_dir, const char *url)
{
    char root[PATH_MAX], joined[PATH_MAX], real[PATH_MAX];
    if (!url_safe(url) || !realpath(ui_dir, root))
        return NULL;
    const char *rel = strcmp(url, "/") == 0 ? "/index.html" : url;
    int n = snprintf(joined, sizeof(joined), "%s%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof(joined) || !realpath(joined, real))
        return NULL;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || real[rl] != '/')
        return NULL; /* a symlink pointing out of the UI dir */
    return strdup(real);
}

/* Whether c came over HTTPS (kimchid's own TLS; behind a proxy it serves plain HTTP). */
static bool over_tls(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
    const union MHD_DaemonInfo *di =
        ci ? MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_FLAGS) : NULL;
    return di && (di->flags & MHD_USE_TLS);
}

void http_add_common_headers(struct MHD_Connection *c, struct MHD_Response *r)
{
    if (over_tls(c)) /* a browser then never tries plain HTTP on this host for a year */
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                            "frame-ancestors 'none'; form-action 'self'");
}

enum MHD_Result http_queue_text(struct MHD_Connection *c, unsigned int status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    http_add_common_headers(c, r);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_static_serve(struct MHD_Connection *c, const char *ui_dir, const char *url,
                                  const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Allow", "GET, HEAD");
        http_add_common_headers(c, r);
        enum MHD_Result ret = MHD_queue_response(c, 405, r);
        MHD_destroy_response(r);
        return ret;
    }
    char *path = ui_dir ? http_static_resolve(ui_dir, url) : NULL;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        free(path);
        return http_queue_text(c, 404, "404 Not Found\n");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        free(path);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", content_type(path));
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    http_add_common_headers(c, r);
    free(path);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}
