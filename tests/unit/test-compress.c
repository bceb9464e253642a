/*
 * test-compress.c — the deterministic compression stages. A layer digest is only reproducible if
 * the compressed bytes depend on nothing but the input and the profile, so this pins exactly
 * that: gzip (block-parallel multi-member libdeflate) and zstd (libzstd multithreaded) output
 * decompresses back to the input, is byte-identical for jobs=1,2,3,8 and for any slicing of the
 * writes, matches golden digests pinned across library versions, has MTIME 0 in every gzip
 * member, and is valid for empty input. Also covers the profile helpers (parse, names, levels,
 * versioned profile string) and error propagation from the next stage.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libdeflate.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

#include "lana/compress.h"
#include "lana/digest.h"
#include "alloc.h"
#include "mem-writer.h"

#define MIB ((size_t)1 << 20)
/* ~5 MiB, deliberately not a multiple of the 1 MiB gzip block */
#define BIG_LEN (5 * MIB + 12345)

/* Golden digests of the 3 MiB golden_input(): they change only if the library or the profile
 * changes the bytes it produces, which must then be a deliberate, versioned change. */
#define GOLDEN_GZIP6 "sha256:b1f525a5cb17611a1b14cfa697100e009b1f616bce663c7bd3805a23f7250ef3"
#define GOLDEN_ZSTD3 "sha256:8ac60784fca20685e36cf72d6f5a46eeaf653843406a0cf1e5e482725d009afe"
/* 9 MiB: spans several zstd jobs, so the job size is pinned too */
#define GOLDEN_ZSTD3_MULTIJOB                                                                      \
        "sha256:66a942452669f2951b263314a42695b951f6fadd2b805bf298498b60517fc7de"
#define GOLDEN_GZIP6_NOISE "sha256:c67b1815fddee5d5cdc04a89c26edba8a4d8421b41c0a29450b887585bc6d135"

/* ---- inputs ---- */

static uint32_t lcg(uint32_t *x)
{
        *x = *x * 1664525u + 1013904223u;
        return *x >> 8;
}

/* Alternating runs of pseudo-random bytes and text, so both stored and Huffman-coded paths of
 * the compressors are exercised. */
static unsigned char *make_input(size_t n, uint32_t seed)
{
        static const char *words[] = {"layer", "tar", "digest",   "manifest", "zstd", "gzip",
                                      "blob",  "oci", "registry", "lana",     "\n",   "  "};
        unsigned char *p = malloc(n ? n : 1);
        assert_non_null(p);
        uint32_t x = seed;
        size_t i = 0;
        while (i < n) {
                size_t run = 1 + lcg(&x) % 9000;
                bool noise = lcg(&x) % 3 == 0;
                for (size_t k = 0; k < run && i < n; k++) {
                        if (noise) {
                                p[i++] = (unsigned char)lcg(&x);
                        } else {
                                const char *w = words[lcg(&x) % 12];
                                for (; *w && i < n; w++)
                                        p[i++] = (unsigned char)*w;
                                if (i < n)
                                        p[i++] = ' ';
                        }
                }
        }
        return p;
}

static unsigned char *golden_input(size_t *ret_len)
{
        *ret_len = 3 * MIB;
        return make_input(*ret_len, 20240229u);
}

/* ---- compressing through the writer ---- */

static const size_t chunks_odd[] = {1, 13, 511, 4097, 65521, 999983};
static const size_t chunks_block[] = {MIB};
static const size_t chunks_straddle[] = {3, MIB + 1, 7};

static struct mem_writer *compress_with(const struct lana_compress_profile *p, unsigned jobs,
                                        const unsigned char *in, size_t n, const size_t *chunks,
                                        size_t nchunks)
{
        struct mem_writer *m = mem_new();
        struct lana_writer *w = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_compress_writer_new(p, jobs, &m->base, &w, &e), 0);
        assert_non_null(w);
        size_t off = 0, c = 0;
        while (off < n) {
                size_t k = nchunks ? chunks[c++ % nchunks] : n;
                if (k > n - off)
                        k = n - off;
                int r = lana_writer_write(w, in + off, k, &e);
                if (r < 0)
                        fail_msg("write: %s", e ? e->msg : "?");
                off += k;
        }
        int r = lana_writer_close(w, &e);
        if (r < 0)
                fail_msg("close: %s", e ? e->msg : "?");
        assert_null(e);
        assert_int_equal(w->bytes_in, n);
        /* the stage flushes downstream but never closes its next writer */
        assert_int_equal(m->closes, 0);
        lana_writer_free(w);
        return m;
}

