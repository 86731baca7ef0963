/* trust.c - the daemon's key pair and adding it to root's authorized_keys on a host. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/file.h"
#include "../util/log.h"
#include "../util/secret.h"
#include <libssh/sftp.h>

#include "sshc_priv.h"

/* Appends the key line read from stdin to root's authorized_keys, once. The key never
 * appears in the command line; the script is a constant. */
#define ADD_KEY_SCRIPT                                                                             \
    "umask 077; read -r k || exit 3; case \"$k\" in ssh-ed25519\\ *) ;; *) exit 4;; esac; "        \
    "d=~root/.ssh; mkdir -p \"$d\" && touch \"$d/authorized_keys\" && "                            \
    "{ grep -qxF \"$k\" \"$d/authorized_keys\" || echo \"$k\" >> \"$d/authorized_keys\"; }"

static int write_file(const char *path, const char *data, mode_t mode, struct err *e)
{
    if (file_write_new(path, data, strlen(data), mode) < 0)
        return err_set(e, ERR_INTERNAL, M_SSH_WRITE_KEY, "Cannot write \"%s\": %s.", path,
                       strerror(errno));
    return 0;
}

static int read_line(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char *ok = fgets(out, (int)len, f);
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* A key comment made only of safe characters: "root@<hostname>". */
static void key_comment(char *out, size_t len)
{
    char host[128] = "";
    gethostname(host, sizeof(host) - 1);
    for (char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            *p = '_';
    snprintf(out, len, "kimchid-root@%s", host[0] ? host : "localhost");
}

static int generate(const char *priv, const char *pub, struct err *e)
{
    ssh_key key = NULL;
    char *priv_b64 = NULL, *pub_b64 = NULL, line[1024], comment[160];
    int rc = -1;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
        ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv_b64) != SSH_OK ||
        ssh_pki_export_pubkey_base64(key, &pub_b64) != SSH_OK) {
        err_set(e, ERR_INTERNAL, M_MIG_SSH_KEYGEN, "Cannot generate an ed25519 key pair.");
        goto cleanup;
    }
    key_comment(comment, sizeof(comment));
    snprintf(line, sizeof(line), "ssh-ed25519 %s %s\n", pub_b64, comment);
    if (write_file(priv, priv_b64, 0600, e) < 0 || write_file(pub, line, 0644, e) < 0)
        goto cleanup;
    log_info("ssh: created key pair %s", priv);
    rc = 0;
cleanup:
    secret_free(priv_b64); /* from libssh's malloc */
    free(pub_b64);
    ssh_key_free(key);
    return rc;
}

int sshc_key_ensure(char *pub, size_t publen, struct err *e)
{
    char priv[700], pubpath[710];
    snprintf(priv, sizeof(priv), "%s/id_ed25519", sshc_dir());
    snprintf(pubpath, sizeof(pubpath), "%s.pub", priv);
    if (access(priv, F_OK) != 0 && generate(priv, pubpath, e) < 0)
        return -1;
    if (read_line(pubpath, pub, publen) < 0 || strncmp(pub, "ssh-ed25519 ", 12) != 0)
        return err_set(e, ERR_INTERNAL, M_SSH_BAD_KEY,
                       "\"%s\" is missing or not an ed25519 public key. Remove %s and its .pub "
                       "to get a new pair.",
                       pubpath, priv);
    return 0;
}

static int add_key_failed(const char *host, const char *user, int status, const char *errout,
                          struct err *e)
{
    if (strstr(errout, "not in the sudoers") || strstr(errout, "may not run sudo") ||
        strstr(errout, "not allowed to execute"))
        return err_set(e, ERR_FORBIDDEN, M_SSH_NO_SUDO_RIGHT,
                       "User \"%s\" may not use sudo on \"%s\", so kimchid cannot add its key "
                       "for root there. Use an account with 'SUDO ALL' permission, or root.",
                       user, host);
    if (status == 127)
        return err_set(e, ERR_BACKEND, M_SSH_NO_SUDO,
                       "sudo is not installed on \"%s\". Install it, or log in as root.", host);
    char first[160] = "no message";
    if (errout[0]) {
        size_t n = strcspn(errout, "\n");
        n = n < sizeof(first) - 1 ? n : sizeof(first) - 1;
        memcpy(first, errout, n);
        first[n] = '\0';
    }
    return err_set(e, ERR_BACKEND, M_SSH_ADD_KEY,
                   "Adding kimchid's key for root on \"%s\" failed (exit status %d: %s).", host,
                   status, first);
}

