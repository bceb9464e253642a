/*
 * test-hook.h — stop points for the crash-safety tests. With LANA_IMG_TEST_STOP=NAME in the
 * environment the process stops itself (SIGSTOP) on reaching the point NAME, so that a test can
 * kill it exactly there, or look at what it has done so far, on any machine however fast.
 * Without the variable a stop point costs one getenv(). The points are listed in
 * docs/commands.md (Environment); the blob writer's byte-count hook,
 * LANA_IMG_TEST_STOP_BLOB_AT (store/layout.c), stops through test_stop_self() too.
 */
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Stops the whole process here, for the test to SIGKILL or SIGCONT it. */
static inline void test_stop_self(void)
{
        (void)kill(getpid(), SIGSTOP);
}

static inline void test_stop_point(const char *name)
{
        const char *want = getenv("LANA_IMG_TEST_STOP");
        if (want && !strcmp(want, name))
                test_stop_self();
}