static struct lana_compress_profile profile(enum lana_compression algo, int level)
{
        struct lana_compress_profile p;
        lana_compress_profile_default(algo, &p);
        if (level)
                p.level = level;
        return p;
}

/* ---- decoding ---- */

struct gz_member {
        size_t offset; /* in the compressed stream */
        size_t in_len; /* compressed bytes */
        size_t out_len;
};

/* Decodes a multi-member gzip stream; returns the concatenated output and fills members. */
static unsigned char *gunzip_all(const unsigned char *in, size_t n, size_t out_cap, size_t *ret_len,
                                 struct gz_member *members, size_t max_members, size_t *ret_members)
{
        struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
        assert_non_null(d);
        unsigned char *out = malloc(out_cap ? out_cap : 1);
        assert_non_null(out);
        size_t off = 0, out_len = 0, count = 0;
        while (off < n) {
                size_t used_in = 0, got = 0;
                enum libdeflate_result res = libdeflate_gzip_decompress_ex(
                        d, in + off, n - off, out + out_len, out_cap - out_len, &used_in, &got);
                if (res != LIBDEFLATE_SUCCESS)
                        fail_msg("gzip member %zu at offset %zu: libdeflate result %d", count, off,
                                 (int)res);
                assert_true(count < max_members);
                members[count++] = (struct gz_member){off, used_in, got};
                off += used_in;
                out_len += got;
        }
        libdeflate_free_decompressor(d);
        *ret_len = out_len;
        *ret_members = count;
        return out;
}

static unsigned char *unzstd_all(const unsigned char *in, size_t n, size_t out_cap, size_t *ret_len)
{
        ZSTD_DCtx *d = ZSTD_createDCtx();
        assert_non_null(d);
        unsigned char *out = malloc(out_cap ? out_cap : 1);
        assert_non_null(out);
        ZSTD_inBuffer ib = {in, n, 0};
        ZSTD_outBuffer ob = {out, out_cap, 0};
        size_t rem = 1;
        while (ib.pos < ib.size) {
                rem = ZSTD_decompressStream(d, &ob, &ib);
                if (ZSTD_isError(rem))
                        fail_msg("zstd: %s", ZSTD_getErrorName(rem));
                if (ob.pos == ob.size && ib.pos < ib.size)
                        fail_msg("zstd: output larger than %zu", out_cap);
        }
        /* rem == 0: the frame (and its checksum) was complete */
        assert_int_equal(rem, 0);
        ZSTD_freeDCtx(d);
        *ret_len = ob.pos;
        return out;
}

static void sha256_of(const void *data, size_t len, char out[72])
{
        struct lana_digest d;
        lana_digest_buffer(data, len, &d);
        snprintf(out, 72, "%s", d.str);
}

/* ---- gzip ---- */

static void check_gzip_headers(const unsigned char *z, const struct gz_member *mem, size_t nmem)
{
        for (size_t i = 0; i < nmem; i++) {
                const unsigned char *h = z + mem[i].offset;
                assert_true(mem[i].in_len >= 18);
                assert_int_equal(h[0], 0x1f);
                assert_int_equal(h[1], 0x8b);
                assert_int_equal(h[2], 8); /* deflate */
                assert_int_equal(h[3], 0); /* no name, comment, extra, hcrc */
                assert_int_equal(h[4], 0); /* MTIME, little endian */
                assert_int_equal(h[5], 0);
                assert_int_equal(h[6], 0);
                assert_int_equal(h[7], 0);
                /* XFL and OS are fixed for the whole stream */
                assert_int_equal(h[8], z[mem[0].offset + 8]);
                assert_int_equal(h[9], z[mem[0].offset + 9]);
        }
}

