/*
 * seccomp-profile.h — the in-memory form of a seccomp profile, private to the seccomp module.
 *
 * Both the built-in default (seccomp-default.c, static data) and a Docker/OCI JSON profile file
 * (parsed in seccomp.c) become a struct seccomp_profile, and one function turns that into a
 * libseccomp filter. The shape follows Docker's profile format on purpose: entries carry
 * "includes"/"excludes" conditions (capabilities, native architecture, kernel version) that are
 * decided once, when the filter is built for a given container.
 */
#pragma once

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

#include <seccomp.h>

#include "lana/error.h"

/* One argument comparison ("args" item). For SCMP_CMP_MASKED_EQ, value is the mask and
 * value_two the expected result, as in the OCI spec. */
struct seccomp_cond {
        unsigned index; /* 0..5 */
        enum scmp_compare op;
        uint64_t value;
        uint64_t value_two;
};

/* Docker's includes/excludes. includes: every listed capability must be held, the native
 * architecture must be listed, the kernel must be at least min_kernel. excludes: any listed
 * capability held, the native architecture listed or the kernel at least min_kernel drops the
 * entry. Empty fields do not take part. */
struct seccomp_filter {
        uint64_t caps;             /* bit N = capability N */
        const char *const *arches; /* NULL-terminated Docker names ("amd64", "s390x") or NULL */
        const char *min_kernel;    /* "4.8" or NULL */
};

struct seccomp_entry {
        const char *const *names; /* NULL-terminated syscall names */
        uint32_t action;          /* a libseccomp action (SCMP_ACT_*) */
        const struct seccomp_cond *conds;
        size_t n_conds;
        struct seccomp_filter includes;
        struct seccomp_filter excludes;
};

/* Docker's archMap: when the native architecture is `arch`, `sub` are added too. */
struct seccomp_arch_map {
        uint32_t arch;
        uint32_t sub[3]; /* 0-terminated (SCMP_ARCH_NATIVE) */
};

struct seccomp_profile {
        uint32_t default_action;
        const uint32_t *arches; /* "architectures": added as listed */
        size_t n_arches;
        const struct seccomp_arch_map *arch_map;
        size_t n_arch_map;
        /* SCMP_FLTATR_CTL_TSYNC/LOG/SSB attributes to set, as bits (1 << attribute) */
        uint32_t attrs;
        const struct seccomp_entry *entries;
        size_t n_entries;
};

/* Docker's default profile (defaultAction SCMP_ACT_ERRNO with EPERM). */
extern const struct seccomp_profile seccomp_default_profile;

/* Builds the filter for profile p and the capability mask caps, and loads it into the calling
 * thread. `what` names the profile in error messages ("default profile", a file path). */
int seccomp_profile_load(const struct seccomp_profile *p, uint64_t caps, const char *what,
                         struct lana_error **err);
/* The same filter, exported as BPF into export_to instead of loaded (NULL: load). */
int seccomp_profile_build(const struct seccomp_profile *p, uint64_t caps, const char *what,
                          struct lana_buf *export_to, struct lana_error **err);
