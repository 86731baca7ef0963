/* session.c - libssh sessions: connect, verify the host key, authenticate, run a command. */
#include <libssh/libssh.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/file.h"
#include "../util/log.h"
#include "../util/net.h"
#include "../util/timers.h"
#include "sshc_priv.h"

#define SSH_TIMEOUT_S 10L
#define CMD_TIMEOUT_MS 30000

/* Computed once (two migration workers may ask at the same moment), with the reentrant
 * password-file lookup. */
static pthread_once_t paths_once = PTHREAD_ONCE_INIT;
static char ssh_dir[512], known_hosts[600];

static void paths_init(void)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    const char *home =
        getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) == 0 && found && pw.pw_dir ? pw.pw_dir
                                                                                        : "/root";
    snprintf(ssh_dir, sizeof(ssh_dir), "%s/.ssh", home);
    snprintf(known_hosts, sizeof(known_hosts), "%s/known_hosts", ssh_dir);
}

const char *sshc_dir(void)
{
    pthread_once(&paths_once, paths_init);
    file_mkdir(ssh_dir, 0700); /* it may have been removed since */
    return ssh_dir;
}

const char *sshc_known_hosts_path(void)
{
    pthread_once(&paths_once, paths_init);
    return known_hosts;
}

/* "SHA256:..." of a key into out. */
static void fingerprint(ssh_key key, char *out, size_t len)
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    snprintf(out, len, "(unknown)");
    if (key && ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
        char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
        if (fp)
            snprintf(out, len, "%s", fp);
        ssh_string_free_char(fp);
        ssh_clean_pubkey_hash(&hash);
    }
}

/* True when the known_hosts host field (a comma list) names `host`. */
static bool names_host(char *field, const char *host)
{
    for (char *save = NULL, *h = strtok_r(field, ",", &save); h; h = strtok_r(NULL, ",", &save))
        if (strcmp(h, host) == 0)
            return true;
    return false;
}

/* Fingerprint of the key known_hosts holds for `host`, preferring the type it now shows
 * (libssh hands out the stored entry only when it matches). */
static void known_fingerprint(const char *host, enum ssh_keytypes_e type, char *out, size_t len)
{
    FILE *f = fopen(known_hosts, "re");
    char line[4096];
    snprintf(out, len, "(unreadable)");
    while (f && fgets(line, sizeof(line), f)) {
        char *save = NULL, *hosts = strtok_r(line, " \t\n", &save);
        char *ktype = strtok_r(NULL, " \t\n", &save), *b64 = strtok_r(NULL, " \t\n", &save);
        ssh_key key = NULL;
        if (!hosts || !ktype || !b64 || hosts[0] == '#' || !names_host(hosts, host) ||
            ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(ktype), &key) != SSH_OK)
            continue;
        bool same_type = ssh_key_type(key) == type;
        fingerprint(key, out, len);
        ssh_key_free(key);
        if (same_type)
            break;
    }
    if (f)
        fclose(f);
}

static int changed_key(ssh_session s, const char *host, struct err *e)
{
    ssh_key now = NULL;
    char old_fp[128], new_fp[128];
    ssh_get_server_publickey(s, &now);
    known_fingerprint(host, now ? ssh_key_type(now) : SSH_KEYTYPE_UNKNOWN, old_fp, sizeof(old_fp));
    fingerprint(now, new_fp, sizeof(new_fp));
    ssh_key_free(now);
    return err_set(e, ERR_FORBIDDEN, M_SSH_HOST_KEY_CHANGED,
                   "The ssh host key of \"%s\" has changed: %s knows %s but the host now "
                   "presents %s. If the host was reinstalled, remove its line from that file; "
                   "otherwise someone may be intercepting the connection.",
                   host, known_hosts, old_fp, new_fp);
}

/* --known-hosts-strict: no first contact without the key's fingerprint given. Set at start. */
static bool strict;

void sshc_set_strict(bool on)
{
    strict = on;
}

static void server_fingerprint(ssh_session s, char *fp, size_t len)
{
    ssh_key key = NULL;
    ssh_get_server_publickey(s, &key);
    fingerprint(key, fp, len);
    ssh_key_free(key);
}

static int key_mismatch(const char *host, const char *fp, const char *want, struct err *e)
{
    return err_set(e, ERR_FORBIDDEN, M_SSH_HOST_KEY_MISMATCH,
                   "The ssh host key of \"%s\" is %s, not %s as given (host_key). Compare both "
                   "with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on "
                   "it): if it has the key given, someone may be intercepting the connection.",
                   host, fp, want);
}