static void test_gzip_roundtrip(void **state)
{
        (void)state;
        unsigned char *in = make_input(BIG_LEN, 1);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        struct mem_writer *m = compress_with(&p, 3, in, BIG_LEN, chunks_odd, 6);
        assert_true(m->len > 0 && m->len < BIG_LEN);

        struct gz_member mem[16];
        size_t out_len, nmem;
        unsigned char *out = gunzip_all(m->data, m->len, BIG_LEN + MIB, &out_len, mem, 16, &nmem);
        assert_int_equal(out_len, BIG_LEN);
        assert_memory_equal(out, in, BIG_LEN);
        /* one member per 1 MiB block, the last one shorter */
        assert_int_equal(nmem, 6);
        for (size_t i = 0; i + 1 < nmem; i++)
                assert_int_equal(mem[i].out_len, LANA_GZIP_BLOCK_SIZE);
        assert_int_equal(mem[5].out_len, 12345);
        check_gzip_headers(m->data, mem, nmem);
        free(out);
        lana_writer_free(&m->base);
        free(in);
}

static void test_gzip_deterministic(void **state)
{
        (void)state;
        unsigned char *in = make_input(BIG_LEN, 2);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        struct mem_writer *ref = compress_with(&p, 1, in, BIG_LEN, chunks_odd, 6);
        static const unsigned jobs[] = {2, 3, 8};
        for (size_t j = 0; j < 3; j++) {
                struct mem_writer *m = compress_with(&p, jobs[j], in, BIG_LEN, chunks_odd, 6);
                assert_int_equal(m->len, ref->len);
                assert_memory_equal(m->data, ref->data, ref->len);
                lana_writer_free(&m->base);
        }
        struct {
                const size_t *c;
                size_t n;
        } slicings[] = {{NULL, 0}, {chunks_block, 1}, {chunks_straddle, 3}};
        for (size_t s = 0; s < 3; s++) {
                struct mem_writer *m =
                        compress_with(&p, 2, in, BIG_LEN, slicings[s].c, slicings[s].n);
                assert_int_equal(m->len, ref->len);
                assert_memory_equal(m->data, ref->data, ref->len);
                lana_writer_free(&m->base);
        }
        lana_writer_free(&ref->base);
        free(in);
}

/* lana_writer_write_swap(): whole 1 MiB blocks handed over in buffers of exactly the block size
 * are taken without a copy (another buffer of that size comes back), mixed with writes that must
 * be copied (a smaller capacity, a half-filled block, the short tail); the stream is byte for
 * byte the one of plain writes, at any --jobs. */
static void test_gzip_write_swap(void **state)
{
        (void)state;
        const size_t n = 5 * MIB + 12345;
        unsigned char *in = make_input(n, 9);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        struct mem_writer *ref = compress_with(&p, 1, in, n, NULL, 0);
        static const unsigned jobs[] = {1, 2, 4};
        for (size_t j = 0; j < ELEMENTSOF(jobs); j++) {
                struct mem_writer *m = mem_new();
                struct lana_writer *w = NULL;
                struct lana_error *e = NULL;
                assert_int_equal(lana_compress_writer_new(&p, jobs[j], &m->base, &w, &e), 0);
                unsigned swapped = 0;
                size_t off = 0;
                /* block 0: swapped; block 1: cap too large, copied; then 100 bytes (copied)
                 * leave a block half filled, so the next whole-block buffer is copied too;
                 * the rest in block-sized buffers and a short tail */
                static const size_t plan[][2] = {{MIB, MIB},  {MIB, MIB + 1},   {100, MIB},
                                                 {MIB, MIB},  {MIB - 100, MIB}, {MIB, MIB},
                                                 {12345, MIB}};
                for (size_t i = 0; i < ELEMENTSOF(plan); i++) {
                        size_t len = plan[i][0], cap = plan[i][1];
                        assert_true(off + len <= n);
                        void *buf = xmalloc(cap);
                        memcpy(buf, in + off, len);
                        void *given = buf;
                        int r = lana_writer_write_swap(w, &buf, len, cap, &e);
                        if (r < 0)
                                fail_msg("write_swap: %s", e ? e->msg : "?");
                        if (buf != given) {
                                swapped++;
                                /* what came back is ours, and of the size we gave */
                                memset(buf, 0x5a, cap);
                        }
                        free(buf);
                        off += len;
                }
                assert_int_equal(off, n);
                assert_int_equal(lana_writer_close(w, &e), 0);
                assert_int_equal(w->bytes_in, n);
                /* blocks 0 and 4 arrive whole, at a block boundary, in a buffer of MIB */
                assert_int_equal(swapped, 2);
                assert_int_equal(m->len, ref->len);
                assert_memory_equal(m->data, ref->data, ref->len);
                lana_writer_free(w);
                lana_writer_free(&m->base);
        }
        lana_writer_free(&ref->base);
        free(in);
}

