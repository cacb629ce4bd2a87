/* Loading prometheus.yml: the whole-file checks, defaults, rule files, fingerprints. Design: see config.h. */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/config_int.h"
#include "base/hash.h"
#include "base/mem.h"

/* ---------------------------------------------------------------------------------------------- */
/* Byte sizes (alecthomas/units, as Prometheus's body_size_limit and retention.size use it)         */

typedef struct unit {
    const char *name;
    double mult;
} unit_t;

static const unit_t iec_units[] = {{"B", 1},
                                   {"KiB", 1024.0},
                                   {"MiB", 1024.0 * 1024},
                                   {"GiB", 1024.0 * 1024 * 1024},
                                   {"TiB", 1024.0 * 1024 * 1024 * 1024},
                                   {"PiB", 1024.0 * 1024 * 1024 * 1024 * 1024},
                                   {"EiB", 1024.0 * 1024 * 1024 * 1024 * 1024 * 1024}};
static const unit_t old_units[] = {{"B", 1},
                                   {"KB", 1024.0},
                                   {"MB", 1024.0 * 1024},
                                   {"GB", 1024.0 * 1024 * 1024},
                                   {"TB", 1024.0 * 1024 * 1024 * 1024},
                                   {"PB", 1024.0 * 1024 * 1024 * 1024 * 1024},
                                   {"EB", 1024.0 * 1024 * 1024 * 1024 * 1024 * 1024}};

/* units.ParseUnit: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ with "0" alone meaning zero. */
static int parse_unit(const char *s, size_t n, const unit_t *units, int64_t *out, em_err_t *err)
{
    size_t i = 0;
    bool neg = false;
    double f = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (n - i == 1 && s[i] == '0') {
        *out = 0;
        return EM_OK;
    }
    if (i == n)
        return em_err_set(err, EM_EINVAL, "units: invalid %.*s", (int)n, s);
    while (i < n) {
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            return em_err_set(err, EM_EINVAL, "units: invalid %.*s", (int)n, s);
        double g = 0;
        size_t d0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            g = g * 10 + (s[i++] - '0');
        bool pre = i > d0, post = false;
        if (i < n && s[i] == '.') {
            i++;
            double scale = 1;
            size_t f0 = i;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                scale /= 10;
                g += (s[i++] - '0') * scale;
            }
            post = i > f0;
        }
        if (!pre && !post)
            return em_err_set(err, EM_EINVAL, "units: invalid %.*s", (int)n, s);
        size_t u0 = i;
        while (i < n && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9'))
            i++;
        const unit_t *u = NULL;
        for (size_t k = 0; k < 7; k++)
            if (strlen(units[k].name) == i - u0 && memcmp(units[k].name, s + u0, i - u0) == 0)
                u = &units[k];
        if (!u)
            return em_err_set(err, EM_EINVAL, "units: unknown unit %.*s in %.*s", (int)(i - u0), s + u0,
                              (int)n, s);
        f += g * u->mult;
    }
    if (neg)
        f = -f;
    if (f < -9223372036854775808.0 || f >= 9223372036854775808.0)
        return em_err_set(err, EM_EINVAL, "units: overflow parsing unit");
    *out = (int64_t)f;
    return EM_OK;
}

int em_bytes_parse(const char *s, size_t n, int64_t *bytes, em_err_t *err)
{
    if (parse_unit(s, n, iec_units, bytes, NULL) == EM_OK)
        return EM_OK;
    return parse_unit(s, n, old_units, bytes, err);
}

size_t em_bytes_format(int64_t bytes, char *out)
{
    static const char *const si[] = {"", "K", "M", "G", "T", "P", "E"};
    char parts[7][24] = {{0}};
    int64_t n = bytes;
    for (int i = 0; i < 7; i++) {
        if (n % 1024 != 0 || (i == 0 && n == 0))
            snprintf(parts[6 - i], sizeof(parts[0]), "%lld%s%s", (long long)(n % 1024), si[i],
                     i == 0 ? "B" : "iB");
        n /= 1024;
        if (n == 0)
            break;
    }
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < 7; i++)
        o += (size_t)snprintf(out + o, 32 - o, "%s", parts[i]);
    return o;
}

/* ---------------------------------------------------------------------------------------------- */
/* Environment expansion of external label values (Go's os.Expand, as Prometheus 3 applies it)     */

static bool shell_special(char ch)
{
    return strchr("*#$@!?-", ch) != NULL || (ch >= '0' && ch <= '9');
}

