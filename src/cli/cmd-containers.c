/*
 * cmd-containers.c — `lana-img containers`, `kill` and `rm`: the container records.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lana/runtime.h"
#include "alloc.h"
#include "cli.h"
#include "fs-util.h"

static int simple_opts(const char *cmd, int argc, char **argv, const char *usage, bool *force,
                       bool *json)
{
        static const struct option opts[] = {
                {"help", no_argument, NULL, 'h'},
                {"force", no_argument, NULL, 'f'},
                {"format", required_argument, NULL, 'F'},
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "+hf", opts, NULL)) != -1) {
                if (c == 'h') {
                        printf("%s", usage);
                        return -1;
                }
                if (c == 'f' && force) {
                        *force = true;
                        continue;
                }
                if (c == 'F' && json) {
                        if (strcmp(optarg, "json") && strcmp(optarg, "table"))
                                return cli_usage_error(cmd, "--format '%s'", optarg);
                        *json = !strcmp(optarg, "json");
                        continue;
                }
                return EXIT_USAGE;
        }
        return 0;
}

int cmd_containers(struct cli *cli, int argc, char **argv)
{
        (void)cli;
        bool json = false;
        int r = simple_opts("containers", argc, argv,
                            "usage: lana-img containers [--format json]\n\n"
                            "Lists containers (running and exited) with their status.\n\n"
                            "Exit codes: 0 listed, 1 failure, 2 usage.\n",
                            NULL, &json);
        if (r)
                return r < 0 ? EXIT_OK : r;
        struct lana_error *err = NULL;
        json_t *all = NULL;
        if (lana_state_list(&all, &err) < 0)
                return cli_fail(err);
        if (json) {
                _cleanup_free_ char *s = json_dumps(all, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("%s\n", s);
        } else {
                printf("%-12s %-20s %-30s %-14s %s\n", "ID", "NAME", "IMAGE", "STATUS", "COMMAND");
                size_t i;
                json_t *s;
                json_array_foreach(all, i, s)
                {
                        char status[32];
                        json_t *ec = json_object_get(s, "exit_code");
                        if (json_is_true(json_object_get(s, "running")))
                                snprintf(status, sizeof status, "running");
                        else if (json_is_true(json_object_get(s, "starting")))
                                snprintf(status, sizeof status, "starting");
                        else if (ec)
                                snprintf(status, sizeof status, "exited (%d)",
                                         (int)json_integer_value(ec));
                        else
                                snprintf(status, sizeof status, "gone");
                        char cmd[256];
                        cli_join(json_object_get(s, "command"), " ", cmd, sizeof cmd);
                        printf("%-12.12s %-20s %-30s %-14s %s\n",
                               json_string_value(json_object_get(s, "id")),
                               json_string_value(json_object_get(s, "name")),
                               json_string_value(json_object_get(s, "image")), status, cmd);
                }
        }
        json_decref(all);
        return EXIT_OK;
}

static int parse_signal(const char *s)
{
        static const struct {
                const char *name;
                int sig;
        } sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},    {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                    {"USR1", SIGUSR1}, {"USR2", SIGUSR2},  {"TERM", SIGTERM}, {"STOP", SIGSTOP},
                    {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
        const char *n = !strncmp(s, "SIG", 3) ? s + 3 : s;
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                if (!strcmp(n, sigs[i].name))
                        return sigs[i].sig;
        char *end;
        long v = strtol(s, &end, 10);
        return *s && !*end && v > 0 && v < 65 ? (int)v : -1;
}

int cmd_kill(struct cli *cli, int argc, char **argv)
{
        (void)cli;
        int r = simple_opts("kill", argc, argv,
                            "usage: lana-img kill CONTAINER [SIGNAL]\n\n"
                            "Sends SIGNAL (default KILL) to the container's first process.\n\n"
                            "Exit codes: 0 sent, 1 failure, 2 usage, 4 no such container.\n",
                            NULL, NULL);
        if (r)
                return r < 0 ? EXIT_OK : r;
        if (argc - optind < 1 || argc - optind > 2)
                return cli_usage_error("kill", "expected CONTAINER [SIGNAL]");
        int sig = argc - optind == 2 ? parse_signal(argv[optind + 1]) : SIGKILL;
        if (sig < 0)
                return cli_usage_error("kill", "unknown signal '%s'", argv[optind + 1]);
        struct lana_error *err = NULL;
        json_t *st = NULL;
        if (lana_state_find(argv[optind], &st, &err) < 0)
                return cli_fail(err);
        if (!lana_state_running(st)) {
                json_decref(st);
                fprintf(stderr, "lana-img: kill: container %s is not running\n", argv[optind]);
                return EXIT_FAIL;
        }
        pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
        json_decref(st);
        if (kill(pid, sig) < 0) {
                fprintf(stderr, "lana-img: kill: %s\n", strerror(errno));
                return EXIT_FAIL;
        }
        return EXIT_OK;
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
        (void)cli;
        bool force = false;
        int r = simple_opts("rm", argc, argv,
                            "usage: lana-img rm [-f] CONTAINER...\n\n"
                            "Removes exited containers; -f kills running ones first.\n\n"
                            "Exit codes: 0 removed, 1 failure (still running), 2 usage, 4 no "
                            "such container.\n",
                            &force, NULL);
        if (r)
                return r < 0 ? EXIT_OK : r;
        if (optind >= argc)
                return cli_usage_error("rm", "expected CONTAINER");
        int rc = EXIT_OK;
        for (int i = optind; i < argc; i++) {
                struct lana_error *err = NULL;
                json_t *st = NULL;
                if (lana_state_find(argv[i], &st, &err) < 0) {
                        rc = cli_fail(err);
                        continue;
                }
                const char *id = json_string_value(json_object_get(st, "id"));
                bool starting = lana_state_starting(st);
                if (starting || lana_state_running(st)) {
                        if (!force) {
                                fprintf(stderr,
                                        "lana-img: rm: container %s is %s (use "
                                        "-f)\n",
                                        argv[i], starting ? "starting" : "running");
                                rc = EXIT_FAIL;
                                json_decref(st);
                                continue;
                        }
                        pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
                        pid_t mon = (pid_t)json_integer_value(json_object_get(st, "monitor"));
                        /* a container still starting has no pid of its own yet: the lana-img
                         * starting it goes, and the container with it (PR_SET_PDEATHSIG) */
                        kill(starting ? mon : pid, SIGKILL);
                        /* the monitor cleans up after the exit; wait for it (bounded). Once
                         * it has exited it may stay a zombie until whatever adopted it reaps
                         * it (1.5-2 s under some inits): lana_pid_start_time() is 0 for a
                         * zombie too, where kill(mon, 0) would still succeed */
                        for (int t = 0; t < 500 && mon > 0 && lana_pid_start_time(mon) != 0; t++) {
                                struct timespec ts = {0, 10 * 1000 * 1000};
                                nanosleep(&ts, NULL);
                        }
                }
                const char *dir = json_string_value(json_object_get(st, "dir"));
                if (dir && strstr(dir, "/containers/"))
                        rm_rf_at(AT_FDCWD, dir);
                /* the monitor removes the cgroups when the container ends; these are left only
                 * when it was killed itself */
                size_t q;
                json_t *cgp;
                json_array_foreach(json_object_get(st, "cgroups"), q, cgp)
                {
                        struct lana_error *cg_err = NULL;
                        if (json_is_string(cgp) &&
                            lana_cgroup_remove(json_string_value(cgp), id, &cg_err) < 0) {
                                fprintf(stderr, "lana-img: rm: %s\n", cg_err->msg);
                                lana_error_free(cg_err);
                        }
                }
                lana_state_remove(id);
                printf("%s\n", id);
                json_decref(st);
        }
        return rc;
}
