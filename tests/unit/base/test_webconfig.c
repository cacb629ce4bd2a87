#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/webconfig.h"

/* bcrypt hashes of "pw" (cost 4, $2b$) and of "secret" ($2y$, as htpasswd writes them). */
#define HASH_PW "$2b$04$ldShmXr6eGp5/vJdlq5JMeuxiW44jY8GSPq56.VnPfyHIIFfdjUKG"
#define HASH_SECRET_2Y "$2y$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ember_webcfg_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char p[128];
    const char *files[] = {"server.crt", "server.key", "ca.pem"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        FILE *f = fopen(p, "w");
        cr_assert_not_null(f);
        fputs("-----BEGIN PLACEHOLDER-----\n", f);
        fclose(f);
    }
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static em_webconfig_t *load_ok(const char *text)
{
    em_webconfig_t *w = NULL;
    em_err_t err = {0};
    int rc = em_webconfig_load_string(text, strlen(text), "web.yml", dir, &w, &err);
    cr_assert_eq(rc, EM_OK, "%s", err.msg);
    return w;
}

static void expect_err(const char *text, const char *want)
{
    em_webconfig_t *w = NULL;
    em_err_t err = {0};
    int rc = em_webconfig_load_string(text, strlen(text), "web.yml", dir, &w, &err);
    cr_assert_eq(rc, EM_EINVAL, "expected an error for:\n%s", text);
    cr_assert_null(w);
    cr_expect_str_eq(err.msg, want);
}

TestSuite(base_webconfig, .init = setup, .fini = teardown);

Test(base_webconfig, valid_file_with_tls_headers_and_users)
{
    em_webconfig_t *w = load_ok("tls_server_config:\n"
                                "  cert_file: server.crt\n"
                                "  key_file: server.key\n"
                                "  client_auth_type: RequireAndVerifyClientCert\n"
                                "  client_ca_file: ca.pem\n"
                                "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
                                "  min_version: TLS13\n"
                                "http_server_config:\n"
                                "  http2: false\n"
                                "  headers:\n"
                                "    X-Frame-Options: deny\n"
                                "    Strict-Transport-Security: max-age=31536000\n"
                                "basic_auth_users:\n"
                                "  alice: " HASH_PW "\n"
                                "  bob: " HASH_SECRET_2Y "\n");
    char want[128];
    snprintf(want, sizeof(want), "%s/server.crt", dir);
    cr_assert_str_eq(w->tls.cert_file, want);
    snprintf(want, sizeof(want), "%s/ca.pem", dir);
    cr_assert_str_eq(w->tls.client_ca_file, want);
    cr_assert(w->tls.enabled);
    cr_assert_eq(w->tls.client_auth, EM_CLIENT_AUTH_REQUIRE_AND_VERIFY);
    cr_assert_eq(w->tls.min_version, EM_TLS_13);
    cr_assert_eq(w->tls.max_version, EM_TLS_13);
    cr_assert(w->tls.prefer_server_cipher_suites);
    cr_assert_eq(w->tls.cipher_suites.n, 1);
    cr_assert(!w->http2);
    cr_assert_eq(w->headers.n, 2);
    cr_assert_eq(w->users.n, 2);
    cr_assert(em_webconfig_auth_required(w));
    em_webconfig_free(w);
}

Test(base_webconfig, empty_file_means_plain_http_without_auth)
{
    em_webconfig_t *w = load_ok("");
    cr_assert(!w->tls.enabled);
    cr_assert(w->http2);
    cr_assert_eq(w->tls.min_version, EM_TLS_12);
    cr_assert(!em_webconfig_auth_required(w));
    cr_assert(em_webconfig_check_basic_auth(w, "anyone", "anything"));
    em_webconfig_free(w);
}

