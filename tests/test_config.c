/* test_config.c — defaults, every option kind on the command line and in a config file,
 * precedence, each error message, --help coverage and the write/read round trip. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fp8.h"
#include "test_deadline.h"

static char msg[32768];

/* argv from a NULL-terminated list; argv[0] is the program. */
static cfg_result parse(mp_config *c, ...)
{
    char *argv[192] = {"mptui"};
    int argc = 1;
    va_list ap;
    va_start(ap, c);
    for (char *a; (a = va_arg(ap, char *));) argv[argc++] = a;
    va_end(ap);
    msg[0] = '\0';
    return cfg_parse_args(c, argc, argv, msg, sizeof msg);
}

static mp_config fresh(void)
{
    mp_config c;
    cfg_defaults(&c);
    return c;
}

static void expect_err(const char *want, ...)
{
    char *argv[192] = {"mptui"};
    int argc = 1;
    va_list ap;
    va_start(ap, want);
    for (char *a; (a = va_arg(ap, char *));) argv[argc++] = a;
    va_end(ap);
    mp_config c = fresh();
    msg[0] = '\0';
    cr_assert_eq(cfg_parse_args(&c, argc, argv, msg, sizeof msg), CFG_ERR, "no error for %s",
                 argv[1]);
    cr_assert_str_eq(msg, want);
}

static char tmpdir[64];
static void setup_dir(void)
{
    strcpy(tmpdir, "/tmp/mptui-cfg-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}
static void teardown_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(config, defaults)
{
    mp_config c = fresh();
    cr_assert_eq(c.n_layer, 4);
    cr_assert_eq(c.n_head, 4);
    cr_assert_eq(c.n_embd, 128);
    cr_assert_eq(c.block_size, 128);
    cr_assert_eq(c.vocab_size, 0);
    cr_assert_str_eq(c.data, "");
    cr_assert_str_eq(c.val_data, "");
    cr_assert_eq(c.validation_split_percentage, 10);
    cr_assert_eq(c.precision, DT_F16);
    cr_assert_eq(c.fp16_full_eval, 0);
    cr_assert_eq(c.bf16_full_eval, 0);
    cr_assert_eq(c.n_overrides, 0);
    cr_assert_eq(c.loss_scale, LS_AUTO);
    cr_assert_eq(c.static_scale, 0.0);
    cr_assert_eq(c.init_scale, 65536.0);
    cr_assert_eq(c.growth_factor, 2.0);
    cr_assert_eq(c.backoff_factor, 0.5);
    cr_assert_eq(c.growth_interval, 2000);
    cr_assert_eq(c.min_loss_scale, 0.0);
    cr_assert_eq(c.learning_rate, 1e-3);
    cr_assert_eq(c.adam_beta1, 0.9);
    cr_assert_eq(c.adam_beta2, 0.999);
    cr_assert_eq(c.adam_epsilon, 1e-8);
    cr_assert_eq(c.weight_decay, 0.0);
    cr_assert_eq(c.max_grad_norm, 1.0);
    cr_assert_eq(c.lr_scheduler_type, SCHED_LINEAR);
    cr_assert_eq(c.warmup_steps, 20);
    cr_assert_eq(c.max_steps, 2000);
    cr_assert_eq(c.num_train_epochs, 3.0);
    cr_assert_eq(c.per_device_train_batch_size, 16);
    cr_assert_eq(c.per_device_eval_batch_size, 16);
    cr_assert_eq(c.gradient_accumulation_steps, 1);
    cr_assert_eq(c.logging_steps, 10);
    cr_assert_eq(c.eval_strategy, STRAT_STEPS);
    cr_assert_eq(c.eval_steps, 100);
    cr_assert_eq(c.eval_max_batches, 8);
    cr_assert_eq(c.save_strategy, STRAT_STEPS);
    cr_assert_eq(c.save_steps, 500);
    cr_assert_eq(c.save_total_limit, 3);
    cr_assert_eq(c.save_on_error_stop, 0);
    cr_assert_str_eq(c.output_dir, "./mptui-output");
    cr_assert_str_eq(c.logging_dir, "");
    cr_assert_str_eq(c.resume_from_checkpoint, "");
    cr_assert_str_eq(c.init_from, "");
    cr_assert_eq(c.seed, 42u);
    cr_assert_eq(c.sample_length, 120);
    cr_assert_eq(c.sample_temperature, 0.8);
    cr_assert_eq(c.headless, 0);
    cr_assert_eq(c.device, DEV_AUTO);
    cr_assert_eq(c.threads, 0);
    cr_assert_eq(c.delay, 1);
    cr_assert_eq(c.no_color, 0);
    cr_assert_eq(c.no_unicode, 0);
    cr_assert_str_eq(c.compare, "");
    cr_assert_str_eq(c.config_file, "");
    cr_assert_eq(c.do_train, 1);
    cr_assert_eq(c.do_eval, -1);
    cr_assert_eq(c.eval_on_start, 0);
    char err[256];
    cr_assert_eq(cfg_validate(&c, err, sizeof err), 0, "%s", err);
}

Test(config, numbers_strings_enums)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--n_layer", "6", "--max_steps", "-1", "--num_train_epochs", "1.5",
                       "--learning_rate", "3e-4", "--seed", "18446744073709551615", "--data",
                       "corpus.txt", "--lr_scheduler_type", "cosine", "--eval_strategy", "epoch",
                       "--save_strategy", "no", "--device", "cpu", "--warmup_steps", "0",
                       "--save_on_error", "stop", "--delay", "100", "--threads", "2", NULL),
                 CFG_OK, "%s", msg);
    cr_assert_eq(c.n_layer, 6);
    cr_assert_eq(c.max_steps, -1);
    cr_assert_eq(c.num_train_epochs, 1.5);
    cr_assert_eq(c.learning_rate, 3e-4);
    cr_assert_eq(c.seed, UINT64_MAX);
    cr_assert_str_eq(c.data, "corpus.txt");
    cr_assert_eq(c.lr_scheduler_type, SCHED_COSINE);
    cr_assert_eq(c.eval_strategy, STRAT_EPOCH);
    cr_assert_eq(c.save_strategy, STRAT_NO);
    cr_assert_eq(c.device, DEV_CPU);
    cr_assert_eq(c.warmup_steps, 0);
    cr_assert_eq(c.save_on_error_stop, 1);
    cr_assert_eq(c.delay, 100);
    cr_assert_eq(c.threads, 2);
}

Test(config, equals_form)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--n_embd=256", "--output_dir=out=dir", "--precision=bf16",
                       "--headless=false", "--no_color=1", "--data=", NULL),
                 CFG_OK, "%s", msg);
    cr_assert_eq(c.n_embd, 256);
    cr_assert_str_eq(c.output_dir, "out=dir"); /* only the first '=' splits */
    cr_assert_eq(c.precision, DT_BF16);
    cr_assert_eq(c.headless, 0);
    cr_assert_eq(c.no_color, 1);
    cr_assert_str_eq(c.data, "");
}