static int first_contact(ssh_session s, const char *host, const char *fp, const char *want,
                         struct err *e)
{
    if (!want[0] && strict)
        return err_set(e, ERR_FORBIDDEN, M_SSH_HOST_KEY_UNCONFIRMED,
                       "kimchid has never connected to \"%s\", whose ssh host key is %s. "
                       "Compare it with the host's own (ssh-keygen -lf "
                       "/etc/ssh/ssh_host_ed25519_key.pub on it), then give it as host_key (the "
                       "Migrate dialog shows it and sends it): kimchid runs with "
                       "--known-hosts-strict, so it trusts no host key unconfirmed.",
                       host, fp);
    if (ssh_session_update_known_hosts(s) != SSH_OK)
        return err_set(e, ERR_BACKEND, M_SSH_KNOWN_HOSTS,
                       "Cannot record the host key of \"%s\" in %s: %s", host, known_hosts,
                       ssh_get_error(s));
    log_info("ssh: recorded host key of \"%s\" (%s) on first contact%s", host, fp,
             want[0] ? ", as confirmed (host_key)" : "");
    return 0;
}

/* Accepts a known host, records a new one (unless --known-hosts-strict and no `want`), refuses
 * a changed one, and any whose key is not `want` when one is given ("SHA256:...", or ""). */
static int verify_host(ssh_session s, const char *host, const char *want, struct err *e)
{
    char fp[128];
    server_fingerprint(s, fp, sizeof(fp));
    enum ssh_known_hosts_e known = ssh_session_is_known_server(s);
    if (want[0] && strcmp(fp, want) != 0 && known != SSH_KNOWN_HOSTS_CHANGED &&
        known != SSH_KNOWN_HOSTS_OTHER)
        return key_mismatch(host, fp, want, e);
    switch (known) {
    case SSH_KNOWN_HOSTS_OK:
        return 0;
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
        return first_contact(s, host, fp, want, e);
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
        return changed_key(s, host, e);
    default:
        return err_set(e, ERR_BACKEND, M_SSH_KNOWN_HOSTS, "Cannot check the host key of \"%s\": %s",
                       host, ssh_get_error(s));
    }
}

/* Why a connection failed, in words: a server that takes the TCP connection and then says
 * nothing (hung, stopped, overloaded) is told apart from one that is not there, by trying the
 * TCP connection alone once more. */
static void connect_failed(const char *host, const char *why, long waited_s, struct err *e)
{
    char addr[64];
    struct err pe = {0};
    if (strstr(why, "Timeout") && net_resolve(host, addr, sizeof(addr), &pe) == 0 &&
        net_probe(host, addr, 22, 1000, &pe) == 0) {
        err_set(e, ERR_BACKEND, M_MIG_SSH_HUNG, SSHC_HUNG_FMT, host, waited_s, host);
        return;
    }
    err_set(e, ERR_BACKEND, M_SSH_CONNECT, "Cannot open an ssh connection to \"%s\": %s.", host,
            why);
}

/* A session to `host` past the key exchange (as `user`, when given), the host key not yet
 * checked. NULL with `e`. */
static ssh_session open_session(const char *host, const char *user, struct err *e)
{
    sshc_dir();
    ssh_session s = ssh_new();
    long timeout = SSH_TIMEOUT_S;
    bool no = false;
    if (!s) {
        err_oom(e);
        return NULL;
    }
    ssh_options_set(s, SSH_OPTIONS_HOST, host);
    if (user)
        ssh_options_set(s, SSH_OPTIONS_USER, user);
    /* the connection (TCP, banner, key exchange) within --ssh-connect-timeout, as libvirt's
     * own ssh; later calls on it within SSH_TIMEOUT_S */
    long connect_s = timers.ssh_connect_s > 0 ? timers.ssh_connect_s : SSH_TIMEOUT_S;
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &connect_s);
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
    ssh_options_set(s, SSH_OPTIONS_SSH_DIR, ssh_dir);
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, known_hosts);
    if (ssh_connect(s) != SSH_OK) {
        connect_failed(host, ssh_get_error(s), connect_s, e);
        ssh_free(s);
        return NULL;
    }
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    return s;
}

ssh_session sshc_connect(const char *host, const char *user, const char *want_key, struct err *e)
{
    ssh_session s = open_session(host, user, e);
    if (s && verify_host(s, host, want_key ? want_key : "", e) < 0) {
        sshc_close(s);
        return NULL;
    }
    return s;
}