static bool alnum_(char ch)
{
    return ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* getShellName: the variable name after '$' in s and the bytes it spans (w), or name_len 0. */
static void shell_name(const char *s, size_t *name_off, size_t *name_len, size_t *w)
{
    *name_off = 0;
    *name_len = 0;
    if (s[0] == '{') {
        if (s[1] && shell_special(s[1]) && s[2] == '}') {
            *name_off = 1, *name_len = 1, *w = 3;
            return;
        }
        for (size_t i = 1; s[i]; i++) {
            if (s[i] == '}') {
                if (i == 1) {
                    *w = 2; /* "${}" is bad syntax: eaten */
                    return;
                }
                *name_off = 1, *name_len = i - 1, *w = i + 1;
                return;
            }
        }
        *w = 1; /* "${" without '}': eaten */
        return;
    }
    if (shell_special(s[0])) {
        *name_len = 1, *w = 1;
        return;
    }
    size_t i = 0;
    while (alnum_(s[i]))
        i++;
    *name_len = i, *w = i;
}

static char *expand_env(const char *s)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, "");
    for (size_t i = 0; s[i];) {
        if (s[i] != '$' || !s[i + 1]) {
            em_buf_putc(&b, s[i++]);
            continue;
        }
        size_t off, len, w;
        shell_name(s + i + 1, &off, &len, &w);
        if (len == 0 && w > 0) {
            /* invalid syntax: the characters are dropped */
        } else if (len == 0) {
            em_buf_putc(&b, '$');
        } else {
            char *name = em_strndup(s + i + 1 + off, len);
            if (strcmp(name, "$") == 0) {
                em_buf_putc(&b, '$');
            } else {
                const char *v = getenv(name);
                em_buf_puts(&b, v ? v : "");
            }
            free(name);
        }
        i += 1 + w;
    }
    return em_buf_detach(&b, NULL);
}

/* ---------------------------------------------------------------------------------------------- */
/* Loading                                                                                          */

static int yaml_error(cfg_ctx_t *c, const yaml_parser_t *p, const char *text, size_t n)
{
    if (p->error == YAML_READER_ERROR) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < n; i++) {
            if (text[i] == '\n')
                line++, col = 1;
            else
                col++;
        }
        return em_err_set(c->err, EM_EINVAL, "%s:%zu:%zu: yaml: %s", c->file, line, col,
                          p->problem ? p->problem : "invalid input");
    }
    if (p->context)
        return em_err_set(c->err, EM_EINVAL, "%s:%zu:%zu: yaml: %s %s at line %zu column %zu", c->file,
                          p->problem_mark.line + 1, p->problem_mark.column + 1,
                          p->problem ? p->problem : "error", p->context, p->context_mark.line + 1,
                          p->context_mark.column + 1);
    return em_err_set(c->err, EM_EINVAL, "%s:%zu:%zu: yaml: %s", c->file, p->problem_mark.line + 1,
                      p->problem_mark.column + 1, p->problem ? p->problem : "error");
}

/* Parse the first YAML document of text into doc. */
int cfg_load_doc(cfg_ctx_t *c, const char *text, size_t n, yaml_document_t *doc)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return em_err_set(c->err, EM_ENOMEM, "%s: cannot initialise the YAML parser", c->file);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
    int rc = EM_OK;
    if (!yaml_parser_load(&p, doc))
        rc = yaml_error(c, &p, text, n);
    yaml_parser_delete(&p);
    return rc;
}

/* The YAML node of item i of the list at 'key' of the root, for positions in messages. */
static yaml_node_t *item_node(cfg_ctx_t *c, yaml_node_t *root, const char *key, size_t i)
{
    yaml_node_t *l = cfg_find(c, root, key);
    if (!l || l->type != YAML_SEQUENCE_NODE ||
        (size_t)(l->data.sequence.items.top - l->data.sequence.items.start) <= i)
        return root;
    return cfg_node(c, l->data.sequence.items.start[i]);
}

/* The jobs [from, to) of cfg: globals in, checks that need them, no two with one name. */
static int validate_jobs(cfg_ctx_t *c, em_config_t *cfg, yaml_node_t *root, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        em_scrape_config_t *sc = cfg->scrape_configs[i];
        yaml_node_t *node = item_node(c, root, "scrape_configs", i - from);
        size_t saved;
        cfg_path_push_key(c, "scrape_configs", &saved);
        size_t saved2;
        cfg_path_push_index(c, i - from, &saved2);
        int rc = cfg_scrape_validate(c, sc, &cfg->global, node);
        cfg_path_pop(c, saved);
        if (rc)
            return rc;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(cfg->scrape_configs[k]->job_name, sc->job_name) != 0)
                continue;
            if (k < from)
                return cfg_fail(c, node, "found multiple scrape configs with job name %s, first found in %s",
                                cfg_q(c, sc->job_name), cfg->source);
            return cfg_fail(c, node, "found multiple scrape configs with job name %s",
                            cfg_q(c, sc->job_name));
        }
    }
    return EM_OK;
}