static void test_gzip_empty_input(void **state)
{
        (void)state;
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        struct mem_writer *m = compress_with(&p, 2, NULL, 0, NULL, 0);
        assert_true(m->len >= 18);
        struct gz_member mem[4];
        size_t out_len, nmem;
        unsigned char *out = gunzip_all(m->data, m->len, 16, &out_len, mem, 4, &nmem);
        assert_int_equal(out_len, 0);
        assert_int_equal(nmem, 1);
        assert_int_equal(mem[0].in_len, m->len);
        check_gzip_headers(m->data, mem, nmem);
        free(out);
        lana_writer_free(&m->base);
}

static void test_gzip_exact_block_multiple(void **state)
{
        (void)state;
        size_t n = 2 * MIB;
        unsigned char *in = make_input(n, 3);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        struct mem_writer *m = compress_with(&p, 2, in, n, chunks_block, 1);
        struct gz_member mem[8];
        size_t out_len, nmem;
        unsigned char *out = gunzip_all(m->data, m->len, n + MIB, &out_len, mem, 8, &nmem);
        assert_int_equal(out_len, n);
        assert_memory_equal(out, in, n);
        /* no empty trailing member after a full last block */
        assert_int_equal(nmem, 2);
        free(out);
        lana_writer_free(&m->base);
        free(in);
}

static void test_gzip_custom_block_size(void **state)
{
        (void)state;
        size_t n = 300000;
        unsigned char *in = make_input(n, 4);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        p.block_size = 65536;
        struct mem_writer *m = compress_with(&p, 3, in, n, chunks_odd, 6);
        struct gz_member mem[16];
        size_t out_len, nmem;
        unsigned char *out = gunzip_all(m->data, m->len, n + 1, &out_len, mem, 16, &nmem);
        assert_int_equal(out_len, n);
        assert_memory_equal(out, in, n);
        assert_int_equal(nmem, 5);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(mem[i].out_len, 65536);
        assert_int_equal(mem[4].out_len, n - 4 * 65536);
        check_gzip_headers(m->data, mem, nmem);
        free(out);
        lana_writer_free(&m->base);
        free(in);
}

static void test_gzip_all_levels_roundtrip(void **state)
{
        (void)state;
        size_t n = 200001;
        unsigned char *in = make_input(n, 5);
        size_t prev_len = 0;
        for (int level = 1; level <= 12; level++) {
                struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, level);
                struct mem_writer *m = compress_with(&p, 2, in, n, chunks_odd, 6);
                struct gz_member mem[4];
                size_t out_len, nmem;
                unsigned char *out = gunzip_all(m->data, m->len, n, &out_len, mem, 4, &nmem);
                assert_int_equal(out_len, n);
                assert_memory_equal(out, in, n);
                check_gzip_headers(m->data, mem, nmem);
                /* the level is really used: 1 and 12 cannot give the same size */
                if (level == 1)
                        prev_len = m->len;
                if (level == 12)
                        assert_true(m->len < prev_len);
                free(out);
                lana_writer_free(&m->base);
        }
        free(in);
}

