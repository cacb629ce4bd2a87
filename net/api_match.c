/* Design: see api.h. This file: match[] selectors to matchers, through the PromQL parser. */
#include "net/api.h"

int api_parse_matchers(const char *sel, em_matcher_t **out, size_t *n_out, em_err_t *err)
{
    /* The PromQL parser (query/parse.h em_promql_parse_selector) is wired in here when it lands. */
    (void)sel;
    (void)out;
    (void)n_out;
    return em_err_set(err, EM_EUNSUPPORTED, "series selectors are not supported by this build yet");
}