static int validate_remotes(cfg_ctx_t *c, em_config_t *cfg, yaml_node_t *root)
{
    for (size_t i = 0; i < cfg->n_remote_write; i++) {
        const char *name = cfg->remote_write[i]->name;
        for (size_t k = 0; name && *name && k < i; k++)
            if (cfg->remote_write[k]->name && strcmp(cfg->remote_write[k]->name, name) == 0)
                return cfg_fail(c, item_node(c, root, "remote_write", i),
                                "found multiple remote write configs with job name %s", cfg_q(c, name));
    }
    for (size_t i = 0; i < cfg->n_remote_read; i++) {
        const char *name = cfg->remote_read[i]->name;
        for (size_t k = 0; name && *name && k < i; k++)
            if (cfg->remote_read[k]->name && strcmp(cfg->remote_read[k]->name, name) == 0)
                return cfg_fail(c, item_node(c, root, "remote_read", i),
                                "found multiple remote read configs with job name %s", cfg_q(c, name));
    }
    return EM_OK;
}

int cfg_read_file(const char *path, char **text, size_t *n, em_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return em_err_sys(err, EM_EIO, errno, "open %s", path);
    em_buf_t b = EM_BUF_INIT;
    int rc = EM_OK;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + got > EM_CONFIG_MAX_FILE_BYTES) {
            rc = em_err_set(err, EM_ELIMIT, "%s: file larger than %u bytes", path, EM_CONFIG_MAX_FILE_BYTES);
            break;
        }
        em_buf_append(&b, chunk, got);
    }
    if (rc == EM_OK && ferror(f))
        rc = em_err_sys(err, EM_EIO, errno, "read %s", path);
    fclose(f);
    if (rc != EM_OK) {
        em_buf_fini(&b);
        return rc;
    }
    em_buf_puts(&b, ""); /* data is never NULL */
    *text = em_buf_detach(&b, n);
    return EM_OK;
}

char *cfg_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return em_strdup(".");
    if (slash == path)
        return em_strdup("/");
    return em_strndup(path, (size_t)(slash - path));
}

static int load_scrape_file(cfg_ctx_t *parent, em_config_t *cfg, const char *path)
{
    char *text = NULL;
    size_t n = 0;
    int rc = cfg_read_file(path, &text, &n, parent->err);
    if (rc)
        return rc;
    cfg_ctx_t c = {.file = path, .err = parent->err};
    yaml_document_t doc;
    em_config_t *tmp = em_malloc(sizeof(*tmp));
    cfg_init_struct(&cfg_type_scrape_file, tmp);
    bool have_doc = false;
    if ((rc = cfg_load_doc(&c, text, n, &doc)))
        goto out;
    have_doc = true;
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if ((rc = cfg_parse_struct(&c, &cfg_type_scrape_file, tmp, root)))
        goto out;
    size_t from = cfg->n_scrape_configs;
    for (size_t i = 0; i < tmp->n_scrape_configs; i++) {
        char *dir = cfg_dir_of(path);
        cfg_set_directory(&cfg_type_scrape, tmp->scrape_configs[i], dir);
        free(dir);
        em_grow((void **)&cfg->scrape_configs, &(size_t){cfg->n_scrape_configs}, cfg->n_scrape_configs + 1,
                sizeof(void *));
        cfg->scrape_configs[cfg->n_scrape_configs++] = tmp->scrape_configs[i];
    }
    tmp->n_scrape_configs = 0;
    rc = validate_jobs(&c, cfg, root, from, cfg->n_scrape_configs);
out:
    if (have_doc)
        yaml_document_delete(&doc);
    em_buf_fini(&c.path);
    free(c.seen);
    cfg_free_struct(&cfg_type_scrape_file, tmp);
    free(tmp);
    free(text);
    return rc;
}

static int load_scrape_files(cfg_ctx_t *c, em_config_t *cfg)
{
    for (size_t i = 0; i < cfg->scrape_config_files.n; i++) {
        glob_t g;
        int gr = glob(cfg->scrape_config_files.v[i], 0, NULL, &g);
        if (gr == GLOB_NOSPACE)
            return em_err_set(c->err, EM_ENOMEM, "glob %s: out of memory", cfg->scrape_config_files.v[i]);
        int rc = EM_OK;
        for (size_t k = 0; gr == 0 && k < g.gl_pathc && !rc; k++)
            rc = load_scrape_file(c, cfg, g.gl_pathv[k]);
        if (gr == 0)
            globfree(&g);
        if (rc)
            return rc;
    }
    return EM_OK;
}

static void expand_external_labels(em_config_t *cfg)
{
    em_config_kvs_t *l = &cfg->global.external_labels;
    for (size_t i = 0; i < l->n; i++) {
        char *v = expand_env(l->v[i].value);
        free(l->v[i].value);
        l->v[i].value = v;
    }
}

