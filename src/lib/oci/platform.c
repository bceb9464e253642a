/*
 * platform.c — OCI platforms ("linux/arm64", "linux/arm/v7") and what each implies: the ELF
 * machine a binary for it must have, and the Rust target / Go GOARCH names used in build-spec
 * placeholders.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "lana/oci.h"
#include "alloc.h"

struct arch_info {
        const char *arch;
        int elf_machine;
        const char *rust;     /* static (musl) triple */
        const char *rust_gnu; /* glibc triple */
};

static const struct arch_info arches[] = {
        {"amd64", EM_X86_64, "x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"},
        {"arm64", EM_AARCH64, "aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"},
        {"arm", EM_ARM, "armv7-unknown-linux-musleabihf", "armv7-unknown-linux-gnueabihf"},
        {"386", EM_386, "i686-unknown-linux-musl", "i686-unknown-linux-gnu"},
        {"ppc64le", EM_PPC64, "powerpc64le-unknown-linux-musl", "powerpc64le-unknown-linux-gnu"},
        {"s390x", EM_S390, "s390x-unknown-linux-musl", "s390x-unknown-linux-gnu"},
        {"riscv64", EM_RISCV, "riscv64gc-unknown-linux-musl", "riscv64gc-unknown-linux-gnu"},
};

static const struct arch_info *arch_lookup(const char *arch)
{
        for (size_t i = 0; i < ELEMENTSOF(arches); i++)
                if (!strcmp(arches[i].arch, arch))
                        return &arches[i];
        return NULL;
}

_public_ int lana_platform_parse(const char *s, struct lana_platform *ret, struct lana_error **err)
{
        *ret = (struct lana_platform){0};
        char os[64] = "", arch[64] = "", variant[64] = "";
        const char *a = strchr(s, '/');
        if (!a || strlen(s) >= 64)
                return lana_error_set(err, -EINVAL,
                                      "platform '%s': expected os/arch[/variant], e.g. linux/amd64",
                                      s);
        memcpy(os, s, (size_t)(a - s));
        const char *v = strchr(a + 1, '/');
        if (v) {
                memcpy(arch, a + 1, (size_t)(v - a - 1));
                snprintf(variant, sizeof variant, "%s", v + 1);
        } else {
                snprintf(arch, sizeof arch, "%s", a + 1);
        }
        if (strcmp(os, "linux") != 0)
                return lana_error_set(err, -EINVAL,
                                      "platform '%s': os '%s' is not supported "
                                      "(only linux)",
                                      s, os);
        if (!arch_lookup(arch))
                return lana_error_set(err, -EINVAL,
                                      "platform '%s': unknown architecture '%s' (amd64, arm64, "
                                      "arm, 386, ppc64le, s390x, riscv64)",
                                      s, arch);
        size_t vl = strlen(variant);
        if (vl >= sizeof ret->variant || (v && vl == 0) ||
            strspn(variant, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                    vl)
                return lana_error_set(err, -EINVAL,
                                      "platform '%s': bad variant (letters, digits, '.', '_', "
                                      "'-', at most %zu)",
                                      s, sizeof ret->variant - 1);
        snprintf(ret->os, sizeof ret->os, "%s", os);
        snprintf(ret->arch, sizeof ret->arch, "%s", arch);
        snprintf(ret->variant, sizeof ret->variant, "%s", variant);
        return 0;
}

_public_ const char *lana_platform_format(const struct lana_platform *p, char *buf, size_t len)
{
        snprintf(buf, len, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
        return buf;
}

_public_ void lana_platform_host(struct lana_platform *ret)
{
        *ret = (struct lana_platform){.os = "linux"};
        struct utsname u;
        const char *arch = "amd64";
        if (uname(&u) == 0) {
                if (!strcmp(u.machine, "aarch64"))
                        arch = "arm64";
                else if (!strncmp(u.machine, "armv7", 5))
                        arch = "arm";
                else if (!strcmp(u.machine, "ppc64le"))
                        arch = "ppc64le";
                else if (!strcmp(u.machine, "s390x"))
                        arch = "s390x";
                else if (!strcmp(u.machine, "riscv64"))
                        arch = "riscv64";
                else if (u.machine[0] == 'i' && strstr(u.machine, "86"))
                        arch = "386";
        }
        snprintf(ret->arch, sizeof ret->arch, "%s", arch);
        if (!strcmp(arch, "arm"))
                snprintf(ret->variant, sizeof ret->variant, "v7");
}

_public_ int lana_platform_elf_machine(const struct lana_platform *p)
{
        const struct arch_info *a = arch_lookup(p->arch);
        return a ? a->elf_machine : -1;
}

_public_ const char *lana_platform_rust_target(const struct lana_platform *p, bool gnu)
{
        const struct arch_info *a = arch_lookup(p->arch);
        if (!a)
                return "unknown";
        return gnu ? a->rust_gnu : a->rust;
}

_public_ bool lana_platform_equal(const struct lana_platform *a, const struct lana_platform *b)
{
        if (strcmp(a->os, b->os) || strcmp(a->arch, b->arch))
                return false;
        /* arm64 images are often published with variant v8 and requested without one */
        if (!strcmp(a->arch, "arm64") && (!a->variant[0] || !b->variant[0]))
                return true;
        return strcmp(a->variant, b->variant) == 0;
}

_public_ json_t *lana_platform_to_json(const struct lana_platform *p)
{
        json_t *j = json_object();
        json_object_set_new(j, "architecture", json_string(p->arch));
        json_object_set_new(j, "os", json_string(p->os));
        if (p->variant[0])
                json_object_set_new(j, "variant", json_string(p->variant));
        return j;
}

_public_ int lana_platform_from_json(json_t *j, struct lana_platform *ret)
{
        *ret = (struct lana_platform){0};
        const char *os = json_string_value(json_object_get(j, "os"));
        const char *arch = json_string_value(json_object_get(j, "architecture"));
        const char *variant = json_string_value(json_object_get(j, "variant"));
        if (!os || !arch || strlen(os) >= sizeof ret->os || strlen(arch) >= sizeof ret->arch)
                return -EINVAL;
        if (variant && strlen(variant) >= sizeof ret->variant)
                return -EINVAL;
        snprintf(ret->os, sizeof ret->os, "%s", os);
        snprintf(ret->arch, sizeof ret->arch, "%s", arch);
        snprintf(ret->variant, sizeof ret->variant, "%s", variant ? variant : "");
        return 0;
}
