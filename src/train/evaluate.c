/* evaluate.c — averages cross-entropy over every target of every eval window, and samples
 * text from the model (greedy or temperature, from a seeded RNG), bytes or decoded BPE. */
#include "evaluate.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokcache.h"

/* Bytes a sample's decoded text may take before it is cut to the screen line. */
#define EVAL_DECODE_MAX 4096

double eval_ppl(double loss) { return exp(loss); }
double eval_bits(double loss) { return loss / log(2.0); }

static int pick_token(const float *logits, int V, float temperature, rng_state *r)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)(logits[i] - logits[best]) / temperature);
    double u = (double)rng_uniform(r) * sum, acc = 0;
    for (int i = 0; i < V; i++) {
        acc += exp((double)(logits[i] - logits[best]) / temperature);
        if (u < acc) return i;
    }
    return V - 1;
}

/* Screens show the sample on one line: newlines and tabs become spaces, other control
 * bytes and non-ASCII bytes a dot, so no escape sequence reaches the terminal. */
static char printable(int32_t tok)
{
    if (tok == '\n' || tok == '\t' || tok == '\r') return ' ';
    return tok >= 32 && tok < 127 ? (char)tok : '.';
}

/* Appends the decoded ids to out (k bytes used of cap) as one screen line: whole UTF-8
 * characters only, newlines and tabs as spaces, other controls and broken bytes as dots. */
static size_t sample_put(const bpe *tok, const int32_t *ids, int n, char *out, size_t k,
                         size_t cap)
{
    char buf[EVAL_DECODE_MAX];
    size_t len = bpe_decode(tok, ids, (size_t)n, buf, sizeof buf);
    if (len >= sizeof buf) len = sizeof buf - 1;
    const unsigned char *s = (const unsigned char *)buf;
    for (size_t i = 0; i < len;) {
        size_t m = tokcache_utf8_len(s + i, len - i);
        if (m <= 1) {
            char c = m ? printable(s[i]) : '.';
            if (k + 1 >= cap) break;
            out[k++] = c;
            i++;
            continue;
        }
        if (k + m >= cap) break;
        memcpy(out + k, s + i, m);
        k += m;
        i += m;
    }
    out[k] = 0;
    return k;
}

/* The prompt, '|', then what the model wrote. */
static void sample_decode(const bpe *tok, const int32_t *seq, int prompt, int total, char *out,
                          size_t cap)
{
    size_t k = sample_put(tok, seq, prompt, out, 0, cap);
    if (k + 1 < cap) out[k++] = '|', out[k] = 0;
    sample_put(tok, seq + prompt, total - prompt, out, k, cap);
}

static int stopped(const eval_args *a) { return a->stop && atomic_load(a->stop); }

static int sample_text(const eval_args *a, const prec_policy *p, eval_result *out)
{
    const dataset *d = a->data;
    int V = d->vocab_size, T = a->T, prompt = d->n_val < 16 ? (int)d->n_val : 16;
    int total = prompt + a->sample_length;
    int32_t *seq = malloc((size_t)total * sizeof *seq);
    float *logits = malloc((size_t)V * sizeof *logits);
    if (!seq || !logits) {
        free(seq);
        free(logits);
        return -1;
    }
    memcpy(seq, d->val, (size_t)prompt * sizeof *seq);
    rng_state rng0 = *a->sample_rng;
    for (int n = prompt; n < total; n++) {
        if (stopped(a)) { /* a long sample must not hold a stop request back */
            total = n;
            *a->sample_rng = rng0;
            break;
        }
        int len = n < T ? n : T;
        gpt_forward(a->model, p, seq + n - len, NULL, 1, len, NULL);
        gpt_logits_row(a->model, 0, len - 1, logits);
        seq[n] = pick_token(logits, V, a->temperature, a->sample_rng);
    }
    if (a->tok) {
        sample_decode(a->tok, seq, prompt, total, out->sample, sizeof out->sample);
    } else {
        int k = 0;
        for (int i = 0; i < total && k < (int)sizeof out->sample - 1; i++) {
            if (i == prompt && k < (int)sizeof out->sample - 2) out->sample[k++] = '|';
            out->sample[k++] = printable(seq[i]);
        }
        out->sample[k] = 0;
    }
    free(seq);
    free(logits);
    return 0;
}

int eval_run(const eval_args *a, eval_result *out)
{
    prec_policy full = {0};
    const prec_policy *p = a->policy;
    int L = gpt_get_config(a->model)->n_layer;
    if (!p) {
        if (prec_init(&full, L, a->full_dtype)) return -1;
        p = &full;
    }
    gpt_refresh_copies(a->model, p);
    /* in 64 bits: --eval_max_batches times the batch can pass INT_MAX */
    long long max_windows = a->max_batches > 0 ? (long long)a->max_batches * a->batch : 0;
    int nw = data_eval_windows(a->data, a->T, max_windows > INT_MAX ? INT_MAX : (int)max_windows);
    /* Forwards of the training batch's size whatever --per_device_eval_batch_size says: the
     * model has buffers for that many windows, and the groups (hence the bits of every
     * loss) do not depend on the eval batch (docs/data.md, "Eval windows"). */
    int group = gpt_max_batch(a->model), R = dist_size(a->d), me = dist_rank(a->d);
    double sum = 0;
    for (int w = 0, cnt, g = 0; w < nw; w += cnt, g++) {
        if (w > 0 && stopped(a)) {
            if (p == &full) prec_free(&full);
            return 1;
        }
        cnt = nw - w < group ? nw - w : group;
        if (g % R != me) continue; /* another rank's group */
        data_eval_batch(a->data, w, cnt, a->T, a->inputs, a->targets);
        gpt_forward(a->model, p, a->inputs, a->targets, cnt, a->T, NULL);
        sum += gpt_loss_sum(a->model); /* the positions' sum: no mean rounded to fp32 */
    }
    if (R > 1 && dist_allreduce_sum_f64(a->d, &sum, 1, a->err, a->errlen)) {
        if (p == &full) prec_free(&full);
        return -2;
    }
    memset(out, 0, sizeof *out);
    out->windows = nw;
    out->loss = nw ? sum / ((double)nw * a->T) : NAN;
    if (isnan(out->loss)) out->loss = NAN; /* printed "nan", never "-nan" */
    out->ppl = eval_ppl(out->loss);
    out->bits = eval_bits(out->loss);
    int rc = 0;
    if ((a->data->is_bytes || a->tok) && a->sample_length > 0) rc = sample_text(a, p, out);
    if (p == &full) prec_free(&full);
    return rc;
}
