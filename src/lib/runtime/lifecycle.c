/*
 * lifecycle.c — what can be done to a container from any process, given its record: signal it,
 * and delete it (the one teardown path for a container whose monitor is gone or that is being
 * removed: processes, then the monitor, then its directory, cgroups and record, in that order, so
 * that an interruption at any point leaves a record that names what is left).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lana/runtime.h"
#include "alloc.h"
#include "fs-util.h"

_public_ int lana_container_signal(const struct lana_record *rec, int sig, struct lana_error **err)
{
        enum lana_container_status st = lana_record_status(rec);
        if (st != LANA_CONTAINER_RUNNING && st != LANA_CONTAINER_CREATED)
                return lana_error_set(err, -ESRCH, "container %s is not running",
                                      rec->name ? rec->name : rec->id);
        if (kill(rec->pid, sig) < 0)
                return lana_error_setsys(err, -errno, "signal container %s", rec->id);
        return 0;
}

/* Waits (bounded, 5 s) until the process is gone. Once it has exited it may stay a zombie until
 * whatever adopted it reaps it (1.5-2 s under some inits): lana_pid_start_time() is 0 for a
 * zombie too, where kill(pid, 0) would still succeed. */
static void wait_gone(pid_t pid, uint64_t start)
{
        for (int t = 0; t < 500 && pid > 0 && start != 0 && lana_pid_start_time(pid) == start;
             t++) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
        }
}

_public_ int lana_container_delete(const struct lana_record *rec, bool force,
                                   struct lana_error **err)
{
        enum lana_container_status st = lana_record_status(rec);
        const char *what = rec->name ? rec->name : rec->id;
        if (st != LANA_CONTAINER_STOPPED) {
                if (!force)
                        return lana_error_set(err, -EBUSY, "container %s is %s (use -f)", what,
                                              st == LANA_CONTAINER_CREATING ? "starting"
                                                                            : "running");
                /* A container still being created has no process of its own yet: its monitor
                 * goes, and the container with it (PR_SET_PDEATHSIG). Otherwise its first
                 * process goes, and the monitor finishes the bookkeeping and exits. */
                if (st == LANA_CONTAINER_CREATING)
                        (void)kill(rec->monitor, SIGKILL);
                else
                        (void)kill(rec->pid, SIGKILL);
                wait_gone(rec->monitor, rec->monitor_start);
        }
        /* the container's directory, only ever one under a store's containers/ */
        if (rec->dir && strstr(rec->dir, "/containers/"))
                (void)rm_rf_at(AT_FDCWD, rec->dir);
        /* the monitor removes the cgroups when the container ends; these are left only when it
         * was killed itself. The first failure is reported once the rest is done. */
        int first = 0;
        _cleanup_(lana_error_freep) struct lana_error *cg_err = NULL;
        for (size_t i = 0; rec->cgroups && rec->cgroups[i]; i++) {
                struct lana_error *e = NULL;
                int r = lana_cgroup_remove(rec->cgroups[i], rec->id, &e);
                if (r < 0 && first == 0) {
                        first = r;
                        cg_err = e;
                } else {
                        lana_error_free(e);
                }
        }
        (void)lana_record_remove(rec->id);
        if (first < 0) {
                if (err) {
                        lana_error_free(*err);
                        *err = TAKE_PTR(cg_err);
                }
                return lana_error_wrap(err, first, "container %s", rec->id);
        }
        return 0;
}
