/* Fuzz target: prometheus.yml parsing, validation, rendering and fingerprints on arbitrary bytes; what is
 * rendered must load again and render identically. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    em_config_t *cfg = NULL;
    em_err_t err;
    if (em_config_load_string((const char *)data, size, "fuzz.yml", &cfg, &err) != EM_OK)
        return 0;
    for (size_t i = 0; i < cfg->global.external_labels.n; i++)
        if (strchr(cfg->global.external_labels.v[i].value, '$')) {
            em_config_free(cfg);
            return 0; /* expanded values expand again when read back */
        }
    em_buf_t b = EM_BUF_INIT;
    em_config_render_yaml(cfg, &b);
    for (size_t i = 0; i < cfg->n_scrape_configs; i++)
        (void)em_config_scrape_fingerprint(cfg->scrape_configs[i]);
    /* What was printed must load again. */
    em_config_t *again = NULL;
    if (em_config_load_string(b.data, b.len, "rendered.yml", &again, &err) != EM_OK) {
        fprintf(stderr, "ROUNDTRIP FAIL: %s\n---\n%.*s\n", err.msg, (int)b.len, b.data);
        abort();
    }
    em_buf_t b2 = EM_BUF_INIT;
    em_config_render_yaml(again, &b2);
    if (b2.len != b.len || memcmp(b.data, b2.data, b.len) != 0) {
        fprintf(stderr, "RENDER DIFFERS\n---\n%.*s\n---\n%.*s\n", (int)b.len, b.data, (int)b2.len, b2.data);
        abort();
    }
    em_buf_fini(&b2);
    em_config_free(again);
    em_buf_fini(&b);
    em_config_free(cfg);
    return 0;
}
