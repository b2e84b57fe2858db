/* feed_layer.h — one precision-map row of the snapshot from a policy row, its statistics and
 * the model's FP8 scaling state: what the screen shows of a layer, without a model. */
#ifndef MPTUI_FEED_LAYER_H
#define MPTUI_FEED_LAYER_H

#include "feed.h"
#include "fp8.h"
#include "model.h"
#include "precision.h"

/* Fills L from row `row` of p. rs (NULL: none gathered yet) fills the statistics, which are
 * otherwise left as they were (the map keeps the last logged step's). fs (NULL, or a state
 * without that row: scales 1, no history) gives an FP8 row's scales and history maxima. */
void feed_layer_fill(feed_layer *L, const prec_policy *p, int row, const gpt_row_stats *rs,
                     const fp8_state *fs);
/* The map row of a data-parallel run's gradient all-reduce: dtype comm on the wire, and what
 * rounding every rank's gradients to it did at the last logging step (wire NULL: none yet). */
void feed_layer_fill_comm(feed_layer *L, dtype_t comm, const num_stats *wire);

#endif
