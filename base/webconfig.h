/* base/webconfig.h -- the web configuration file (--web.config.file): TLS, HTTP/2, headers, basic auth.
 *
 * DESIGN. The format is the Prometheus exporter-toolkit's (web/tls_config.go), read with the same
 * strict YAML walker as prometheus.yml (config_int.h), so errors look alike: "<file>:<line>:<col>: <msg>".
 *
 *   tls_server_config:   cert_file, key_file (or inline cert, key), client_auth_type, client_ca_file
 *                        (or client_ca), min_version (TLS12), max_version (TLS13), cipher_suites,
 *                        curve_preferences, prefer_server_cipher_suites (true), client_allowed_sans
 *   http_server_config:  http2 (true), headers (only the security headers exporter-toolkit allows)
 *   rate_limit:          burst, interval
 *   basic_auth_users:    user -> bcrypt hash
 *
 * Loading validates what exporter-toolkit validates before it serves: TLS needs both a certificate and a
 * key, the files named must be readable, the client auth type must be known, a client CA needs a client
 * auth policy, every password hash must be a bcrypt hash. Relative paths are resolved against the
 * file's directory. Whether the certificate and key form a valid pair is checked by whoever loads them
 * into the TLS library.
 *
 * PASSWORDS. em_webconfig_check_basic_auth verifies with crypt_r(3) (libxcrypt), one bcrypt at a time
 * (bcrypt is slow by design; running many at once would let bad logins eat every core), and remembers
 * successful checks in a fixed table of EM_WEBCONFIG_AUTH_CACHE entries keyed by two seeded 64-bit
 * hashes of user, stored hash and password, so a busy client costs one bcrypt, not one per request.
 * An unknown user is checked against a fixed hash so that timing does not tell which users exist.
 *
 * OWNERSHIP. em_webconfig_t owns everything in it. After loading it is read-only except for the auth
 * cache, which has its own lock: any number of threads may call em_webconfig_check_basic_auth.
 */
#ifndef EMBER_BASE_WEBCONFIG_H
#define EMBER_BASE_WEBCONFIG_H

#include <stdbool.h>

#include "base/config.h"
#include "base/err.h"

#define EM_WEBCONFIG_AUTH_CACHE 256

typedef enum em_client_auth {
    EM_CLIENT_AUTH_NONE = 0,          /* "" or NoClientCert */
    EM_CLIENT_AUTH_REQUEST,           /* RequestClientCert */
    EM_CLIENT_AUTH_REQUIRE_ANY,       /* RequireAnyClientCert (and the old RequireClientCert) */
    EM_CLIENT_AUTH_VERIFY_IF_GIVEN,   /* VerifyClientCertIfGiven */
    EM_CLIENT_AUTH_REQUIRE_AND_VERIFY /* RequireAndVerifyClientCert */
} em_client_auth_t;

typedef struct em_webconfig_tls {
    char *cert, *key, *client_ca; /* inline PEM; key is a secret */
    char *cert_file, *key_file, *client_ca_file;
    char *client_auth_type;             /* as written; NULL when not set */
    em_config_strs_t cipher_suites;     /* IANA names as Go spells them, validated */
    em_config_strs_t curve_preferences; /* CurveP256, CurveP384, CurveP521, X25519, X25519MLKEM768 */
    em_tls_version_t min_version;       /* default TLS12 */
    em_tls_version_t max_version;       /* default TLS13 */
    bool prefer_server_cipher_suites;   /* default true */
    em_config_strs_t client_allowed_sans;
    /* Derived at load: */
    bool enabled; /* any TLS setting given: serve HTTPS */
    em_client_auth_t client_auth;
} em_webconfig_tls_t;

typedef struct em_webconfig_cache em_webconfig_cache_t;

typedef struct em_webconfig {
    em_webconfig_tls_t tls;
    bool http2;              /* default true */
    em_config_kvs_t headers; /* extra response headers */
    int64_t rate_limit_burst;
    int64_t rate_limit_interval_ms;
    em_config_kvs_t users;       /* user -> bcrypt hash, sorted by user */
    em_webconfig_cache_t *cache; /* guarded by its own mutex */
} em_webconfig_t;

/* Read and validate the web configuration at 'path'. Returns EM_OK and sets *out (free with
 * em_webconfig_free); EM_EIO when the file cannot be read; EM_EINVAL with a one-line message naming
 * the file, line and column for invalid content or unreadable referenced files. Thread: any. */
int em_webconfig_load_file(const char *path, em_webconfig_t **out, em_err_t *err);

/* As above from memory; relative paths are resolved against 'dir' (NULL: as written). */
int em_webconfig_load_string(const char *text, size_t n, const char *name, const char *dir,
                             em_webconfig_t **out, em_err_t *err);

void em_webconfig_free(em_webconfig_t *w); /* NULL allowed */

/* True when basic_auth_users is not empty: requests must authenticate. */
bool em_webconfig_auth_required(const em_webconfig_t *w);

/* True when user/password match basic_auth_users (or when no users are configured: nothing to check).
 * Thread: any; may take tens of milliseconds on a cache miss (bcrypt), one caller at a time. */
bool em_webconfig_check_basic_auth(const em_webconfig_t *w, const char *user, const char *password);

#endif
