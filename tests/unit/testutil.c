#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport/transport.h"

#ifndef WSIP_CORPUS_DIR
#define WSIP_CORPUS_DIR "../shared/corpus"
#endif

const char *corpus_path(const char *rel)
{
    static char path[4096];
    const char *dir = getenv("WSIP_CORPUS_DIR");
    if (!dir)
        dir = WSIP_CORPUS_DIR;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        ck_abort_msg("shared corpus not found at %s (expected ../shared/corpus beside the "
                     "repository; set WSIP_CORPUS_DIR)",
                     dir);
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    return path;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(fread(p, 1, (size_t)n, f) == (size_t)n, "short read on %s", path);
    fclose(f);
    p[n] = '\0';
    *len = (size_t)n;
    return p;
}

int tsv_read(const char *path, struct tsv_row **rows)
{
    size_t len;
    char *text = read_file(path, &len);
    int cap = 16, n = 0;
    struct tsv_row *r = calloc((size_t)cap, sizeof(*r));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (n == cap) {
            cap *= 2;
            r = realloc(r, (size_t)cap * sizeof(*r));
        }
        struct tsv_row *row = &r[n++];
        memset(row, 0, sizeof(*row));
        row->line = strdup(line);
        char *p = row->line;
        while (row->n < 24) {
            row->f[row->n++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = '\0';
            p = tab + 1;
        }
    }
    free(text);
    *rows = r;
    return n;
}

void tsv_free(struct tsv_row *rows, int n)
{
    for (int i = 0; i < n; i++)
        free(rows[i].line);
    free(rows);
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

uint16_t test_free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

void test_server_start(struct wsip_server *srv, struct wsip_server_opts *o, const char *listen_uri)
{
    const char *why;
    o->nlisten = 0;
    ck_assert_msg(wsip_listen_spec_parse(listen_uri, &o->listen[o->nlisten++], &why) == 0, "%s: %s",
                  listen_uri, why);
    char err[256];
    ck_assert_msg(wsip_server_init(srv, o, err, sizeof(err)) == 0, "init: %s", err);
    ck_assert_int_eq(wsip_server_start(srv), 0);
}

void test_server_stop(struct wsip_server *srv)
{
    wsip_server_stop(srv);
    wsip_server_join(srv);
    wsip_server_free(srv);
}