/* Already-compressed data (pure noise) must cost at most a few bytes per block, still decode,
 * and not disturb the members around it. */
static unsigned char *noise_input(size_t n, size_t text_tail)
{
        unsigned char *p = malloc(n + text_tail);
        assert_non_null(p);
        uint32_t x = 77;
        for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char)lcg(&x);
        unsigned char *t = make_input(text_tail, 78);
        memcpy(p + n, t, text_tail);
        free(t);
        return p;
}

static void test_gzip_incompressible_blocks(void **state)
{
        (void)state;
        size_t n = 2 * MIB, tail = MIB / 2 + 3;
        unsigned char *in = noise_input(n, tail);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 9);
        struct mem_writer *m = compress_with(&p, 3, in, n + tail, chunks_odd, 6);
        struct gz_member mem[8];
        size_t out_len, nmem;
        unsigned char *out = gunzip_all(m->data, m->len, n + tail, &out_len, mem, 8, &nmem);
        assert_int_equal(out_len, n + tail);
        assert_memory_equal(out, in, n + tail);
        assert_int_equal(nmem, 3);
        for (size_t i = 0; i < 2; i++)
                assert_true(mem[i].in_len <= LANA_GZIP_BLOCK_SIZE + 128);
        /* the text block after the noise is still compressed */
        assert_true(mem[2].in_len < tail / 2);
        free(out);

        /* identical whatever the thread count */
        struct mem_writer *m1 = compress_with(&p, 1, in, n + tail, NULL, 0);
        assert_int_equal(m1->len, m->len);
        assert_memory_equal(m1->data, m->data, m->len);
        lana_writer_free(&m1->base);

        /* compress.h promises MTIME 0 and a fixed OS/XFL in every member, stored ones included */
        check_gzip_headers(m->data, mem, nmem);
        lana_writer_free(&m->base);
        free(in);
}

/* ---- zstd ---- */

static void check_zstd_frame(const unsigned char *z, size_t n)
{
        assert_int_equal(ZSTD_isFrame(z, n), 1);
        ZSTD_frameHeader fh;
        assert_int_equal(ZSTD_getFrameHeader(&fh, z, n), 0);
        assert_int_equal(fh.frameType, ZSTD_frame);
        assert_int_equal(fh.checksumFlag, 1);
        /* the whole output is one frame */
        assert_int_equal(ZSTD_findFrameCompressedSize(z, n), n);
}

static void test_zstd_roundtrip(void **state)
{
        (void)state;
        unsigned char *in = make_input(BIG_LEN, 6);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_ZSTD, 0);
        struct mem_writer *m = compress_with(&p, 3, in, BIG_LEN, chunks_odd, 6);
        assert_true(m->len > 0 && m->len < BIG_LEN);
        check_zstd_frame(m->data, m->len);
        size_t out_len;
        unsigned char *out = unzstd_all(m->data, m->len, BIG_LEN + MIB, &out_len);
        assert_int_equal(out_len, BIG_LEN);
        assert_memory_equal(out, in, BIG_LEN);
        free(out);
        lana_writer_free(&m->base);
        free(in);
}

static void test_zstd_deterministic(void **state)
{
        (void)state;
        unsigned char *in = make_input(BIG_LEN, 7);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_ZSTD, 0);
        struct mem_writer *ref = compress_with(&p, 1, in, BIG_LEN, chunks_odd, 6);
        static const unsigned jobs[] = {2, 3, 8};
        for (size_t j = 0; j < 3; j++) {
                struct mem_writer *m = compress_with(&p, jobs[j], in, BIG_LEN, chunks_odd, 6);
                assert_int_equal(m->len, ref->len);
                assert_memory_equal(m->data, ref->data, ref->len);
                lana_writer_free(&m->base);
        }
        struct {
                const size_t *c;
                size_t n;
        } slicings[] = {{NULL, 0}, {chunks_block, 1}, {chunks_straddle, 3}};
        for (size_t s = 0; s < 3; s++) {
                struct mem_writer *m =
                        compress_with(&p, 8, in, BIG_LEN, slicings[s].c, slicings[s].n);
                assert_int_equal(m->len, ref->len);
                assert_memory_equal(m->data, ref->data, ref->len);
                lana_writer_free(&m->base);
        }
        lana_writer_free(&ref->base);
        free(in);
}

