/* Design: see server.h. This file: the configuration the server runs with. */
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/mem.h"
#include "net/server_int.h"

typedef struct config_text {
    em_buf_t text;
} config_text_t;

int server_config_load(em_server_t *s, em_err_t *err)
{
    config_text_t *c = EM_NEW(config_text_t);
    int rc = EM_OK;
    if (s->o.config_file)
        rc = em_read_file(s->o.config_file, 16u << 20, &c->text, err);
    else
        em_buf_puts(&c->text, "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n");
    if (rc != EM_OK) {
        em_buf_fini(&c->text);
        free(c);
        return rc;
    }
    pthread_mutex_lock(&s->config_mu);
    config_text_t *old = s->config;
    s->config = c;
    pthread_mutex_unlock(&s->config_mu);
    if (old) {
        em_buf_fini(&old->text);
        free(old);
    }
    return EM_OK;
}

void server_config_yaml(em_server_t *s, em_buf_t *out)
{
    pthread_mutex_lock(&s->config_mu);
    config_text_t *c = s->config;
    if (c && c->text.len)
        em_buf_append(out, c->text.data, c->text.len);
    pthread_mutex_unlock(&s->config_mu);
}

void server_config_free(em_server_t *s)
{
    config_text_t *c = s->config;
    if (c) {
        em_buf_fini(&c->text);
        free(c);
    }
    s->config = NULL;
}