Test(config, flags_and_aliases)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--headless", "--no-color", "--no-unicode", "--fp16_full_eval",
                       "--save_on_error_stop", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.headless, 1);
    cr_assert_eq(c.no_color, 1);
    cr_assert_eq(c.no_unicode, 1);
    cr_assert_eq(c.fp16_full_eval, 1);
    cr_assert_eq(c.save_on_error_stop, 1);
    /* HfArgumentParser style: a boolean literal after a flag is its value */
    c = fresh();
    cr_assert_eq(parse(&c, "--headless", "True", "--no_unicode", "false", "--bf16", "true", NULL),
                 CFG_OK, "%s", msg);
    cr_assert_eq(c.headless, 1);
    cr_assert_eq(c.no_unicode, 0);
    cr_assert_eq(c.precision, DT_BF16);
}

Test(config, precision_flags)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--bf16", NULL), CFG_OK);
    cr_assert_eq(c.precision, DT_BF16);
    cr_assert_eq(parse(&c, "--fp16", NULL), CFG_OK);
    cr_assert_eq(c.precision, DT_F16);
    cr_assert_eq(parse(&c, "--precision", "fp32", NULL), CFG_OK);
    cr_assert_eq(c.precision, DT_F32);
    cr_assert_eq(parse(&c, "--precision", "bfloat16", NULL), CFG_OK);
    cr_assert_eq(c.precision, DT_BF16);
    /* --fp16 false leaves fp16 mode for fp32, and leaves other modes alone */
    c = fresh();
    cr_assert_eq(parse(&c, "--fp16=false", NULL), CFG_OK);
    cr_assert_eq(c.precision, DT_F32);
    cr_assert_eq(parse(&c, "--bf16", "--fp16=false", NULL), CFG_OK);
    cr_assert_eq(c.precision, DT_BF16);
    expect_err("--fp16 and --bf16 both given: choose one (or --precision)", "--fp16", "--bf16",
               NULL);
    expect_err("--precision: 'fp4' is not one of fp32, fp16, bf16, fp8", "--precision", "fp4",
               NULL);
    cr_assert_eq(parse(&c, "--precision", "fp8", NULL), CFG_OK);
    cr_assert_eq(c.precision, DT_FP8);
}

/* The fp8 recipe options (docs/fp8.md): TE's defaults, their names and their ranges. */
Test(config, fp8_recipe_options)
{
    mp_config c = fresh();
    cr_assert_eq(c.fp8_recipe, FP8_DELAYED);
    cr_assert_eq(c.fp8_format, FP8_HYBRID);
    cr_assert_eq(c.fp8_amax_history_len, 1024);
    cr_assert_eq(c.fp8_amax_compute_algo, FP8_AMAX_MAX);
    cr_assert_eq(c.fp8_margin, 0);
    cr_assert_eq(parse(&c, "--fp8_recipe", "current", "--fp8_format", "e4m3",
                       "--fp8_amax_history_len", "16", "--fp8_amax_compute_algo", "most_recent",
                       "--fp8_margin", "-2", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.fp8_recipe, FP8_CURRENT);
    cr_assert_eq(c.fp8_format, FP8_ALL_E4M3);
    cr_assert_eq(c.fp8_amax_history_len, 16);
    cr_assert_eq(c.fp8_amax_compute_algo, FP8_AMAX_MOST_RECENT);
    cr_assert_eq(c.fp8_margin, -2);
    cr_assert_eq(parse(&c, "--fp8_recipe", "mxfp8", NULL), CFG_OK);
    cr_assert_eq(c.fp8_recipe, FP8_MXFP8);
    /* the option table's names are fp8.c's, value for value */
    for (int k = 0; k < FP8_RECIPES; k++) {
        c = fresh();
        cr_assert_eq(parse(&c, "--fp8_recipe", fp8_recipe_name((fp8_recipe_kind)k), NULL), CFG_OK);
        cr_assert_eq(c.fp8_recipe, k);
    }
    expect_err("--fp8_recipe: 'tensorwise' is not one of delayed, current, mxfp8", "--fp8_recipe",
               "tensorwise", NULL);
    expect_err("--fp8_format: 'e5m2' is not one of hybrid, e4m3", "--fp8_format", "e5m2", NULL);
    expect_err("--fp8_amax_compute_algo: 'mean' is not one of max, most_recent",
               "--fp8_amax_compute_algo", "mean", NULL);
    c = fresh();
    cr_assert_eq(parse(&c, "--fp8_amax_history_len", "0", NULL), CFG_ERR);
    cr_assert(strstr(msg, "fp8_amax_history_len"), "%s", msg);
    cr_assert_eq(parse(&c, "--fp8_margin", "65", NULL), CFG_ERR);
    cr_assert(strstr(msg, "fp8_margin"), "%s", msg);
}

Test(config, loss_scale_kinds)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--loss_scale", "dynamic", NULL), CFG_OK);
    cr_assert_eq(c.loss_scale, LS_DYNAMIC);
    cr_assert_eq(parse(&c, "--loss_scale", "none", NULL), CFG_OK);
    cr_assert_eq(c.loss_scale, LS_NONE);
    cr_assert_eq(parse(&c, "--loss_scale", "1024", NULL), CFG_OK);
    cr_assert_eq(c.loss_scale, LS_STATIC);
    cr_assert_eq(c.static_scale, 1024.0);
    cr_assert_eq(parse(&c, "--loss_scale", "auto", NULL), CFG_OK);
    cr_assert_eq(c.loss_scale, LS_AUTO);
    cr_assert_eq(parse(&c, "--static_scale", "128", NULL), CFG_OK);
    cr_assert_eq(c.loss_scale, LS_STATIC);
    cr_assert_eq(c.static_scale, 128.0);
    expect_err("--loss_scale: '0' is not one of auto, dynamic, none or a positive number",
               "--loss_scale", "0", NULL);
    expect_err("--loss_scale: 'big' is not one of auto, dynamic, none or a positive number",
               "--loss_scale", "big", NULL);
    expect_err("--static_scale: '-1' must be >= 0", "--static_scale", "-1", NULL);
}