int sshc_trust_setup(const char *host, const char *user, const char *password, const char *pubkey,
                     const char *want_key, struct err *e)
{
    ssh_session s = sshc_connect(host, user, want_key, e);
    if (!s || sshc_auth_password(s, host, user, password, e) < 0) {
        sshc_close(s);
        return -1;
    }
    bool as_root = strcmp(user, "root") == 0;
    char cmd[1024], errout[1024], *input = NULL;
    struct err ignored;
    /* sudo that needs no password (NOPASSWD) reads none: the password must not be sent, or
     * the script would read it as the key */
    bool nopasswd =
        !as_root && sshc_run(s, "sudo -n true", NULL, 0, errout, sizeof(errout), &ignored) == 0;
    snprintf(cmd, sizeof(cmd), "%s sh -c '%s'",
             as_root    ? ""
             : nopasswd ? "sudo -n"
                        : "sudo -S -k -p ''",
             ADD_KEY_SCRIPT);
    int n = as_root || nopasswd ? asprintf(&input, "%s\n", pubkey)
                                : asprintf(&input, "%s\n%s\n", password, pubkey); /* sudo: line 1 */
    int status = n < 0 ? -1 : sshc_run(s, cmd, input, (size_t)n, errout, sizeof(errout), e);
    secret_free(input);
    sshc_close(s);
    if (n < 0)
        return err_oom(e);
    if (status != 0)
        return status < 0 ? -1 : add_key_failed(host, user, status, errout, e);
    log_info("ssh: root on \"%s\" now accepts kimchid's key (set up as \"%s\"%s)", host, user,
             nopasswd ? ", whose sudo needs no password" : "");
    return 0;
}

ssh_session sshc_key_login(const char *host, const char *want_key, struct err *e)
{
    char priv[700];
    ssh_key key = NULL;
    snprintf(priv, sizeof(priv), "%s/id_ed25519", sshc_dir());
    ssh_session s = sshc_connect(host, "root", want_key, e);
    if (!s)
        return NULL;
    int rc = -1;
    if (ssh_pki_import_privkey_file(priv, NULL, NULL, NULL, &key) != SSH_OK)
        err_set(e, ERR_FORBIDDEN, M_MIG_NEEDS_LOGIN,
                "kimchid has no ssh key yet, so root on \"%s\" cannot accept it. Give a user "
                "and password so kimchid can set up password-less login.",
                host);
    else if (ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS)
        err_set(e, ERR_FORBIDDEN, M_MIG_NEEDS_LOGIN,
                "\"%s\" does not accept kimchid's key for root. Give a user and password (with "
                "'SUDO ALL' permission) so kimchid can set up password-less login.",
                host);
    else
        rc = 0;
    ssh_key_free(key);
    if (rc < 0) {
        sshc_close(s);
        return NULL;
    }
    return s;
}

int sshc_key_login_check(const char *host, const char *want_key, struct err *e)
{
    ssh_session s = sshc_key_login(host, want_key, e);
    sshc_close(s);
    return s ? 0 : -1;
}

/* One call on an SFTP session to `host`: a kept one first; when the call fails on it, once
 * more on a fresh one (the kept one may be dead: the host restarted since). */
typedef long (*sftp_op)(struct sftp_conn *c, const char *host, const char *path, void *arg,
                        struct err *e);
static long with_sftp(const char *host, const char *path, sftp_op op, void *arg, struct err *e)
{
    for (int fresh = 0; fresh < 2; fresh++) {
        struct sftp_conn c;
        if (sshc_sftp_take(host, path, fresh, &c, e) < 0)
            return -1;
        long rc = op(&c, host, path, arg, e);
        bool again = rc < 0 && c.pooled;
        sshc_sftp_give(host, &c, rc >= 0);
        if (!again)
            return rc;
        err_clear(e);
    }
    return -1;
}

