/* The web configuration file and basic-auth checks. Design: see webconfig.h. */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/config_int.h"
#include "base/hash.h"
#include "base/mem.h"
#include "base/webconfig.h"

struct em_webconfig_cache {
    pthread_mutex_t mu;        /* guards slots */
    pthread_mutex_t bcrypt_mu; /* one bcrypt at a time */
    uint64_t seed1, seed2;
    struct {
        uint64_t a, b; /* both 0: empty */
    } slots[EM_WEBCONFIG_AUTH_CACHE];
};

/* A bcrypt hash of a password nobody knows, checked for unknown users so that their requests take as
 * long as those of known users with a wrong password. */
static const char fake_hash[] = "$2b$10$TGEuhSupXjwxmioGi2xpLOzWi/M1HcjDBi4pwOvF3BJjcwpKyXvre";

/* ---------------------------------------------------------------------------------------------- */
/* Field checks                                                                                     */

/* Go's tls.CipherSuites(): the suites crypto/tls considers secure, which is what exporter-toolkit accepts. */
static const char *const cipher_names[] = {
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
};

static const char *const curve_names[] = {"CurveP256", "CurveP384", "CurveP521", "X25519", "X25519MLKEM768"};

static int names_check(cfg_ctx_t *c, const em_config_strs_t *s, yaml_node_t *node, const char *const *names,
                       size_t n_names, const char *what)
{
    for (size_t i = 0; i < s->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < n_names && !ok; k++)
            ok = strcmp(s->v[i], names[k]) == 0;
        if (!ok)
            return cfg_failp(c, cfg_node(c, node->data.sequence.items.start[i]), "unknown %s: %s", what,
                             s->v[i]);
    }
    return EM_OK;
}

static int ciphers_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    return names_check(c, field, node, cipher_names, EM_ARRAY_LEN(cipher_names), "cipher");
}

static int curves_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    return names_check(c, field, node, curve_names, EM_ARRAY_LEN(curve_names), "curve");
}

/* exporter-toolkit's extraHTTPHeaders: the only headers a web config may add, and their allowed values. */
static int headers_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    static const struct {
        const char *name;
        const char *values[3];
        const char *shown;
    } allowed[] = {
        {"Strict-Transport-Security", {NULL}, NULL},
        {"X-Content-Type-Options", {"nosniff", NULL}, "[\"nosniff\"]"},
        {"X-Frame-Options", {"deny", "sameorigin", NULL}, "[\"deny\" \"sameorigin\"]"},
        {"X-XSS-Protection", {NULL}, NULL},
        {"Content-Security-Policy", {NULL}, NULL},
    };
    const em_config_kvs_t *h = field;
    for (size_t i = 0; i < h->n; i++) {
        size_t k = 0;
        while (k < EM_ARRAY_LEN(allowed) && strcmp(allowed[k].name, h->v[i].name) != 0)
            k++;
        if (k == EM_ARRAY_LEN(allowed))
            return cfg_failp(c, node, "HTTP header %s can not be configured", cfg_q(c, h->v[i].name));
        if (!allowed[k].values[0])
            continue;
        bool ok = false;
        for (size_t v = 0; allowed[k].values[v] && !ok; v++)
            ok = strcmp(allowed[k].values[v], h->v[i].value) == 0;
        if (!ok)
            return cfg_failp(c, node, "invalid value for %s. Expected one of: %s, but got: %s", h->v[i].name,
                             allowed[k].shown, cfg_q(c, h->v[i].value));
    }
    return EM_OK;
}

