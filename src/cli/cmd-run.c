/*
 * cmd-run.c — `lana-img run`: resolves the image, unpacks its layers into snapshots, builds the
 * container spec from the image config and the options, starts it and stays with it: forwards
 * SIGINT/SIGTERM/SIGHUP, proxies the terminal with -t, records the state, and returns the
 * container's exit status (128+N for a signal). With -d a detached monitor process does the
 * staying and the command prints the container id once the program has started.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lana/runtime.h"
#include "alloc.h"
#include "cli.h"
#include "fs-util.h"

enum {
        OPT_RM = 1000,
        OPT_NAME,
        OPT_ENV_FILE,
        OPT_TMPFS,
        OPT_ENTRYPOINT,
        OPT_READ_ONLY,
        OPT_HOSTNAME,
        OPT_NETWORK,
        OPT_MEMORY,
        OPT_PIDS,
        OPT_CPUS,
        OPT_CAP_ADD,
        OPT_CAP_DROP,
        OPT_SECURITY,
        OPT_INIT,
        OPT_PLATFORM
};

struct run_opts {
        bool rm, detach, tty, interactive, read_only, init, net_host, nnp;
        const char *name, *workdir, *user, *hostname, *platform;
        char **entrypoint; /* NULL: the image's */
        bool has_entrypoint;
        json_t *env; /* array of K=V added after the image's */
        struct lana_bind *binds;
        size_t nbinds;
        struct lana_tmpfs *tmpfs;
        size_t ntmpfs;
        int64_t memory, pids, cpu_quota;
        uint64_t cap_add, cap_drop;
        enum lana_seccomp_mode seccomp;
        const char *seccomp_file;
};

static void help(void)
{
        printf("usage: lana-img [--root DIR] run [OPTIONS] IMAGE [CMD [ARG...]]\n\n"
               "Runs a command in a new container from IMAGE (store name, oci:DIR[:REF] or "
               "oci-archive:FILE[:REF]).\n\n"
               "  --rm                     remove the container when it exits\n"
               "  -d, --detach             run in the background and print the container id\n"
               "  --name NAME              a name for the container\n"
               "  -e, --env K=V            set an environment variable (repeatable)\n"
               "  --env-file FILE          read K=V lines from FILE\n"
               "  -v, --volume SRC:DST[:ro]  bind-mount a host path\n"
               "  --tmpfs DST[:OPTIONS]    mount a tmpfs\n"
               "  -w, --workdir DIR        working directory\n"
               "  -u, --user USER[:GROUP]  user (names from the image's /etc/passwd and "
               "/etc/group)\n"
               "  --entrypoint CMD         override the image's entrypoint\n"
               "  --read-only              read-only root filesystem\n"
               "  --hostname NAME          container host name\n"
               "  --network none|host      network (default none: only loopback)\n"
               "  --memory SIZE            memory limit (e.g. 32m, 1g)\n"
               "  --pids-limit N           process limit\n"
               "  --cpus N                 CPU limit (e.g. 0.5)\n"
               "  --cap-add CAP, --cap-drop CAP   adjust Docker's default capability set\n"
               "  --security-opt seccomp=unconfined|FILE.json\n"
               "  --security-opt no-new-privileges=false\n"
               "  --init                   run a tiny init as PID 1 that reaps zombies\n"
               "  -t, --tty                allocate a terminal\n"
               "  -i, --interactive        keep stdin open\n"
               "  --platform P             the platform to pick from a multi-platform image\n\n"
               "Example:\n  lana-img run --rm -e LANA_HOME=/lana registry.example.com/lana/api "
               "serve\n\n"
               "Exit status: the container's (128+N for a signal); 125 when lana-img failed, "
               "126 when the\ncommand cannot be executed, 127 when it is not found.\n");
}

