/* The field tables of prometheus.yml and the checks Prometheus runs while unmarshalling each type.
 * Design: see config.h and config_int.h. Field order in every table is Prometheus 3's struct order, which
 * is the order /api/v1/status/config prints. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config_int.h"
#include "base/mem.h"

#define FIELD(T, key, kind, flags, member)                                                                   \
    {                                                                                                        \
        key, kind, flags, (uint16_t)offsetof(T, member), 0, NULL, NULL, NULL                                 \
    }
#define FCHECK(T, key, kind, flags, member, fn)                                                              \
    {                                                                                                        \
        key, kind, flags, (uint16_t)offsetof(T, member), 0, NULL, NULL, fn                                   \
    }
#define FSUB(T, key, kind, flags, member, sub)                                                               \
    {                                                                                                        \
        key, kind, flags, (uint16_t)offsetof(T, member), 0, &sub, NULL, NULL                                 \
    }
#define FGROUP(key, flags, sub)                                                                              \
    {                                                                                                        \
        key, CK_GROUP, flags, 0, 0, &sub, NULL, NULL                                                         \
    }
#define FLIST(T, key, member, count, sub, nullmsg)                                                           \
    {                                                                                                        \
        key, CK_LIST, CF_OMITEMPTY, (uint16_t)offsetof(T, member), (uint16_t)offsetof(T, count), &sub,       \
            nullmsg, NULL                                                                                    \
    }
#define FUNSUP(key)                                                                                          \
    {                                                                                                        \
        key, CK_UNSUPPORTED, CF_OMITEMPTY, 0, 0, NULL, NULL, NULL                                            \
    }
#define TYPE(name, T, fields, init, check, sd)                                                               \
    {                                                                                                        \
        name, sizeof(T), fields, EM_ARRAY_LEN(fields), init, check, sd                                       \
    }

static bool empty(const char *s)
{
    return !s || !*s;
}

/* Replace a NULL or empty string with a default. */
static void default_str(char **s, const char *dflt)
{
    if (empty(*s)) {
        free(*s);
        *s = em_strdup(dflt);
    }
}

/* The position for a message about 'key' of mapping 'node': its value, else the mapping itself. */
static yaml_node_t *at(cfg_ctx_t *c, yaml_node_t *node, const char *key)
{
    yaml_node_t *v = cfg_find(c, node, key);
    return v ? v : node;
}

/* ---------------------------------------------------------------------------------------------- */
/* TLS, auth, HTTP client (common/config/http_config.go)                                          */

static int tls_check(cfg_ctx_t *c, void *obj, yaml_node_t *node)
{
    em_tls_config_t *t = obj;
    if (!empty(t->ca) && !empty(t->ca_file))
        return cfg_failp(c, at(c, node, "ca_file"), "at most one of ca, ca_file & ca_ref must be configured");
    if (!empty(t->cert) && !empty(t->cert_file))
        return cfg_failp(c, at(c, node, "cert_file"),
                         "at most one of cert, cert_file & cert_ref must be configured");
    if (!empty(t->key) && !empty(t->key_file))
        return cfg_failp(c, at(c, node, "key_file"), "at most one of key and key_file must be configured");
    bool cert = !empty(t->cert) || !empty(t->cert_file), key = !empty(t->key) || !empty(t->key_file);
    if (cert && !key)
        return cfg_failp(
            c, node,
            "exactly one of key or key_file must be configured when a client certificate is configured");
    if (key && !cert)
        return cfg_failp(
            c, node, "exactly one of cert or cert_file must be configured when a client key is configured");
    if (t->min_version && t->max_version && t->max_version < t->min_version)
        return cfg_failp(c, at(c, node, "max_version"),
                         "tls_config.max_version must be greater than or equal to tls_config.min_version if "
                         "both are specified");
    return EM_OK;
}

static const cfg_field_t tls_fields[] = {
    FIELD(em_tls_config_t, "ca", CK_STR, CF_OMITEMPTY, ca),
    FIELD(em_tls_config_t, "cert", CK_STR, CF_OMITEMPTY, cert),
    FIELD(em_tls_config_t, "key", CK_SECRET, CF_OMITEMPTY, key),
    FIELD(em_tls_config_t, "ca_file", CK_STR, CF_OMITEMPTY | CF_PATH, ca_file),
    FIELD(em_tls_config_t, "cert_file", CK_STR, CF_OMITEMPTY | CF_PATH, cert_file),
    FIELD(em_tls_config_t, "key_file", CK_STR, CF_OMITEMPTY | CF_PATH, key_file),
    FIELD(em_tls_config_t, "server_name", CK_STR, CF_OMITEMPTY, server_name),
    FIELD(em_tls_config_t, "insecure_skip_verify", CK_BOOL, 0, insecure_skip_verify),
    FIELD(em_tls_config_t, "min_version", CK_TLSVER, CF_OMITEMPTY, min_version),
    FIELD(em_tls_config_t, "max_version", CK_TLSVER, CF_OMITEMPTY, max_version),
};
static const cfg_type_t tls_type = TYPE("tls_config", em_tls_config_t, tls_fields, NULL, tls_check, false);

static const cfg_field_t basic_auth_fields[] = {
    FIELD(em_basic_auth_t, "username", CK_STR, CF_OMITEMPTY, username),
    FIELD(em_basic_auth_t, "username_file", CK_STR, CF_OMITEMPTY | CF_PATH, username_file),
    FIELD(em_basic_auth_t, "password", CK_SECRET, CF_OMITEMPTY, password),
    FIELD(em_basic_auth_t, "password_file", CK_STR, CF_OMITEMPTY | CF_PATH, password_file),
};
static const cfg_type_t basic_auth_type =
    TYPE("basic_auth", em_basic_auth_t, basic_auth_fields, NULL, NULL, false);

static const cfg_field_t authorization_fields[] = {
    FIELD(em_authorization_t, "type", CK_STR, CF_OMITEMPTY, type),
    FIELD(em_authorization_t, "credentials", CK_SECRET, CF_OMITEMPTY, credentials),
    FIELD(em_authorization_t, "credentials_file", CK_STR, CF_OMITEMPTY | CF_PATH, credentials_file),
};
static const cfg_type_t authorization_type =
    TYPE("authorization", em_authorization_t, authorization_fields, NULL, NULL, false);

/* Go's url.Parse refuses little; these are the mistakes it does catch. */
static int url_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    const char *u = *(char **)field;
    if (!u)
        return EM_OK;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return cfg_failp(c, node, "parse %s: net/url: invalid control character in URL", cfg_q(c, u));
    if (u[0] == ':')
        return cfg_failp(c, node, "parse %s: missing protocol scheme", cfg_q(c, u));
    const char *host = strstr(u, "://");
    if (host && strchr(host + 3, '[') && !strchr(host + 3, ']'))
        return cfg_failp(c, node, "parse %s: missing ']' in host", cfg_q(c, u));
    return EM_OK;
}

