/*
 * cli.h — what the command files share: the global options, the command table entry type, exit
 * codes, and the one function that turns a struct lana_error into a printed line and an exit code.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "lana/error.h"
#include "lana/store.h"

enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,      /* the operation failed */
        EXIT_USAGE = 2,     /* bad command line */
        EXIT_INVALID = 3,   /* invalid input: build spec, reference, platform, archive */
        EXIT_NOT_FOUND = 4, /* no such image */
};

struct cli {
        const char *root; /* --root, or NULL for the default */
        const char *prog;
};

struct command {
        const char *name;
        int (*run)(struct cli *cli, int argc, char **argv);
        const char *summary;
};

/* Prints "lana-img: <message>" and returns the exit code for the error. Frees the error. */
int cli_fail(struct lana_error *e);
/* The exit code for an error, from its kind: 3 invalid input, 4 not found, 1 anything else. */
int cli_exit_code(const struct lana_error *e);
/* The same, the message prefixed with "CMD: ". */
int cli_fail_in(const char *cmd, struct lana_error *e);
/* Prints a usage error ("lana-img CMD: msg; see --help") and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The store root from --root, $LANA_IMG_ROOT or the default. Caller frees. */
char *cli_store_root(struct cli *cli);
/* Opens the store; with `create` false, a missing store yields *ret == NULL and 0. */
int cli_open_store(struct cli *cli, bool create, struct lana_store **ret, struct lana_error **err);
/* Option parsing for commands whose only option is --help: returns EXIT_OK after printing the
 * help, EXIT_USAGE on an unknown option, -1 to go on (optind at the first argument). */
int cli_help_only(int argc, char **argv, void (*help)(void));
/* getopt_long wrapper state reset for each command. */
void cli_reset_getopt(void);
/* Human sizes: "12.3 MiB". */
const char *cli_size(uint64_t n, char buf[32]);
/* The strings of a JSON array joined by `sep` into buf (cut at size - 1 bytes); returns buf. */
const char *cli_join(json_t *array, const char *sep, char *buf, size_t size);
/* The same for a NULL-terminated string array. */
const char *cli_join_strv(char *const *v, const char *sep, char *buf, size_t size);

int cmd_build(struct cli *cli, int argc, char **argv);
int cmd_images(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_tag(struct cli *cli, int argc, char **argv);
int cmd_rmi(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_fsck(struct cli *cli, int argc, char **argv);
int cmd_push(struct cli *cli, int argc, char **argv);
int cmd_pull(struct cli *cli, int argc, char **argv);
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_logout(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_containers(struct cli *cli, int argc, char **argv);
int cmd_kill(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