/* golang.org/x/crypto/bcrypt's Cost(): the checks it makes on a stored hash. */
static int bcrypt_hash_check(cfg_ctx_t *c, const char *h, yaml_node_t *pos)
{
    size_t n = strlen(h);
    if (n < 59)
        return cfg_failp(c, pos, "crypto/bcrypt: hashedSecret too short to be a bcrypted password");
    if (h[0] != '$' || h[1] > '2')
        return cfg_failp(c, pos,
                         "crypto/bcrypt: bcrypt algorithm version '%c' requested is newer than current "
                         "version '2'",
                         h[1]);
    size_t at = h[2] == '$' ? 3 : 4;
    if (h[1] != '2' || (at == 4 && h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[at - 1] != '$')
        return cfg_failp(c, pos, "crypto/bcrypt: hashedSecret is not a bcrypt hash");
    if (h[at] < '0' || h[at] > '9' || h[at + 1] < '0' || h[at + 1] > '9' || h[at + 2] != '$')
        return cfg_failp(c, pos, "crypto/bcrypt: hashedSecret is not a bcrypt hash");
    int cost = (h[at] - '0') * 10 + (h[at + 1] - '0');
    if (cost < 4 || cost > 31)
        return cfg_failp(c, pos, "crypto/bcrypt: bcrypt cost %d is outside allowed range (4,31)", cost);
    return EM_OK;
}

static int users_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    const em_config_kvs_t *u = field;
    for (size_t i = 0; i < u->n; i++) {
        yaml_node_t *v = cfg_find(c, node, u->v[i].name);
        int rc = bcrypt_hash_check(c, u->v[i].value, v ? v : node);
        if (rc)
            return rc;
    }
    return EM_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Tables                                                                                           */

#define W(key, kind, flags, member, check)                                                                   \
    {                                                                                                        \
        key, kind, flags, (uint16_t)offsetof(em_webconfig_tls_t, member), 0, NULL, NULL, check               \
    }

static void tls_init(void *obj)
{
    em_webconfig_tls_t *t = obj;
    t->min_version = EM_TLS_12;
    t->max_version = EM_TLS_13;
    t->prefer_server_cipher_suites = true;
}

static const cfg_field_t tls_fields[] = {
    W("cert", CK_STR, 0, cert, NULL),
    W("key", CK_SECRET, 0, key, NULL),
    W("client_ca", CK_STR, 0, client_ca, NULL),
    W("cert_file", CK_STR, CF_PATH, cert_file, NULL),
    W("key_file", CK_STR, CF_PATH, key_file, NULL),
    W("client_auth_type", CK_STR, 0, client_auth_type, NULL),
    W("client_ca_file", CK_STR, CF_PATH, client_ca_file, NULL),
    W("cipher_suites", CK_STRS, 0, cipher_suites, ciphers_check),
    W("curve_preferences", CK_STRS, 0, curve_preferences, curves_check),
    W("min_version", CK_TLSVER, 0, min_version, NULL),
    W("max_version", CK_TLSVER, 0, max_version, NULL),
    W("prefer_server_cipher_suites", CK_BOOL, 0, prefer_server_cipher_suites, NULL),
    W("client_allowed_sans", CK_STRS, 0, client_allowed_sans, NULL),
};
static const cfg_type_t tls_type = {"tls_server_config",
                                    sizeof(em_webconfig_tls_t),
                                    tls_fields,
                                    EM_ARRAY_LEN(tls_fields),
                                    tls_init,
                                    NULL,
                                    false};

#define WC(key, kind, member, check)                                                                         \
    {                                                                                                        \
        key, kind, 0, (uint16_t)offsetof(em_webconfig_t, member), 0, NULL, NULL, check                       \
    }

static void http_init(void *obj)
{
    ((em_webconfig_t *)obj)->http2 = true;
}

static const cfg_field_t http_fields[] = {
    WC("http2", CK_BOOL, http2, NULL),
    WC("headers", CK_KVS, headers, headers_check),
};
static const cfg_type_t http_type = {"http_server_config",
                                     sizeof(em_webconfig_t),
                                     http_fields,
                                     EM_ARRAY_LEN(http_fields),
                                     http_init,
                                     NULL,
                                     false};

static const cfg_field_t rate_fields[] = {
    WC("burst", CK_INT, rate_limit_burst, NULL),
    WC("interval", CK_DUR, rate_limit_interval_ms, NULL),
};
static const cfg_type_t rate_type = {
    "rate_limit", sizeof(em_webconfig_t), rate_fields, EM_ARRAY_LEN(rate_fields), NULL, NULL, false};

static const cfg_field_t web_fields[] = {
    {"tls_server_config", CK_EMBED, 0, (uint16_t)offsetof(em_webconfig_t, tls), 0, &tls_type, NULL, NULL},
    {"http_server_config", CK_GROUP, 0, 0, 0, &http_type, NULL, NULL},
    {"rate_limit", CK_GROUP, 0, 0, 0, &rate_type, NULL, NULL},
    WC("basic_auth_users", CK_KVS, users, users_check),
};
static const cfg_type_t web_type = {
    "web_config", sizeof(em_webconfig_t), web_fields, EM_ARRAY_LEN(web_fields), NULL, NULL, false};

/* ---------------------------------------------------------------------------------------------- */
/* Validation after reading (exporter-toolkit's ConfigToTLSConfig)                                 */

static bool set(const char *s)
{
    return s && *s;
}

static int readable(cfg_ctx_t *c, yaml_node_t *pos, const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", strerror(errno));
        if (msg[0] >= 'A' && msg[0] <= 'Z')
            msg[0] = (char)(msg[0] - 'A' + 'a'); /* Go's errno texts are lower case */
        return cfg_fail(c, pos, "failed to read %s (%s): open %s: %s", what, path, path, msg);
    }
    fclose(f);
    return EM_OK;
}