Test(base_webconfig, invalid_files_give_exact_errors)
{
    char want[512];
    snprintf(want, sizeof(want),
             "web.yml:3:13: failed to read key_file (%s/missing.key): open %s/missing.key: no such file or "
             "directory",
             dir, dir);
    expect_err("tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n", want);
    snprintf(
        want, sizeof(want),
        "web.yml:2:14: failed to read cert_file (%s/nope.crt): open %s/nope.crt: no such file or directory",
        dir, dir);
    expect_err("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n", want);
    expect_err("tls_server_config:\n  cert_file: server.crt\n",
               "web.yml:2:3: missing one of key or key_file (tls_server_config)");
    expect_err("tls_server_config:\n  key_file: server.key\n",
               "web.yml:2:3: missing one of cert or cert_file (tls_server_config)");
    expect_err("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: "
               "Sometimes\n",
               "web.yml:4:21: invalid ClientAuth: Sometimes");
    expect_err(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.pem\n",
        "web.yml:2:3: client CA's have been configured without a Client Auth Policy");
    expect_err("tls_server_config:\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
               "web.yml:2:19: unknown cipher: TLS_RSA_WITH_RC4_128_SHA (tls_server_config.cipher_suites)");
    expect_err("tls_server_config:\n  min_version: SSL3\n",
               "web.yml:2:16: unknown TLS version: SSL3 (tls_server_config.min_version)");
    expect_err(
        "http_server_config:\n  headers:\n    X-Powered-By: ember\n",
        "web.yml:3:5: HTTP header \"X-Powered-By\" can not be configured (http_server_config.headers)");
    expect_err("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
               "web.yml:3:5: invalid value for X-Frame-Options. Expected one of: [\"deny\" \"sameorigin\"], "
               "but got: "
               "\"allow\" (http_server_config.headers)");
    expect_err(
        "basic_auth_users:\n  alice: plaintext\n",
        "web.yml:2:10: crypto/bcrypt: hashedSecret too short to be a bcrypted password (basic_auth_users)");
    expect_err(
        "basic_auth_users:\n  alice: $2b$99$ldShmXr6eGp5/vJdlq5JMeuxiW44jY8GSPq56.VnPfyHIIFfdjUKG\n",
        "web.yml:2:10: crypto/bcrypt: bcrypt cost 99 is outside allowed range (4,31) (basic_auth_users)");
    expect_err("tls_config:\n  cert_file: server.crt\n", "web.yml:1:1: unknown field \"tls_config\"");
}

Test(base_webconfig, bcrypt_check_accepts_the_right_password_only)
{
    em_webconfig_t *w = load_ok("basic_auth_users:\n  alice: " HASH_PW "\n  bob: " HASH_SECRET_2Y "\n");
    cr_assert(em_webconfig_check_basic_auth(w, "alice", "pw"));
    cr_assert(em_webconfig_check_basic_auth(w, "alice", "pw"), "again, from the cache");
    cr_assert(!em_webconfig_check_basic_auth(w, "alice", "wrong"));
    cr_assert(!em_webconfig_check_basic_auth(w, "alice", "pw2"));
    cr_assert(!em_webconfig_check_basic_auth(w, "alice", ""));
    cr_assert(!em_webconfig_check_basic_auth(w, "bob", "pw"), "another user's password");
    cr_assert(em_webconfig_check_basic_auth(w, "bob", "secret"), "$2y$ hashes as htpasswd writes them");
    cr_assert(!em_webconfig_check_basic_auth(w, "carol", "pw"), "unknown user");
    cr_assert(!em_webconfig_check_basic_auth(w, NULL, "pw"));
    em_webconfig_free(w);
}

static em_webconfig_t *shared;

static void *hammer(void *arg)
{
    long ok = 0;
    for (int i = 0; i < 50; i++)
        ok += em_webconfig_check_basic_auth(shared, "alice", (i + (long)arg) % 5 ? "pw" : "bad");
    return (void *)ok;
}

Test(base_webconfig, concurrent_checks_agree)
{
    shared = load_ok("basic_auth_users:\n  alice: " HASH_PW "\n");
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, (void *)i);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_assert_eq((long)r, 40, "thread %d: 40 of 50 calls use the right password", i);
    }
    em_webconfig_free(shared);
}

Test(base_webconfig, load_file_resolves_paths_against_its_directory)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/web.yml", dir);
    FILE *f = fopen(p, "w");
    fputs("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n", f);
    fclose(f);
    em_webconfig_t *w = NULL;
    em_err_t err;
    cr_assert_eq(em_webconfig_load_file(p, &w, &err), EM_OK, "%s", err.msg);
    char want[128];
    snprintf(want, sizeof(want), "%s/server.key", dir);
    cr_assert_str_eq(w->tls.key_file, want);
    em_webconfig_free(w);
    cr_assert_eq(em_webconfig_load_file("/nonexistent/web.yml", &w, &err), EM_EIO);
}