static const cfg_field_t oauth2_fields[] = {
    FIELD(em_oauth2_t, "client_id", CK_STR, CF_OMITEMPTY, client_id),
    FIELD(em_oauth2_t, "client_secret", CK_SECRET, CF_OMITEMPTY, client_secret),
    FIELD(em_oauth2_t, "client_secret_file", CK_STR, CF_OMITEMPTY | CF_PATH, client_secret_file),
    FIELD(em_oauth2_t, "scopes", CK_STRS, CF_OMITEMPTY, scopes),
    FIELD(em_oauth2_t, "token_url", CK_STR, CF_OMITEMPTY, token_url),
    FIELD(em_oauth2_t, "endpoint_params", CK_KVS, CF_OMITEMPTY, endpoint_params),
    FSUB(em_oauth2_t, "tls_config", CK_EMBED, CF_OMITEMPTY, tls_config, tls_type),
    FCHECK(em_oauth2_t, "proxy_url", CK_URL, CF_OMITEMPTY, proxy_url, url_check),
    FIELD(em_oauth2_t, "no_proxy", CK_STR, CF_OMITEMPTY, no_proxy),
    FIELD(em_oauth2_t, "proxy_from_environment", CK_BOOL, CF_OMITEMPTY, proxy_from_environment),
};
static const cfg_type_t oauth2_type = TYPE("oauth2", em_oauth2_t, oauth2_fields, NULL, NULL, false);

static void http_init(void *obj)
{
    em_http_client_config_t *h = obj;
    h->follow_redirects = true;
    h->enable_http2 = true;
}

static const cfg_field_t http_fields[] = {
    FSUB(em_http_client_config_t, "basic_auth", CK_OBJ, CF_OMITEMPTY, basic_auth, basic_auth_type),
    FSUB(em_http_client_config_t, "authorization", CK_OBJ, CF_OMITEMPTY, authorization, authorization_type),
    FSUB(em_http_client_config_t, "oauth2", CK_OBJ, CF_OMITEMPTY, oauth2, oauth2_type),
    FIELD(em_http_client_config_t, "bearer_token", CK_SECRET, CF_OMITEMPTY, bearer_token),
    FIELD(em_http_client_config_t, "bearer_token_file", CK_STR, CF_OMITEMPTY | CF_PATH, bearer_token_file),
    FSUB(em_http_client_config_t, "tls_config", CK_EMBED, CF_OMITEMPTY, tls_config, tls_type),
    FIELD(em_http_client_config_t, "follow_redirects", CK_BOOL, 0, follow_redirects),
    FIELD(em_http_client_config_t, "enable_http2", CK_BOOL, 0, enable_http2),
    FCHECK(em_http_client_config_t, "proxy_url", CK_URL, CF_OMITEMPTY, proxy_url, url_check),
    FIELD(em_http_client_config_t, "no_proxy", CK_STR, CF_OMITEMPTY, no_proxy),
    FIELD(em_http_client_config_t, "proxy_from_environment", CK_BOOL, CF_OMITEMPTY, proxy_from_environment),
    FUNSUP("proxy_connect_header"),
    FUNSUP("http_headers"),
};
static const cfg_type_t http_type =
    TYPE("http", em_http_client_config_t, http_fields, http_init, NULL, false);

