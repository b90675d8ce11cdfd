/* Replays inputs through a fuzz target's LLVMFuzzerTestOneInput without a
 * fuzzing engine, so that CI (which has none) runs every corpus file.
 *
 *   replay_<name> [PATH...] [--shared DIR]
 *
 * Each PATH is a file or a directory (read recursively, in sorted order); a
 * PATH that does not exist is an error. DIR is the shared standards corpus:
 * it may be missing (then it is skipped with a note), and of its files only
 * those the target asks for are replayed: a target may define
 *
 *   const char *const wsip_fuzz_seed_exts[] = {".sip", "/archive-lf/", NULL};
 *
 * (file name suffixes; an entry that contains a '/' selects every file whose
 * path contains it). A target that does not define it gets every file. Files whose name starts with
 * '.' are skipped everywhere.
 *
 * Every input is run whole, then truncated at a few cut points (len - 1,
 * len - 2, len / 2, and around the end of the first header section), each
 * time from a fresh heap copy of exactly that size so that AddressSanitizer
 * sees any read past the end. A crash simply crashes the process; files that
 * cannot be read count as failures (exit status 1). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
extern const char *const wsip_fuzz_seed_exts[] __attribute__((weak));
/* present when built with a sanitizer: called before it exits on an error */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

struct stats {
    unsigned long inputs;  /* files replayed */
    unsigned long runs;    /* calls of LLVMFuzzerTestOneInput */
    unsigned long skipped; /* files filtered out by suffix */
    unsigned long failures;
};

static struct stats total;
static unsigned long max_cuts = 8; /* 0 with -n: whole inputs only */

/* What is running, for the message printed when it crashes. */
static char current_path[4096];
static size_t current_len, current_full;

