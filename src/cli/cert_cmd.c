/* wsip cert --self-signed DIR: a key and certificate for TLS and WSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "wsip/tls.h"

#define MAX_NAMES 64

static void cert_usage(FILE *f)
{
    fprintf(f, "usage: wsip cert --self-signed DIR [--name HOST]... [--days N] [--rsa] [--force]\n"
               "\n"
               "Writes DIR/cert.pem and DIR/key.pem (mode 0600): an ECDSA P-256 key and a\n"
               "self-signed certificate for DNS:localhost, IP:127.0.0.1, IP:::1 and each\n"
               "--name (host name or IP address; the first is also the subject CN).\n"
               "  --days N   validity (default 825, the most Apple platforms accept)\n"
               "  --rsa      RSA-2048 instead of P-256, for peers without ECDSA\n"
               "  --force    replace existing files\n");
}

int wsip_cmd_cert(int argc, char **argv)
{
    const char *names[MAX_NAMES];
    struct wsip_tls_cert_opts o = {.key_type = WSIP_TLS_KEY_P256, .names = names};
    const char *dir = NULL;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cert_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--force")) {
            o.force = true;
        } else if (!strcmp(a, "--rsa")) {
            o.key_type = WSIP_TLS_KEY_RSA2048;
        } else if (!strcmp(a, "--self-signed") || !strcmp(a, "--name") || !strcmp(a, "--days")) {
            if (val == NULL) {
                fprintf(stderr, "wsip cert: %s needs a value\n", a);
                return 2;
            }
            i++;
            if (!strcmp(a, "--self-signed")) {
                dir = val;
            } else if (!strcmp(a, "--name")) {
                if (o.n_names == MAX_NAMES) {
                    fprintf(stderr, "wsip cert: at most %d --name\n", MAX_NAMES);
                    return 2;
                }
                names[o.n_names++] = val;
            } else {
                char *end;
                unsigned long d = strtoul(val, &end, 10);
                if (*val < '0' || *val > '9' || *end != '\0' || d == 0 || d > 100000) {
                    fprintf(stderr, "wsip cert: --days wants 1..100000, not '%s'\n", val);
                    return 2;
                }
                o.days = (unsigned)d;
            }
        } else {
            fprintf(stderr, "wsip cert: unknown argument '%s'\n\n", a);
            cert_usage(stderr);
            return 2;
        }
    }
    if (dir == NULL) {
        cert_usage(stderr);
        return 2;
    }

    struct wsip_tls_err err;
    if (wsip_tls_cert_self_signed(dir, &o, &err) != 0) {
        fprintf(stderr, "wsip cert: %s\n", err.msg);
        return 1;
    }
    printf("%s/cert.pem\n%s/key.pem\n", dir, dir);
    return 0;
}