Test(config, overrides)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--override", "lm_head=fp32", "--override=h.*.mlp.c_fc=bf16,h.0.*=inherit",
                       NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.n_overrides, 3);
    cr_assert_str_eq(c.overrides[0].pattern, "lm_head");
    cr_assert_eq(c.overrides[0].dtype, DT_F32);
    cr_assert_str_eq(c.overrides[1].pattern, "h.*.mlp.c_fc");
    cr_assert_eq(c.overrides[1].dtype, DT_BF16);
    cr_assert_str_eq(c.overrides[2].pattern, "h.0.*");
    cr_assert_eq(c.overrides[2].dtype, -1);
    expect_err("--override: 'lm_head' is not NAME=DTYPE", "--override", "lm_head", NULL);
    expect_err("--override: 'fp4' is not one of fp32, fp16, bf16, fp8, inherit", "--override",
               "lm_head=fp4", NULL);
    c = fresh();
    cr_assert_eq(parse(&c, "--override", "h.0.ln_1=fp8", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, msg, sizeof msg), -1);
    cr_assert_str_eq(msg, "--override 'h.0.ln_1': fp8 applies to Linear layers (c_attn, c_proj, "
                     "c_fc, lm_head); the rows matched have no GEMM inputs to cast");
    c = fresh();
    cr_assert_eq(parse(&c, "--override", "h.0.*=fp8", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, msg, sizeof msg), 0, "%s: its Linear rows take it", msg);
    expect_err("--override: '=fp16' is not NAME=DTYPE", "--override", "=fp16", NULL);
    /* a bad item leaves the earlier items of the same list out too */
    c = fresh();
    cr_assert_eq(parse(&c, "--override", "a=fp32,b=fp9", NULL), CFG_ERR);
    cr_assert_eq(c.n_overrides, 0);
    /* the limit */
    c = fresh();
    char many[1024] = "";
    for (int i = 0; i < CFG_MAX_OVERRIDES; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sl%d=fp32", i ? "," : "", i);
    cr_assert_eq(parse(&c, "--override", many, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.n_overrides, CFG_MAX_OVERRIDES);
    cr_assert_eq(parse(&c, "--override", "x=fp16", NULL), CFG_ERR);
    cr_assert_str_eq(msg, "--override: more than 32 overrides");
}

Test(config, compare)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--compare", "fp16,bfloat16", NULL), CFG_OK, "%s", msg);
    cr_assert_str_eq(c.compare, "fp16,bf16");
    expect_err("--compare: 'fp16' needs two or more modes, e.g. fp16,bf16", "--compare", "fp16",
               NULL);
    expect_err("--compare: 'fp16' given twice", "--compare", "fp16,fp16", NULL);
    expect_err("--compare: 'int8' is not one of fp32, fp16, bf16, fp8", "--compare", "fp16,int8",
               NULL);
}

Test(config, eval_steps_implies_steps, .init = setup_dir, .fini = teardown_dir)
{
    const char *p = write_tmp("no.cfg", "eval_strategy = no\n");
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--config", (char *)p, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.eval_strategy, STRAT_NO);
    c = fresh();
    cr_assert_eq(parse(&c, "--config", (char *)p, "--eval_steps", "50", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.eval_strategy, STRAT_STEPS);
    cr_assert_eq(c.eval_steps, 50);
    c = fresh();
    cr_assert_eq(parse(&c, "--eval_steps", "50", "--eval_strategy", "no", NULL), CFG_OK);
    cr_assert_eq(c.eval_strategy, STRAT_NO);
}

Test(config, number_errors)
{
    expect_err("--max_steps: 'abc' is not an integer", "--max_steps", "abc", NULL);
    expect_err("--max_steps: '12x' is not an integer", "--max_steps", "12x", NULL);
    expect_err("--max_steps: '' is not an integer", "--max_steps=", NULL);
    expect_err("--max_steps: ' 5' is not an integer", "--max_steps", " 5", NULL);
    expect_err("--n_layer: '99999999999999999999' is not an integer", "--n_layer",
               "99999999999999999999", NULL);
    expect_err("--max_steps: '0' must be -1 or between 1 and 1e+15", "--max_steps", "0", NULL);
    expect_err("--n_layer: '0' must be between 1 and 64", "--n_layer", "0", NULL);
    expect_err("--validation_split_percentage: '100' must be between 1 and 99",
               "--validation_split_percentage", "100", NULL);
    expect_err("--validation_split_percentage: '0' must be between 1 and 99",
               "--validation_split_percentage", "0", NULL);
    expect_err("--delay: '0' must be between 1 and 100", "--delay", "0", NULL);
    expect_err("--learning_rate: 'fast' is not a number", "--learning_rate", "fast", NULL);
    expect_err("--learning_rate: 'nan' is not a number", "--learning_rate", "nan", NULL);
    expect_err("--learning_rate: '1e999' is not a number", "--learning_rate", "1e999", NULL);
    expect_err("--learning_rate: '-0.1' must be >= 0", "--learning_rate", "-0.1", NULL);
    expect_err("--init_scale: '0' must be in (0, 3.4028234663852886e+38]", "--init_scale", "0",
               NULL);
    expect_err("--backoff_factor: '1' must be in (0, 1)", "--backoff_factor", "1", NULL);
    expect_err("--growth_factor: '1' must be in (1, 3.4028234663852886e+38]", "--growth_factor", "1", NULL);
    expect_err("--adam_beta2: '1' must be in [0, 1)", "--adam_beta2", "1", NULL);
    expect_err("--num_train_epochs: '0' must be > 0", "--num_train_epochs", "0", NULL);
    expect_err("--per_device_train_batch_size: '0' must be between 1 and 1048576",
               "--per_device_train_batch_size", "0", NULL);
    expect_err("--seed: '-1' is not a non-negative integer", "--seed", "-1", NULL);
}

Test(config, other_errors)
{
    expect_err("unknown option '--foo' (see --help)", "--foo", NULL);
    expect_err("unknown option '--foo' (see --help)", "--foo=3", NULL);
    expect_err("unexpected argument 'train.txt' (options start with --; see --help)",
               "train.txt", NULL);
    expect_err("--max_steps: missing value", "--max_steps", NULL);
    expect_err("--data: missing value", "--data", "--headless", NULL);
    expect_err("--headless: 'maybe' is not a boolean (true, false, 1, 0)", "--headless=maybe",
               NULL);
    expect_err("--device: 'tpu' is not one of auto, cpu, cuda", "--device", "tpu", NULL);
    expect_err("--eval_strategy: 'always' is not one of no, steps, epoch", "--eval_strategy",
               "always", NULL);
    expect_err("--lr_scheduler_type: 'step' is not one of linear, cosine, constant",
               "--lr_scheduler_type", "step", NULL);
    expect_err("--save_on_error: 'retry' is not one of continue, stop", "--save_on_error",
               "retry", NULL);
    char longpath[CFG_PATH_MAX + 8];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    expect_err("--data: value longer than 1023 characters", "--data", longpath, NULL);
    expect_err("--help takes no value", "--max_steps", "1", "--help=yes", NULL);
}

Test(config, help_and_version)
{
    mp_config c = fresh();
    /* --help wins over everything else on the line, even errors */
    cr_assert_eq(parse(&c, "--max_steps", "abc", "--help", NULL), CFG_EXIT_OK);
    cr_assert_str_eq(msg, cfg_help_text());
    cr_assert_eq(parse(&c, "-h", NULL), CFG_EXIT_OK);
    cr_assert_str_eq(msg, cfg_help_text());
    cr_assert_eq(parse(&c, "--version", NULL), CFG_EXIT_OK);
    cr_assert_str_eq(msg, "mptui " MPTUI_VERSION "\n");
    /* --help as the value of a string option is that value */
    c = fresh();
    cr_assert_eq(parse(&c, "--data=--help", NULL), CFG_OK);
    cr_assert_str_eq(c.data, "--help");
}

Test(config, help_lists_every_option)
{
    static const char *names[] = {
        "model_name_or_path", "n_layer", "n_head", "n_embd", "block_size", "vocab_size", "data", "val_data",
        "validation_split_percentage", "precision", "fp16", "bf16", "fp16_full_eval",
        "bf16_full_eval", "override", "fp8_recipe", "fp8_format", "fp8_amax_history_len",
        "fp8_amax_compute_algo", "fp8_margin", "loss_scale", "static_scale", "init_scale",
        "growth_factor", "backoff_factor", "min_loss_scale", "growth_interval", "learning_rate",
        "adam_beta1", "adam_beta2", "adam_epsilon", "weight_decay", "max_grad_norm",
        "lr_scheduler_type", "warmup_steps", "max_steps", "num_train_epochs",
        "per_device_train_batch_size", "per_device_eval_batch_size",
        "gradient_accumulation_steps", "logging_steps", "eval_strategy", "eval_steps",
        "eval_max_batches", "eval_on_start", "do_train", "do_eval", "save_strategy", "save_steps", "save_total_limit", "save_on_error",
        "output_dir", "logging_dir", "resume_from_checkpoint", "init_from", "seed",
        "sample_length", "sample_temperature", "headless", "device", "threads", "ddp_comm_dtype",
        "zero_stage", "ddp_timeout", "delay",
        "no_color", "no-color", "no_unicode", "no-unicode", "compare", "config", "help",
        "version",
    };
    const char *h = cfg_help_text();
    cr_assert(strncmp(h, "usage: mptui", 12) == 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "  --%s ", names[i]);
        cr_assert_not_null(strstr(h, want), "--help lacks --%s", names[i]);
        /* every listed option is also accepted */
        mp_config c = fresh();
        char err[256] = "";
        cfg_set(&c, names[i], NULL, err, sizeof err); /* flags succeed, others want a value */
        cr_assert(strncmp(err, "unknown", 7) != 0, "cfg_set does not know %s", names[i]);
    }
    const char *groups[] = {"\nModel:\n", "\nData:\n", "\nPrecision:\n", "\nLoss scaling:\n",
                            "\nOptimizer:\n", "\nSchedule:\n", "\nCheckpoints and logs:\n",
                            "\nRun:\n"};
    const char *prev = h;
    for (size_t i = 0; i < 8; i++) {
        const char *g = strstr(h, groups[i]);
        cr_assert_not_null(g, "no group %s", groups[i]);
        cr_assert(g > prev, "group %s out of order", groups[i]);
        prev = g;
    }
    cr_assert_not_null(strstr(h, "--max_steps N"));
    cr_assert_not_null(strstr(h, "[default: 2000]"));
    cr_assert_not_null(strstr(h, "[default: ./mptui-output]"));
    cr_assert_not_null(strstr(h, "--precision fp32|fp16|bf16"));
}