static int http_auth_check(cfg_ctx_t *c, em_http_client_config_t *h, yaml_node_t *node)
{
    bool bearer = !empty(h->bearer_token) || !empty(h->bearer_token_file);
    if (!empty(h->bearer_token) && !empty(h->bearer_token_file))
        return cfg_failp(c, at(c, node, "bearer_token_file"),
                         "at most one of bearer_token & bearer_token_file must be configured");
    if ((h->basic_auth || h->oauth2) && bearer)
        return cfg_failp(
            c, at(c, node, "bearer_token"),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
    if (h->basic_auth && !empty(h->basic_auth->username) && !empty(h->basic_auth->username_file))
        return cfg_failp(
            c, at(c, node, "basic_auth"),
            "at most one of basic_auth username, username_file & username_ref must be configured");
    if (h->basic_auth && !empty(h->basic_auth->password) && !empty(h->basic_auth->password_file))
        return cfg_failp(
            c, at(c, node, "basic_auth"),
            "at most one of basic_auth password, password_file & password_ref must be configured");
    return EM_OK;
}

static int http_authorization_check(cfg_ctx_t *c, em_http_client_config_t *h, yaml_node_t *node)
{
    em_authorization_t *a = h->authorization;
    yaml_node_t *an = at(c, node, "authorization");
    if (!empty(h->bearer_token) || !empty(h->bearer_token_file))
        return cfg_failp(c, an, "authorization is not compatible with bearer_token & bearer_token_file");
    if (!empty(a->credentials) && !empty(a->credentials_file))
        return cfg_failp(c, an,
                         "at most one of authorization credentials & credentials_file must be configured");
    /* Prometheus trims the type and defaults it to Bearer. */
    const char *t = a->type ? a->type : "";
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
        t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\n' || t[n - 1] == '\r'))
        n--;
    char *trimmed = n ? em_strndup(t, n) : em_strdup("Bearer");
    free(a->type);
    a->type = trimmed;
    if (strcasecmp(a->type, "basic") == 0)
        return cfg_failp(c, at(c, an, "type"),
                         "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    if (h->basic_auth || h->oauth2)
        return cfg_failp(c, an, "at most one of basic_auth, oauth2 & authorization must be configured");
    return EM_OK;
}

/* HTTPClientConfig.Validate, including its rewrite of bearer_token(_file) into authorization. */
static int http_check(cfg_ctx_t *c, em_http_client_config_t *h, yaml_node_t *node)
{
    int rc = http_auth_check(c, h, node);
    if (rc)
        return rc;
    if (h->authorization) {
        if ((rc = http_authorization_check(c, h, node)))
            return rc;
    } else if (!empty(h->bearer_token) || !empty(h->bearer_token_file)) {
        h->authorization = EM_NEW(em_authorization_t);
        h->authorization->type = em_strdup("Bearer");
        h->authorization->credentials = empty(h->bearer_token) ? NULL : h->bearer_token;
        h->authorization->credentials_file = empty(h->bearer_token_file) ? NULL : h->bearer_token_file;
        if (empty(h->bearer_token))
            free(h->bearer_token);
        if (empty(h->bearer_token_file))
            free(h->bearer_token_file);
        h->bearer_token = h->bearer_token_file = NULL;
    }
    if (h->oauth2) {
        yaml_node_t *on = at(c, node, "oauth2");
        if (h->basic_auth)
            return cfg_failp(c, on, "at most one of basic_auth, oauth2 & authorization must be configured");
        if (empty(h->oauth2->client_id))
            return cfg_failp(c, on, "oauth2 client_id must be configured");
        if (empty(h->oauth2->token_url))
            return cfg_failp(c, on, "oauth2 token_url must be configured");
        if (!empty(h->oauth2->client_secret) && !empty(h->oauth2->client_secret_file))
            return cfg_failp(
                c, on,
                "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be "
                "configured using grant-type=client_credentials");
    }
    if (h->proxy_from_environment && !empty(h->proxy_url))
        return cfg_failp(c, at(c, node, "proxy_url"),
                         "if proxy_from_environment is configured, proxy_url must not be configured");
    if (h->proxy_from_environment && !empty(h->no_proxy))
        return cfg_failp(c, at(c, node, "no_proxy"),
                         "if proxy_from_environment is configured, no_proxy must not be configured");
    if (empty(h->proxy_url) && !empty(h->no_proxy))
        return cfg_failp(c, at(c, node, "no_proxy"),
                         "if no_proxy is configured, proxy_url must also be configured");
    return EM_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Relabelling (model/relabel/relabel.go)                                                          */

static void relabel_init(void *obj)
{
    em_relabel_config_t *r = obj;
    r->separator = em_strdup(";");
    r->regex_src = em_strdup("(.*)");
    r->replacement = em_strdup("$1");
    r->action = EM_RELABEL_REPLACE;
    em_err_t e;
    int rc = em_regex_compile(r->regex_src, strlen(r->regex_src), &r->regex, &e);
    (void)rc;
}

static bool is_word(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* "$name" or "${name}" at s; returns its length or 0. */
static size_t var_len(const char *s)
{
    if (s[0] != '$')
        return 0;
    size_t i = 1;
    if (s[1] == '{') {
        for (i = 2; is_word(s[i]); i++)
            ;
        return i > 2 && s[i] == '}' ? i + 1 : 0;
    }
    while (is_word(s[i]))
        i++;
    return i > 1 ? i : 0;
}

/* Prometheus's relabelTargetLegacy: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ -- a legacy label name
 * in which ${var} and $var may stand for characters. */
static bool legacy_target_valid(const char *s)
{
    if (!s || !*s)
        return false;
    size_t i = 0, v;
    if ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')
        i = 1;
    else if ((v = var_len(s)) > 0)
        i = v;
    else
        return false;
    while (s[i]) {
        if (is_word(s[i]))
            i++;
        else if ((v = var_len(s + i)) > 0)
            i += v;
        else
            return false;
    }
    return true;
}

static int relabel_check(cfg_ctx_t *c, void *obj, yaml_node_t *node)
{
    em_relabel_config_t *r = obj;
    em_relabel_action_t a = r->action;
    const char *an = em_relabel_action_name(a);
    const char *tl = r->target_label ? r->target_label : "";
    const char *repl = r->replacement ? r->replacement : "";
    const char *sep = r->separator ? r->separator : "";
    bool lu_eq = a == EM_RELABEL_LOWERCASE || a == EM_RELABEL_UPPERCASE || a == EM_RELABEL_KEEPEQUAL ||
                 a == EM_RELABEL_DROPEQUAL;
    r->line = node ? (int)node->start_mark.line + 1 : 0;
    r->col = node ? (int)node->start_mark.column + 1 : 0;
    if (a == EM_RELABEL_HASHMOD && r->modulus == 0)
        return cfg_failp(c, node, "relabel configuration for hashmod requires non-zero modulus");
    if ((a == EM_RELABEL_REPLACE || a == EM_RELABEL_HASHMOD || lu_eq) && !*tl)
        return cfg_failp(c, node, "relabel configuration for %s action requires 'target_label' value", an);
    bool has_var = strchr(tl, '$') != NULL;
    if (a == EM_RELABEL_REPLACE &&
        ((!has_var && !cfg_label_name_valid(tl)) || (has_var && !legacy_target_valid(tl))))
        return cfg_failp(c, at(c, node, "target_label"), "%s is invalid 'target_label' for %s action",
                         cfg_q(c, tl), an);
    if (lu_eq && !cfg_label_name_valid(tl))
        return cfg_failp(c, at(c, node, "target_label"), "%s is invalid 'target_label' for %s action",
                         cfg_q(c, tl), an);
    if (lu_eq && strcmp(repl, "$1") != 0)
        return cfg_failp(c, at(c, node, "replacement"), "'replacement' can not be set for %s action", an);
    if (a == EM_RELABEL_LABELMAP && !legacy_target_valid(repl))
        return cfg_failp(c, at(c, node, "replacement"), "%s is invalid 'replacement' for %s action",
                         cfg_q(c, repl), an);
    if (a == EM_RELABEL_HASHMOD && !cfg_label_name_valid(tl))
        return cfg_failp(c, at(c, node, "target_label"), "%s is invalid 'target_label' for %s action",
                         cfg_q(c, tl), an);
    if ((a == EM_RELABEL_KEEPEQUAL || a == EM_RELABEL_DROPEQUAL) &&
        (r->regex_set || r->modulus || strcmp(sep, ";") || strcmp(repl, "$1")))
        return cfg_failp(
            c, node, "%s action requires only 'source_labels' and `target_label`, and no other fields", an);
    if ((a == EM_RELABEL_LABELDROP || a == EM_RELABEL_LABELKEEP) &&
        (!cfg_is_null(cfg_find(c, node, "source_labels")) || *tl || r->modulus || strcmp(sep, ";") ||
         strcmp(repl, "$1")))
        return cfg_failp(c, node, "%s action requires only 'regex', and no other fields", an);
    return EM_OK;
}

static const cfg_field_t relabel_fields[] = {
    FIELD(em_relabel_config_t, "source_labels", CK_LABELNAMES, CF_OMITEMPTY, source_labels),
    FIELD(em_relabel_config_t, "separator", CK_STR, 0, separator),
    {"regex", CK_REGEX, CF_OMITEMPTY, 0, 0, NULL, NULL, NULL},
    FIELD(em_relabel_config_t, "modulus", CK_UINT, CF_OMITEMPTY, modulus),
    FIELD(em_relabel_config_t, "target_label", CK_STR, CF_OMITEMPTY, target_label),
    FIELD(em_relabel_config_t, "replacement", CK_STR, 0, replacement),
    FIELD(em_relabel_config_t, "action", CK_ACTION, 0, action),
};
const cfg_type_t cfg_type_relabel =
    TYPE("relabel_config", em_relabel_config_t, relabel_fields, relabel_init, relabel_check, false);

/* ---------------------------------------------------------------------------------------------- */
/* Service discovery: static and file                                                               */

static const cfg_field_t static_fields[] = {
    FIELD(em_static_config_t, "targets", CK_STRS, 0, targets),
    FIELD(em_static_config_t, "labels", CK_LABELS, CF_OMITEMPTY, labels),
};
static const cfg_type_t static_type =
    TYPE("static_config", em_static_config_t, static_fields, NULL, NULL, false);

static void file_sd_init(void *obj)
{
    ((em_file_sd_config_t *)obj)->refresh_interval_ms = 5 * 60 * 1000;
}

/* discovery/file: ^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$ */
static bool file_sd_name_valid(const char *s)
{
    static const char *const ext[] = {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"};
    size_t n = strlen(s);
    bool ok = false;
    for (size_t i = 0; i < EM_ARRAY_LEN(ext); i++) {
        size_t e = strlen(ext[i]);
        if (n >= e && strcmp(s + n - e, ext[i]) == 0)
            ok = true;
    }
    const char *star = strchr(s, '*');
    return ok && (!star || !strchr(star, '/'));
}

static int file_sd_check(cfg_ctx_t *c, void *obj, yaml_node_t *node)
{
    em_file_sd_config_t *f = obj;
    if (f->files.n == 0)
        return cfg_failp(c, node, "file service discovery config must contain at least one path name");
    yaml_node_t *files = cfg_find(c, node, "files");
    for (size_t i = 0; i < f->files.n; i++) {
        if (!file_sd_name_valid(f->files.v[i])) {
            yaml_node_t *it = files && files->type == YAML_SEQUENCE_NODE
                                  ? cfg_node(c, files->data.sequence.items.start[i])
                                  : node;
            return cfg_failp(c, it, "path name %s is not valid for file discovery", cfg_q(c, f->files.v[i]));
        }
    }
    return EM_OK;
}

static const cfg_field_t file_sd_fields[] = {
    FIELD(em_file_sd_config_t, "files", CK_STRS, CF_PATH, files),
    FIELD(em_file_sd_config_t, "refresh_interval", CK_DUR, CF_OMITEMPTY, refresh_interval_ms),
};
static const cfg_type_t file_sd_type =
    TYPE("file_sd_config", em_file_sd_config_t, file_sd_fields, file_sd_init, file_sd_check, false);

/* Prometheus's checkStaticTargets: with no relabelling, a target must be host:port, not a URL. */
static int static_targets_check(cfg_ctx_t *c, em_static_config_t **sc, size_t n, yaml_node_t *owner)
{
    yaml_node_t *list = cfg_find(c, owner, "static_configs");
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sc[i]->targets.n; k++) {
            if (!strchr(sc[i]->targets.v[k], '/'))
                continue;
            yaml_node_t *pos = owner;
            if (list && list->type == YAML_SEQUENCE_NODE) {
                yaml_node_t *tg = cfg_node(c, list->data.sequence.items.start[i]);
                yaml_node_t *ts = cfg_find(c, tg, "targets");
                if (ts && ts->type == YAML_SEQUENCE_NODE)
                    pos = cfg_node(c, ts->data.sequence.items.start[k]);
            }
            return cfg_fail(c, pos, "%s is not a valid hostname", cfg_q(c, sc[i]->targets.v[k]));
        }
    }
    return EM_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* global                                                                                           */

static const char *const scrape_protocols_sorted[] = {"OpenMetricsText0.0.1", "OpenMetricsText1.0.0",
                                                      "PrometheusProto", "PrometheusText0.0.4",
                                                      "PrometheusText1.0.0"};
#define SUPPORTED_PROTOCOLS                                                                                  \
    "[OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"

static bool protocol_known(const char *p)
{
    for (size_t i = 0; i < EM_ARRAY_LEN(scrape_protocols_sorted); i++)
        if (strcmp(p, scrape_protocols_sorted[i]) == 0)
            return true;
    return false;
}

static const cfg_field_t global_fields[] = {
    FIELD(em_global_config_t, "scrape_interval", CK_DUR, CF_OMITEMPTY, scrape_interval_ms),
    FIELD(em_global_config_t, "scrape_timeout", CK_DUR, CF_OMITEMPTY, scrape_timeout_ms),
    FIELD(em_global_config_t, "scrape_protocols", CK_STRS, CF_OMITEMPTY, scrape_protocols),
    FIELD(em_global_config_t, "evaluation_interval", CK_DUR, CF_OMITEMPTY, evaluation_interval_ms),
    FIELD(em_global_config_t, "rule_query_offset", CK_DUR, CF_OMITEMPTY, rule_query_offset_ms),
    FIELD(em_global_config_t, "query_log_file", CK_STR, CF_OMITEMPTY | CF_PATH, query_log_file),
    FIELD(em_global_config_t, "scrape_failure_log_file", CK_STR, CF_OMITEMPTY | CF_PATH,
          scrape_failure_log_file),
    FIELD(em_global_config_t, "external_labels", CK_LABELS, CF_OMITEMPTY, external_labels),
    FIELD(em_global_config_t, "body_size_limit", CK_BYTES, CF_OMITEMPTY, body_size_limit_bytes),
    FIELD(em_global_config_t, "sample_limit", CK_UINT, CF_OMITEMPTY, sample_limit),
    FIELD(em_global_config_t, "target_limit", CK_UINT, CF_OMITEMPTY, target_limit),
    FIELD(em_global_config_t, "label_limit", CK_UINT, CF_OMITEMPTY, label_limit),
    FIELD(em_global_config_t, "label_name_length_limit", CK_UINT, CF_OMITEMPTY, label_name_length_limit),
    FIELD(em_global_config_t, "label_value_length_limit", CK_UINT, CF_OMITEMPTY, label_value_length_limit),
    FIELD(em_global_config_t, "keep_dropped_targets", CK_UINT, CF_OMITEMPTY, keep_dropped_targets),
    FIELD(em_global_config_t, "metric_name_validation_scheme", CK_STR, CF_OMITEMPTY,
          metric_name_validation_scheme),
    FIELD(em_global_config_t, "metric_name_escaping_scheme", CK_STR, CF_OMITEMPTY,
          metric_name_escaping_scheme),
    FIELD(em_global_config_t, "scrape_native_histograms", CK_TRIBOOL, CF_OMITEMPTY, scrape_native_histograms),
    FIELD(em_global_config_t, "convert_classic_histograms_to_nhcb", CK_BOOL, CF_OMITEMPTY,
          convert_classic_histograms_to_nhcb),
    FIELD(em_global_config_t, "always_scrape_classic_histograms", CK_BOOL, CF_OMITEMPTY,
          always_scrape_classic_histograms),
    FIELD(em_global_config_t, "extra_scrape_metrics", CK_TRIBOOL, CF_OMITEMPTY, extra_scrape_metrics),
};
static const cfg_type_t global_type = TYPE("global", em_global_config_t, global_fields, NULL, NULL, false);

static int protocols_check(cfg_ctx_t *c, const em_config_strs_t *p, yaml_node_t *pos, const char *suffix)
{
    if (p->n == 0)
        return cfg_fail(c, pos, "scrape_protocols cannot be empty%s", suffix);
    for (size_t i = 0; i < p->n; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcasecmp(p->v[i], p->v[k]) == 0) {
                em_buf_t b = EM_BUF_INIT;
                for (size_t j = 0; j < p->n; j++)
                    em_buf_printf(&b, "%s%s", j ? " " : "", p->v[j]);
                int rc =
                    cfg_fail(c, pos, "duplicated protocol in scrape_protocols, got [%s]%s", b.data, suffix);
                em_buf_fini(&b);
                return rc;
            }
        }
        if (!protocol_known(p->v[i]))
            return cfg_fail(
                c, pos, "scrape_protocols: unknown scrape protocol %s, supported: " SUPPORTED_PROTOCOLS "%s",
                p->v[i], suffix);
    }
    return EM_OK;
}

static bool escaping_known(const char *s)
{
    return strcmp(s, "allow-utf-8") == 0 || strcmp(s, "underscores") == 0 || strcmp(s, "dots") == 0 ||
           strcmp(s, "values") == 0;
}

/* Ember's data model has legacy label names only; refuse a config that relies on UTF-8 names. */
static int validation_scheme_check(cfg_ctx_t *c, char **scheme, yaml_node_t *pos)
{
    if (!empty(*scheme) && strcmp(*scheme, "legacy") != 0)
        return cfg_fail(c, pos,
                        "metric_name_validation_scheme %s is not supported by ember: label names must match "
                        "[a-zA-Z_][a-zA-Z0-9_]*; use \"legacy\"",
                        cfg_q(c, *scheme));
    free(*scheme);
    *scheme = em_strdup("legacy");
    return EM_OK;
}

/* GlobalConfig.UnmarshalYAML's defaults and checks; run once after the file was read, whether or not
 * it had a global section (an absent or empty section gives Prometheus's DefaultGlobalConfig). */
int cfg_global_finish(cfg_ctx_t *c, em_global_config_t *g, yaml_node_t *node)
{
    int rc = validation_scheme_check(c, &g->metric_name_validation_scheme,
                                     at(c, node, "metric_name_validation_scheme"));
    if (rc)
        return rc;
    if (!empty(g->metric_name_escaping_scheme) && !escaping_known(g->metric_name_escaping_scheme))
        return cfg_fail(
            c, at(c, node, "metric_name_escaping_scheme"),
            "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', "
            "'dots', or 'values', got %s",
            cfg_q(c, g->metric_name_escaping_scheme));
    if (g->scrape_interval_ms == 0)
        g->scrape_interval_ms = 60000;
    if (g->scrape_timeout_ms > g->scrape_interval_ms)
        return cfg_fail(c, at(c, node, "scrape_timeout"),
                        "global scrape timeout greater than scrape interval");
    if (g->scrape_timeout_ms == 0)
        g->scrape_timeout_ms = g->scrape_interval_ms < 10000 ? g->scrape_interval_ms : 10000;
    if (g->evaluation_interval_ms == 0)
        g->evaluation_interval_ms = 60000;
    if (g->scrape_native_histograms < 0)
        g->scrape_native_histograms = 0;
    if (g->extra_scrape_metrics < 0)
        g->extra_scrape_metrics = 0;
    if (cfg_find(c, node, "scrape_protocols") && !cfg_is_null(cfg_find(c, node, "scrape_protocols")))
        return protocols_check(c, &g->scrape_protocols, at(c, node, "scrape_protocols"),
                               " for global config");
    return EM_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* scrape_configs                                                                                   */

static void scrape_init(void *obj)
{
    em_scrape_config_t *s = obj;
    s->metrics_path = em_strdup("/metrics");
    s->scheme = em_strdup("http");
    s->honor_timestamps = true;
    s->enable_compression = true;
}

static int scheme_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    const char *s = *(char **)field;
    if (s && strcmp(s, "http") != 0 && strcmp(s, "https") != 0)
        return cfg_failp(c, node, "invalid scheme %s: must be \"http\" or \"https\"", cfg_q(c, s));
    return EM_OK;
}

static int scrape_check(cfg_ctx_t *c, void *obj, yaml_node_t *node)
{
    em_scrape_config_t *s = obj;
    if (node) {
        s->line = (int)node->start_mark.line + 1;
        s->col = (int)node->start_mark.column + 1;
    }
    if (empty(s->job_name))
        return cfg_failp(c, node, "job_name is empty");
    /* A null or empty scheme or path would make every target URL invalid; take the defaults instead. */
    default_str(&s->scheme, "http");
    default_str(&s->metrics_path, "/metrics");
    int rc = http_check(c, &s->http, node);
    if (rc)
        return rc;
    if (s->n_relabel_configs == 0)
        return static_targets_check(c, s->static_configs, s->n_static_configs, node);
    return EM_OK;
}

static const cfg_field_t scrape_fields[] = {
    FIELD(em_scrape_config_t, "job_name", CK_STR, 0, job_name),
    FIELD(em_scrape_config_t, "honor_labels", CK_BOOL, CF_OMITEMPTY, honor_labels),
    FIELD(em_scrape_config_t, "honor_timestamps", CK_BOOL, 0, honor_timestamps),
    FIELD(em_scrape_config_t, "track_timestamps_staleness", CK_BOOL, 0, track_timestamps_staleness),
    FIELD(em_scrape_config_t, "params", CK_PARAMS, CF_OMITEMPTY, params),
    FIELD(em_scrape_config_t, "scrape_interval", CK_DUR, CF_OMITEMPTY, scrape_interval_ms),
    FIELD(em_scrape_config_t, "scrape_timeout", CK_DUR, CF_OMITEMPTY, scrape_timeout_ms),
    FIELD(em_scrape_config_t, "scrape_protocols", CK_STRS, CF_OMITEMPTY, scrape_protocols),
    FIELD(em_scrape_config_t, "fallback_scrape_protocol", CK_STR, CF_OMITEMPTY, fallback_scrape_protocol),
    FIELD(em_scrape_config_t, "scrape_native_histograms", CK_TRIBOOL, CF_OMITEMPTY, scrape_native_histograms),
    FIELD(em_scrape_config_t, "always_scrape_classic_histograms", CK_TRIBOOL, CF_OMITEMPTY,
          always_scrape_classic_histograms),
    FIELD(em_scrape_config_t, "convert_classic_histograms_to_nhcb", CK_TRIBOOL, CF_OMITEMPTY,
          convert_classic_histograms_to_nhcb),
    FIELD(em_scrape_config_t, "scrape_failure_log_file", CK_STR, CF_OMITEMPTY | CF_PATH,
          scrape_failure_log_file),
    FIELD(em_scrape_config_t, "metrics_path", CK_STR, CF_OMITEMPTY, metrics_path),
    FCHECK(em_scrape_config_t, "scheme", CK_STR, CF_OMITEMPTY, scheme, scheme_check),
    FIELD(em_scrape_config_t, "enable_compression", CK_BOOL, 0, enable_compression),
    FIELD(em_scrape_config_t, "body_size_limit", CK_BYTES, CF_OMITEMPTY, body_size_limit_bytes),
    FIELD(em_scrape_config_t, "sample_limit", CK_UINT, CF_OMITEMPTY, sample_limit),
    FIELD(em_scrape_config_t, "target_limit", CK_UINT, CF_OMITEMPTY, target_limit),
    FIELD(em_scrape_config_t, "label_limit", CK_UINT, CF_OMITEMPTY, label_limit),
    FIELD(em_scrape_config_t, "label_name_length_limit", CK_UINT, CF_OMITEMPTY, label_name_length_limit),
    FIELD(em_scrape_config_t, "label_value_length_limit", CK_UINT, CF_OMITEMPTY, label_value_length_limit),
    FIELD(em_scrape_config_t, "native_histogram_bucket_limit", CK_UINT, CF_OMITEMPTY,
          native_histogram_bucket_limit),
    FIELD(em_scrape_config_t, "native_histogram_min_bucket_factor", CK_FLOAT, CF_OMITEMPTY,
          native_histogram_min_bucket_factor),
    FIELD(em_scrape_config_t, "keep_dropped_targets", CK_UINT, CF_OMITEMPTY, keep_dropped_targets),
    FIELD(em_scrape_config_t, "metric_name_validation_scheme", CK_STR, CF_OMITEMPTY,
          metric_name_validation_scheme),
    FIELD(em_scrape_config_t, "metric_name_escaping_scheme", CK_STR, CF_OMITEMPTY,
          metric_name_escaping_scheme),
    FIELD(em_scrape_config_t, "extra_scrape_metrics", CK_TRIBOOL, CF_OMITEMPTY, extra_scrape_metrics),
    FSUB(em_scrape_config_t, NULL, CK_INLINE, 0, http, http_type),
    FLIST(em_scrape_config_t, "relabel_configs", relabel_configs, n_relabel_configs, cfg_type_relabel,
          "empty or null target relabeling rule in scrape config"),
    FLIST(em_scrape_config_t, "metric_relabel_configs", metric_relabel_configs, n_metric_relabel_configs,
          cfg_type_relabel, "empty or null metric relabeling rule in scrape config"),
    FLIST(em_scrape_config_t, "file_sd_configs", file_sd_configs, n_file_sd_configs, file_sd_type, NULL),
    FLIST(em_scrape_config_t, "static_configs", static_configs, n_static_configs, static_type, NULL),
};
const cfg_type_t cfg_type_scrape =
    TYPE("scrape_config", em_scrape_config_t, scrape_fields, scrape_init, scrape_check, true);

static int8_t tri_or(int8_t v, int8_t dflt)
{
    return v < 0 ? dflt : v;
}

static int scrape_escaping(cfg_ctx_t *c, em_scrape_config_t *s, const em_global_config_t *g,
                           yaml_node_t *node)
{
    if (empty(s->metric_name_escaping_scheme)) {
        free(s->metric_name_escaping_scheme);
        /* Legacy validation, the only one Ember has, implies underscore escaping unless the global
         * section chose another escaping. */
        s->metric_name_escaping_scheme =
            em_strdup(!empty(g->metric_name_escaping_scheme) &&
                              cfg_find(c, node, "metric_name_validation_scheme") == NULL
                          ? g->metric_name_escaping_scheme
                          : "underscores");
    }
    yaml_node_t *pos = at(c, node, "metric_name_escaping_scheme");
    if (strcmp(s->metric_name_escaping_scheme, "allow-utf-8") == 0)
        return cfg_fail(c, pos, "utf8 metric names requested but validation scheme is not set to UTF8");
    if (!escaping_known(s->metric_name_escaping_scheme))
        return cfg_fail(c, pos,
                        "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', "
                        "'underscores', 'dots', or 'values', got %s",
                        cfg_q(c, s->metric_name_escaping_scheme));
    return EM_OK;
}

static void scrape_inherit(em_scrape_config_t *s, const em_global_config_t *g)
{
    if (s->body_size_limit_bytes == 0)
        s->body_size_limit_bytes = g->body_size_limit_bytes;
    if (s->sample_limit == 0)
        s->sample_limit = g->sample_limit;
    if (s->target_limit == 0)
        s->target_limit = g->target_limit;
    if (s->label_limit == 0)
        s->label_limit = g->label_limit;
    if (s->label_name_length_limit == 0)
        s->label_name_length_limit = g->label_name_length_limit;
    if (s->label_value_length_limit == 0)
        s->label_value_length_limit = g->label_value_length_limit;
    if (s->keep_dropped_targets == 0)
        s->keep_dropped_targets = g->keep_dropped_targets;
    if (empty(s->scrape_failure_log_file) && !empty(g->scrape_failure_log_file)) {
        free(s->scrape_failure_log_file);
        s->scrape_failure_log_file = em_strdup(g->scrape_failure_log_file);
    }
    s->scrape_native_histograms = tri_or(s->scrape_native_histograms, g->scrape_native_histograms);
    s->extra_scrape_metrics = tri_or(s->extra_scrape_metrics, g->extra_scrape_metrics);
    s->convert_classic_histograms_to_nhcb =
        tri_or(s->convert_classic_histograms_to_nhcb, g->convert_classic_histograms_to_nhcb);
    s->always_scrape_classic_histograms =
        tri_or(s->always_scrape_classic_histograms, g->always_scrape_classic_histograms);
}

static void scrape_default_protocols(em_scrape_config_t *s, const em_global_config_t *g)
{
    static const char *const dflt[] = {"OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0",
                                       "PrometheusText0.0.4"};
    static const char *const proto_first[] = {"PrometheusProto", "OpenMetricsText1.0.0",
                                              "OpenMetricsText0.0.1", "PrometheusText1.0.0",
                                              "PrometheusText0.0.4"};
    const char *const *src = dflt;
    size_t n = EM_ARRAY_LEN(dflt);
    if (g->scrape_protocols.n) {
        src = (const char *const *)g->scrape_protocols.v;
        n = g->scrape_protocols.n;
    } else if (s->scrape_native_histograms == 1) {
        src = proto_first;
        n = EM_ARRAY_LEN(proto_first);
    }
    s->scrape_protocols.v = em_calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        s->scrape_protocols.v[i] = em_strdup(src[i]);
    s->scrape_protocols.n = n;
}

/* ScrapeConfig.Validate(globalConfig): globals into the job, then the checks that need them. */
int cfg_scrape_validate(cfg_ctx_t *c, em_scrape_config_t *s, const em_global_config_t *g, yaml_node_t *node)
{
    const char *q = cfg_q(c, s->job_name);
    char suffix[300];
    if (s->scrape_interval_ms == 0)
        s->scrape_interval_ms = g->scrape_interval_ms;
    if (s->scrape_timeout_ms > s->scrape_interval_ms)
        return cfg_fail(c, at(c, node, "scrape_timeout"),
                        "scrape timeout greater than scrape interval for scrape config with job name %s", q);
    if (s->scrape_timeout_ms == 0)
        s->scrape_timeout_ms =
            g->scrape_timeout_ms < s->scrape_interval_ms ? g->scrape_timeout_ms : s->scrape_interval_ms;
    scrape_inherit(s, g);
    snprintf(suffix, sizeof(suffix), " for scrape config with job name %s", q);
    yaml_node_t *pn = cfg_find(c, node, "scrape_protocols");
    if (!pn || cfg_is_null(pn))
        scrape_default_protocols(s, g);
    int rc = protocols_check(c, &s->scrape_protocols, pn ? pn : node, suffix);
    if (rc)
        return rc;
    if (!empty(s->fallback_scrape_protocol) && !protocol_known(s->fallback_scrape_protocol))
        return cfg_fail(c, at(c, node, "fallback_scrape_protocol"),
                        "invalid fallback_scrape_protocol for scrape config with job name %s: unknown scrape "
                        "protocol %s, "
                        "supported: " SUPPORTED_PROTOCOLS,
                        q, s->fallback_scrape_protocol);
    if ((rc = validation_scheme_check(c, &s->metric_name_validation_scheme,
                                      at(c, node, "metric_name_validation_scheme"))))
        return rc;
    return scrape_escaping(c, s, g, node);
}

/* ---------------------------------------------------------------------------------------------- */
/* alerting                                                                                         */

static void am_init(void *obj)
{
    em_alertmanager_config_t *a = obj;
    a->scheme = em_strdup("http");
    a->timeout_ms = 10000;
    a->api_version = em_strdup("v2");
}

static int api_version_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    char **v = field;
    if (!*v || strcmp(*v, "v2") != 0)
        return cfg_failp(c, node, "expected Alertmanager api version to be one of [v2] but got %s",
                         *v ? *v : "");
    return EM_OK;
}

static int am_check(cfg_ctx_t *c, void *obj, yaml_node_t *node)
{
    em_alertmanager_config_t *a = obj;
    default_str(&a->scheme, "http");
    int rc = http_check(c, &a->http, node);
    if (rc)
        return rc;
    if (a->n_relabel_configs == 0)
        return static_targets_check(c, a->static_configs, a->n_static_configs, node);
    return EM_OK;
}

static const cfg_field_t am_fields[] = {
    FSUB(em_alertmanager_config_t, NULL, CK_INLINE, 0, http, http_type),
    FUNSUP("sigv4"),
    FCHECK(em_alertmanager_config_t, "scheme", CK_STR, CF_OMITEMPTY, scheme, scheme_check),
    FIELD(em_alertmanager_config_t, "path_prefix", CK_STR, CF_OMITEMPTY, path_prefix),
    FIELD(em_alertmanager_config_t, "timeout", CK_DUR, CF_OMITEMPTY, timeout_ms),
    FCHECK(em_alertmanager_config_t, "api_version", CK_STR, 0, api_version, api_version_check),
    FLIST(em_alertmanager_config_t, "relabel_configs", relabel_configs, n_relabel_configs, cfg_type_relabel,
          "empty or null Alertmanager target relabeling rule"),
    FLIST(em_alertmanager_config_t, "alert_relabel_configs", alert_relabel_configs, n_alert_relabel_configs,
          cfg_type_relabel, "empty or null Alertmanager alert relabeling rule"),
    FLIST(em_alertmanager_config_t, "file_sd_configs", file_sd_configs, n_file_sd_configs, file_sd_type,
          NULL),
    FLIST(em_alertmanager_config_t, "static_configs", static_configs, n_static_configs, static_type, NULL),
};
static const cfg_type_t am_type =
    TYPE("alertmanager_config", em_alertmanager_config_t, am_fields, am_init, am_check, true);

static const cfg_field_t alerting_fields[] = {
    FLIST(em_alerting_config_t, "alert_relabel_configs", alert_relabel_configs, n_alert_relabel_configs,
          cfg_type_relabel, "empty or null alert relabeling rule"),
    FLIST(em_alerting_config_t, "alertmanagers", alertmanagers, n_alertmanagers, am_type,
          "empty or null section in alertmanagers"),
};
static const cfg_type_t alerting_type =
    TYPE("alerting", em_alerting_config_t, alerting_fields, NULL, NULL, false);

/* ---------------------------------------------------------------------------------------------- */
/* remote_write / remote_read                                                                       */

static const char *const reserved_headers[] = {
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
};

static int headers_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    const em_config_kvs_t *h = field;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, "authorization") == 0)
            return cfg_failp(
                c, node,
                "authorization header must be changed via the basic_auth, authorization, oauth2, "
                "sigv4, azuread or google_iam parameter");
        for (size_t k = 0; k < EM_ARRAY_LEN(reserved_headers); k++)
            if (strcasecmp(h->v[i].name, reserved_headers[k]) == 0)
                return cfg_failp(c, node, "%s is a reserved header. It must not be changed", h->v[i].name);
    }
    return EM_OK;
}

