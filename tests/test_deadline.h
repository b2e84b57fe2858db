/* test_deadline.h — the hang guard for tests that block on I/O or train for a while.
 * Used instead of Criterion's .timeout: see the comment on test_deadline. */
#ifndef TEST_DEADLINE_H
#define TEST_DEADLINE_H

#include <unistd.h>

/* Criterion 2.4.1's .timeout starts a watchdog thread whose 48-byte record LeakSanitizer
 * reports, at random, when the runner exits (a CI run failed on it). alarm() needs no thread:
 * SIGALRM's default action ends the test's worker process, which Criterion reports as a crash
 * naming the test. */
static inline void test_deadline(unsigned seconds) { alarm(seconds); }

#endif
