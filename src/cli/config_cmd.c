/* wsip check-config: load the configuration as `wsip serve` would, report
 * every error as FILE:LINE: message, exit 0 or 1. Also prints the generated
 * example file and docs table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "wsip/config.h"

/* Also declared in cli/cli.h (the redeclaration keeps this file standalone). */
int wsip_cmd_check_config(int argc, char **argv);

static void usage(FILE *f)
{
    fprintf(f, "usage: wsip check-config [-c FILE] [--set KEY=VALUE]... [-v]\n"
               "       wsip check-config --example | --markdown\n"
               "\n"
               "Loads the defaults, then FILE, then the command-line overrides, and checks\n"
               "the result. Prints \"configuration OK\" and exits 0, or prints each error as\n"
               "FILE:LINE: message and exits 1.\n"
               "\n"
               "  -c, --config FILE      libconfig file (default: none, built-in defaults)\n"
               "  --set KEY=VALUE        override a directive (e.g. --set ws.ping_interval=20,\n"
               "                         --set domains=[a.example,b.example])\n"
               "  --KEY=VALUE            the same, for any directive name (--workers=4)\n"
               "  --listen URI           repeatable; replaces the listen list\n"
               "  --domain NAME          repeatable; replaces the domains list\n"
               "  --db PATH              the database file\n"
               "  -v, --verbose          also print the effective configuration\n"
               "  --example              print etc/wsip.conf (every directive at its default)\n"
               "  --markdown             print the directive table of docs/configuration.md\n");
}

int wsip_cmd_check_config(int argc, char **argv)
{
    struct wsip_config_args args = {0};
    struct wsip_config_err err = {0};
    bool verbose = false;
    int rc = 2;
    for (int i = 0; i < argc;) {
        const char *a = argv[i];
        int took = wsip_config_args_take(&args, argc, argv, &i, &err);
        if (took < 0) {
            wsip_config_err_print(&err, stderr);
            goto out;
        }
        if (took > 0)
            continue;
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (!strcmp(a, "--example")) {
            wsip_config_write_example(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--markdown")) {
            wsip_config_write_markdown(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto out;
        } else {
            fprintf(stderr, "wsip check-config: unknown option '%s'\n\n", a);
            usage(stderr);
            goto out;
        }
        i++;
    }

    struct wsip_config c;
    if (wsip_config_args_load(&c, &args, &err) < 0) {
        wsip_config_err_print(&err, stderr);
        rc = 1;
    } else {
        if (verbose)
            wsip_config_dump(&c, stdout);
        printf("configuration OK\n");
        rc = 0;
    }
    wsip_config_free(&c);
out:
    wsip_config_args_free(&args);
    return rc;
}
