/* wsip user add|del|list: the users of the SQLite store. Only HA1 hashes
 * reach the database; the password lives in one buffer that is wiped. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "wsip/config.h"
#include "wsip/store.h"

#define PASSWORD_MAX 1024

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsip user add USER@DOMAIN [--password PW | --password-stdin] [--force]\n"
            "       wsip user add --bulk PREFIX[@DOMAIN] COUNT [--password PW | ...] [--force]\n"
            "       wsip user del USER@DOMAIN\n"
            "       wsip user list\n"
            "  each also takes [-c FILE] [--db PATH] [--set key=value]...\n"
            "  add: without --password or --password-stdin, asks twice on the terminal;\n"
            "       --password shows the password to other local users (ps): prefer the others.\n"
            "       --force replaces an existing user.\n"
            "       --bulk: users PREFIX1 .. PREFIX<COUNT> (at most 100000) with one password,\n"
            "       for load tests (wsip bench --user-prefix); DOMAIN defaults to the first\n"
            "       of domains.\n"
            "  The realm is auth.realm, or the user's domain when auth.realm is empty; after\n"
            "  changing auth.realm, add the users again (list shows each user's realm).\n");
}

/* ------------------------------------------------------------ password */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

/* Ctrl-C at the prompt must not leave the terminal without echo. */
static void restore_and_die(int sig)
{
    if (tty_changed)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* One line from f into buf without its line end. 0, or -1 when nothing
 * could be read or the line is too long. */
static int read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f))
        return -1;
    size_t n = strlen(buf);
    bool eol = n && buf[n - 1] == '\n';
    if (!eol && !feof(f))
        return -1; /* longer than the buffer */
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 0;
}

static int prompt(const char *text, char *buf, size_t cap)
{
    if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
        return -1;
    struct termios quiet = saved_tty;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    void (*old_int)(int) = signal(SIGINT, restore_and_die);
    void (*old_term)(int) = signal(SIGTERM, restore_and_die);
    /* echo off before the prompt shows: TCSAFLUSH drops what was typed
     * ahead (it was echoed), never an answer to the prompt */
    tty_changed = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    fputs(text, stderr);
    fflush(stderr);
    int rc = read_line(stdin, buf, cap);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    tty_changed = 0;
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);
    return rc;
}

