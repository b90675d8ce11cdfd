/* Subcommands of the wsip binary. */
#ifndef WSIP_CLI_H
#define WSIP_CLI_H

#include <stdio.h>

#include "wsip/str.h"

int wsip_cmd_parse(int argc, char **argv);
int wsip_cmd_serve(int argc, char **argv);
int wsip_cmd_check_config(int argc, char **argv);
int wsip_cmd_cert(int argc, char **argv);
int wsip_cmd_user(int argc, char **argv);  /* src/cli/user_cmd.c */
int wsip_cmd_bench(int argc, char **argv); /* src/bench/bench_cmd.c */

/* JSON output helpers (valid UTF-8 always: stray bytes become \u00XX). */
void json_str(FILE *f, struct wsip_str s);
void json_cstr(FILE *f, const char *s);

#endif
