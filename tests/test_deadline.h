/* test_deadline.h — the hang guard for tests that block on I/O or train for a while.
 * Used instead of Criterion's .timeout: see the comment on test_deadline. */
#ifndef TEST_DEADLINE_H
#define TEST_DEADLINE_H

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Sanitizer builds run several times slower; the guard is for hangs, not for speed. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_DEADLINE_SLOWDOWN 5u
#else
#define TEST_DEADLINE_SLOWDOWN 1u
#endif

static void test_deadline_fired(int sig)
{
    static const char msg[] = "test deadline passed: the test hung or the machine is overloaded\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Criterion 2.4.1's .timeout starts a watchdog thread whose 48-byte record LeakSanitizer
 * reports, at random, when the runner exits (a CI run failed on it). alarm() needs no thread:
 * the test's worker process says why and ends on SIGALRM, which Criterion reports as a crash
 * naming the test. */
static inline void test_deadline(unsigned seconds)
{
    signal(SIGALRM, test_deadline_fired);
    alarm(seconds * TEST_DEADLINE_SLOWDOWN);
}

#endif
