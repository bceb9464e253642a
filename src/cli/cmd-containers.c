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
        struct lana_record **all = NULL;
        if (lana_record_list(&all, &err) < 0)
                return cli_fail(err);
        if (json) {
                json_t *arr = json_array();
                for (size_t i = 0; all[i]; i++) {
                        json_t *o = lana_record_to_json(all[i]);
                        enum lana_container_status st = lana_record_status(all[i]);
                        json_object_set_new(o, "status",
                                            json_string(lana_container_status_name(st)));
                        json_object_set_new(o, "running",
                                            json_boolean(st == LANA_CONTAINER_RUNNING));
                        json_object_set_new(o, "starting",
                                            json_boolean(st == LANA_CONTAINER_CREATING));
                        json_array_append_new(arr, o);
                }
                _cleanup_free_ char *s = json_dumps(arr, JSON_INDENT(2) | JSON_SORT_KEYS);
                json_decref(arr);
                printf("%s\n", s);
        } else {
                printf("%-12s %-20s %-30s %-14s %s\n", "ID", "NAME", "IMAGE", "STATUS", "COMMAND");
                for (size_t i = 0; all[i]; i++) {
                        const struct lana_record *rec = all[i];
                        enum lana_container_status st = lana_record_status(rec);
                        char status[32];
                        if (st == LANA_CONTAINER_RUNNING)
                                snprintf(status, sizeof status, "running");
                        else if (st == LANA_CONTAINER_CREATING)
                                snprintf(status, sizeof status, "starting");
                        else if (st == LANA_CONTAINER_CREATED)
                                snprintf(status, sizeof status, "created");
                        else if (rec->has_exit_code)
                                snprintf(status, sizeof status, "exited (%d)", rec->exit_code);
                        else
                                snprintf(status, sizeof status, "gone");
                        char cmd[256];
                        cli_join_strv(rec->command, " ", cmd, sizeof cmd);
                        printf("%-12.12s %-20s %-30s %-14s %s\n", rec->id,
                               rec->name ? rec->name : "", rec->image ? rec->image : "", status,
                               cmd);
                }
        }
        lana_record_list_free(all);
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
        _cleanup_(lana_record_freep) struct lana_record *rec = NULL;
        if (lana_record_find(argv[optind], &rec, &err) < 0 ||
            lana_container_signal(rec, sig, &err) < 0)
                return cli_fail_in("kill", err);
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
                _cleanup_(lana_record_freep) struct lana_record *rec = NULL;
                if (lana_record_find(argv[i], &rec, &err) < 0) {
                        rc = cli_fail(err);
                        continue;
                }
                r = lana_container_delete(rec, force, &err);
                if (r == -EBUSY) {
                        rc = cli_fail_in("rm", err);
                        continue;
                }
                /* removed, but a cgroup it names was refused or would not go: said, and the
                 * container counts as removed */
                if (r < 0)
                        (void)cli_fail_in("rm", err);
                printf("%s\n", rec->id);
        }
        return rc;
}