static void queue_init(void *obj)
{
    em_queue_config_t *q = obj;
    q->capacity = 10000;
    q->max_shards = 50;
    q->min_shards = 1;
    q->max_samples_per_send = 2000;
    q->batch_send_deadline_ms = 5000;
    q->min_backoff_ms = 30;
    q->max_backoff_ms = 5000;
}

static const cfg_field_t queue_fields[] = {
    FIELD(em_queue_config_t, "capacity", CK_INT, CF_OMITEMPTY, capacity),
    FIELD(em_queue_config_t, "max_shards", CK_INT, CF_OMITEMPTY, max_shards),
    FIELD(em_queue_config_t, "min_shards", CK_INT, CF_OMITEMPTY, min_shards),
    FIELD(em_queue_config_t, "max_samples_per_send", CK_INT, CF_OMITEMPTY, max_samples_per_send),
    FIELD(em_queue_config_t, "batch_send_deadline", CK_DUR, CF_OMITEMPTY, batch_send_deadline_ms),
    FIELD(em_queue_config_t, "min_backoff", CK_DUR, CF_OMITEMPTY, min_backoff_ms),
    FIELD(em_queue_config_t, "max_backoff", CK_DUR, CF_OMITEMPTY, max_backoff_ms),
    FIELD(em_queue_config_t, "retry_on_http_429", CK_BOOL, CF_OMITEMPTY, retry_on_http_429),
    FIELD(em_queue_config_t, "sample_age_limit", CK_DUR, CF_OMITEMPTY, sample_age_limit_ms),
};
static const cfg_type_t queue_type =
    TYPE("queue_config", em_queue_config_t, queue_fields, queue_init, NULL, false);

