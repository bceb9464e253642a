/*
 * tap-skip.h — skips that TAP consumers count as skips, with their reason.
 *
 * cmocka 1.1.5 (Debian 12's) reports a skip() in TAP as "not ok N # SKIP name", which meson (and
 * any TAP consumer) counts as a failure, and it drops the reason. A test that skips calls
 * UNIT_SKIP("why"), which prints "# skip: why" on stdout and then skip(); main() runs the tests
 * through unit_run_fixing_skips(run), which runs them in a child and passes its TAP on, each
 * "not ok N # SKIP name" turned into "ok N - name # SKIP why" (the reason printed just before).
 * Nothing else is changed: a failure stays a failure, and a child killed by a signal outside a
 * test is reported as "Bail out!" with the signal and fails the program.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Prints the reason (printf-style) where unit_run_fixing_skips() finds it, then skips. */
#define UNIT_SKIP(...)                                                                             \
        do {                                                                                       \
                printf("# skip: ");                                                                \
                printf(__VA_ARGS__);                                                               \
                printf("\n");                                                                      \
                fflush(stdout);                                                                    \
                skip();                                                                            \
                return;                                                                            \
        } while (0)

/* One line of the child's TAP, corrected; `reason` holds the last "# skip: " text seen. */
static inline void unit_tap_line(const char *line, char *reason, size_t reason_len)
{
        if (!strncmp(line, "# skip: ", 8)) {
                snprintf(reason, reason_len, "%.*s", (int)strcspn(line + 8, "\n"), line + 8);
                fputs(line, stdout);
                return;
        }
        unsigned n;
        int name_at = 0;
        if (sscanf(line, "not ok %u # SKIP %n", &n, &name_at) == 1 && name_at > 0) {
                const char *name = line + name_at;
                printf("ok %u - %.*s # SKIP %s\n", n, (int)strcspn(name, "\n"), name,
                       *reason ? reason : "(no reason given)");
                *reason = 0;
                return;
        }
        if (!strncmp(line, "ok ", 3) || !strncmp(line, "not ok ", 7))
                *reason = 0;
        fputs(line, stdout);
}

/* Runs `run` (which returns cmocka_run_group_tests()) in a child whose stdout is corrected as
 * above; returns the child's exit status, or 1 when it was killed. */
static inline int unit_run_fixing_skips(int (*run)(void))
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return run();
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return run();
        }
        if (pid == 0) {
                close(p[0]);
                dup2(p[1], STDOUT_FILENO);
                int r = run();
                fflush(stdout);
                _exit(r > 255 ? 255 : r);
        }
        close(p[1]);
        FILE *in = fdopen(p[0], "r");
        char line[8192], reason[1024] = "";
        while (in && fgets(line, sizeof line, in))
                unit_tap_line(line, reason, sizeof reason);
        if (in)
                fclose(in);
        else
                close(p[0]);
        fflush(stdout);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return 1;
        if (WIFSIGNALED(st)) {
                printf("Bail out! the test program was killed by signal %d (%s)\n", WTERMSIG(st),
                       strsignal(WTERMSIG(st)));
                return 1;
        }
        return WEXITSTATUS(st);
}