static void test_zstd_empty_input(void **state)
{
        (void)state;
        struct lana_compress_profile p = profile(LANA_COMPRESSION_ZSTD, 0);
        struct mem_writer *m = compress_with(&p, 2, NULL, 0, NULL, 0);
        assert_true(m->len > 0);
        check_zstd_frame(m->data, m->len);
        size_t out_len;
        unsigned char *out = unzstd_all(m->data, m->len, 16, &out_len);
        assert_int_equal(out_len, 0);
        free(out);
        lana_writer_free(&m->base);
}

/* ---- golden digests ---- */

static void test_golden_digests(void **state)
{
        (void)state;
        size_t n;
        unsigned char *in = golden_input(&n);
        char got[72];

        struct lana_compress_profile gz = profile(LANA_COMPRESSION_GZIP, 6);
        struct mem_writer *m = compress_with(&gz, 4, in, n, chunks_odd, 6);
        sha256_of(m->data, m->len, got);
        if (strcmp(got, GOLDEN_GZIP6) != 0)
                fail_msg("gzip level 6 golden digest changed: %s (%zu bytes)", got, m->len);
        lana_writer_free(&m->base);

        struct lana_compress_profile zs = profile(LANA_COMPRESSION_ZSTD, 3);
        m = compress_with(&zs, 4, in, n, chunks_odd, 6);
        sha256_of(m->data, m->len, got);
        if (strcmp(got, GOLDEN_ZSTD3) != 0)
                fail_msg("zstd level 3 golden digest changed: %s (%zu bytes)", got, m->len);
        lana_writer_free(&m->base);
        free(in);

        size_t big = 9 * MIB + 1;
        in = make_input(big, 31337);
        m = compress_with(&zs, 3, in, big, chunks_odd, 6);
        sha256_of(m->data, m->len, got);
        if (strcmp(got, GOLDEN_ZSTD3_MULTIJOB) != 0)
                fail_msg("zstd level 3 golden digest (9 MiB) changed: %s (%zu bytes)", got, m->len);
        lana_writer_free(&m->base);
        free(in);

        in = noise_input(2 * MIB, 4099);
        m = compress_with(&gz, 2, in, 2 * MIB + 4099, chunks_odd, 6);
        sha256_of(m->data, m->len, got);
        if (strcmp(got, GOLDEN_GZIP6_NOISE) != 0)
                fail_msg("gzip level 6 golden digest of noise changed: %s (%zu bytes)", got,
                         m->len);
        lana_writer_free(&m->base);
        free(in);
}

/* ---- none ---- */

static void test_none_passes_through(void **state)
{
        (void)state;
        size_t n = 100003;
        unsigned char *in = make_input(n, 8);
        struct lana_compress_profile p = profile(LANA_COMPRESSION_NONE, 0);
        struct mem_writer *m = compress_with(&p, 1, in, n, chunks_odd, 6);
        assert_int_equal(m->len, n);
        assert_memory_equal(m->data, in, n);
        lana_writer_free(&m->base);
        free(in);
}

/* ---- errors from the next stage ---- */

static void check_error_propagates(enum lana_compression algo, size_t budget)
{
        size_t n = 3 * MIB + 5;
        unsigned char *in = make_input(n, 9);
        struct fail_writer *f = calloc(1, sizeof *f);
        assert_non_null(f);
        f->base.type = &fail_type;
        f->budget = budget;
        struct lana_compress_profile p = profile(algo, 0);
        struct lana_writer *w = NULL;
        struct lana_error *e = NULL;
        assert_int_equal(lana_compress_writer_new(&p, 2, &f->base, &w, &e), 0);
        int r = 0;
        for (size_t off = 0; r >= 0 && off < n; off += 65536)
                r = lana_writer_write(w, in + off, n - off < 65536 ? n - off : 65536, &e);
        if (r >= 0)
                r = lana_writer_close(w, &e);
        assert_int_equal(r, -ENOSPC);
        assert_non_null(e);
        assert_int_equal(e->code, -ENOSPC);
        assert_non_null(strstr(e->msg, "disk full"));
        lana_error_free(e);
        /* freeing after a failure must neither hang nor crash */
        lana_writer_free(w);
        free(f);
        free(in);
}