static void put_str(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void put_num(size_t n)
{
    char b[24];
    int i = (int)sizeof(b);
    b[--i] = '\0';
    do {
        b[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n && i > 0);
    put_str(b + i);
}

/* Async-signal-safe: names the input that crashed. */
static void report_current(void)
{
    if (!current_path[0])
        return;
    put_str("replay: crashed on ");
    put_str(current_path);
    if (current_len == current_full) {
        put_str(" (whole input, ");
    } else {
        put_str(" (truncated to ");
        put_num(current_len);
        put_str(" of ");
    }
    put_num(current_full);
    put_str(" bytes)\n");
}

static void on_signal(int sig)
{
    report_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reports crashes without taking signals a sanitizer already handles. */
static void install_crash_report(void)
{
    static const int sigs[] = {SIGILL, SIGABRT, SIGFPE, SIGBUS, SIGSEGV, SIGTRAP};
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(report_current);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
            !(old.sa_flags & SA_SIGINFO))
            signal(sigs[i], on_signal);
    }
}

static void run_one(const uint8_t *data, size_t len, size_t full)
{
    current_len = len;
    current_full = full;
    /* exact-size heap copy: a read past len is a heap-buffer-overflow */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fprintf(stderr, "replay: out of memory\n");
        exit(2);
    }
    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    total.runs++;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Offset just past the first empty line (CRLFCRLF or LFLF), or 0. */
static size_t header_end(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static void replay_input(const uint8_t *data, size_t len)
{
    run_one(data, len, len);
    if (max_cuts == 0 || len == 0)
        return;

    size_t cuts[8];
    unsigned n = 0;
    cuts[n++] = len - 1;
    if (len >= 2)
        cuts[n++] = len - 2;
    cuts[n++] = len / 2;
    size_t he = header_end(data, len);
    if (he > 0) {
        cuts[n++] = he - 1; /* the final LF of the empty line missing */
        if (he >= 2)
            cuts[n++] = he - 2;
        if (he < len)
            cuts[n++] = he; /* headers complete, body missing */
    }
    qsort(cuts, n, sizeof(cuts[0]), cmp_size);
    for (unsigned i = 0; i < n && i < max_cuts; i++) {
        if (cuts[i] >= len || (i > 0 && cuts[i] == cuts[i - 1]))
            continue;
        run_one(data, cuts[i], len);
    }
}

static int read_whole(const char *path, uint8_t **out, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, len = 0;
    uint8_t *p = malloc(cap);
    while (p) {
        size_t n = fread(p + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        uint8_t *q = realloc(p, cap * 2);
        if (!q) {
            free(p);
            p = NULL;
            break;
        }
        p = q;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!p || err) {
        free(p);
        return -1;
    }
    *out = p;
    *lenp = len;
    return 0;
}

static int replay_file(const char *path)
{
    uint8_t *data;
    size_t len;
    if (read_whole(path, &data, &len) != 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        total.failures++;
        return -1;
    }
    snprintf(current_path, sizeof(current_path), "%s", path);
    replay_input(data, len);
    current_path[0] = '\0';
    free(data);
    total.inputs++;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Does the target want this shared-corpus file? */
static int wanted(const char *path)
{
    if (!wsip_fuzz_seed_exts)
        return 1;
    const char *name = base_name(path);
    size_t nlen = strlen(name);
    for (const char *const *e = wsip_fuzz_seed_exts; *e; e++) {
        size_t elen = strlen(*e);
        if (strchr(*e, '/')) {
            if (strstr(path, *e))
                return 1;
        } else if (nlen > elen && strcmp(name + nlen - elen, *e) == 0) {
            return 1;
        }
    }
    return 0;
}

static int skip_entry(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replays a directory tree; filter selects the shared-corpus suffix test. */
static void replay_dir(const char *dir, int filter, unsigned long *count, unsigned long *skipped,
                       int depth)
{
    struct dirent **ents;
    if (depth > 32) {
        fprintf(stderr, "replay: %s: too deeply nested\n", dir);
        total.failures++;
        return;
    }
    int n = scandir(dir, &ents, skip_entry, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", dir, strerror(errno));
        total.failures++;
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(ents[i]->d_name) + 2;
        char *path = malloc(plen);
        if (!path) {
            fprintf(stderr, "replay: out of memory\n");
            exit(2);
        }
        snprintf(path, plen, "%s/%s", dir, ents[i]->d_name);
        free(ents[i]);
        struct stat st;
        if (stat(path, &st) != 0) {
            fprintf(stderr, "replay: cannot stat %s: %s\n", path, strerror(errno));
            total.failures++;
        } else if (S_ISDIR(st.st_mode)) {
            replay_dir(path, filter, count, skipped, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            if (filter && !wanted(path)) {
                (*skipped)++;
            } else if (replay_file(path) == 0) {
                (*count)++;
            }
        }
        free(path);
    }
    free(ents);
}

static void replay_path(const char *path, int shared)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (shared && errno == ENOENT) {
            printf("replay: shared corpus %s not present, skipped\n", path);
            return;
        }
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        total.failures++;
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        unsigned long count = 0, skipped = 0;
        replay_dir(path, shared, &count, &skipped, 0);
        if (shared)
            printf("replay: %s: %lu inputs (%lu files not for this target)\n", path, count,
                   skipped);
        else
            printf("replay: %s: %lu inputs\n", path, count);
        total.skipped += skipped;
    } else if (replay_file(path) == 0) {
        printf("replay: %s: 1 input\n", path);
    }
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-n] [PATH...] [--shared DIR]\n"
            "  replays files (directories recursively) through the fuzz target;\n"
            "  -n: whole inputs only (no truncated copies)\n"
            "  --shared DIR: the shared corpus; may be missing, filtered by suffix\n",
            prog);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    install_crash_report();

    const char *shared = NULL;
    int npaths = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0) {
            max_cuts = 0;
        } else if (strcmp(argv[i], "--shared") == 0) {
            if (i + 1 >= argc) {
                usage(argv[0]);
                return 2;
            }
            shared = argv[++i];
        } else if (strncmp(argv[i], "--shared=", 9) == 0) {
            shared = argv[i] + 9;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(argv[0]);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            /* a libFuzzer flag (-runs=, -dict=, ...): meaningless here */
            fprintf(stderr, "replay: ignoring option %s\n", argv[i]);
        } else {
            npaths++;
        }
    }
    if (npaths == 0 && !shared) {
        usage(argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shared") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            continue;
        replay_path(argv[i], 0);
    }
    if (shared)
        replay_path(shared, 1);

    printf("fuzz replay: %lu inputs, %lu runs, %lu failures\n", total.inputs, total.runs,
           total.failures);
    return total.failures ? 1 : 0;
}
