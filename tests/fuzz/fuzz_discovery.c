/* Fuzz target: file SD documents (JSON and YAML) on arbitrary bytes, then relabelling and target label
 * building over every group that parses, as the scrape manager does with a discovered file. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"
#include "base/config.h"
#include "ingest/discovery.h"
#include "ingest/scrape.h"

static em_config_t *cfg;

static const char CONFIG[] =
    "scrape_configs:\n  - job_name: f\n    relabel_configs:\n"
    "      - {source_labels: [__meta_filepath, __address__], target_label: x}\n"
    "      - {regex: '__meta_(.*)', action: labelmap}\n"
    "      - {source_labels: [__address__], modulus: 3, target_label: s, action: hashmod}\n"
    "    static_configs: [{targets: ['a:1']}]\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg && em_config_load_string(CONFIG, strlen(CONFIG), "fuzz.yml", &cfg, NULL) != EM_OK)
        __builtin_trap();
    em_arena_t a;
    em_arena_init(&a);
    em_target_group_t *g;
    size_t n;
    const char *path = size && (data[0] & 1) ? "/sd/f.json" : "/sd/f.yml";
    if (em_discovery_parse_file(path, (const char *)data, size, &a, &g, &n, NULL) == EM_OK) {
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < g[i].n_targets; k++) {
                bool kept;
                em_labels_t ls, disc;
                if (em_scrape_target_labels(cfg->scrape_configs[0], &g[i].targets[k], &g[i].labels, &a, &kept,
                                            &ls, &disc, NULL) == EM_OK &&
                    kept) {
                    em_buf_t url = EM_BUF_INIT;
                    em_scrape_target_url(cfg->scrape_configs[0], &ls, &url);
                    em_buf_fini(&url);
                }
            }
        }
    }
    em_arena_fini(&a);
    return 0;
}
