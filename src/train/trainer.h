/* trainer.h — one training run: builds backend, data, model and its lanes (policy, scaler,
 * optimizer) from a config, runs the step loop with logging / eval / save, talks to a feed. */
#ifndef MPTUI_TRAINER_H
#define MPTUI_TRAINER_H

#include <stddef.h>

#include "config.h"
#include "dist.h"
#include "feed.h"
#include "lane.h"
#include "tokcache.h"

typedef struct trainer trainer;

/* Receives one human-readable line per log step / eval / notice (headless prints them). */
typedef void (*trainer_log_fn)(void *ud, const char *line);

/* Sets everything up (data loaded, model initialised or resumed). feed may be NULL.
 * NULL + one-line err on failure. */
trainer *trainer_create(const mp_config *cfg, feed *f, trainer_log_fn log, void *log_ud,
                        char *err, size_t errlen);
/* Why trainer_open refused: the run's memory plan does not fit in what the backend has
 * (docs/memory.md); err is the one-line refusal, checked before any large allocation. */
#define TRAINER_NO_MEMORY 2
/* trainer_create that says why it failed in *why: TRAINER_NO_MEMORY or -1 (0 on success). */
trainer *trainer_open(const mp_config *cfg, feed *f, trainer_log_fn log, void *log_ud,
                      int *why, char *err, size_t errlen);
/* trainer_open for one rank of a data-parallel run (docs/dist.md): d from dist_init, NULL
 * (or a world of one) for a single process. Every rank calls it; rank 0 alone writes files
 * and log lines (give the others a NULL log and feed). Collectives run inside; a failed one
 * is an error like any other, and the caller ends every rank (dist_abort). */
trainer *trainer_open_ranks(const mp_config *cfg, dist *d, feed *f, trainer_log_fn log,
                            void *log_ud, int *why, char *err, size_t errlen);
/* --dry_run: loads the data (for the vocabulary), makes the backend and writes the run's
 * memory plan as a table into out, allocating no model. 0 when it fits; TRAINER_NO_MEMORY
 * (table written, err the refusal) when it does not; -1 + err on any other failure. */
/* Which tokenizer text goes through: --tokenizer_name (gpt2 and its Hugging Face names: the
 * copy in datasets/gpt2; else a folder), else model_dir's own files, else none. 1 with dir
 * and a label for the screen, 0 none (text is bytes), -1 + err. */
int trainer_tokenizer_dir(const mp_config *c, const char *model_dir, char *dir, size_t len,
                          char *label, size_t llen, char *err, size_t errlen);
/* Tokenizes the run's text data ahead of trainer_open when it goes through a BPE, calling fn
 * as it goes, so the run then reads the token cache (docs/data.md); nothing to do (bytes, a
 * .bin file, a cache already there) returns at once. 0 ok, -1 + err (the line the run would
 * have failed with). model_dir: --model_name_or_path's folder or "". */
int trainer_prepare_data(const mp_config *cfg, const char *model_dir, tokcache_progress_fn fn,
                         void *ctx, char *err, size_t errlen);
/* --dry_run: the memory plan of the run cfg describes, as a table in out (docs/memory.md);
 * under mpirun (d: more than one rank) the plan of one rank: its threads and, under ZeRO-1,
 * its share of AdamW m and v. 0 fits; TRAINER_NO_MEMORY + the refusal in err; -1 + err. */
int trainer_dry_run(const mp_config *cfg, dist *d, char *out, size_t outlen, char *err,
                    size_t errlen);
/* Runs until max_steps, a quit command, or trainer_request_stop. 0 ok, -1 + err. */
int trainer_run(trainer *t, char *err, size_t errlen);
/* Forks the run's current state into n lockstep lanes (2..3; same mode twice is allowed
 * here, with distinct names). Refused when one is running or memory is short. 0 ok, -1 + err. */
int trainer_compare_start(trainer *t, const lane_spec *specs, int n, char *err, size_t errlen);
/* Safe from a signal handler: the run stops after the current step, everything flushed. */
void trainer_request_stop(trainer *t);
/* One-paragraph summary of the finished run (final loss, eval, overflows, speed), then a
 * `memory` section: the plan of the selected lane's policy, compact. */
void trainer_summary(const trainer *t, char *out, size_t outlen);
/* The backend the run computes on, for tests (e.g. bk_cpu_defer_stats before trainer_run). */
backend *trainer_backend(const trainer *t);
void trainer_free(trainer *t);

#endif