static int client_auth_parse(const char *s, em_client_auth_t *out)
{
    static const struct {
        const char *name;
        em_client_auth_t v;
    } m[] = {{"", EM_CLIENT_AUTH_NONE},
             {"NoClientCert", EM_CLIENT_AUTH_NONE},
             {"RequestClientCert", EM_CLIENT_AUTH_REQUEST},
             {"RequireAnyClientCert", EM_CLIENT_AUTH_REQUIRE_ANY},
             {"RequireClientCert", EM_CLIENT_AUTH_REQUIRE_ANY},
             {"VerifyClientCertIfGiven", EM_CLIENT_AUTH_VERIFY_IF_GIVEN},
             {"RequireAndVerifyClientCert", EM_CLIENT_AUTH_REQUIRE_AND_VERIFY}};
    for (size_t i = 0; i < EM_ARRAY_LEN(m); i++)
        if (strcmp(s, m[i].name) == 0) {
            *out = m[i].v;
            return EM_OK;
        }
    return EM_EINVAL;
}

static int tls_validate(cfg_ctx_t *c, em_webconfig_tls_t *t, yaml_node_t *root)
{
    yaml_node_t *node = cfg_find(c, root, "tls_server_config");
    yaml_node_t *pos = node ? node : root;
    t->enabled = set(t->cert_file) || set(t->cert) || set(t->key_file) || set(t->key) ||
                 set(t->client_ca_file) || set(t->client_ca) || set(t->client_auth_type);
    if (!t->enabled)
        return EM_OK;
    if (!set(t->cert_file) && !set(t->cert))
        return cfg_fail(c, pos, "missing one of cert or cert_file (tls_server_config)");
    if (!set(t->key_file) && !set(t->key))
        return cfg_fail(c, pos, "missing one of key or key_file (tls_server_config)");
    yaml_node_t *v;
    int rc;
    if (set(t->cert_file) &&
        (rc = readable(c, (v = cfg_find(c, node, "cert_file")) ? v : pos, "cert_file", t->cert_file)))
        return rc;
    if (set(t->key_file) &&
        (rc = readable(c, (v = cfg_find(c, node, "key_file")) ? v : pos, "key_file", t->key_file)))
        return rc;
    if (set(t->client_ca_file) && (rc = readable(c, (v = cfg_find(c, node, "client_ca_file")) ? v : pos,
                                                 "client_ca_file", t->client_ca_file)))
        return rc;
    if (client_auth_parse(t->client_auth_type ? t->client_auth_type : "", &t->client_auth) != EM_OK)
        return cfg_fail(c, (v = cfg_find(c, node, "client_auth_type")) ? v : pos, "invalid ClientAuth: %s",
                        t->client_auth_type);
    if ((set(t->client_ca_file) || set(t->client_ca)) && t->client_auth == EM_CLIENT_AUTH_NONE)
        return cfg_fail(c, pos, "client CA's have been configured without a Client Auth Policy");
    return EM_OK;
}