static int load(const char *text, size_t n, const char *name, const char *dir, em_config_t **out,
                em_err_t *err)
{
    cfg_ctx_t c = {.file = name, .err = err};
    em_config_t *cfg = em_malloc(sizeof(*cfg));
    cfg_init_struct(&cfg_type_config, cfg);
    cfg->source = em_strdup(name);
    cfg->dir = em_strdup(dir ? dir : "");
    yaml_document_t doc;
    bool have_doc = false;
    int rc = EM_EINVAL;
    if (n > EM_CONFIG_MAX_FILE_BYTES) {
        rc = em_err_set(err, EM_ELIMIT, "%s: file larger than %u bytes", name, EM_CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    if ((rc = cfg_load_doc(&c, text, n, &doc)))
        goto out;
    have_doc = true;
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if ((rc = cfg_parse_struct(&c, &cfg_type_config, cfg, root)))
        goto out;
    if ((rc = cfg_global_finish(&c, &cfg->global, cfg_find(&c, root, "global"))))
        goto out;
    if ((rc = validate_jobs(&c, cfg, root, 0, cfg->n_scrape_configs)))
        goto out;
    if ((rc = validate_remotes(&c, cfg, root)))
        goto out;
    expand_external_labels(cfg);
    if (dir)
        cfg_set_directory(&cfg_type_config, cfg, dir);
    rc = load_scrape_files(&c, cfg);
out:
    if (have_doc)
        yaml_document_delete(&doc);
    em_buf_fini(&c.path);
    free(c.seen);
    if (rc != EM_OK) {
        em_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return EM_OK;
}

int em_config_load_string(const char *text, size_t n, const char *name, em_config_t **out, em_err_t *err)
{
    return load(text, n, name ? name : "<string>", NULL, out, err);
}

int em_config_load_file(const char *path, em_config_t **out, em_err_t *err)
{
    char *text = NULL;
    size_t n = 0;
    int rc = cfg_read_file(path, &text, &n, err);
    if (rc)
        return rc;
    char *dir = cfg_dir_of(path);
    rc = load(text, n, path, dir, out, err);
    free(dir);
    free(text);
    return rc;
}

void em_config_free(em_config_t *cfg)
{
    if (!cfg)
        return;
    cfg_free_struct(&cfg_type_config, cfg);
    free(cfg->source);
    free(cfg->dir);
    free(cfg);
}

/* ---------------------------------------------------------------------------------------------- */

const char *em_config_default_text(const char *listen_address, char *buf, size_t n)
{
    unsigned port = 9090;
    const char *colon = listen_address ? strrchr(listen_address, ':') : NULL;
    const char *bracket = listen_address ? strrchr(listen_address, ']') : NULL;
    if (colon && (!bracket || colon > bracket) && colon[1]) {
        char *end;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (*end == '\0' && p > 0 && p < 65536)
            port = (unsigned)p;
    }
    snprintf(buf, n,
             "global:\n"
             "  scrape_interval: 15s\n"
             "  evaluation_interval: 15s\n"
             "scrape_configs:\n"
             "  - job_name: ember\n"
             "    static_configs:\n"
             "      - targets: [\"localhost:%u\"]\n",
             port);
    return buf;
}

uint64_t em_config_scrape_fingerprint(const em_scrape_config_t *sc)
{
    em_buf_t b = EM_BUF_INIT;
    cfg_render_struct_yaml(&cfg_type_scrape, sc, true, &b);
    uint64_t h = em_hash64(b.data ? b.data : "", b.len);
    em_buf_fini(&b);
    return h;
}

int em_config_rule_files(const em_config_t *cfg, em_config_strs_t *out, em_err_t *err)
{
    em_config_strs_t r = {0};
    size_t cap = 0;
    for (size_t i = 0; i < cfg->rule_files.n; i++) {
        glob_t g;
        int gr = glob(cfg->rule_files.v[i], 0, NULL, &g);
        if (gr == GLOB_NOSPACE) {
            em_config_strs_fini(&r);
            return em_err_set(err, EM_ENOMEM, "glob %s: out of memory", cfg->rule_files.v[i]);
        }
        for (size_t k = 0; gr == 0 && k < g.gl_pathc; k++) {
            bool dup = false;
            for (size_t j = 0; j < r.n && !dup; j++)
                dup = strcmp(r.v[j], g.gl_pathv[k]) == 0;
            if (dup)
                continue;
            em_grow((void **)&r.v, &cap, r.n + 1, sizeof(char *));
            r.v[r.n++] = em_strdup(g.gl_pathv[k]);
        }
        if (gr == 0)
            globfree(&g);
    }
    *out = r;
    return EM_OK;
}