/* Over SFTP, so no remote shell ever sees the path. */
static long exists_op(struct sftp_conn *c, const char *host, const char *path, void *arg,
                      struct err *e)
{
    (void)arg;
    sftp_attributes a = sftp_stat(c->sf, path);
    if (a) {
        sftp_attributes_free(a);
        return 1;
    }
    if (sftp_get_error(c->sf) == SSH_FX_NO_SUCH_FILE)
        return 0;
    return err_set(e, ERR_BACKEND, M_SSH_SFTP, "Cannot look for \"%s\" on \"%s\": %s.", path, host,
                   ssh_get_error(c->s));
}

int sshc_remote_file_exists(const char *host, const char *path, struct err *e)
{
    return (int)with_sftp(host, path, exists_op, NULL, e);
}

struct read_arg {
    char *buf;
    size_t len;
};

static long read_failed(struct sftp_conn *c, const char *host, const char *path, struct err *e)
{
    return err_set(e, ERR_BACKEND, M_SSH_SFTP, "Cannot read \"%s\" on \"%s\": %s.", path, host,
                   ssh_get_error(c->s));
}

static long read_op(struct sftp_conn *c, const char *host, const char *path, void *arg,
                    struct err *e)
{
    struct read_arg *r = arg;
    sftp_file f = sftp_open(c->sf, path, O_RDONLY, 0);
    if (!f && sftp_get_error(c->sf) == SSH_FX_NO_SUCH_FILE) {
        r->buf[0] = 0; /* a missing file reads as empty */
        return 0;
    }
    if (!f)
        return read_failed(c, host, path, e);
    long total = 0;
    ssize_t n = 0;
    while ((size_t)total + 1 < r->len &&
           (n = sftp_read(f, r->buf + total, r->len - 1 - (size_t)total)) > 0)
        total += n;
    sftp_close(f);
    r->buf[total] = 0;
    return n < 0 ? read_failed(c, host, path, e) : total; /* < 0: the connection broke */
}

long sshc_remote_read(const char *host, const char *path, char *buf, size_t len, struct err *e)
{
    struct read_arg r = {buf, len};
    buf[0] = 0;
    return with_sftp(host, path, read_op, &r, e);
}

/* Creates the parent directories of `path` that are missing, as "mkdir -p" would, each 0755
 * whatever the umask of the remote SFTP server (an existing one keeps its mode). */
static void sftp_parents(sftp_session sf, const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (sftp_mkdir(sf, dir, 0755) == 0) /* an existing one fails harmlessly */
            sftp_chmod(sf, dir, 0755);
        *p = '/';
    }
}

static int sftp_put(sftp_session sf, const char *tmp, const char *data, size_t len,
                    unsigned int mode, long gid)
{
    sftp_file f = sftp_open(sf, tmp, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode);
    if (!f)
        return -1;
    size_t done = 0;
    ssize_t n = 0;
    while (done < len && (n = sftp_write(f, data + done, len - done)) > 0)
        done += (size_t)n;
    int rc = sftp_close(f) == SSH_OK && done == len ? 0 : -1;
    if (rc == 0 && gid >= 0)
        rc = sftp_chown(sf, tmp, 0, (gid_t)gid);
    return rc == 0 ? sftp_chmod(sf, tmp, (mode_t)mode) : -1; /* the umask applied to open */
}

struct write_arg {
    const char *data;
    size_t len;
    unsigned int mode;
    long gid;
};

static long write_op(struct sftp_conn *c, const char *host, const char *path, void *arg,
                     struct err *e)
{
    struct write_arg *w = arg;
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.kimchid-new", path);
    sftp_parents(c->sf, path);
    int rc = sftp_put(c->sf, tmp, w->data, w->len, w->mode, w->gid);
    if (rc == 0) { /* SFTP's rename does not replace: the old file goes first */
        sftp_unlink(c->sf, path);
        rc = sftp_rename(c->sf, tmp, path);
    }
    if (rc == 0)
        return 0;
    err_set(e, ERR_BACKEND, M_SSH_SFTP, "Cannot write \"%s\" on \"%s\": %s.", path, host,
            ssh_get_error(c->s));
    sftp_unlink(c->sf, tmp);
    return -1;
}

int sshc_remote_write(const char *host, const char *path, const char *data, size_t len,
                      unsigned int mode, long gid, struct err *e)
{
    struct write_arg w = {data, len, mode, gid};
    return (int)with_sftp(host, path, write_op, &w, e);
}
