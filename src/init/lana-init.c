/*
 * lana-init.c — the tiny PID 1 behind `lana-img run --init`. Built static (libc only) so that a
 * sealed in-memory copy of it can be executed inside any image, even one without a dynamic
 * loader. It starts the program in its own process group, forwards every catchable signal to
 * it, reaps all orphans that get reparented to it, and exits with the program's status (128+N
 * for a signal), once the program has exited.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        int first = 1;
        if (argc > 1 && !strcmp(argv[1], "--"))
                first = 2;
        if (first >= argc) {
                fprintf(stderr, "lana-init: no program to run\n");
                return 125;
        }
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        pid_t child = fork();
        if (child < 0) {
                fprintf(stderr, "lana-init: fork: %s\n", strerror(errno));
                return 125;
        }
        if (child == 0) {
                sigprocmask(SIG_SETMASK, &old, NULL);
                setpgid(0, 0);
                /* give the terminal, if any, to the program's group */
                if (isatty(STDIN_FILENO)) {
                        signal(SIGTTOU, SIG_IGN);
                        tcsetpgrp(STDIN_FILENO, getpgrp());
                        signal(SIGTTOU, SIG_DFL);
                }
                execvp(argv[first], argv + first);
                int e = errno;
                fprintf(stderr, "lana-init: exec %s: %s\n", argv[first], strerror(e));
                _exit(e == ENOENT ? 127 : 126);
        }
        setpgid(child, child);
        int status = 0;
        for (;;) {
                int sig = 0;
                struct timespec ts = {.tv_sec = 1};
                siginfo_t info;
                sig = sigtimedwait(&all, &info, &ts);
                if (sig > 0 && sig != SIGCHLD)
                        kill(child, sig);
                /* reap everything that has exited: the program and adopted orphans */
                for (;;) {
                        int st;
                        pid_t p = waitpid(-1, &st, WNOHANG);
                        if (p <= 0)
                                break;
                        if (p == child) {
                                status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                                /* the program is done: everything left in the namespace goes */
                                kill(-1, SIGKILL); /* PID 1: spares only ourselves */
                                while (waitpid(-1, &st, 0) > 0 || errno == EINTR)
                                        ;
                                return status;
                        }
                }
        }
}