static void metadata_init(void *obj)
{
    em_metadata_config_t *m = obj;
    m->send = true;
    m->send_interval_ms = 60000;
    m->max_samples_per_send = 2000;
}

static const cfg_field_t metadata_fields[] = {
    FIELD(em_metadata_config_t, "send", CK_BOOL, 0, send),
    FIELD(em_metadata_config_t, "send_interval", CK_DUR, 0, send_interval_ms),
    FIELD(em_metadata_config_t, "max_samples_per_send", CK_INT, CF_OMITEMPTY, max_samples_per_send),
};
static const cfg_type_t metadata_type =
    TYPE("metadata_config", em_metadata_config_t, metadata_fields, metadata_init, NULL, false);

static void rw_init(void *obj)
{
    em_remote_write_config_t *r = obj;
    r->remote_timeout_ms = 30000;
    r->protobuf_message = em_strdup("prometheus.WriteRequest");
    r->http.enable_http2 = false; /* Prometheus 3: DefaultRemoteWriteHTTPClientConfig */
}

static int queue_validate(cfg_ctx_t *c, const em_queue_config_t *q, yaml_node_t *pos)
{
    if (q->max_shards <= 0)
        return cfg_failp(c, pos, "remote write queue max_shards must be positive");
    if (q->min_shards <= 0)
        return cfg_failp(c, pos, "remote write queue min_shards must be positive");
    if (q->min_shards > q->max_shards)
        return cfg_failp(c, pos, "remote write queue min_shards must not be greater than max_shards");
    if (q->max_samples_per_send <= 0)
        return cfg_failp(c, pos, "remote write queue max_samples_per_send must be positive");
    if (q->capacity <= 0)
        return cfg_failp(c, pos, "remote write queue capacity must be positive");
    if (q->max_backoff_ms < q->min_backoff_ms)
        return cfg_failp(c, pos, "remote write queue max_backoff must not be less than min_backoff");
    return EM_OK;
}