static void test_gzip_error_propagates(void **state)
{
        (void)state;
        check_error_propagates(LANA_COMPRESSION_GZIP, 0);
        check_error_propagates(LANA_COMPRESSION_GZIP, 500000);
}

static void test_zstd_error_propagates(void **state)
{
        (void)state;
        check_error_propagates(LANA_COMPRESSION_ZSTD, 0);
        check_error_propagates(LANA_COMPRESSION_ZSTD, 100000);
}

/* ---- profiles ---- */

static void test_compression_parse(void **state)
{
        (void)state;
        enum lana_compression c = LANA_COMPRESSION_NONE;
        struct lana_error *e = NULL;
        assert_int_equal(lana_compression_parse("gzip", &c, &e), 0);
        assert_int_equal(c, LANA_COMPRESSION_GZIP);
        assert_int_equal(lana_compression_parse("zstd", &c, &e), 0);
        assert_int_equal(c, LANA_COMPRESSION_ZSTD);
        assert_int_equal(lana_compression_parse("none", &c, &e), 0);
        assert_int_equal(c, LANA_COMPRESSION_NONE);
        assert_null(e);
        static const char *bad[] = {"lz4", "", "GZIP", "gzip ", "zstd:3", "xz"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                c = LANA_COMPRESSION_ZSTD;
                assert_int_equal(lana_compression_parse(bad[i], &c, &e), -EINVAL);
                assert_non_null(e);
                assert_int_equal(e->code, -EINVAL);
                assert_non_null(strstr(e->msg, bad[i]));
                assert_int_equal(c, LANA_COMPRESSION_ZSTD);
                e = lana_error_free(e);
        }
}

static void test_names_and_suffixes(void **state)
{
        (void)state;
        assert_string_equal(lana_compression_name(LANA_COMPRESSION_GZIP), "gzip");
        assert_string_equal(lana_compression_name(LANA_COMPRESSION_ZSTD), "zstd");
        assert_string_equal(lana_compression_name(LANA_COMPRESSION_NONE), "none");
        assert_string_equal(lana_compression_media_suffix(LANA_COMPRESSION_GZIP), "+gzip");
        assert_string_equal(lana_compression_media_suffix(LANA_COMPRESSION_ZSTD), "+zstd");
        assert_string_equal(lana_compression_media_suffix(LANA_COMPRESSION_NONE), "");
}

static void test_profile_default(void **state)
{
        (void)state;
        struct lana_compress_profile p;
        lana_compress_profile_default(LANA_COMPRESSION_GZIP, &p);
        assert_int_equal(p.algo, LANA_COMPRESSION_GZIP);
        assert_int_equal(p.level, 5);
        assert_int_equal(p.block_size, LANA_GZIP_BLOCK_SIZE);
        lana_compress_profile_default(LANA_COMPRESSION_ZSTD, &p);
        assert_int_equal(p.algo, LANA_COMPRESSION_ZSTD);
        assert_int_equal(p.level, 3);
        lana_compress_profile_default(LANA_COMPRESSION_NONE, &p);
        assert_int_equal(p.algo, LANA_COMPRESSION_NONE);
}

