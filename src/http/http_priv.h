/* http_priv.h - shared between the files of the http module. */
#ifndef KIMCHID_HTTP_PRIV_H
#define KIMCHID_HTTP_PRIV_H

#include <microhttpd.h>
#include <stdbool.h>

/* host.c: whether to answer a request whose Host header is `host` (NULL: none): any IP
 * address, localhost, this machine's `hostname` (or its first label), or one of the
 * comma-separated `names` (--server-name). */
bool http_host_allowed(const char *host, const char *hostname, const char *names);

/* Serves a file below ui_dir for GET/HEAD of `url`; queues the response. */
enum MHD_Result http_static_serve(struct MHD_Connection *c, const char *ui_dir, const char *url,
                                  const char *method);

/* Queues a small text response with the security headers. */
enum MHD_Result http_queue_text(struct MHD_Connection *c, unsigned int status, const char *text);

/* Adds headers every response carries (and HSTS on HTTPS). */
void http_add_common_headers(struct MHD_Connection *c, struct MHD_Response *r);

/* Resolves `url` below `ui_dir`, refusing anything that leaves it. New string or NULL. */
char *http_static_resolve(const char *ui_dir, const char *url);

#endif