static int rw_check(cfg_ctx_t *c, void *obj, yaml_node_t *node)
{
    em_remote_write_config_t *r = obj;
    if (empty(r->url))
        return cfg_failp(c, node, "url for remote_write is empty");
    default_str(&r->protobuf_message, "prometheus.WriteRequest");
    if (strcmp(r->protobuf_message, "prometheus.WriteRequest") != 0 &&
        strcmp(r->protobuf_message, "io.prometheus.write.v2.Request") != 0)
        return cfg_failp(
            c, at(c, node, "protobuf_message"),
            "invalid protobuf_message value: unknown remote write protobuf message %s, supported: "
            "prometheus.WriteRequest, io.prometheus.write.v2.Request",
            r->protobuf_message);
    int rc = http_check(c, &r->http, node);
    if (rc)
        return rc;
    if ((rc = queue_validate(c, &r->queue_config, at(c, node, "queue_config"))))
        return rc;
    return EM_OK;
}

static const cfg_field_t rw_fields[] = {
    FCHECK(em_remote_write_config_t, "url", CK_URL, 0, url, url_check),
    FIELD(em_remote_write_config_t, "remote_timeout", CK_DUR, CF_OMITEMPTY, remote_timeout_ms),
    FCHECK(em_remote_write_config_t, "headers", CK_KVS, CF_OMITEMPTY, headers, headers_check),
    FLIST(em_remote_write_config_t, "write_relabel_configs", write_relabel_configs, n_write_relabel_configs,
          cfg_type_relabel, "empty or null relabeling rule in remote write config"),
    FIELD(em_remote_write_config_t, "name", CK_STR, CF_OMITEMPTY, name),
    FIELD(em_remote_write_config_t, "send_exemplars", CK_BOOL, CF_OMITEMPTY, send_exemplars),
    FIELD(em_remote_write_config_t, "send_native_histograms", CK_BOOL, CF_OMITEMPTY, send_native_histograms),
    FIELD(em_remote_write_config_t, "round_robin_dns", CK_BOOL, CF_OMITEMPTY, round_robin_dns),
    FIELD(em_remote_write_config_t, "protobuf_message", CK_STR, CF_OMITEMPTY, protobuf_message),
    FSUB(em_remote_write_config_t, NULL, CK_INLINE, 0, http, http_type),
    FSUB(em_remote_write_config_t, "queue_config", CK_EMBED, CF_OMITEMPTY, queue_config, queue_type),
    FSUB(em_remote_write_config_t, "metadata_config", CK_EMBED, CF_OMITEMPTY, metadata_config, metadata_type),
    FUNSUP("sigv4"),
    FUNSUP("azuread"),
    FUNSUP("google_iam"),
};
static const cfg_type_t rw_type =
    TYPE("remote_write", em_remote_write_config_t, rw_fields, rw_init, rw_check, false);

