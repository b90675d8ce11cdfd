/* wsip: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "wsip %s - SIP over WebSocket server\n"
            "\n"
            "usage: wsip <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve [options]     run the server (wsip serve --help)\n"
            "  check-config [-c FILE] [--set k=v]... [-v]\n"
            "                      validate a configuration, errors with line numbers\n"
            "  cert --self-signed DIR\n"
            "                      write a development certificate (cert.pem, key.pem)\n"
            "  parse FILE... | -   parse each file as one SIP message (datagram framing),\n"
            "                      validate it as a receiving proxy would, print one JSON\n"
            "                      object per file; exit 1 if any file is bad\n"
            "  bench MODE [opts]   SIP load generator over WS, WSS, UDP, TCP, TLS; modes\n"
            "                      connect, options, register, message, call, churn\n"
            "                      (wsip bench --help)\n"
            "  user add|del|list   users of the SQLite store (wsip user --help)\n"
            "  help                this text\n"
            "  version             print the version\n"
            "\n"
            "See README.md and docs/configuration.md.\n",
            WSIP_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("wsip %s\n", WSIP_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "parse"))
        return wsip_cmd_parse(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve"))
        return wsip_cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "check-config"))
        return wsip_cmd_check_config(argc - 2, argv + 2);
    if (!strcmp(cmd, "cert"))
        return wsip_cmd_cert(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return wsip_cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "user"))
        return wsip_cmd_user(argc - 2, argv + 2);
    fprintf(stderr, "wsip: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