static em_webconfig_cache_t *cache_new(void)
{
    em_webconfig_cache_t *k = em_calloc(1, sizeof(*k));
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->bcrypt_mu, NULL);
    uint64_t seeds[2];
    if (getrandom(seeds, sizeof(seeds), 0) != (ssize_t)sizeof(seeds)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seeds[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
        seeds[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ull;
    }
    k->seed1 = seeds[0];
    k->seed2 = seeds[1] | 1;
    return k;
}

int em_webconfig_load_string(const char *text, size_t n, const char *name, const char *dir,
                             em_webconfig_t **out, em_err_t *err)
{
    cfg_ctx_t c = {.file = name ? name : "<string>", .err = err};
    em_webconfig_t *w = em_malloc(sizeof(*w));
    cfg_init_struct(&web_type, w);
    yaml_document_t doc;
    bool have_doc = false;
    int rc;
    if (n > EM_CONFIG_MAX_FILE_BYTES) {
        rc = em_err_set(err, EM_ELIMIT, "%s: file larger than %u bytes", c.file, EM_CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    if ((rc = cfg_load_doc(&c, text, n, &doc)))
        goto out;
    have_doc = true;
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if ((rc = cfg_parse_struct(&c, &web_type, w, root)))
        goto out;
    if (dir)
        cfg_set_directory(&web_type, w, dir);
    rc = tls_validate(&c, &w->tls, root);
out:
    if (have_doc)
        yaml_document_delete(&doc);
    em_buf_fini(&c.path);
    free(c.seen);
    if (rc != EM_OK) {
        em_webconfig_free(w);
        return rc;
    }
    w->cache = cache_new();
    *out = w;
    return EM_OK;
}

int em_webconfig_load_file(const char *path, em_webconfig_t **out, em_err_t *err)
{
    char *text = NULL;
    size_t n = 0;
    int rc = cfg_read_file(path, &text, &n, err);
    if (rc)
        return rc;
    char *dir = cfg_dir_of(path);
    rc = em_webconfig_load_string(text, n, path, dir, out, err);
    free(dir);
    free(text);
    return rc;
}

void em_webconfig_free(em_webconfig_t *w)
{
    if (!w)
        return;
    cfg_free_struct(&web_type, w);
    if (w->cache) {
        pthread_mutex_destroy(&w->cache->mu);
        pthread_mutex_destroy(&w->cache->bcrypt_mu);
        free(w->cache);
    }
    free(w);
}

/* ---------------------------------------------------------------------------------------------- */
/* Basic auth                                                                                       */

bool em_webconfig_auth_required(const em_webconfig_t *w)
{
    return w && w->users.n > 0;
}

static int kv_name_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const em_config_kv_t *)elem)->name);
}

static uint64_t key_hash(const char *user, const char *hash, const char *password, uint64_t seed)
{
    /* Lengths first, so that no two (user, password) splits of one byte string hash alike. */
    size_t lens[3] = {strlen(user), strlen(hash), strlen(password)};
    uint64_t h = em_hash64_seed(lens, sizeof(lens), seed);
    h = em_hash64_seed(user, lens[0], h);
    h = em_hash64_seed(hash, lens[1], h);
    return em_hash64_seed(password, lens[2], h);
}

static bool ct_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = (unsigned char)(na != nb);
    for (size_t i = 0; i < na && i < nb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static bool bcrypt_verify(em_webconfig_cache_t *k, const char *password, const char *hash)
{
    struct crypt_data *data = em_calloc(1, sizeof(*data));
    pthread_mutex_lock(&k->bcrypt_mu);
    const char *r = crypt_r(password, hash, data);
    bool ok = r && r[0] != '*' && ct_equal(r, hash);
    pthread_mutex_unlock(&k->bcrypt_mu);
    free(data);
    return ok;
}

bool em_webconfig_check_basic_auth(const em_webconfig_t *w, const char *user, const char *password)
{
    if (!em_webconfig_auth_required(w))
        return true;
    if (!user || !password)
        return false;
    const em_config_kv_t *u = bsearch(user, w->users.v, w->users.n, sizeof(em_config_kv_t), kv_name_cmp);
    const char *hash = u ? u->value : fake_hash;
    em_webconfig_cache_t *k = w->cache;
    uint64_t a = key_hash(user, hash, password, k->seed1), b = key_hash(user, hash, password, k->seed2);
    if (a == 0 && b == 0)
        b = 1;
    size_t slot = (size_t)(a % EM_WEBCONFIG_AUTH_CACHE);
    pthread_mutex_lock(&k->mu);
    bool hit = k->slots[slot].a == a && k->slots[slot].b == b;
    pthread_mutex_unlock(&k->mu);
    if (hit)
        return u != NULL;
    bool ok = bcrypt_verify(k, password, hash) && u != NULL;
    if (ok) {
        pthread_mutex_lock(&k->mu);
        k->slots[slot].a = a;
        k->slots[slot].b = b;
        pthread_mutex_unlock(&k->mu);
    }
    return ok;
}
