/* http.h - the HTTPS server (libmicrohttpd): request bodies, static UI files, replies. */
#ifndef KIMCHID_HTTP_H
#define KIMCHID_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/err.h"

struct api_ctx;
struct http_server;

#define HTTP_MAX_BODY (64 * 1024)

struct http_config {
    const char *addr; /* numeric IPv4 or IPv6 address */
    int port;
    const char *cert_pem; /* NULL: plain HTTP */
    const char *key_pem;
    const char *ui_dir;        /* NULL: no static files */
    const char *trusted_proxy; /* numeric address whose X-Forwarded-* are believed, or NULL */
    const char *server_names;  /* comma-separated DNS names besides the built-in ones, or NULL */
};

/* Starts serving in MHD's own threads (one per connection). The strings in `cfg` and
 * `api` must outlive the server. NULL with `e` on failure. */
struct http_server *http_server_start(const struct http_config *cfg, struct api_ctx *api,
                                      struct err *e);

/* Stops accepting, closes connections and joins their threads. NULL is a no-op. */
void http_server_stop(struct http_server *s);

/* Loads the configured certificate and key, or when both paths are NULL, the self-signed
 * pair in state_dir (created on first use, key mode 0600). Outputs are new strings. */
int http_tls_load(const char *state_dir, const char *cert_path, const char *key_path,
                  char **cert_pem, char **key_pem, struct err *e);

#endif