static int64_t parse_size(const char *s)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || v <= 0 || end == s)
                return -1;
        int64_t mul = 1;
        switch (*end) {
        case 'b':
        case 'B':
        case '\0':
                mul = 1;
                break;
        case 'k':
        case 'K':
                mul = 1 << 10;
                break;
        case 'm':
        case 'M':
                mul = 1 << 20;
                break;
        case 'g':
        case 'G':
                mul = 1 << 30;
                break;
        default:
                return -1;
        }
        if (*end && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
                return -1;
        return (int64_t)(v * (double)mul);
}

static int add_env_line(json_t *env, const char *line)
{
        if (!*line || line[0] == '#' || line[0] == '=')
                return *line && line[0] == '=' ? -1 : 0;
        if (!strchr(line, '=')) {
                /* docker: -e NAME passes the host's value, if set */
                const char *v = getenv(line);
                if (v)
                        json_array_append_new(env, json_sprintf("%s=%s", line, v));
                return 0;
        }
        json_array_append_new(env, json_string(line));
        return 0;
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
        static const struct option opts[] = {
                {"rm", no_argument, NULL, OPT_RM},
                {"detach", no_argument, NULL, 'd'},
                {"name", required_argument, NULL, OPT_NAME},
                {"env", required_argument, NULL, 'e'},
                {"env-file", required_argument, NULL, OPT_ENV_FILE},
                {"volume", required_argument, NULL, 'v'},
                {"tmpfs", required_argument, NULL, OPT_TMPFS},
                {"workdir", required_argument, NULL, 'w'},
                {"user", required_argument, NULL, 'u'},
                {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
                {"read-only", no_argument, NULL, OPT_READ_ONLY},
                {"hostname", required_argument, NULL, OPT_HOSTNAME},
                {"network", required_argument, NULL, OPT_NETWORK},
                {"memory", required_argument, NULL, OPT_MEMORY},
                {"pids-limit", required_argument, NULL, OPT_PIDS},
                {"cpus", required_argument, NULL, OPT_CPUS},
                {"cap-add", required_argument, NULL, OPT_CAP_ADD},
                {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
                {"security-opt", required_argument, NULL, OPT_SECURITY},
                {"init", no_argument, NULL, OPT_INIT},
                {"tty", no_argument, NULL, 't'},
                {"interactive", no_argument, NULL, 'i'},
                {"platform", required_argument, NULL, OPT_PLATFORM},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;
        /* '+': options stop at IMAGE; what follows is the command */
        while ((c = getopt_long(argc, argv, "+de:v:w:u:tih", opts, NULL)) != -1) {
                switch (c) {
                case OPT_RM:
                        o->rm = true;
                        break;
                case 'd':
                        o->detach = true;
                        break;
                case 't':
                        o->tty = true;
                        break;
                case 'i':
                        o->interactive = true;
                        break;
                case OPT_READ_ONLY:
                        o->read_only = true;
                        break;
                case OPT_INIT:
                        o->init = true;
                        break;
                case OPT_NAME:
                        if (!*optarg ||
                            strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                                           "NOPQRSTUVWXYZ0123456789_.-") != strlen(optarg))
                                return cli_usage_error("run",
                                                       "--name '%s': letters, digits, "
                                                       "'_', '.', '-' only",
                                                       optarg);
                        o->name = optarg;
                        break;
                case 'e':
                        if (add_env_line(o->env, optarg) < 0)
                                return cli_usage_error("run", "-e '%s': expected K=V", optarg);
                        break;
                case OPT_ENV_FILE: {
                        FILE *f = fopen(optarg, "re");
                        if (!f)
                                return cli_usage_error("run", "--env-file %s: %s", optarg,
                                                       strerror(errno));
                        char line[8192];
                        int ln = 0;
                        while (fgets(line, sizeof line, f)) {
                                ln++;
                                line[strcspn(line, "\r\n")] = '\0';
                                if (add_env_line(o->env, line) < 0) {
                                        fclose(f);
                                        return cli_usage_error("run",
                                                               "--env-file %s:%d: "
                                                               "expected K=V",
                                                               optarg, ln);
                                }
                        }
                        fclose(f);
                        break;
                }
                case 'v': {
                        _cleanup_free_ char *copy = xstrdup(optarg);
                        char *src = copy, *dst = strchr(copy, ':');
                        if (!dst || src[0] != '/')
                                return cli_usage_error("run", "-v '%s': expected /HOST:/DST[:ro]",
                                                       optarg);
                        *dst++ = '\0';
                        char *mode = strchr(dst, ':');
                        if (mode)
                                *mode++ = '\0';
                        if (dst[0] != '/' || (mode && strcmp(mode, "ro") && strcmp(mode, "rw")))
                                return cli_usage_error("run", "-v '%s': expected /HOST:/DST[:ro]",
                                                       optarg);
                        char real[4096];
                        if (!realpath(src, real))
                                return cli_usage_error("run", "-v %s: %s", src, strerror(errno));
                        o->binds = xrealloc(o->binds, (o->nbinds + 1) * sizeof *o->binds);
                        o->binds[o->nbinds++] =
                                (struct lana_bind){.source = xstrdup(real),
                                                   .destination = xstrdup(dst),
                                                   .readonly = mode && !strcmp(mode, "ro")};
                        break;
                }
                case OPT_TMPFS: {
                        char *colon = strchr(optarg, ':');
                        if (optarg[0] != '/')
                                return cli_usage_error("run", "--tmpfs '%s': expected /DST[:OPTS]",
                                                       optarg);
                        o->tmpfs = xrealloc(o->tmpfs, (o->ntmpfs + 1) * sizeof *o->tmpfs);
                        o->tmpfs[o->ntmpfs++] = (struct lana_tmpfs){
                                .destination = colon ? xstrndup(optarg, (size_t)(colon - optarg))
                                                     : xstrdup(optarg),
                                .options = colon ? xstrdup(colon + 1) : NULL};
                        break;
                }
                case 'w':
                        if (optarg[0] != '/')
                                return cli_usage_error("run", "-w '%s': must be absolute", optarg);
                        o->workdir = optarg;
                        break;
                case 'u':
                        o->user = optarg;
                        break;
                case OPT_ENTRYPOINT:
                        o->has_entrypoint = true;
                        o->entrypoint = *optarg ? xnew(char *, 2) : NULL;
                        if (o->entrypoint)
                                o->entrypoint[0] = optarg;
                        break;
                case OPT_HOSTNAME:
                        o->hostname = optarg;
                        break;
                case OPT_NETWORK:
                        if (!strcmp(optarg, "host"))
                                o->net_host = true;
                        else if (strcmp(optarg, "none"))
                                return cli_usage_error("run", "--network '%s': none or host",
                                                       optarg);
                        break;
                case OPT_MEMORY:
                        o->memory = parse_size(optarg);
                        if (o->memory < 4096)
                                return cli_usage_error("run", "--memory '%s'", optarg);
                        break;
                case OPT_PIDS: {
                        char *end;
                        errno = 0;
                        long v = strtol(optarg, &end, 10);
                        if (end == optarg || *end || errno || v < 1)
                                return cli_usage_error("run", "--pids-limit '%s'", optarg);
                        o->pids = v;
                        break;
                }
                case OPT_CPUS: {
                        char *end;
                        errno = 0;
                        double v = strtod(optarg, &end);
                        /* written so that NaN fails it too; under 0.01 CPU the quota would be
                         * below the kernel's 1 ms minimum */
                        if (end == optarg || *end || errno || !(v >= 0.01 && v <= 1024))
                                return cli_usage_error(
                                        "run", "--cpus '%s': want a number from 0.01 to 1024",
                                        optarg);
                        o->cpu_quota = (int64_t)(v * 100000);
                        break;
                }
                case OPT_CAP_ADD:
                case OPT_CAP_DROP: {
                        uint64_t m = lana_cap_parse(optarg);
                        if (!m)
                                return cli_usage_error("run", "unknown capability '%s'", optarg);
                        if (c == OPT_CAP_ADD)
                                o->cap_add |= m;
                        else
                                o->cap_drop |= m;
                        break;
                }
                case OPT_SECURITY:
                        if (!strcmp(optarg, "seccomp=unconfined")) {
                                o->seccomp = LANA_SECCOMP_UNCONFINED;
                        } else if (!strncmp(optarg, "seccomp=", 8)) {
                                o->seccomp = LANA_SECCOMP_FILE;
                                o->seccomp_file = optarg + 8;
                        } else if (!strcmp(optarg, "no-new-privileges=false")) {
                                o->nnp = false;
                        } else if (!strcmp(optarg, "no-new-privileges") ||
                                   !strcmp(optarg, "no-new-privileges=true")) {
                                o->nnp = true;
                        } else {
                                return cli_usage_error("run", "--security-opt '%s'", optarg);
                        }
                        break;
                case OPT_PLATFORM:
                        o->platform = optarg;
                        break;
                case 'h':
                        help();
                        return -1;
                default:
                        return EXIT_USAGE;
                }
        }
        return 0;
}

static char **json_strv(json_t *a)
{
        size_t n = json_array_size(a);
        char **v = xnew(char *, n + 1);
        for (size_t i = 0; i < n; i++)
                v[i] = xstrdup(json_string_value(json_array_get(a, i)) ?: "");
        return v;
}

/* ---- the terminal proxy ---- */

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
        if (tio_saved)
                tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void copy_winsize(int pty)
{
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
                ioctl(pty, TIOCSWINSZ, &ws);
}

/* Runs until the container exits: signals are forwarded, the pty (if any) is proxied. */
static int supervise(struct lana_container *c, bool interactive, bool *ret_oom)
{
        sigset_t set;
        sigemptyset(&set);
        int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
        for (size_t i = 0; i < ELEMENTSOF(fwd); i++)
                sigaddset(&set, fwd[i]);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sfd = signalfd(-1, &set, SFD_CLOEXEC);
        int pty = lana_container_pty(c);
        if (pty >= 0) {
                if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
                        tio_saved = true;
                        atexit(restore_tty);
                        struct termios raw = saved_tio;
                        cfmakeraw(&raw);
                        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
                }
                copy_winsize(pty);
        }
        bool stdin_open = pty >= 0 && interactive;
        for (;;) {
                /* an exit may predate the signalfd: look, then wait (bounded) for news */
                siginfo_t info = {0};
                if (waitid(P_PID, (id_t)lana_container_pid(c), &info,
                           WEXITED | WNOHANG | WNOWAIT) == 0 &&
                    info.si_pid != 0) {
                        /* drain what the terminal still holds before leaving */
                        char tail[8192];
                        ssize_t n;
                        while (pty >= 0 && (n = read(pty, tail, sizeof tail)) > 0)
                                (void)write_full(STDOUT_FILENO, tail, (size_t)n);
                        break;
                }
                struct pollfd p[3] = {{sfd, POLLIN, 0},
                                      {pty, POLLIN, 0},
                                      {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
                if (poll(p, 3, 1000) < 0 && errno != EINTR)
                        break;
                if (p[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                                if (si.ssi_signo == SIGCHLD) {
                                        continue; /* checked at the top of the loop */
                                } else if (si.ssi_signo == SIGWINCH) {
                                        if (pty >= 0)
                                                copy_winsize(pty);
                                } else {
                                        lana_container_kill(c, (int)si.ssi_signo);
                                }
                        }
                }
                char buf[8192];
                if (pty >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
                        ssize_t n = read(pty, buf, sizeof buf);
                        if (n > 0)
                                (void)write_full(STDOUT_FILENO, buf, (size_t)n);
                        else
                                pty = -1; /* the terminal is gone; wait for the exit */
                }
                if (stdin_open && (p[2].revents & (POLLIN | POLLHUP))) {
                        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
                        if (n > 0)
                                (void)write_full(lana_container_pty(c), buf, (size_t)n);
                        else
                                stdin_open = false;
                }
        }
        restore_tty();
        close(sfd);
        int status = lana_container_wait(c, ret_oom, NULL);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        return status;
}

static void new_id(char out[65])
{
        unsigned char r[32];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
                for (size_t i = 0; i < sizeof r; i++)
                        r[i] = (unsigned char)(rand() ^ (int)time(NULL));
        for (size_t i = 0; i < sizeof r; i++)
                snprintf(out + 2 * i, 3, "%02x", r[i]);
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
        struct run_opts o = {.env = json_array(), .nnp = true, .seccomp = LANA_SECCOMP_DEFAULT};
        int rc = parse_opts(argc, argv, &o);
        if (rc != 0) {
                json_decref(o.env);
                return rc < 0 ? EXIT_OK : rc;
        }
        if (optind >= argc) {
                json_decref(o.env);
                return cli_usage_error("run", "expected IMAGE");
        }
        const char *image = argv[optind];
        char **cmd_args = argv + optind + 1;
        int ncmd = argc - optind - 1;
        struct lana_error *err = NULL;

        /* names are unique */
        if (o.name) {
                struct lana_record *other = NULL;
                if (lana_record_find(o.name, &other, NULL) == 0) {
                        lana_record_free(other);
                        fprintf(stderr, "lana-img: run: the name %s is already in use\n", o.name);
                        json_decref(o.env);
                        return LANA_EXIT_RUNTIME;
                }
        }
        struct lana_store *store = NULL;
        int r = cli_open_store(cli, true, &store, &err);
        struct lana_image img = {0};
        json_t *manifest = NULL, *config = NULL;
        struct lana_platform plat, *pp = NULL;
        if (r >= 0 && o.platform) {
                r = lana_platform_parse(o.platform, &plat, &err);
                pp = &plat;
        }
        if (r >= 0 && !store)
                r = lana_error_set(&err, -ENOENT, "no image named %s (the store is empty)", image);
        if (r >= 0)
                r = lana_image_open(store, image, &img, &err);
        if (r >= 0)
                r = lana_image_load(img.layout, img.desc, pp, NULL, &manifest, &config, &err);
        if (r >= 0) {
                /* a binary for another machine would only fail with an obscure exec error */
                struct lana_platform host, img_p;
                lana_platform_host(&host);
                if (lana_platform_from_json(config, &img_p) >= 0 &&
                    strcmp(img_p.arch, host.arch) != 0) {
                        char a[64], b[64];
                        r = lana_error_set(&err, -EINVAL, "%s is for %s; this host is %s", image,
                                           lana_platform_format(&img_p, a, sizeof a),
                                           lana_platform_format(&host, b, sizeof b));
                }
        }
        /* snapshots, top layer first for overlay */
        json_t *layers = json_object_get(manifest, "layers");
        json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
        size_t nl = json_array_size(layers);
        char **lowers = xnew(char *, nl + 2);
        for (size_t i = 0; r >= 0 && i < nl; i++) {
                struct lana_digest diff;
                r = lana_digest_parse(json_string_value(json_array_get(ids, i)), &diff, &err);
                if (r >= 0)
                        r = lana_snapshot_get(store, img.layout, json_array_get(layers, i), &diff,
                                              &lowers[nl - 1 - i], &err);
        }
        char id[65];
        new_id(id);
        _cleanup_free_ char *cdir =
                store ? xasprintf("%s/containers/%s", lana_store_root(store), id) : NULL;
        _cleanup_free_ char *upper = cdir ? xasprintf("%s/upper", cdir) : NULL;
        _cleanup_free_ char *work = cdir ? xasprintf("%s/work", cdir) : NULL;
        _cleanup_free_ char *sccache =
                store ? xasprintf("%s/cache/seccomp", lana_store_root(store)) : NULL;
        /* what the created process waits on until it is started, beside its record */
        _cleanup_free_ char *fifo = lana_record_path(id, "exec.fifo");
        /* the bottom layer: the mount points /dev, /proc and /sys */
        if (r >= 0)
                r = lana_snapshot_skeleton(store, &lowers[nl], &err);

        /* the process: entrypoint + cmd, docker's rules */
        json_t *icfg = json_object_get(config, "config");
        char **entry = o.has_entrypoint ? NULL : json_strv(json_object_get(icfg, "Entrypoint"));
        size_t ne = 0, nc = 0;
        if (o.has_entrypoint && o.entrypoint)
                entry = xnew(char *, 2), entry[0] = xstrdup(o.entrypoint[0]);
        while (entry && entry[ne])
                ne++;
        char **cmd = ncmd ? NULL
                          : (o.has_entrypoint ? xnew(char *, 1)
                                              : json_strv(json_object_get(icfg, "Cmd")));
        while (cmd && cmd[nc])
                nc++;
        size_t total = ne + (ncmd ? (size_t)ncmd : nc);
        char **pargv = xnew(char *, total + 1);
        size_t k = 0;
        for (size_t i = 0; i < ne; i++)
                pargv[k++] = entry[i];
        for (size_t i = 0; i < (ncmd ? (size_t)ncmd : nc); i++)
                pargv[k++] = ncmd ? cmd_args[i] : cmd[i];
        if (r >= 0 && total == 0)
                r = lana_error_set(&err, -EINVAL, "%s has no command; give one after the image",
                                   image);
        json_t *envj = json_is_array(json_object_get(icfg, "Env"))
                               ? json_deep_copy(json_object_get(icfg, "Env"))
                               : json_array();
        size_t i;
        json_t *v;
        json_array_foreach(o.env, i, v)
        {
                const char *kv = json_string_value(v);
                size_t kl = strcspn(kv, "=");
                size_t j;
                json_t *w;
                bool replaced = false;
                json_array_foreach(envj, j, w)
                {
                        const char *e = json_string_value(w);
                        if (e && !strncmp(e, kv, kl) && e[kl] == '=') {
                                json_array_set(envj, j, v);
                                replaced = true;
                                break;
                        }
                }
                if (!replaced)
                        json_array_append(envj, v);
        }
        char **penv = json_strv(envj);
        char hostname[13];
        snprintf(hostname, sizeof hostname, "%.12s", id);
        const char *user = o.user ? o.user : json_string_value(json_object_get(icfg, "User"));
        const char *cwd =
                o.workdir ? o.workdir : json_string_value(json_object_get(icfg, "WorkingDir"));
        struct lana_container_spec spec = {
                .id = id,
                .rootfs = cdir,
                .lowerdirs = lowers,
                .upperdir = upper,
                .workdir = work,
                .volatile_upper = o.rm,
                .readonly_rootfs = o.read_only,
                .hostname = o.hostname ? o.hostname : hostname,
                .net_host = o.net_host,
                .binds = o.binds,
                .nbinds = o.nbinds,
                .tmpfs = o.tmpfs,
                .ntmpfs = o.ntmpfs,
                .caps = (LANA_DEFAULT_CAPS & ~o.cap_drop) | o.cap_add, /* drops first, as docker */
                .no_new_privs = o.nnp,
                .seccomp = o.seccomp,
                .seccomp_file = o.seccomp_file,
                .seccomp_cache = sccache,
                .memory_bytes = o.memory,
                .pids_limit = o.pids,
                .cpu_quota_us = o.cpu_quota,
                .cpu_period_us = o.cpu_quota ? 100000 : 0,
                .init = o.init,
                .terminal = o.tty,
                .argv = pargv,
                .env = penv,
                .cwd = cwd && *cwd ? cwd : "/",
                .user = user && *user ? user : NULL,
        };

        int status = LANA_EXIT_RUNTIME;
        int ready[2] = {-1, -1};
        if (r >= 0 && o.detach && pipe2(ready, O_CLOEXEC) < 0)
                r = lana_error_setsys(&err, -errno, "pipe");
        pid_t monitor = 0;
        if (r >= 0 && o.detach) {
                monitor = fork();
                if (monitor < 0)
                        r = lana_error_setsys(&err, -errno, "fork");
        }
        if (r >= 0 && o.detach && monitor > 0) {
                /* the caller: wait for "started" (the id) or the error line */
                close(ready[1]);
                char buf[1200];
                ssize_t n = read_full(ready[0], buf, sizeof buf - 1);
                close(ready[0]);
                buf[n > 0 ? n : 0] = '\0';
                if (n > 0 && buf[0] == 'O') {
                        printf("%s\n", id);
                        status = 0;
                } else {
                        int code = n > 0 ? atoi(buf) : LANA_EXIT_RUNTIME;
                        const char *msg = n > 0 && strchr(buf, ' ') ? strchr(buf, ' ') + 1
                                                                    : "container did not start";
                        fprintf(stderr, "lana-img: run: %s\n", msg);
                        status = code ? code : LANA_EXIT_RUNTIME;
                }
                goto done;
        }
        if (r >= 0 && o.detach) {
                /* the monitor: its own session; output to the container's log once its
                 * directory exists (below) */
                close(ready[0]);
                setsid();
        } else if (r >= 0 && !o.interactive && !o.tty) {
                int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (nul >= 0) {
                        dup2(nul, 0);
                        close(nul);
                }
        }
        /* the record comes first, before the container's directory and any cgroup exist: should
         * this process be killed while it starts the container, `rm` finds the directory and
         * every cgroup it may have made (all the places lana-img would make one; the started
         * container's own replace them below) */
        struct lana_container *c = NULL;
        struct lana_record *st = NULL;
        bool recorded = false;
        if (r >= 0) {
                st = lana_record_new(id);
                st->name = xstrdup(o.name ? o.name : hostname);
                st->image = xstrdup(image);
                st->dir = xstrdup(cdir);
                st->monitor = getpid();
                st->monitor_start = lana_pid_start_time(getpid());
                st->rm = o.rm;
                st->created = (int64_t)time(NULL);
                size_t q = 0;
                while (pargv[q])
                        q++;
                st->command = xnew(char *, q + 1);
                for (q = 0; pargv[q]; q++)
                        st->command[q] = xstrdup(pargv[q]);
                /* the snapshots under this container's overlay: prune keeps them */
                st->snapshots = xnew(char *, nl + 1);
                for (q = 0; q < nl; q++) {
                        const char *slash = strrchr(lowers[q], '/');
                        st->snapshots[q] = xstrdup(slash ? slash + 1 : lowers[q]);
                }
                st->cgroups = lana_cgroup_candidates(id);
                if (o.detach)
                        st->log_path = xasprintf("%s/log", cdir);
                r = lana_record_write(st, &err);
                recorded = r >= 0;
        }
        /* the overlay is mounted on the container directory itself (in the container's mount
         * namespace), over its upper and work directories: one directory fewer to make and
         * remove per run */
        if (r >= 0 &&
            (mkdir_p_at(AT_FDCWD, upper, 0755) < 0 || mkdir_p_at(AT_FDCWD, work, 0700) < 0))
                r = lana_error_setsys(&err, -errno, "create %s", cdir);
        if (r >= 0 && o.detach) {
                _cleanup_free_ char *log = xasprintf("%s/log", cdir);
                _cleanup_close_ int lfd =
                        open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                _cleanup_close_ int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (lfd >= 0 && nul >= 0) {
                        dup2(nul, 0);
                        dup2(lfd, 1);
                        dup2(lfd, 2);
                }
        }
        /* create, record the created process, start: the two steps any front end takes */
        spec.exec_fifo = fifo;
        if (r >= 0)
                r = lana_container_create(&spec, &c, &err);
        if (r >= 0) {
                st->status = LANA_CONTAINER_CREATED;
                st->pid = lana_container_pid(c);
                st->pid_start = lana_pid_start_time(st->pid);
                strv_free(st->cgroups);
                st->cgroups = lana_container_cgroups(c);
                r = lana_record_write(st, &err);
                if (r >= 0)
                        r = lana_container_start(c, &err);
                if (r < 0)
                        c = lana_container_free(c);
        }

        if (r >= 0) {
                st->status = LANA_CONTAINER_RUNNING;
                st->started = (int64_t)time(NULL);
                if (lana_record_write(st, &err) < 0) {
                        /* without a record nothing protects the container's snapshots */
                        lana_container_free(c);
                        fprintf(stderr, "lana-img: run: %s\n", err->msg);
                        lana_error_free(err);
                        err = NULL;
                        st = lana_record_free(st);
                        lana_record_remove(id);
                        status = LANA_EXIT_RUNTIME;
                        if (o.detach) {
                                dprintf(ready[1], "%d cannot record the container", status);
                                _exit(status);
                        }
                        rm_rf_at(AT_FDCWD, cdir);
                        goto done;
                }
                /* the record now protects the snapshots: release the store's gc lock so a
                 * prune does not wait for the container */
                if (img.display)
                        lana_image_release(&img);
                lana_store_free(store);
                store = NULL;
                if (o.detach) {
                        (void)!write(ready[1], "O", 1);
                        close(ready[1]);
                }
                bool oom = false;
                status = supervise(c, o.interactive, &oom);
                if (oom && !o.detach)
                        fprintf(stderr,
                                "lana-img: run: the container ran out of memory "
                                "(limit %jd bytes)\n",
                                (intmax_t)o.memory);
                st->status = LANA_CONTAINER_STOPPED;
                st->has_exit_code = true;
                st->exit_code = status;
                st->oom_killed = oom;
                st->finished = (int64_t)time(NULL);
                lana_container_free(c);
                if (o.rm) {
                        lana_record_remove(id);
                } else {
                        (void)lana_record_write(st, NULL);
                }
        } else {
                if (err) {
                        status = err->kind == LANA_ERR_NO_PROGRAM       ? LANA_EXIT_NOT_FOUND
                                 : err->kind == LANA_ERR_NOT_EXECUTABLE ? LANA_EXIT_NOT_EXECUTABLE
                                                                        : LANA_EXIT_RUNTIME;
                        if (o.detach && monitor == 0) {
                                dprintf(ready[1], "%d %s", status, err->msg);
                        } else {
                                fprintf(stderr, "lana-img: run: %s\n", err->msg);
                        }
                        lana_error_free(err);
                        err = NULL;
                }
        }
        /* the container dir goes with --rm, or when it never started (its record too) */
        if (cdir && (o.rm || r < 0))
                rm_rf_at(AT_FDCWD, cdir);
        if (r < 0 && recorded)
                lana_record_remove(id);
        lana_record_free(st);
        if (o.detach && monitor == 0)
                _exit(status);
done:
        strv_free(entry);
        strv_free(cmd);
        free(pargv);
        strv_free(penv);
        json_decref(envj);
        for (size_t q = 0; q < nl + 1; q++)
                free(lowers[q]);
        free(lowers);
        json_decref(manifest);
        json_decref(config);
        if (img.display)
                lana_image_release(&img);
        lana_store_free(store);
        json_decref(o.env);
        free(o.entrypoint);
        for (size_t q = 0; q < o.nbinds; q++) {
                free(o.binds[q].source);
                free(o.binds[q].destination);
        }
        free(o.binds);
        for (size_t q = 0; q < o.ntmpfs; q++) {
                free(o.tmpfs[q].destination);
                free(o.tmpfs[q].options);
        }
        free(o.tmpfs);
        if (err)
                lana_error_free(err);
        return status;
}
