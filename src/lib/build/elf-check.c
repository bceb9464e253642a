/*
 * elf-check.c — refuses binaries built for another machine than the layer's platform, the most
 * common cross-compilation mistake (an x86-64 binary shipped in the arm64 image). Uses libelf on
 * files that start with the ELF magic; everything else passes untouched.
 */
#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "build-internal.h"
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

int elf_check_machine(int fd, const char *what, const struct lana_platform *p,
                      struct lana_error **err)
{
        unsigned char magic[SELFMAG];
        ssize_t n = pread(fd, magic, sizeof magic, 0);
        if (n < 0)
                return lana_error_setsys(err, -errno, "%s", what);
        if (n != SELFMAG || memcmp(magic, ELFMAG, SELFMAG) != 0)
                return 0;
        if (elf_version(EV_CURRENT) == EV_NONE)
                return lana_error_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
        Elf *e = elf_begin(fd, ELF_C_READ, NULL);
        if (!e)
                return lana_error_set(err, -EINVAL, "%s: malformed ELF file: %s", what,
                                      elf_errmsg(-1));
        GElf_Ehdr eh;
        int r = 0;
        if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
                r = lana_error_set(err, -EINVAL, "%s: malformed ELF header", what);
        } else {
                int want = lana_platform_elf_machine(p);
                if (want >= 0 && eh.e_machine != want) {
                        char buf[64];
                        r = lana_error_set(err, -EINVAL,
                                           "%s is an ELF binary for %s, but the platform is %s",
                                           what, machine_name(eh.e_machine),
                                           lana_platform_format(p, buf, sizeof buf));
                }
        }
        elf_end(e);
        return r;
}