static void rr_init(void *obj)
{
    em_remote_read_config_t *r = obj;
    r->remote_timeout_ms = 60000;
    r->chunked_read_limit = 50000000;
    r->filter_external_labels = true;
}

static int rr_check(cfg_ctx_t *c, void *obj, yaml_node_t *node)
{
    em_remote_read_config_t *r = obj;
    if (empty(r->url))
        return cfg_failp(c, node, "url for remote_read is empty");
    return http_check(c, &r->http, node);
}

static const cfg_field_t rr_fields[] = {
    FCHECK(em_remote_read_config_t, "url", CK_URL, 0, url, url_check),
    FIELD(em_remote_read_config_t, "remote_timeout", CK_DUR, CF_OMITEMPTY, remote_timeout_ms),
    FIELD(em_remote_read_config_t, "chunked_read_limit", CK_UINT, CF_OMITEMPTY, chunked_read_limit),
    FCHECK(em_remote_read_config_t, "headers", CK_KVS, CF_OMITEMPTY, headers, headers_check),
    FIELD(em_remote_read_config_t, "read_recent", CK_BOOL, CF_OMITEMPTY, read_recent),
    FIELD(em_remote_read_config_t, "name", CK_STR, CF_OMITEMPTY, name),
    FSUB(em_remote_read_config_t, NULL, CK_INLINE, 0, http, http_type),
    FIELD(em_remote_read_config_t, "required_matchers", CK_LABELS, CF_OMITEMPTY, required_matchers),
    /* Prometheus marks it omitempty, so "false" vanishes from its output; printed always here so that
     * the output reads back as the same configuration. */
    FIELD(em_remote_read_config_t, "filter_external_labels", CK_BOOL, 0, filter_external_labels),
};
static const cfg_type_t rr_type =
    TYPE("remote_read", em_remote_read_config_t, rr_fields, rr_init, rr_check, false);

