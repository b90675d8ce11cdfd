/* Helpers shared by the unit tests: corpus access and file reading. */
#ifndef WSIP_TESTUTIL_H
#define WSIP_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Absolute path of a file in ../shared/corpus (static buffer). Aborts the
 * test with a clear message when the corpus is missing. */
const char *corpus_path(const char *rel);

/* Reads a whole file; returns malloc'd bytes (NUL-terminated) and *len, or
 * fails the test. */
char *read_file(const char *path, size_t *len);

/* One row of a TSV file: up to 24 tab-separated fields (pointers into a
 * malloc'd copy of the line). */
struct tsv_row {
    char *line;
    char *f[24];
    int n;
};

/* Reads a TSV file skipping '#' lines. Returns the number of rows and a
 * malloc'd array in *rows; free with tsv_free. */
int tsv_read(const char *path, struct tsv_row **rows);
void tsv_free(struct tsv_row *rows, int n);

/* A free loopback port for SOCK_DGRAM or SOCK_STREAM. */
uint16_t test_free_port(int type);

/* Starts srv (src/transport) with o listening on listen_uri only, or fails
 * the test; test_server_stop stops, joins and frees it. */
struct wsip_server;
struct wsip_server_opts;
void test_server_start(struct wsip_server *srv, struct wsip_server_opts *o, const char *listen_uri);
void test_server_stop(struct wsip_server *srv);

/* Runs a suite and returns the exit status for main(). */
int run_suite(Suite *s);

#endif
