/* query/funcs_table.c -- the descriptors of every PromQL function (names, argument and return types).
 * Design: see ast.h. Mirrors Prometheus 3.14's promql/parser/functions.go. */
#include <string.h>

#include "query/ast.h"

#define V EM_VTYPE_VECTOR
#define M EM_VTYPE_MATRIX
#define S EM_VTYPE_SCALAR
#define STR EM_VTYPE_STRING

/* FN(ID, name, number of argument types, experimental, return type, variadic, argument types...) */
#define FN(id_, name_, n_, exp_, ret_, var_, ...)                                                            \
    [EM_FN_##id_] = {.id = EM_FN_##id_,                                                                      \
                     .name = name_,                                                                          \
                     .arg_types = {__VA_ARGS__},                                                             \
                     .n_args = n_,                                                                           \
                     .variadic = var_,                                                                       \
                     .ret = ret_,                                                                            \
                     .experimental = exp_}

static const em_func_t funcs[EM_FN__COUNT] = {
    FN(ABS, "abs", 1, false, V, 0, V),
    FN(ABSENT, "absent", 1, false, V, 0, V),
    FN(ABSENT_OVER_TIME, "absent_over_time", 1, false, V, 0, M),
    FN(ACOS, "acos", 1, false, V, 0, V),
    FN(ACOSH, "acosh", 1, false, V, 0, V),
    FN(ASIN, "asin", 1, false, V, 0, V),
    FN(ASINH, "asinh", 1, false, V, 0, V),
    FN(ATAN, "atan", 1, false, V, 0, V),
    FN(ATANH, "atanh", 1, false, V, 0, V),
    FN(AVG_OVER_TIME, "avg_over_time", 1, false, V, 0, M),
    FN(CEIL, "ceil", 1, false, V, 0, V),
    FN(CHANGES, "changes", 1, false, V, 0, M),
    FN(CLAMP, "clamp", 3, false, V, 0, V, S, S),
    FN(CLAMP_MAX, "clamp_max", 2, false, V, 0, V, S),
    FN(CLAMP_MIN, "clamp_min", 2, false, V, 0, V, S),
    FN(COS, "cos", 1, false, V, 0, V),
    FN(COSH, "cosh", 1, false, V, 0, V),
    FN(COUNT_OVER_TIME, "count_over_time", 1, false, V, 0, M),
    FN(DAY_OF_MONTH, "day_of_month", 1, false, V, 1, V),
    FN(DAY_OF_WEEK, "day_of_week", 1, false, V, 1, V),
    FN(DAY_OF_YEAR, "day_of_year", 1, false, V, 1, V),
    FN(DAYS_IN_MONTH, "days_in_month", 1, false, V, 1, V),
    FN(DEG, "deg", 1, false, V, 0, V),
    FN(DELTA, "delta", 1, false, V, 0, M),
    FN(DERIV, "deriv", 1, false, V, 0, M),
    FN(DOUBLE_EXPONENTIAL_SMOOTHING, "double_exponential_smoothing", 3, true, V, 0, M, S, S),
    FN(END, "end", 0, true, S, 0, EM_VTYPE_NONE),
    FN(EXP, "exp", 1, false, V, 0, V),
    FN(FIRST_OVER_TIME, "first_over_time", 1, false, V, 0, M),
    FN(FLOOR, "floor", 1, false, V, 0, V),
    FN(HISTOGRAM_AVG, "histogram_avg", 1, false, V, 0, V),
    FN(HISTOGRAM_COUNT, "histogram_count", 1, false, V, 0, V),
    FN(HISTOGRAM_FRACTION, "histogram_fraction", 3, false, V, 0, S, S, V),
    FN(HISTOGRAM_QUANTILE, "histogram_quantile", 2, false, V, 0, S, V),
    FN(HISTOGRAM_QUANTILES, "histogram_quantiles", 4, true, V, 9, V, STR, S, S),
    FN(HISTOGRAM_STDDEV, "histogram_stddev", 1, false, V, 0, V),
    FN(HISTOGRAM_STDVAR, "histogram_stdvar", 1, false, V, 0, V),
    FN(HISTOGRAM_SUM, "histogram_sum", 1, false, V, 0, V),
    FN(HOUR, "hour", 1, false, V, 1, V),
    FN(IDELTA, "idelta", 1, false, V, 0, M),
    FN(INCREASE, "increase", 1, false, V, 0, M),
    FN(INFO, "info", 2, true, V, 1, V, V),
    FN(IRATE, "irate", 1, false, V, 0, M),
    FN(LABEL_JOIN, "label_join", 4, false, V, -1, V, STR, STR, STR),
    FN(LABEL_REPLACE, "label_replace", 5, false, V, 0, V, STR, STR, STR, STR),
    FN(LAST_OVER_TIME, "last_over_time", 1, false, V, 0, M),
    FN(LN, "ln", 1, false, V, 0, V),
    FN(LOG10, "log10", 1, false, V, 0, V),
    FN(LOG2, "log2", 1, false, V, 0, V),
    FN(MAD_OVER_TIME, "mad_over_time", 1, true, V, 0, M),
    FN(MAX_OF, "max_of", 2, true, S, 0, S, S),
    FN(MAX_OVER_TIME, "max_over_time", 1, false, V, 0, M),
    FN(MIN_OF, "min_of", 2, true, S, 0, S, S),
    FN(MIN_OVER_TIME, "min_over_time", 1, false, V, 0, M),
    FN(MINUTE, "minute", 1, false, V, 1, V),
    FN(MONTH, "month", 1, false, V, 1, V),
    FN(PI, "pi", 0, false, S, 0, EM_VTYPE_NONE),
    FN(PREDICT_LINEAR, "predict_linear", 2, false, V, 0, M, S),
    FN(PRESENT_OVER_TIME, "present_over_time", 1, false, V, 0, M),
    FN(QUANTILE_OVER_TIME, "quantile_over_time", 2, false, V, 0, S, M),
    FN(RAD, "rad", 1, false, V, 0, V),
    FN(RANGE, "range", 0, true, S, 0, EM_VTYPE_NONE),
    FN(RATE, "rate", 1, false, V, 0, M),
    FN(RESETS, "resets", 1, false, V, 0, M),
    FN(ROUND, "round", 2, false, V, 1, V, S),
    FN(SCALAR, "scalar", 1, false, S, 0, V),
    FN(SGN, "sgn", 1, false, V, 0, V),
    FN(SIN, "sin", 1, false, V, 0, V),
    FN(SINH, "sinh", 1, false, V, 0, V),
    FN(SORT, "sort", 1, false, V, 0, V),
    FN(SORT_BY_LABEL, "sort_by_label", 2, true, V, -1, V, STR),
    FN(SORT_BY_LABEL_DESC, "sort_by_label_desc", 2, true, V, -1, V, STR),
    FN(SORT_DESC, "sort_desc", 1, false, V, 0, V),
    FN(SQRT, "sqrt", 1, false, V, 0, V),
    FN(START, "start", 0, true, S, 0, EM_VTYPE_NONE),
    FN(START_TIMESTAMP, "start_timestamp", 1, true, V, 0, V),
    FN(STDDEV_OVER_TIME, "stddev_over_time", 1, false, V, 0, M),
    FN(STDVAR_OVER_TIME, "stdvar_over_time", 1, false, V, 0, M),
    FN(STEP, "step", 0, true, S, 0, EM_VTYPE_NONE),
    FN(SUM_OVER_TIME, "sum_over_time", 1, false, V, 0, M),
    FN(TAN, "tan", 1, false, V, 0, V),
    FN(TANH, "tanh", 1, false, V, 0, V),
    FN(TIME, "time", 0, false, S, 0, EM_VTYPE_NONE),
    FN(TIMESTAMP, "timestamp", 1, false, V, 0, V),
    FN(TS_OF_FIRST_OVER_TIME, "ts_of_first_over_time", 1, true, V, 0, M),
    FN(TS_OF_LAST_OVER_TIME, "ts_of_last_over_time", 1, true, V, 0, M),
    FN(TS_OF_MAX_OVER_TIME, "ts_of_max_over_time", 1, true, V, 0, M),
    FN(TS_OF_MIN_OVER_TIME, "ts_of_min_over_time", 1, true, V, 0, M),
    FN(VECTOR, "vector", 1, false, V, 0, S),
    FN(YEAR, "year", 1, false, V, 1, V),
};

const em_func_t *em_func_lookup(const char *name, size_t n)
{
    for (size_t i = 0; i < EM_FN__COUNT; i++) {
        const char *fn = funcs[i].name;
        if (strncmp(fn, name, n) == 0 && fn[n] == '\0')
            return &funcs[i];
    }
    return NULL;
}

const em_func_t *em_func_get(em_func_id_t id)
{
    return (unsigned)id < EM_FN__COUNT ? &funcs[id] : NULL;
}
