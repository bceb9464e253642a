/*
 * replay.c — a plain main() for the fuzz targets, so `meson test --suite fuzz` runs every corpus
 * input through its target on any compiler, without libFuzzer. Arguments are files or
 * directories (read one level deep, in name order, skipping dotfiles); each file is one input.
 *
 * It exits 0 when every input ran; a crash or an abort() in a target's checks fails the test, and
 * so does an input that is still running after INPUT_TIMEOUT seconds (a hang found by the fuzzer
 * must fail here too, naming its file, not just time out the whole test). An argument that names
 * no input at all is an error too, so a missing corpus cannot pass silently.
 */
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

#define INPUT_TIMEOUT 20
#define STR(x) STR_(x)
#define STR_(x) #x

static const char *current;

static void on_alarm(int sig)
{
        (void)sig;
        static const char msg[] = "replay: still running after " STR(INPUT_TIMEOUT) " s (hang): ";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)!write(STDERR_FILENO, current, strlen(current));
        (void)!write(STDERR_FILENO, "\n", 1);
        _exit(1);
}

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rbe");
        if (!f) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        size_t cap = 4096, len = 0;
        uint8_t *buf = malloc(cap);
        if (!buf)
                abort();
        for (;;) {
                size_t n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
                if (len == cap) {
                        cap *= 2;
                        buf = realloc(buf, cap);
                        if (!buf)
                                abort();
                }
        }
        int bad = ferror(f);
        fclose(f);
        if (bad) {
                fprintf(stderr, "replay: %s: read error\n", path);
                free(buf);
                return -1;
        }
        /* an exactly sized copy, as libFuzzer passes it, so over-reads are visible to ASan */
        uint8_t *input = malloc(len ? len : 1);
        if (!input)
                abort();
        memcpy(input, buf, len);
        free(buf);
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
        current = path;
        alarm(INPUT_TIMEOUT);
        LLVMFuzzerTestOneInput(input, len);
        alarm(0);
        free(input);
        return 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *path, size_t *count)
{
        DIR *d = opendir(path);
        if (!d) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                names = realloc(names, (n + 1) * sizeof *names);
                if (!names || !(names[n] = strdup(de->d_name)))
                        abort();
                n++;
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof *names, cmp_names);
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                char *p;
                if (asprintf(&p, "%s/%s", path, names[i]) < 0)
                        abort();
                struct stat st;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_file(p) < 0)
                                r = -1;
                        else
                                (*count)++;
                }
                free(p);
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        signal(SIGALRM, on_alarm);
        int failed = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                size_t count = 0;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        failed = 1;
                        continue;
                }
                int r = S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i]);
                if (!S_ISDIR(st.st_mode) && r == 0)
                        count = 1;
                if (r < 0)
                        failed = 1;
                if (count == 0) {
                        fprintf(stderr, "replay: %s: no inputs\n", argv[i]);
                        failed = 1;
                }
                printf("replay: %s: %zu inputs\n", argv[i], count);
        }
        return failed;
}
