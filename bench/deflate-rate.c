/*
 * deflate-rate.c — single-core libdeflate gzip rate over a file, in 1 MiB blocks.
 *
 *   cc -O2 -o deflate-rate bench/deflate-rate.c -ldeflate
 *   ./deflate-rate FILE [LEVEL=6] [PASSES=3]
 *
 * Reads FILE into memory, then compresses it PASSES times on the calling thread, each block of
 * 1 MiB into one gzip member (what lana-img does per block). Two variants per pass:
 *   plain  every block at LEVEL
 *   probe  lana-img's heuristic: four 16 KiB samples at level 1; if none shrinks by 2% the block
 *          is stored (level 0) instead
 * For each, prints the median over the passes of input MB/s (1 MB = 10^6 bytes) by wall clock and
 * by this thread's CPU time (the CPU-time figure does not drop when another process shares the
 * core), and the compressed size. Output lines are "key value" pairs, easy to parse.
 */
#include <libdeflate.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK ((size_t)1 << 20)
#define PROBE_SLICE ((size_t)16 << 10)
#define PROBE_SLICES 4

static double clk(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static int incompressible(struct libdeflate_compressor *probe, const unsigned char *in, size_t len,
                          unsigned char *scratch)
{
        if (len < PROBE_SLICES * PROBE_SLICE)
                return 0;
        for (size_t i = 0; i < PROBE_SLICES; i++)
                if (libdeflate_deflate_compress(probe, in + i * (len / PROBE_SLICES), PROBE_SLICE,
                                                scratch, PROBE_SLICE - PROBE_SLICE / 50) != 0)
                        return 0;
        return 1;
}

int main(int argc, char **argv)
{
        if (argc < 2 || argc > 4) {
                fprintf(stderr, "usage: %s FILE [LEVEL=6] [PASSES=3]\n", argv[0]);
                return 2;
        }
        int level = argc > 2 ? atoi(argv[2]) : 6;
        int passes = argc > 3 ? atoi(argv[3]) : 3;
        if (passes < 1 || passes > 99)
                passes = 3;
        FILE *f = fopen(argv[1], "rb");
        if (!f) {
                perror(argv[1]);
                return 1;
        }
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        unsigned char *in = malloc((size_t)sz + 1);
        if (!in || fread(in, 1, (size_t)sz, f) != (size_t)sz) {
                fprintf(stderr, "cannot read %s\n", argv[1]);
                return 1;
        }
        fclose(f);

        struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
        struct libdeflate_compressor *probe = libdeflate_alloc_compressor(1);
        struct libdeflate_compressor *store = libdeflate_alloc_compressor(0);
        if (!c || !probe || !store) {
                fprintf(stderr, "libdeflate: level %d not supported\n", level);
                return 1;
        }
        size_t cap = libdeflate_gzip_compress_bound(c, BLOCK);
        size_t cap0 = libdeflate_gzip_compress_bound(store, BLOCK);
        if (cap0 > cap)
                cap = cap0;
        unsigned char *out = malloc(cap), *scratch = malloc(PROBE_SLICE);

        for (int variant = 0; variant < 2; variant++) {
                double wall[99], cpu[99];
                uint64_t outsz = 0, stored = 0;
                for (int p = 0; p < passes; p++) {
                        double w0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_THREAD_CPUTIME_ID);
                        outsz = stored = 0;
                        for (size_t off = 0; off < (size_t)sz; off += BLOCK) {
                                size_t n = (size_t)sz - off < BLOCK ? (size_t)sz - off : BLOCK;
                                struct libdeflate_compressor *use = c;
                                if (variant == 1 && incompressible(probe, in + off, n, scratch)) {
                                        use = store;
                                        stored++;
                                }
                                size_t r = libdeflate_gzip_compress(use, in + off, n, out, cap);
                                if (!r) {
                                        fprintf(stderr, "libdeflate failed\n");
                                        return 1;
                                }
                                outsz += r;
                        }
                        wall[p] = clk(CLOCK_MONOTONIC) - w0;
                        cpu[p] = clk(CLOCK_THREAD_CPUTIME_ID) - c0;
                }
                qsort(wall, (size_t)passes, sizeof *wall, cmp);
                qsort(cpu, (size_t)passes, sizeof *cpu, cmp);
                const char *name = variant ? "probe" : "plain";
                printf("%s_wall_mbs %.1f\n", name, (double)sz / wall[passes / 2] / 1e6);
                printf("%s_cpu_mbs %.1f\n", name, (double)sz / cpu[passes / 2] / 1e6);
                printf("%s_out_bytes %llu\n", name, (unsigned long long)outsz);
                if (variant)
                        printf("probe_stored_blocks %llu\n", (unsigned long long)stored);
        }
        printf("in_bytes %ld\nlevel %d\nlibdeflate %s\n", sz, level, LIBDEFLATE_VERSION_STRING);
        return 0;
}