int sshc_host_key(const char *host, char *fp, size_t len, bool *known, struct err *e)
{
    ssh_session s = open_session(host, NULL, e);
    if (!s)
        return -1;
    server_fingerprint(s, fp, len);
    enum ssh_known_hosts_e k = ssh_session_is_known_server(s);
    *known = k == SSH_KNOWN_HOSTS_OK;
    int rc =
        k == SSH_KNOWN_HOSTS_CHANGED || k == SSH_KNOWN_HOSTS_OTHER ? changed_key(s, host, e) : 0;
    sshc_close(s);
    return rc;
}

void sshc_close(ssh_session s)
{
    if (!s)
        return;
    ssh_disconnect(s);
    ssh_free(s);
}

/* Answers keyboard-interactive prompts that ask for a password. */
static int auth_kbdint(ssh_session s, const char *password)
{
    int rc;
    while ((rc = ssh_userauth_kbdint(s, NULL, NULL)) == SSH_AUTH_INFO) {
        int n = ssh_userauth_kbdint_getnprompts(s);
        for (int i = 0; i < n; i++)
            if (ssh_userauth_kbdint_setanswer(s, (unsigned int)i, password) < 0)
                return SSH_AUTH_ERROR;
    }
    return rc;
}

int sshc_auth_password(ssh_session s, const char *host, const char *user, const char *password,
                       struct err *e)
{
    int rc = ssh_userauth_none(s, NULL);
    if (rc == SSH_AUTH_SUCCESS)
        return 0;
    int methods = ssh_userauth_list(s, NULL);
    if (methods & SSH_AUTH_METHOD_PASSWORD)
        rc = ssh_userauth_password(s, NULL, password);
    else if (methods & SSH_AUTH_METHOD_INTERACTIVE)
        rc = auth_kbdint(s, password);
    else
        return err_set(e, ERR_FORBIDDEN, M_SSH_NO_PASSWORD_AUTH,
                       "\"%s\" does not accept password logins over ssh. Allow "
                       "PasswordAuthentication in its sshd_config, or set up key login for "
                       "root yourself.",
                       host);
    if (rc == SSH_AUTH_SUCCESS)
        return 0;
    if (rc == SSH_AUTH_ERROR)
        return err_set(e, ERR_BACKEND, M_SSH_LOGIN, "ssh login to \"%s\" failed: %s.", host,
                       ssh_get_error(s));
    return err_set(e, ERR_FORBIDDEN, M_SSH_WRONG_PASSWORD,
                   "\"%s\" refused the password for user \"%s\". Check the user name and the "
                   "password.",
                   host, user);
}

/* Reads what is available on one stream of the channel into out (bounded). */
static void drain(ssh_channel ch, int is_stderr, char *out, size_t len, size_t *used)
{
    char buf[512];
    int n;
    while ((n = ssh_channel_read_timeout(ch, buf, sizeof(buf), is_stderr, 100)) > 0) {
        size_t room = len - 1 - *used, take = (size_t)n < room ? (size_t)n : room;
        memcpy(out + *used, buf, take);
        *used += take;
        out[*used] = '\0';
    }
}

int sshc_run(ssh_session s, const char *cmd, const char *input, size_t inlen, char *errout,
             size_t errlen, struct err *e)
{
    ssh_channel ch = ssh_channel_new(s);
    size_t used = 0, ignored = 0;
    char out[256];
    int status = -1;
    errout[0] = '\0';
    if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
        ssh_channel_request_exec(ch, cmd) != SSH_OK ||
        (inlen && ssh_channel_write(ch, input, (uint32_t)inlen) != (int)inlen) ||
        ssh_channel_send_eof(ch) != SSH_OK) {
        err_set(e, ERR_BACKEND, M_SSH_COMMAND, "Cannot run a command over ssh: %s.",
                ssh_get_error(s));
        goto cleanup;
    }
    for (int waited = 0; !ssh_channel_is_eof(ch) && waited < CMD_TIMEOUT_MS; waited += 200) {
        drain(ch, 0, out, sizeof(out), &ignored);
        ignored = 0;
        drain(ch, 1, errout, errlen, &used);
    }
    drain(ch, 1, errout, errlen, &used);
    status = ssh_channel_get_exit_status(ch);
    if (status < 0)
        err_set(e, ERR_BACKEND, M_SSH_COMMAND, "A command over ssh did not finish in time.");
cleanup:
    if (ch) {
        ssh_channel_close(ch);
        ssh_channel_free(ch);
    }
    return status;
}
