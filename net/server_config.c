/* Design: see server.h. This file: the configuration the server runs with. */
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "ingest/scrape.h"
#include "net/server_int.h"

int server_config_load(em_server_t *s, em_err_t *err)
{
    em_config_t *cfg = NULL;
    int rc;
    if (s->o.config_file) {
        rc = em_config_load_file(s->o.config_file, &cfg, err);
    } else {
        char text[4096];
        em_config_default_text(s->o.listen, text, sizeof(text));
        rc = em_config_load_string(text, strlen(text), "(embedded default configuration)", &cfg, err);
    }
    if (rc != EM_OK)
        return rc;
    /* Rules are not evaluated yet; say so instead of accepting them silently. */
    if (cfg->rule_files.n)
        em_warn("main", "Rule evaluation is not supported yet: rule_files are ignored", "files=%zu",
                cfg->rule_files.n);
    pthread_mutex_lock(&s->config_mu);
    em_config_t *old = s->config;
    s->config = cfg;
    /* The scrape manager points into the configuration: switch it over before the old one goes. */
    if (s->scrape)
        em_scrape_manager_apply(s->scrape, cfg);
    pthread_mutex_unlock(&s->config_mu);
    em_config_free(old);
    return EM_OK;
}

void server_config_yaml(em_server_t *s, em_buf_t *out)
{
    pthread_mutex_lock(&s->config_mu);
    if (s->config)
        em_config_render_yaml(s->config, out);
    pthread_mutex_unlock(&s->config_mu);
}

void server_config_free(em_server_t *s)
{
    em_config_free(s->config);
    s->config = NULL;
}

em_labels_t server_external_labels(em_server_t *s, em_arena_t *a)
{
    em_labels_t out = {NULL, 0};
    pthread_mutex_lock(&s->config_mu);
    const em_config_t *cfg = s->config;
    if (cfg && cfg->global.external_labels.n) {
        const em_config_kvs_t *kv = &cfg->global.external_labels;
        em_label_t *v = em_arena_alloc(a, kv->n * sizeof(em_label_t));
        size_t n = 0;
        for (size_t i = 0; i < kv->n; i++) {
            if (!kv->v[i].value[0])
                continue; /* an empty value means the label is absent */
            v[n++] = (em_label_t){em_arena_strdup(a, kv->v[i].name), em_arena_strdup(a, kv->v[i].value)};
        }
        out = (em_labels_t){v, n};
    }
    pthread_mutex_unlock(&s->config_mu);
    return out;
}
