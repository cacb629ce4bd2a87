/* Design: see ulid.h */
#include "base/ulid.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char enc[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static em_ulid_t last; /* guarded by last_mu */

em_ulid_t em_ulid_make(uint64_t t_ms, const uint8_t entropy[10])
{
    em_ulid_t u;
    for (int i = 0; i < 6; i++)
        u.b[i] = (uint8_t)(t_ms >> (8 * (5 - i)));
    memcpy(u.b + 6, entropy, 10);
    return u;
}

uint64_t em_ulid_time_ms(const em_ulid_t *u)
{
    uint64_t t = 0;
    for (int i = 0; i < 6; i++)
        t = (t << 8) | u->b[i];
    return t;
}

int em_ulid_cmp(const em_ulid_t *a, const em_ulid_t *b)
{
    return memcmp(a->b, b->b, 16);
}

static void fill_random(uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r <= 0) {
            /* getrandom only fails before the pool is seeded on very old kernels; fall back to the
             * clock, which still gives distinct names with monotonic increments below. */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)((uint64_t)ts.tv_nsec >> (i % 8 * 8));
            return;
        }
        p += r;
        n -= (size_t)r;
    }
}

em_ulid_t em_ulid_new(int64_t t_ms)
{
    if (t_ms < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    uint8_t ent[10];
    fill_random(ent, sizeof(ent));
    em_ulid_t u = em_ulid_make((uint64_t)t_ms, ent);
    pthread_mutex_lock(&last_mu);
    if (em_ulid_cmp(&u, &last) <= 0) {
        /* Same millisecond (or the clock went back): the previous ULID plus one, carrying into the
         * time on the (astronomically unlikely) overflow of the entropy. */
        u = last;
        for (int i = 15; i >= 0; i--)
            if (++u.b[i] != 0)
                break;
    }
    last = u;
    pthread_mutex_unlock(&last_mu);
    return u;
}

void em_ulid_format(const em_ulid_t *u, char out[EM_ULID_STR_LEN + 1])
{
    /* 130 bits of text for 128 bits of data: the first character holds the top 3 bits. */
    for (int i = 0; i < EM_ULID_STR_LEN; i++) {
        int bit = 5 * (EM_ULID_STR_LEN - 1 - i); /* lowest bit of this character, from the LSB */
        unsigned v = 0;
        for (int k = 4; k >= 0; k--) {
            int pos = bit + k; /* bit index from the least significant end */
            v <<= 1;
            if (pos >= 0 && pos < 128)
                v |= (u->b[15 - pos / 8] >> (pos % 8)) & 1u;
        }
        out[i] = enc[v];
    }
    out[EM_ULID_STR_LEN] = 0;
}

static int dec_char(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    const char *p = c ? strchr(enc, c) : NULL;
    return p ? (int)(p - enc) : -1;
}

int em_ulid_parse(const char *s, size_t n, em_ulid_t *out, em_err_t *err)
{
    if (n != EM_ULID_STR_LEN)
        return em_err_set(err, EM_EINVAL, "ulid: bad length %zu (want 26)", n);
    em_ulid_t u;
    memset(&u, 0, sizeof(u));
    for (size_t i = 0; i < n; i++) {
        int v = dec_char(s[i]);
        if (v < 0)
            return em_err_set(err, EM_EINVAL, "ulid: bad character at offset %zu", i);
        if (i == 0 && v > 7)
            return em_err_set(err, EM_EINVAL, "ulid: value overflows 128 bits");
        /* shift the 128-bit number left by 5 and add v */
        for (int k = 0; k < 15; k++)
            u.b[k] = (uint8_t)((u.b[k] << 5) | (u.b[k + 1] >> 3));
        u.b[15] = (uint8_t)((u.b[15] << 5) | (unsigned)v);
    }
    *out = u;
    return EM_OK;
}