Test(config, cfg_set_by_name)
{
    mp_config c = fresh();
    char err[256];
    cr_assert_eq(cfg_set(&c, "max_steps", "77", err, sizeof err), 0);
    cr_assert_eq(c.max_steps, 77);
    cr_assert_eq(cfg_set(&c, "headless", NULL, err, sizeof err), 0);
    cr_assert_eq(c.headless, 1);
    cr_assert_eq(cfg_set(&c, "lr", "1", err, sizeof err), -1);
    cr_assert_str_eq(err, "unknown option '--lr' (see --help)");
    cr_assert_eq(cfg_set(&c, "max_steps", NULL, err, sizeof err), -1);
    cr_assert_str_eq(err, "--max_steps: missing value");
}

Test(config, file_and_cli_precedence, .init = setup_dir, .fini = teardown_dir)
{
    const char *p = write_tmp("run.cfg", "# a run\n"
                                         "\n"
                                         "max_steps = 300\n"
                                         "   learning_rate=5e-4   \n"
                                         "  # indented comment\n"
                                         "headless\n"
                                         "no_color = true\n"
                                         "--bf16 = 1\n"
                                         "override = lm_head=fp32\n"
                                         "data = my data.txt\n");
    mp_config c = fresh();
    /* --config comes after --max_steps on the line, yet the command line wins */
    cr_assert_eq(parse(&c, "--max_steps", "40", "--config", (char *)p, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.max_steps, 40);
    cr_assert_eq(c.learning_rate, 5e-4);
    cr_assert_eq(c.headless, 1);
    cr_assert_eq(c.no_color, 1);
    cr_assert_eq(c.precision, DT_BF16);
    cr_assert_eq(c.n_overrides, 1);
    cr_assert_str_eq(c.data, "my data.txt");
    cr_assert_str_eq(c.config_file, p);
    /* a flag in the file may be turned off on the command line */
    c = fresh();
    cr_assert_eq(parse(&c, "--config", (char *)p, "--headless=false", "--precision", "fp32", NULL),
                 CFG_OK);
    cr_assert_eq(c.headless, 0);
    cr_assert_eq(c.precision, DT_F32);
}

static void expect_file_err(const char *text, const char *want_suffix)
{
    const char *p = write_tmp("run.cfg", text);
    mp_config c = fresh(), before = c;
    char err[512], want[600];
    cr_assert_eq(cfg_load_file(&c, p, err, sizeof err), -1, "no error for %s", text);
    snprintf(want, sizeof want, "%s%s", p, want_suffix);
    cr_assert_str_eq(err, want);
    cr_assert_eq(memcmp(&c, &before, sizeof c), 0, "a failed load changed the config");
}

Test(config, file_errors, .init = setup_dir, .fini = teardown_dir)
{
    expect_file_err("# x\nmax_steps = 5\nlr = 1\n", ":3: unknown option 'lr'");
    expect_file_err("max_steps = abc\n", ":1: max_steps: 'abc' is not an integer");
    expect_file_err("\n\nmax_steps\n", ":3: max_steps: expected 'max_steps = value'");
    expect_file_err("max_steps = 10 # comment\n", ":1: max_steps: '10 # comment' is not an integer");
    expect_file_err("config = other.cfg\n", ":1: 'config' is allowed on the command line only");
    expect_file_err("headless = perhaps\n",
                    ":1: headless: 'perhaps' is not a boolean (true, false, 1, 0)");
    expect_file_err("fp16 = true\nbf16 = true\n",
                    ": --fp16 and --bf16 both given: choose one (or --precision)");

    char err[512];
    mp_config c = fresh();
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.cfg", tmpdir);
    cr_assert_eq(cfg_load_file(&c, missing, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s: cannot open config file: No such file or directory", missing);
    cr_assert_str_eq(err, want);
    /* the same error through the command line */
    cr_assert_eq(parse(&c, "--config", missing, NULL), CFG_ERR);
    cr_assert_str_eq(msg, want);
    /* --help still wins over a bad config file */
    cr_assert_eq(parse(&c, "--config", missing, "--help", NULL), CFG_EXIT_OK);
}

static void roundtrip(const mp_config *a)
{
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/written.cfg", tmpdir);
    cr_assert_eq(cfg_write_file(a, path, err, sizeof err), 0, "%s", err);
    mp_config b = fresh();
    cr_assert_eq(cfg_load_file(&b, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(b.precision, a->precision);
    cr_assert_eq(b.loss_scale, a->loss_scale);
    cr_assert_eq(b.static_scale, a->static_scale);
    cr_assert_eq(b.n_overrides, a->n_overrides);
    b.precision_from_cli = a->precision_from_cli; /* where the value came from, not a value */
    b.shape_given = a->shape_given;
    cr_assert_eq(memcmp(a, &b, sizeof b), 0, "read back differs");
}

Test(config, write_read_roundtrip, .init = setup_dir, .fini = teardown_dir)
{
    mp_config a = fresh();
    roundtrip(&a);
    cr_assert_eq(parse(&a, "--n_layer", "2", "--n_head", "2", "--n_embd", "64", "--block_size",
                       "32", "--vocab_size", "256", "--data", "d.txt", "--val_data", "v.txt",
                       "--validation_split_percentage", "5", "--bf16", "--bf16_full_eval",
                       "--override", "lm_head=fp32,h.*=inherit", "--loss_scale", "0.1",
                       "--init_scale", "1024", "--growth_factor", "4", "--backoff_factor",
                       "0.25", "--growth_interval", "7", "--min_loss_scale", "1.5",
                       "--learning_rate", "0.1", "--adam_beta1", "0.8", "--adam_beta2", "0.95",
                       "--adam_epsilon", "1e-6", "--weight_decay", "0.01", "--max_grad_norm",
                       "0", "--lr_scheduler_type", "constant", "--warmup_steps", "3",
                       "--max_steps", "-1", "--num_train_epochs", "0.3",
                       "--per_device_train_batch_size", "3", "--per_device_eval_batch_size",
                       "5", "--gradient_accumulation_steps", "2", "--logging_steps", "1",
                       "--eval_strategy", "epoch", "--eval_steps", "0", "--eval_max_batches",
                       "0", "--save_strategy", "no", "--save_steps", "9", "--save_total_limit",
                       "0", "--save_on_error", "stop", "--output_dir", "o", "--logging_dir",
                       "l", "--resume_from_checkpoint", "latest", "--init_from", "i", "--seed",
                       "123456789012345", "--sample_length", "0", "--sample_temperature", "0",
                       "--headless", "--device", "cuda", "--threads", "3", "--delay", "7",
                       "--no_color", "--no_unicode", "--compare", "bf16,fp16,fp32", NULL),
                 CFG_OK, "%s", msg);
    char err[256];
    mp_config v = a;
    v.init_from[0] = '\0'; /* with --resume_from_checkpoint it is refused (test below) */
    cr_assert_eq(cfg_validate(&v, err, sizeof err), 0, "%s", err);
    roundtrip(&a);
    cr_assert_eq(parse(&a, "--loss_scale", "none", NULL), CFG_OK);
    roundtrip(&a); /* a static_scale left over must not turn the scale back to static */

    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.cfg", tmpdir);
    cr_assert_eq(cfg_write_file(&a, bad, err, sizeof err), -1);
    char want[400];
    snprintf(want, sizeof want, "%s: cannot write config file: No such file or directory", bad);
    cr_assert_str_eq(err, want);
}

Test(config, validate)
{
    char err[256];
    mp_config c = fresh();
    c.n_embd = 130;
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--n_embd 130 is not divisible by --n_head 4");
    c = fresh();
    c.fp16_full_eval = c.bf16_full_eval = 1;
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--fp16_full_eval and --bf16_full_eval both set: choose one");
    c = fresh();
    c.block_size = 1; /* fields set directly are range-checked too */
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--block_size: '1' must be between 2 and 1048576");
    c = fresh();
    c.adam_epsilon = NAN;
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--adam_epsilon: 'nan' must be > 0");
    c = fresh();
    c.output_dir[0] = '\0';
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--output_dir: must not be empty");
    c = fresh();
    c.min_loss_scale = 1e6;
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--min_loss_scale 1e+06 is above --init_scale 65536");
    c = fresh();
    c.loss_scale = LS_STATIC;
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--loss_scale: a static scale must be a positive number");
}

/* ---- hostile config files: FIFOs and devices, a BOM, a NUL, terminal escapes ---- */

#include <sys/stat.h>

static const char *write_tmp_bytes(const char *name, const char *bytes, size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
    return path;
}

/* A FIFO without a writer blocked the open forever; /dev/zero was read without end. */
Test(config, fifo_and_device_refused, .init = setup_dir, .fini = teardown_dir)
{
    test_deadline(20);
    char fifo[300], err[512], want[700];
    snprintf(fifo, sizeof fifo, "%s/run.cfg", tmpdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    mp_config c = fresh();
    cr_assert_eq(cfg_load_file(&c, fifo, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot read config file: it is a FIFO, not a regular file; "
             "give --config a regular file", fifo);
    cr_assert_str_eq(err, want);
    cr_assert_eq(parse(&c, "--config", fifo, NULL), CFG_ERR);
    cr_assert_str_eq(msg, want);
    cr_assert_eq(parse(&c, "--config", "/dev/zero", NULL), CFG_ERR);
    cr_assert_str_eq(msg, "/dev/zero: cannot read config file: it is a character device, not a "
                     "regular file; give --config a regular file");
}

/* Notepad's UTF-8 files start with EF BB BF: the first line's name was "\xEF\xBB\xBFmax_steps". */
Test(config, bom_is_skipped, .init = setup_dir, .fini = teardown_dir)
{
    const char text[] = "\xEF\xBB\xBFmax_steps = 7\r\nlearning_rate = 0.5\n";
    const char *p = write_tmp_bytes("bom.cfg", text, sizeof text - 1);
    mp_config c = fresh();
    char err[512] = "";
    cr_assert_eq(cfg_load_file(&c, p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.max_steps, 7);
    cr_assert_eq(c.learning_rate, 0.5);
    /* only at the start of the file */
    const char late[] = "max_steps = 7\n\xEF\xBB\xBFlearning_rate = 0.5\n";
    p = write_tmp_bytes("late.cfg", late, sizeof late - 1);
    cr_assert_eq(cfg_load_file(&c, p, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:2: unknown option '\xEF\xBB\xBFlearning_rate'", p);
    cr_assert_str_eq(err, want);
}

/* A NUL cut the line short silently ("max_steps = 7\0junk" read as 7). */
Test(config, nul_byte_is_an_error_naming_the_line, .init = setup_dir, .fini = teardown_dir)
{
    const char text[] = "# run\nmax_steps = 7\nlearning_rate = 0.5\0junk\n";
    const char *p = write_tmp_bytes("nul.cfg", text, sizeof text - 1);
    mp_config c = fresh(), before = c;
    char err[512], want[600];
    cr_assert_eq(cfg_load_file(&c, p, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:3: a NUL byte; a config file is text, one 'name = value' "
             "per line", p);
    cr_assert_str_eq(err, want);
    cr_assert_eq(memcmp(&c, &before, sizeof c), 0, "a failed load changed the config");
}

/* A name holding ESC ] 0 ; ... BEL retitled the terminal, ESC [ 2 J cleared it, through the
 * error line. Control bytes are echoed as \xNN; other bytes (UTF-8) as they are. */
Test(config, control_bytes_escaped_in_messages, .init = setup_dir, .fini = teardown_dir)
{
    const char text[] = "\x1b]0;pwned\x07\x1b[2Jmax_step\x7f = 1\n";
    const char *p = write_tmp_bytes("esc.cfg", text, sizeof text - 1);
    mp_config c = fresh();
    char err[512], want[600];
    cr_assert_eq(cfg_load_file(&c, p, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s:1: unknown option '\\x1b]0;pwned\\x07\\x1b[2Jmax_step\\x7f'", p);
    cr_assert_str_eq(err, want);
    const char value[] = "max_steps = 1\x1b[2J\n";
    p = write_tmp_bytes("val.cfg", value, sizeof value - 1);
    cr_assert_eq(cfg_load_file(&c, p, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:1: max_steps: '1\\x1b[2J' is not an integer", p);
    cr_assert_str_eq(err, want);
    /* the command line too: names, values and stray arguments */
    expect_err("unknown option '--\\x1b[2Jx' (see --help)", "--\x1b[2Jx", NULL);
    expect_err("--max_steps: '5\\x1b]0;t\\x07' is not an integer", "--max_steps", "5\x1b]0;t\x07",
               NULL);
    expect_err("unexpected argument 'a\\x09b\\x0a' (options start with --; see --help)",
               "a\tb\n", NULL);
}

/* ---- issue 11: the older eval name, fp32-range scales, conflicting sources ---- */

Test(config, evaluation_strategy_is_an_alias, .init = setup_dir, .fini = teardown_dir)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--evaluation_strategy", "no", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.eval_strategy, STRAT_NO);
    c = fresh();
    cr_assert_eq(parse(&c, "--evaluation_strategy=epoch", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.eval_strategy, STRAT_EPOCH);
    /* it counts as an explicit strategy: eval_steps alone does not turn it into steps */
    c = fresh();
    cr_assert_eq(parse(&c, "--eval_steps", "50", "--evaluation_strategy", "no", NULL), CFG_OK);
    cr_assert_eq(c.eval_strategy, STRAT_NO);
    const char *p = write_tmp("hf.cfg", "evaluation_strategy = no\neval_steps = 7\n");
    c = fresh();
    cr_assert_eq(parse(&c, "--config", (char *)p, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.eval_strategy, STRAT_NO);
    cr_assert_eq(c.eval_steps, 7);
    expect_err("--evaluation_strategy: 'sometimes' is not one of no, steps, epoch",
               "--evaluation_strategy", "sometimes", NULL);
}

Test(config, loss_scales_beyond_fp32_are_refused)
{
    expect_err("--init_scale: '1e39' must be in (0, 3.4028234663852886e+38]", "--init_scale",
               "1e39", NULL);
    expect_err("--loss_scale: '1e39' is beyond the fp32 range (at most 3.4028235e+38)",
               "--loss_scale", "1e39", NULL);
    expect_err("--static_scale: '4e38' is beyond the fp32 range (at most 3.4028235e+38)",
               "--static_scale", "4e38", NULL);
    expect_err("--min_loss_scale: '1e300' must be between 0 and 3.4028234663852886e+38",
               "--min_loss_scale", "1e300", NULL);
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--loss_scale", "3.4e38", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.static_scale, 3.4e38);
}

Test(config, a_second_config_is_refused, .init = setup_dir, .fini = teardown_dir)
{
    const char *a = write_tmp("a.cfg", "max_steps = 5\n");
    char pa[256];
    snprintf(pa, sizeof pa, "%s", a);
    const char *b = write_tmp("b.cfg", "max_steps = 6\n");
    char want[768];
    snprintf(want, sizeof want, "--config: a second config file ('%s' after '%s'); give one "
             "--config and the rest as options", b, pa);
    expect_err(want, "--config", pa, "--config", (char *)b, NULL);
    snprintf(want, sizeof want, "--config_file: a second config file ('%s' after '%s'); give "
             "one --config and the rest as options", b, pa);
    expect_err(want, "--config", pa, "--config_file", (char *)b, NULL);
}

Test(config, resume_with_init_from_is_refused)
{
    char err[256];
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--resume_from_checkpoint", "latest", "--init_from", "x", NULL), CFG_OK);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--resume_from_checkpoint and --init_from both given: resume restores "
                          "the whole run, init_from only weights; choose one");
}

Test(config, override_matching_no_layer_is_a_bad_option)
{
    char err[256];
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--override", "h.3.mlp.c_fc=fp32", NULL), CFG_OK);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), 0, "%s", err); /* 4 layers: h.3 exists */
    c = fresh();
    cr_assert_eq(parse(&c, "--n_layer", "2", "--override", "lm_head=fp32,h.3.mlp.c_fc=fp32",
                       NULL), CFG_OK);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--override 'h.3.mlp.c_fc': no layer of this model matches (names "
                          "like lm_head, h.0.mlp.c_fc, h.*.attn)");
    c = fresh();
    cr_assert_eq(parse(&c, "--override", "wte=bf16", NULL), CFG_OK);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--override 'wte': wte always runs in fp32");
}

Test(config, precision_on_the_command_line_is_marked, .init = setup_dir, .fini = teardown_dir)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, NULL), CFG_OK);
    cr_assert_eq(c.precision_from_cli, 0);
    const char *p = write_tmp("p.cfg", "precision = bf16\n");
    c = fresh();
    cr_assert_eq(parse(&c, "--config", (char *)p, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.precision_from_cli, 0); /* a saved config lists every option */
    const char *flags[] = {"--bf16", "--fp16", "--precision=fp32"};
    for (int i = 0; i < 3; i++) {
        c = fresh();
        cr_assert_eq(parse(&c, (char *)flags[i], NULL), CFG_OK, "%s", msg);
        cr_assert_eq(c.precision_from_cli, 1, "%s", flags[i]);
    }
}

/* The dtype lists in --help and in the errors are the dtype table's: a new row shows up in
 * every message, and the help lines (written out in the option table) must list it too. */
Test(config, dtype_lists_follow_the_table)
{
    char names[64], want[160];
    const char *h = cfg_help_text();
    snprintf(want, sizeof want, "--precision %s ", dtype_names_joined("|", names, sizeof names));
    cr_assert_not_null(strstr(h, want), "help lacks '%s'", want);
    snprintf(want, sizeof want, "per-layer dtype (%s|inherit)",
             dtype_names_joined("|", names, sizeof names));
    cr_assert_not_null(strstr(h, want), "help lacks '%s'", want);
    expect_err("--precision: '\\x1b[2J' is not one of fp32, fp16, bf16, fp8", "--precision",
               "\x1b[2J", NULL);
    for (int d = 0; d < DT_COUNT; d++) {
        const dtype_info *i = dtype_info_of((dtype_t)d);
        mp_config c = fresh();
        cr_assert_eq(parse(&c, "--precision", i->alias, NULL), CFG_OK, "%s", msg);
        cr_assert_eq(c.precision, (dtype_t)d);
        char ov[64];
        snprintf(ov, sizeof ov, "lm_head=%s", i->alias);
        cr_assert_eq(parse(&c, "--override", ov, NULL), CFG_OK, "%s", msg);
        cr_assert_eq(c.overrides[c.n_overrides - 1].dtype, d);
    }
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--compare", "BFloat16,float32", NULL), CFG_OK, "%s", msg);
    cr_assert_str_eq(c.compare, "bf16,fp32");
}

/* ---- --do_train, --do_eval, --eval_on_start (docs/options.md, "Evaluation only") ---- */

/* do_eval is Hugging Face's: unset, it follows eval_strategy; given, it is what was given. */
Test(config, do_eval_follows_eval_strategy_unless_given)
{
    mp_config c = fresh();
    cr_assert_eq(cfg_do_eval(&c), 1);
    cr_assert_eq(parse(&c, "--eval_strategy", "no", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_eval, -1);
    cr_assert_eq(cfg_do_eval(&c), 0);
    cr_assert_eq(parse(&c, "--do_eval", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_eval, 1);
    cr_assert_eq(cfg_do_eval(&c), 1);
    c = fresh();
    cr_assert_eq(parse(&c, "--do_eval", "false", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_eval, 0);
    cr_assert_eq(cfg_do_eval(&c), 0);
    cr_assert_eq(parse(&c, "--do_eval", "auto", "--eval_strategy", "epoch", NULL), CFG_OK, "%s",
                 msg);
    cr_assert_eq(c.do_eval, -1);
    cr_assert_eq(cfg_do_eval(&c), 1);
    cr_assert_eq(parse(&c, "--do_eval=True", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_eval, 1);
    cr_assert_eq(parse(&c, "--do_eval=auto", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_eval, -1);
}

Test(config, do_train_and_eval_on_start_flags)
{
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--do_train", "false", "--eval_on_start", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_train, 0);
    cr_assert_eq(c.eval_on_start, 1);
    cr_assert_eq(parse(&c, "--do_train", "--eval_on_start=0", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_train, 1);
    cr_assert_eq(c.eval_on_start, 0);
}

Test(config, do_eval_bad_values)
{
    expect_err("--do_eval: 'maybe' is not a boolean (true, false, 1, 0) or auto", "--do_eval=maybe",
               NULL);
    expect_err("--do_train: 'auto' is not a boolean (true, false, 1, 0)", "--do_train=auto", NULL);
    /* after a flag only a boolean (or auto for do_eval) is its value */
    expect_err("unexpected argument 'maybe' (options start with --; see --help)", "--do_eval",
               "maybe", NULL);
}

Test(config, do_options_in_a_config_file, .init = setup_dir, .fini = teardown_dir)
{
    const char *p = write_tmp("e.cfg", "do_train = false\ndo_eval\neval_on_start = yes\n");
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--config", (char *)p, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_train, 0);
    cr_assert_eq(c.do_eval, 1);
    cr_assert_eq(c.eval_on_start, 1);
    /* the command line wins */
    cr_assert_eq(parse(&c, "--config", (char *)p, "--do_eval", "auto", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.do_eval, -1);
    p = write_tmp("bad.cfg", "do_eval = sometimes\n");
    c = fresh();
    cr_assert_eq(parse(&c, "--config", (char *)p, NULL), CFG_ERR);
    char want[300];
    snprintf(want, sizeof want, "%s:1: do_eval: 'sometimes' is not a boolean (true, false, 1, 0) "
             "or auto", p);
    cr_assert_str_eq(msg, want);
}

Test(config, do_options_round_trip, .init = setup_dir, .fini = teardown_dir)
{
    const char *v[] = {"auto", "true", "false"};
    for (int i = 0; i < 3; i++) {
        mp_config a = fresh();
        cr_assert_eq(parse(&a, "--do_eval", v[i], "--do_train", "false", "--eval_on_start", NULL),
                     CFG_OK, "%s", msg);
        cr_assert_eq(a.do_eval, i == 0 ? -1 : i == 1 ? 1 : 0);
        roundtrip(&a);
    }
}

/* Nothing to do, or resuming into a run that trains nothing: one line each. */
Test(config, do_train_false_needs_an_eval)
{
    char err[256];
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--do_train", "false", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), 0, "%s", err); /* eval_strategy steps */
    cr_assert_eq(parse(&c, "--do_eval", "false", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--do_train false with --do_eval false: nothing to do; give --do_eval "
                          "to evaluate without training, or drop --do_train false");
    c = fresh();
    cr_assert_eq(parse(&c, "--do_train", "false", "--eval_strategy", "no", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--do_train false with --eval_strategy no: nothing to do; add --do_eval "
                          "to evaluate without training");
    cr_assert_eq(parse(&c, "--do_eval", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(parse(&c, "--resume_from_checkpoint", "latest", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--resume_from_checkpoint with --do_train false: resuming continues "
                          "training; to evaluate a checkpoint's weights give --init_from DIR");
    /* with training, do_eval false and eval_on_start with no eval strategy are fine */
    c = fresh();
    cr_assert_eq(parse(&c, "--do_eval", "false", "--eval_strategy", "no", "--eval_on_start", NULL),
                 CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), 0, "%s", err);
}

/* ---- --model_name_or_path ---- */

static void model_dir(const char *json, char *dir, size_t len)
{
    snprintf(dir, len, "%s/gpt", tmpdir);
    mkdir(dir, 0755);
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(json, f);
    fclose(f);
}

static const char *small_gpt = "{\"model_type\": \"gpt2\", \"n_layer\": 6, \"n_head\": 4, "
                               "\"n_embd\": 64, \"n_positions\": 96, \"vocab_size\": 1000}";

Test(config, model_folder_sets_the_shape, .init = setup_dir, .fini = teardown_dir)
{
    char dir[128], slash[160], err[256];
    model_dir(small_gpt, dir, sizeof dir);
    snprintf(slash, sizeof slash, "%s//", dir);
    mp_config c = fresh();
    /* an override of block 5 exists only in the folder's 6-layer model, not in the default 4 */
    cr_assert_eq(parse(&c, "--model_name_or_path", slash, "--override", "h.5.mlp.c_fc=fp32",
                       NULL), CFG_OK, "%s", msg);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(c.model_name_or_path, dir, "the trailing '/' is dropped");
    cr_assert_eq(c.n_layer, 6);
    cr_assert_eq(c.n_head, 4);
    cr_assert_eq(c.n_embd, 64);
    cr_assert_eq(c.vocab_size, 1000);
    cr_assert_eq(c.n_positions, 96);
    cr_assert_eq(c.block_size, 96, "block_size not given: n_positions");
    /* GPT-2's 1024 positions are the cap, as run_clm.py's default */
    model_dir("{\"model_type\": \"gpt2\", \"n_positions\": 2048}", dir, sizeof dir);
    c = fresh();
    cr_assert_eq(parse(&c, "--model_name_or_path", dir, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.block_size, 1024);
    cr_assert_eq(c.n_positions, 2048);
    cr_assert_eq(c.n_layer, 12, "GPT2Config's default");
    /* no folder: nothing changes */
    c = fresh();
    cr_assert_eq(parse(&c, "--n_layer", "3", NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.n_positions, 0);
    cr_assert_eq(c.shape_given, CFG_GIVEN_N_LAYER);
}

Test(config, model_folder_and_shape_options, .init = setup_dir, .fini = teardown_dir)
{
    char dir[128], want[512], cfgf[256];
    model_dir(small_gpt, dir, sizeof dir);
    mp_config c = fresh();
    /* agreeing options and a shorter block are fine */
    cr_assert_eq(parse(&c, "--n_layer", "6", "--vocab_size", "1000", "--block_size", "32",
                       "--model_name_or_path", dir, NULL), CFG_OK, "%s", msg);
    cr_assert_eq(c.block_size, 32);
    cr_assert_eq(c.n_positions, 96);
    snprintf(want, sizeof want, "--n_layer 4 disagrees with %s/config.json (n_layer 6); drop the "
             "option or give the folder's value", dir);
    expect_err(want, "--model_name_or_path", dir, "--n_layer", "4", NULL);
    snprintf(want, sizeof want, "--vocab_size 50257 disagrees with %s/config.json (vocab_size "
             "1000); drop the option or give the folder's value", dir);
    expect_err(want, "--model_name_or_path", dir, "--vocab_size", "50257", NULL);
    snprintf(want, sizeof want, "--block_size 97 is larger than %s/config.json's n_positions 96 "
             "(the model's positions); give at most 96", dir);
    expect_err(want, "--model_name_or_path", dir, "--block_size", "97", NULL);
    /* a config file gives options too */
    snprintf(cfgf, sizeof cfgf, "%s/run.cfg", tmpdir);
    FILE *f = fopen(cfgf, "w");
    fprintf(f, "n_head = 8\nmodel_name_or_path = %s\n", dir);
    fclose(f);
    snprintf(want, sizeof want, "--n_head 8 disagrees with %s/config.json (n_head 4); drop the "
             "option or give the folder's value", dir);
    expect_err(want, "--config", cfgf, NULL);
}

Test(config, model_folder_errors, .init = setup_dir, .fini = teardown_dir)
{
    char dir[128], want[512], err[512];
    expect_err("--model_name_or_path gpt2: no such folder; mptui reads a local folder, it "
               "downloads nothing (e.g. huggingface-cli download gpt2 --local-dir gpt2)",
               "--model_name_or_path", "gpt2", NULL);
    model_dir(small_gpt, dir, sizeof dir);
    char file[160];
    snprintf(file, sizeof file, "%s/config.json", dir);
    snprintf(want, sizeof want, "--model_name_or_path %s: not a folder; give the folder that "
             "holds config.json and model.safetensors", file);
    expect_err(want, "--model_name_or_path", file, NULL);
    model_dir("{\"model_type\": \"gpt2\", \"n_layer\": 100}", dir, sizeof dir);
    snprintf(want, sizeof want, "%s/config.json: n_layer 100 is outside what mptui supports "
             "(--n_layer must be between 1 and 64)", dir);
    expect_err(want, "--model_name_or_path", dir, NULL);
    model_dir("{\"model_type\": \"gpt2\", \"n_positions\": 1}", dir, sizeof dir);
    snprintf(want, sizeof want, "%s/config.json: n_positions 1 is outside what mptui supports "
             "(--block_size must be between 2 and 1048576)", dir);
    expect_err(want, "--model_name_or_path", dir, NULL);
    model_dir("{\"model_type\": \"bert\"}", dir, sizeof dir);
    snprintf(want, sizeof want, "%s/config.json: model_type \"bert\" is not supported: mptui "
             "trains GPT-2 (\"gpt2\") models only", dir);
    expect_err(want, "--model_name_or_path", dir, NULL);
    /* starting weights from two places */
    model_dir(small_gpt, dir, sizeof dir);
    mp_config c = fresh();
    cr_assert_eq(parse(&c, "--model_name_or_path", dir, "--init_from", "x", NULL), CFG_OK);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), -1);
    cr_assert_str_eq(err, "--model_name_or_path and --init_from both give starting weights; "
                          "choose one (a checkpoint folder works as --model_name_or_path)");
    c = fresh();
    cr_assert_eq(parse(&c, "--model_name_or_path", dir, "--resume_from_checkpoint", "latest",
                       NULL), CFG_OK);
    cr_assert_eq(cfg_validate(&c, err, sizeof err), 0, "%s", err);
}
