/*
 * main.c — the lana-img entry point: global options, the command table, dispatch, and the
 * mapping from library errors to exit codes. Every command lives in its own cmd-*.c file.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"

static const struct command commands[] = {
        {"build", cmd_build, "build an image from a spec (lana-img.yaml)"},
        {"images", cmd_images, "list images in the store"},
        {"inspect", cmd_inspect, "show an image's manifest, config and layers as JSON"},
        {"tag", cmd_tag, "give an image another name"},
        {"rmi", cmd_rmi, "remove an image name"},
        {"prune", cmd_prune, "delete blobs no image refers to"},
        {"fsck", cmd_fsck, "verify every blob and every image in the store"},
        {"push", cmd_push, "upload an image to a registry"},
        {"pull", cmd_pull, "fetch an image from a registry into the store"},
        {"login", cmd_login, "check and save credentials for a registry"},
        {"logout", cmd_logout, "forget the credentials for a registry"},
        {"run", cmd_run, "run a command in a new container"},
        {"containers", cmd_containers, "list containers"},
        {"kill", cmd_kill, "send a signal to a container"},
        {"rm", cmd_rm, "remove containers"},
};

static void usage(FILE *f)
{
        fprintf(f, "usage: lana-img [--root DIR] COMMAND [OPTIONS] [ARGS]\n\n"
                   "Deterministic OCI image builder and store.\n\n"
                   "Global options:\n"
                   "  --root DIR   store location (default: $LANA_IMG_ROOT, /var/lib/lana-img "
                   "for root,\n"
                   "               $XDG_DATA_HOME/lana-img otherwise)\n"
                   "  --help       show this help\n"
                   "  --version    show the version\n\n"
                   "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nRun 'lana-img COMMAND --help' for a command's options.\n"
                   "Exit codes: 0 success, 1 failure, 2 usage error, 3 invalid input, "
                   "4 image not found.\n");
}

int cli_exit_code(const struct lana_error *e)
{
        switch (e->kind) {
        case LANA_ERR_INVALID:
                return EXIT_INVALID;
        case LANA_ERR_NOT_FOUND:
                return EXIT_NOT_FOUND;
        default:
                return EXIT_FAIL;
        }
}

int cli_fail(struct lana_error *e)
{
        return cli_fail_in(NULL, e);
}

int cli_fail_in(const char *cmd, struct lana_error *e)
{
        int code = EXIT_FAIL;
        if (e) {
                fprintf(stderr, "lana-img: %s%s%s\n", cmd ? cmd : "", cmd ? ": " : "", e->msg);
                code = cli_exit_code(e);
                lana_error_free(e);
        } else {
                fprintf(stderr, "lana-img: unknown error\n");
        }
        return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "lana-img %s: ", cmd);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (see 'lana-img %s --help')\n", cmd);
        va_end(ap);
        return EXIT_USAGE;
}

char *cli_store_root(struct cli *cli)
{
        return cli->root ? xstrdup(cli->root) : lana_store_default_root();
}

int cli_open_store(struct cli *cli, bool create, struct lana_store **ret, struct lana_error **err)
{
        _cleanup_free_ char *root = cli_store_root(cli);
        *ret = NULL;
        if (create)
                return lana_store_open(root, ret, err);
        struct lana_error *e = NULL;
        int r = lana_store_open_existing(root, ret, &e);
        if (r == -ENOENT) {
                /* no store yet: an empty one, for commands that only read */
                lana_error_free(e);
                return 0;
        }
        if (r < 0 && err) {
                lana_error_free(*err);
                *err = e;
        } else {
                lana_error_free(e);
        }
        return r < 0 ? r : 0;
}

int cli_help_only(int argc, char **argv, void (*help)(void))
{
        static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {}};
        int c;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                if (c != 'h')
                        return EXIT_USAGE;
                help();
                return EXIT_OK;
        }
        return -1;
}

void cli_reset_getopt(void)
{
        optind = 0;
        opterr = 1;
}

const char *cli_join(json_t *array, const char *sep, char *buf, size_t size)
{
        buf[0] = '\0';
        size_t k;
        json_t *v;
        json_array_foreach(array, k, v)
        {
                if (k)
                        strncat(buf, sep, size - strlen(buf) - 1);
                strncat(buf, json_string_value(v), size - strlen(buf) - 1);
        }
        return buf;
}

const char *cli_join_strv(char *const *v, const char *sep, char *buf, size_t size)
{
        buf[0] = '\0';
        for (size_t k = 0; v && v[k]; k++) {
                if (k)
                        strncat(buf, sep, size - strlen(buf) - 1);
                strncat(buf, v[k], size - strlen(buf) - 1);
        }
        return buf;
}

const char *cli_size(uint64_t n, char buf[32])
{
        static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)n;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, 32, "%ju B", (uintmax_t)n);
        else
                snprintf(buf, 32, "%.1f %s", v, units[u]);
        return buf;
}

int main(int argc, char **argv)
{
        struct cli cli = {.prog = "lana-img"};
        /* a registry that hangs up mid-request must give an error, not kill us */
        signal(SIGPIPE, SIG_IGN);
        static const struct option opts[] = {
                {"root", required_argument, NULL, 'r'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {},
        };
        int c;
        /* '+' stops at the first non-option: that is the command */
        while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                        if (!*optarg) {
                                fprintf(stderr, "lana-img: --root: empty path\n");
                                return EXIT_USAGE;
                        }
                        cli.root = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_OK;
                case 'V':
                        printf("lana-img %s\n", LANA_VERSION);
                        return EXIT_OK;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        const char *name = argv[optind];
        if (!strcmp(name, "help")) {
                usage(stdout);
                return EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                if (strcmp(commands[i].name, name) != 0)
                        continue;
                int first = optind;
                /* getopt prefixes its messages with argv[0]: make it "lana-img CMD" */
                char label[64];
                snprintf(label, sizeof label, "lana-img %s", name);
                argv[first] = label;
                cli_reset_getopt();
                return commands[i].run(&cli, argc - first, argv + first);
        }
        fprintf(stderr, "lana-img: unknown command '%s' (see 'lana-img --help')\n", name);
        return EXIT_USAGE;
}