/* ---------------------------------------------------------------------------------------------- */
/* storage and the top level                                                                        */

static const cfg_field_t retention_fields[] = {
    FIELD(em_config_t, "time", CK_DUR, CF_OMITEMPTY, storage.retention_time_ms),
    FIELD(em_config_t, "size", CK_BYTES, CF_OMITEMPTY, storage.retention_size_bytes),
};
static const cfg_type_t retention_type = TYPE("retention", em_config_t, retention_fields, NULL, NULL, false);

static int retention_size_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    (void)field;
    yaml_node_t *sz = cfg_find(c, node, "size");
    if (sz && sz->type == YAML_SCALAR_NODE && sz->data.scalar.length && sz->data.scalar.value[0] == '-')
        return cfg_failp(c, sz, "'storage.tsdb.retention.size' must be greater than or equal to 0, got %s",
                         (const char *)sz->data.scalar.value);
    return EM_OK;
}

static const cfg_field_t tsdb_fields[] = {
    FIELD(em_config_t, "out_of_order_time_window", CK_DUR, CF_OMITEMPTY, storage.out_of_order_time_window_ms),
    {"retention", CK_GROUP, CF_OMITEMPTY, 0, 0, &retention_type, NULL, retention_size_check},
};
static const cfg_type_t tsdb_type = TYPE("tsdb", em_config_t, tsdb_fields, NULL, NULL, false);

static void exemplars_init(void *obj)
{
    ((em_config_t *)obj)->storage.max_exemplars = 100000;
}

static const cfg_field_t exemplars_fields[] = {
    FIELD(em_config_t, "max_exemplars", CK_INT, 0, storage.max_exemplars),
};
static const cfg_type_t exemplars_type =
    TYPE("exemplars", em_config_t, exemplars_fields, exemplars_init, NULL, false);

static const cfg_field_t storage_fields[] = {
    FGROUP("tsdb", CF_OMITEMPTY, tsdb_type),
    FGROUP("exemplars", 0, exemplars_type),
};
static const cfg_type_t storage_type = TYPE("storage", em_config_t, storage_fields, NULL, NULL, false);

/* Prometheus's patRulePath: ^[^*]*(\*[^/]*)?$ -- a glob only in the last path element. */
static int rule_paths_check(cfg_ctx_t *c, void *field, yaml_node_t *node, const char *what)
{
    const em_config_strs_t *s = field;
    for (size_t i = 0; i < s->n; i++) {
        const char *star = strchr(s->v[i], '*');
        if (star && strchr(star, '/'))
            return cfg_fail(c, cfg_node(c, node->data.sequence.items.start[i]), "invalid %s path %s", what,
                            cfg_q(c, s->v[i]));
    }
    return EM_OK;
}

static int rule_files_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    return rule_paths_check(c, field, node, "rule file");
}

static int scrape_files_check(cfg_ctx_t *c, void *field, yaml_node_t *node)
{
    return rule_paths_check(c, field, node, "scrape config file");
}

static const cfg_field_t config_fields[] = {
    FSUB(em_config_t, "global", CK_EMBED, 0, global, global_type),
    {"runtime", CK_IGNORE, CF_OMITEMPTY, 0, 0, NULL, NULL, NULL},
    FSUB(em_config_t, "alerting", CK_EMBED, CF_OMITEMPTY, alerting, alerting_type),
    FCHECK(em_config_t, "rule_files", CK_STRS, CF_OMITEMPTY | CF_PATH, rule_files, rule_files_check),
    FCHECK(em_config_t, "scrape_config_files", CK_STRS, CF_OMITEMPTY | CF_PATH, scrape_config_files,
           scrape_files_check),
    FLIST(em_config_t, "scrape_configs", scrape_configs, n_scrape_configs, cfg_type_scrape,
          "empty or null scrape config section"),
    FGROUP("storage", 0, storage_type),
    FUNSUP("tracing"),
    FLIST(em_config_t, "remote_write", remote_write, n_remote_write, rw_type,
          "empty or null remote write config section"),
    FLIST(em_config_t, "remote_read", remote_read, n_remote_read, rr_type,
          "empty or null remote read config section"),
    FUNSUP("otlp"),
};
const cfg_type_t cfg_type_config = TYPE("config", em_config_t, config_fields, NULL, NULL, false);

/* A file named in scrape_config_files holds only scrape_configs. */
static const cfg_field_t scrape_file_fields[] = {
    FLIST(em_config_t, "scrape_configs", scrape_configs, n_scrape_configs, cfg_type_scrape,
          "empty or null scrape config section"),
};
const cfg_type_t cfg_type_scrape_file =
    TYPE("scrape_config_file", em_config_t, scrape_file_fields, NULL, NULL, false);
