/* Fuzz target: prometheus.yml parsing, validation, rendering and fingerprints on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    em_config_t *cfg = NULL;
    em_err_t err;
    if (em_config_load_string((const char *)data, size, "fuzz.yml", &cfg, &err) != EM_OK)
        return 0;
    em_buf_t b = EM_BUF_INIT;
    em_config_render_yaml(cfg, &b);
    for (size_t i = 0; i < cfg->n_scrape_configs; i++)
        (void)em_config_scrape_fingerprint(cfg->scrape_configs[i]);
    /* What was printed must load again. */
    em_config_t *again = NULL;
    if (em_config_load_string(b.data, b.len, "rendered.yml", &again, &err) == EM_OK)
        em_config_free(again);
    em_buf_fini(&b);
    em_config_free(cfg);
    return 0;
}