/* The password from --password, --password-stdin or the terminal. */
static int get_password(const char *given, bool from_stdin, const char *who, char *pw, size_t cap)
{
    if (given) {
        if (strlen(given) >= cap) {
            fprintf(stderr, "wsip user add: password too long\n");
            return -1;
        }
        snprintf(pw, cap, "%s", given);
    } else if (from_stdin) {
        if (read_line(stdin, pw, cap) < 0) {
            fprintf(stderr, "wsip user add: no password on standard input (or too long)\n");
            return -1;
        }
    } else if (isatty(STDIN_FILENO)) {
        char again[PASSWORD_MAX];
        char text[512];
        snprintf(text, sizeof(text), "Password for %.400s: ", who);
        if (prompt(text, pw, cap) < 0 || prompt("Retype password: ", again, sizeof(again)) < 0) {
            explicit_bzero(again, sizeof(again));
            fprintf(stderr, "wsip user add: no password read\n");
            return -1;
        }
        bool same = strcmp(pw, again) == 0;
        explicit_bzero(again, sizeof(again));
        if (!same) {
            fprintf(stderr, "wsip user add: the passwords differ\n");
            return -1;
        }
    } else {
        fprintf(stderr, "wsip user add: no password: give --password-stdin (and the password on "
                        "standard input) or --password PW\n");
        return -1;
    }
    if (pw[0] == '\0') {
        fprintf(stderr, "wsip user add: empty password refused\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ commands */

static bool domain_served(const struct wsip_config *c, const char *domain)
{
    for (size_t i = 0; i < c->domains.n; i++)
        if (!strcasecmp(c->domains.v[i], domain))
            return true;
    return false;
}

static int cmd_add(struct wsip_store *st, const struct wsip_config *cfg, const char *aor,
                   const char *given_pw, bool pw_stdin, bool force)
{
    char user[WSIP_USER_MAX + 1], domain[WSIP_DOMAIN_MAX + 1], shown[3 * WSIP_USER_MAX + 1];
    const char *why;
    if (wsip_user_parse_aor(aor, user, domain, &why) < 0) {
        fprintf(stderr, "wsip user add: %s: %s\n", aor, why);
        return 1;
    }
    wsip_user_escape(user, shown, sizeof(shown));
    /* each domain is its own realm unless one is configured */
    const char *realm = cfg->auth.realm[0] ? cfg->auth.realm : domain;
    if (!domain_served(cfg, domain))
        fprintf(stderr,
                "wsip user add: warning: %s is not in the configured domains; wsip serve "
                "answers for it only once it is\n",
                domain);

    struct wsip_user u;
    int existed = wsip_store_user_get(st, user, domain, &u);
    if (existed == 0 && !force) {
        fprintf(stderr, "wsip user add: user %s@%s exists (--force replaces it)\n", shown, domain);
        return 1;
    }
    if (existed == -1) {
        fprintf(stderr, "wsip user add: %s\n", wsip_store_errmsg(st));
        return 1;
    }

    char pw[PASSWORD_MAX + 2];
    char who[WSIP_DOMAIN_MAX + sizeof(shown) + 2];
    snprintf(who, sizeof(who), "%s@%s", shown, domain);
    int rc = 1;
    if (get_password(given_pw, pw_stdin, who, pw, sizeof(pw)) < 0)
        goto out;
    if (wsip_user_make(&u, wsip_str_cstr(user), wsip_str_cstr(domain), wsip_str_cstr(realm),
                       wsip_str_cstr(pw), &why) < 0) {
        fprintf(stderr, "wsip user add: %s\n", why);
        goto out;
    }
    int put = wsip_store_user_put(st, &u, force);
    if (put == WSIP_STORE_EXISTS) {
        fprintf(stderr, "wsip user add: user %s exists (--force replaces it)\n", who);
        goto out;
    }
    if (put < 0) {
        fprintf(stderr, "wsip user add: %s\n", wsip_store_errmsg(st));
        goto out;
    }
    printf("%s %s (realm %s)\n", existed == 0 ? "replaced" : "added", who, realm);
    rc = 0;
out:
    explicit_bzero(pw, sizeof(pw));
    explicit_bzero(&u, sizeof(u));
    return rc;
}

/* COUNT users PREFIX1.. of one domain with one password (wsip bench). */
static int cmd_add_bulk(struct wsip_store *st, const struct wsip_config *cfg, const char *prefix,
                        const char *count_s, const char *given_pw, bool pw_stdin, bool force)
{
    char user[WSIP_USER_MAX + 1], domain[WSIP_DOMAIN_MAX + 1], aor[512];
    const char *why;
    char *end;
    errno = 0;
    unsigned long count = count_s ? strtoul(count_s, &end, 10) : 0;
    if (!count_s || errno || *end || count_s[0] == '-' || count < 1 || count > 100000) {
        fprintf(stderr, "wsip user add --bulk: COUNT must be 1..100000\n");
        return 1;
    }
    /* the prefix must make valid user names: check it as one */
    if (strchr(prefix, '@'))
        snprintf(aor, sizeof(aor), "%s", prefix);
    else
        snprintf(aor, sizeof(aor), "%s@%s", prefix, cfg->domains.n ? cfg->domains.v[0] : "");
    if (wsip_user_parse_aor(aor, user, domain, &why) < 0) {
        fprintf(stderr, "wsip user add --bulk: %s: %s\n", aor, why);
        return 1;
    }
    if (strlen(user) + 6 > WSIP_USER_MAX) {
        fprintf(stderr, "wsip user add --bulk: prefix too long\n");
        return 1;
    }
    const char *realm = cfg->auth.realm[0] ? cfg->auth.realm : domain;
    if (!domain_served(cfg, domain))
        fprintf(stderr, "wsip user add: warning: %s is not in the configured domains\n", domain);
    char pw[PASSWORD_MAX + 2], shown[3 * WSIP_USER_MAX + 1];
    char what[2 * sizeof(shown) + WSIP_DOMAIN_MAX + 32];
    wsip_user_escape(user, shown, sizeof(shown));
    snprintf(what, sizeof(what), "%s1..%s%lu@%s", shown, shown, count, domain);
    if (get_password(given_pw, pw_stdin, what, pw, sizeof(pw)) < 0)
        return 1;
    struct wsip_user u;
    char name[WSIP_USER_MAX + 1];
    int rc = 1;
    unsigned long i;
    for (i = 1; i <= count; i++) {
        snprintf(name, sizeof(name), "%s%lu", user, i);
        if (wsip_user_make(&u, wsip_str_cstr(name), wsip_str_cstr(domain), wsip_str_cstr(realm),
                           wsip_str_cstr(pw), &why) < 0) {
            fprintf(stderr, "wsip user add --bulk: %s: %s\n", name, why);
            goto out;
        }
        int put = wsip_store_user_put(st, &u, force);
        if (put == WSIP_STORE_EXISTS) {
            wsip_user_escape(name, shown, sizeof(shown));
            fprintf(stderr, "wsip user add --bulk: user %s@%s exists (--force replaces it)\n",
                    shown, domain);
            goto out;
        }
        if (put < 0) {
            fprintf(stderr, "wsip user add --bulk: %s\n", wsip_store_errmsg(st));
            goto out;
        }
    }
    printf("added %lu users %s (realm %s)\n", count, what, realm);
    rc = 0;
out:
    if (rc && i > 1)
        fprintf(stderr, "wsip user add --bulk: %lu users were added before the error\n", i - 1);
    explicit_bzero(pw, sizeof(pw));
    explicit_bzero(&u, sizeof(u));
    return rc;
}

static int cmd_del(struct wsip_store *st, const char *aor)
{
    char user[WSIP_USER_MAX + 1], domain[WSIP_DOMAIN_MAX + 1], shown[3 * WSIP_USER_MAX + 1];
    const char *why;
    if (wsip_user_parse_aor(aor, user, domain, &why) < 0) {
        fprintf(stderr, "wsip user del: %s: %s\n", aor, why);
        return 1;
    }
    wsip_user_escape(user, shown, sizeof(shown));
    int rc = wsip_store_user_del(st, user, domain);
    if (rc == WSIP_STORE_NOT_FOUND) {
        fprintf(stderr, "wsip user del: no user %s@%s\n", shown, domain);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "wsip user del: %s\n", wsip_store_errmsg(st));
        return 1;
    }
    printf("deleted %s@%s\n", shown, domain);
    return 0;
}

/* realm=value, quoted when it holds spaces or quotes (one user per line). */
static void print_realm(const char *r)
{
    if (!r[strcspn(r, " \t\"\\")] && r[0]) {
        printf("realm=%s", r);
        return;
    }
    fputs("realm=\"", stdout);
    for (const char *p = r; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        putchar((unsigned char)*p < 0x20 ? '?' : *p);
    }
    putchar('"');
}

static int list_one(const struct wsip_user *u, void *arg)
{
    char shown[3 * WSIP_USER_MAX + 1], when[32] = "?";
    wsip_user_escape(u->user, shown, sizeof(shown));
    time_t t = (time_t)u->created;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s@%s ", shown, u->domain);
    print_realm(u->realm);
    printf(" created=%s\n", when);
    return 0;
}

static int cmd_list(struct wsip_store *st)
{
    if (wsip_store_user_list(st, list_one, NULL) < 0) {
        fprintf(stderr, "wsip user list: %s\n", wsip_store_errmsg(st));
        return 1;
    }
    return 0;
}

int wsip_cmd_user(int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 1;
    }
    const char *sub = argv[0];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    bool add = !strcmp(sub, "add"), del = !strcmp(sub, "del"), list = !strcmp(sub, "list");
    if (!add && !del && !list) {
        fprintf(stderr, "wsip user: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return 1;
    }

    struct wsip_config cfg;
    struct wsip_config_err cerr = {0};
    struct wsip_config_args args = {0};
    const char *aor = NULL, *password = NULL, *count = NULL;
    bool pw_stdin = false, force = false, bulk = false;
    int rc = 1;
    for (int i = 1; i < argc;) {
        int took = wsip_config_args_take(&args, argc, argv, &i, &cerr);
        if (took < 0) {
            wsip_config_err_print(&cerr, stderr);
            wsip_config_args_free(&args);
            return 1;
        }
        if (took > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            wsip_config_args_free(&args);
            return 0;
        }
        if (add && !strcmp(a, "--password") && i + 1 < argc) {
            password = argv[i + 1];
            i += 2;
        } else if (add && !strncmp(a, "--password=", 11)) {
            password = a + 11;
            i++;
        } else if (add && !strcmp(a, "--password-stdin")) {
            pw_stdin = true;
            i++;
        } else if (add && !strcmp(a, "--force")) {
            force = true;
            i++;
        } else if (add && !strcmp(a, "--bulk")) {
            bulk = true;
            i++;
        } else if (a[0] != '-' && !list && !aor) {
            aor = a;
            i++;
        } else if (a[0] != '-' && add && aor && !count) {
            count = a; /* --bulk COUNT; refused below without --bulk */
            i++;
        } else {
            fprintf(stderr, "wsip user %s: unexpected argument %s\n", sub, a);
            usage(stderr);
            wsip_config_args_free(&args);
            return 1;
        }
    }
    if ((add || del) && !aor) {
        fprintf(stderr, "wsip user %s: USER@DOMAIN missing\n", sub);
        usage(stderr);
        wsip_config_args_free(&args);
        return 1;
    }
    if (count && !bulk) {
        fprintf(stderr, "wsip user add: unexpected argument %s\n", count);
        usage(stderr);
        wsip_config_args_free(&args);
        return 1;
    }
    if (password && pw_stdin) {
        fprintf(stderr, "wsip user add: --password and --password-stdin exclude each other\n");
        wsip_config_args_free(&args);
        return 1;
    }

    struct wsip_store *st = NULL;
    if (wsip_config_args_load(&cfg, &args, &cerr) < 0) {
        wsip_config_err_print(&cerr, stderr);
        goto out;
    }
    char err[512];
    struct wsip_store_opts so = {.path = cfg.db};
    if (wsip_store_open(&st, &so, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip user %s: %s\n", sub, err);
        goto out;
    }
    if (add && bulk)
        rc = cmd_add_bulk(st, &cfg, aor, count, password, pw_stdin, force);
    else if (add)
        rc = cmd_add(st, &cfg, aor, password, pw_stdin, force);
    else if (del)
        rc = cmd_del(st, aor);
    else
        rc = cmd_list(st);
out:
    wsip_store_close(st);
    wsip_config_args_free(&args);
    wsip_config_free(&cfg);
    return rc;
}
