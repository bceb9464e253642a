/*
 * elf-check.c — refuses binaries built for another machine than the layer's platform, the most
 * common cross-compilation mistake (an x86-64 binary shipped in the arm64 image). Files that start
 * with the ELF magic have their identification and e_machine read (20 bytes, both byte orders);
 * everything else passes untouched.
 *
 * The check runs over the finished plan, before anything is written, on `jobs` threads: it is
 * an open and a small read per regular file, and on a tree of tens of thousands of files it was
 * the largest part of the single-threaded planning phase. It notes each file's machine, which
 * the build cache keeps with the layer; a layer whose cache entry vouches for its machines is
 * skipped (builder.c: probe_cache), so an unchanged rebuild opens none of its files.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-internal.h"
#include "alloc.h"
#include "fs-util.h"

static const char *machine_name(int m)
{
        switch (m) {
        case EM_X86_64:
                return "x86-64 (amd64)";
        case EM_AARCH64:
                return "AArch64 (arm64)";
        case EM_ARM:
                return "ARM (arm)";
        case EM_386:
                return "i386 (386)";
        case EM_PPC64:
                return "PowerPC64 (ppc64le)";
        case EM_S390:
                return "S/390 (s390x)";
        case EM_RISCV:
                return "RISC-V (riscv64)";
        default:
                return "an unknown machine";
        }
}

/* offset of e_machine in both ELF classes: e_ident[16], e_type (2 bytes) */
#define ELF_MACHINE_OFFSET 18

/* Checks that an ELF file's machine matches the platform (non-ELF files pass); *ret_machine
 * gets e_machine, 0 for a file that is not ELF. */
static int check_fd(int fd, const char *what, const struct lana_platform *p, int *ret_machine,
                    struct lana_error **err)
{
        *ret_machine = 0;
        unsigned char h[ELF_MACHINE_OFFSET + 2];
        ssize_t n = pread(fd, h, sizeof h, 0);
        if (n < 0)
                return lana_error_setsys(err, -errno, "%s", what);
        if (n < SELFMAG || memcmp(h, ELFMAG, SELFMAG) != 0)
                return 0;
        if ((size_t)n < sizeof h || (h[EI_CLASS] != ELFCLASS32 && h[EI_CLASS] != ELFCLASS64) ||
            (h[EI_DATA] != ELFDATA2LSB && h[EI_DATA] != ELFDATA2MSB))
                return lana_error_set(err, -EINVAL, "%s: malformed ELF header", what);
        const unsigned char *m = h + ELF_MACHINE_OFFSET;
        int machine = h[EI_DATA] == ELFDATA2LSB ? m[0] | m[1] << 8 : m[0] << 8 | m[1];
        *ret_machine = machine;
        int want = lana_platform_elf_machine(p);
        if (want >= 0 && machine != want) {
                char buf[64];
                return lana_error_set(
                        err, -EINVAL, "%s is an ELF binary for %s, but the platform is %s", what,
                        machine_name(machine), lana_platform_format(p, buf, sizeof buf));
        }
        return 0;
}

struct check_run {
        const struct plan *pl;
        struct plan_entry **files; /* the regular files to check, in plan order */
        size_t n;
        atomic_size_t next;
        pthread_mutex_t lock;    /* for first_err, and for writing first_bad */
        atomic_size_t first_bad; /* index of the earliest failure so far, n when none */
        struct lana_error *first_err;
};

static void *check_worker(void *arg)
{
        struct check_run *c = arg;
        for (;;) {
                size_t i = atomic_fetch_add(&c->next, 1);
                if (i >= c->n || i >= atomic_load(&c->first_bad))
                        return NULL;
                struct plan_entry *e = c->files[i];
                struct lana_error *e_err = NULL;
                _cleanup_close_ int fd = open(e->host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                int machine = 0;
                int r = fd < 0 ? lana_error_setsys(&e_err, -errno, "%s: %s", e->origin, e->host)
                               : check_fd(fd, e->host, &c->pl->platform, &machine, &e_err);
                e->elf_machine = (uint16_t)machine;
                if (r >= 0)
                        continue;
                if (fd >= 0)
                        lana_error_wrap(&e_err, r, "%s", e->origin);
                pthread_mutex_lock(&c->lock);
                if (i < atomic_load(&c->first_bad)) {
                        lana_error_free(c->first_err);
                        c->first_err = e_err;
                        atomic_store(&c->first_bad, i);
                        e_err = NULL;
                }
                pthread_mutex_unlock(&c->lock);
                lana_error_free(e_err);
        }
}

int plan_check_machines(struct plan *pl, unsigned jobs, struct lana_error **err)
{
        struct check_run c = {.pl = pl};
        for (size_t l = 0; l < pl->n_layers; l++)
                c.n += pl->layers[l].n;
        c.files = xnew(struct plan_entry *, MAX(c.n, 1u));
        size_t k = 0;
        for (size_t l = 0; l < pl->n_layers; l++) {
                struct plan_layer *layer = &pl->layers[l];
                if (layer->elf_known)
                        continue;
                layer->elf_checked = true;
                for (size_t i = 0; i < layer->n; i++)
                        if (layer->e[i].type == LANA_TAR_FILE)
                                c.files[k++] = &layer->e[i];
        }
        c.n = k;
        atomic_init(&c.first_bad, c.n);
        atomic_init(&c.next, 0);
        pthread_mutex_init(&c.lock, NULL);

        unsigned nthreads = (unsigned)MIN((size_t)MAX(jobs, 1u), MAX(c.n / 64, (size_t)1));
        pthread_t *threads = xnew(pthread_t, nthreads);
        unsigned started = 0;
        for (unsigned t = 1; t < nthreads; t++)
                if (pthread_create(&threads[started], NULL, check_worker, &c) == 0)
                        started++;
        check_worker(&c); /* the calling thread works too, so one thread always runs */
        for (unsigned t = 0; t < started; t++)
                pthread_join(threads[t], NULL);
        free(threads);
        free(c.files);
        pthread_mutex_destroy(&c.lock);
        if (!c.first_err)
                return 0;
        int r = c.first_err->code;
        if (err) {
                lana_error_free(*err);
                *err = c.first_err;
        } else {
                lana_error_free(c.first_err);
        }
        return r;
}

static int cmp_machine(const void *a, const void *b)
{
        return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

json_t *plan_layer_elf_notes(const struct plan_layer *l)
{
        if (!l->elf_checked)
                return NULL;
        uint16_t *m = xnew(uint16_t, MAX(l->n, 1u));
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
                if (l->e[i].type == LANA_TAR_FILE && l->e[i].elf_machine)
                        m[n++] = l->e[i].elf_machine;
        qsort(m, n, sizeof *m, cmp_machine);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                if (i == 0 || m[i] != m[i - 1])
                        json_array_append_new(arr, json_integer(m[i]));
        free(m);
        return json_pack("{s:o}", "elf_machines", arr);
}

bool plan_elf_notes_match(json_t *notes, const struct lana_platform *p)
{
        json_t *arr = json_object_get(notes, "elf_machines");
        if (!json_is_array(arr))
                return false; /* an entry written before the notes existed */
        int want = lana_platform_elf_machine(p);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
                if (!json_is_integer(v) || (want >= 0 && json_integer_value(v) != want))
                        return false;
        }
        return true;
}