static void test_profile_validate(void **state)
{
        (void)state;
        struct lana_error *e = NULL;
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        static const int gz_ok[] = {1, 6, 9, 12}, gz_bad[] = {0, -1, 13, 99};
        for (size_t i = 0; i < 4; i++) {
                p.level = gz_ok[i];
                assert_int_equal(lana_compress_profile_validate(&p, &e), 0);
                p.level = gz_bad[i];
                assert_int_equal(lana_compress_profile_validate(&p, &e), -EINVAL);
                assert_non_null(e);
                assert_int_equal(e->code, -EINVAL);
                e = lana_error_free(e);
        }
        p = profile(LANA_COMPRESSION_ZSTD, 0);
        const int zs_ok[] = {1, 3, 19, ZSTD_maxCLevel()};
        const int zs_bad[] = {0, -5, ZSTD_maxCLevel() + 1, 99};
        for (size_t i = 0; i < 4; i++) {
                p.level = zs_ok[i];
                assert_int_equal(lana_compress_profile_validate(&p, &e), 0);
                p.level = zs_bad[i];
                assert_int_equal(lana_compress_profile_validate(&p, &e), -EINVAL);
                assert_non_null(e);
                e = lana_error_free(e);
        }
        assert_null(e);
}

static void test_writer_new_rejects_bad_level(void **state)
{
        (void)state;
        struct mem_writer *m = mem_new();
        struct lana_writer *w = (struct lana_writer *)0x1;
        struct lana_error *e = NULL;
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 13);
        assert_int_equal(lana_compress_writer_new(&p, 2, &m->base, &w, &e), -EINVAL);
        assert_non_null(e);
        assert_ptr_equal(w, (struct lana_writer *)0x1);
        e = lana_error_free(e);
        p = profile(LANA_COMPRESSION_ZSTD, 0);
        p.level = 0;
        assert_int_equal(lana_compress_writer_new(&p, 2, &m->base, &w, &e), -EINVAL);
        assert_non_null(e);
        assert_ptr_equal(w, (struct lana_writer *)0x1);
        lana_error_free(e);
        lana_writer_free(&m->base);
}

static void test_profile_string(void **state)
{
        (void)state;
        char want[256];
        struct lana_compress_profile p = profile(LANA_COMPRESSION_GZIP, 0);
        char *s = lana_compress_profile_string(&p);
        snprintf(want, sizeof want,
                 "lana-gzip/3 libdeflate-%s level=5 block=1048576 stored-if-incompressible",
                 LIBDEFLATE_VERSION_STRING);
        assert_string_equal(s, want);
        free(s);
        p.level = 9;
        p.block_size = 65536;
        s = lana_compress_profile_string(&p);
        snprintf(want, sizeof want,
                 "lana-gzip/3 libdeflate-%s level=9 block=65536 stored-if-incompressible",
                 LIBDEFLATE_VERSION_STRING);
        assert_string_equal(s, want);
        free(s);
        p = profile(LANA_COMPRESSION_ZSTD, 0);
        s = lana_compress_profile_string(&p);
        snprintf(want, sizeof want, "lana-zstd/2 libzstd-%s level=3 mt job=4194304 checksum",
                 ZSTD_versionString());
        assert_string_equal(s, want);
        free(s);
        p = profile(LANA_COMPRESSION_NONE, 0);
        s = lana_compress_profile_string(&p);
        assert_string_equal(s, "none");
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gzip_roundtrip),
                cmocka_unit_test(test_gzip_deterministic),
                cmocka_unit_test(test_gzip_write_swap),
                cmocka_unit_test(test_gzip_empty_input),
                cmocka_unit_test(test_gzip_exact_block_multiple),
                cmocka_unit_test(test_gzip_custom_block_size),
                cmocka_unit_test(test_gzip_all_levels_roundtrip),
                cmocka_unit_test(test_gzip_incompressible_blocks),
                cmocka_unit_test(test_zstd_roundtrip),
                cmocka_unit_test(test_zstd_deterministic),
                cmocka_unit_test(test_zstd_empty_input),
                cmocka_unit_test(test_golden_digests),
                cmocka_unit_test(test_none_passes_through),
                cmocka_unit_test(test_gzip_error_propagates),
                cmocka_unit_test(test_zstd_error_propagates),
                cmocka_unit_test(test_compression_parse),
                cmocka_unit_test(test_names_and_suffixes),
                cmocka_unit_test(test_profile_default),
                cmocka_unit_test(test_profile_validate),
                cmocka_unit_test(test_writer_new_rejects_bad_level),
                cmocka_unit_test(test_profile_string),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
