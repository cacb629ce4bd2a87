/* Replay driver for fuzz targets in builds without libFuzzer.
 *
 * Runs LLVMFuzzerTestOneInput on every file of the corpus directory given as argv[1], then on
 * EMBER_FUZZ_ITERATIONS (default 20000) deterministic mutations of those files (bit flips, byte
 * insertions and deletions, truncations, splices), seeded with a fixed value printed at start, so a
 * crash found here reproduces exactly. The sanitizers turn any memory error into a failure.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint8_t *data;
    size_t len;
} input_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static int load(const char *path, input_t *in)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    in->data = malloc((size_t)n + 1);
    in->len = fread(in->data, 1, (size_t)n, f);
    fclose(f);
    return 0;
}

static size_t mutate(const input_t *src, const input_t *other, uint8_t *out, size_t cap)
{
    size_t n = src->len < cap ? src->len : cap;
    memcpy(out, src->data, n);
    int rounds = 1 + (int)(rng() % 4);
    for (int r = 0; r < rounds; r++) {
        switch (rng() % 6) {
        case 0: /* flip a bit */
            if (n)
                out[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
            break;
        case 1: /* set a byte to an interesting value */
            if (n) {
                static const uint8_t v[] = {0, 0xff, 0x7f, 0x80, '\n', '"', '\\', '{', '}', ',', '=', ' ', '#'};
                out[rng() % n] = v[rng() % sizeof(v)];
            }
            break;
        case 2: /* insert a byte */
            if (n < cap) {
                size_t at = n ? rng() % (n + 1) : 0;
                memmove(out + at + 1, out + at, n - at);
                out[at] = (uint8_t)rng();
                n++;
            }
            break;
        case 3: /* delete a run */
            if (n) {
                size_t at = rng() % n, l = 1 + rng() % 8;
                if (at + l > n)
                    l = n - at;
                memmove(out + at, out + at + l, n - at - l);
                n -= l;
            }
            break;
        case 4: /* truncate */
            if (n)
                n = rng() % n;
            break;
        case 5: /* splice in a piece of another input */
            if (other->len && n < cap) {
                size_t from = rng() % other->len, l = 1 + rng() % 32;
                if (from + l > other->len)
                    l = other->len - from;
                if (n + l > cap)
                    l = cap - n;
                size_t at = n ? rng() % (n + 1) : 0;
                memmove(out + at + l, out + at, n - at);
                memcpy(out + at, other->data + from, l);
                n += l;
            }
            break;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *iters_env = getenv("EMBER_FUZZ_ITERATIONS");
    long iters = iters_env ? strtol(iters_env, NULL, 10) : 20000;
    input_t *ins = NULL;
    size_t n_in = 0;
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "fuzz driver: cannot open corpus %s\n", argv[1]);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        ins = realloc(ins, sizeof(input_t) * (n_in + 1));
        if (load(path, &ins[n_in]) == 0)
            n_in++;
    }
    closedir(d);
    if (n_in == 0) {
        fprintf(stderr, "fuzz driver: corpus %s is empty\n", argv[1]);
        return 1;
    }
    printf("fuzz driver: %zu corpus files, %ld mutations, seed 0x%llx\n", n_in, iters,
           (unsigned long long)rng_state);
    for (size_t i = 0; i < n_in; i++)
        LLVMFuzzerTestOneInput(ins[i].data, ins[i].len);
    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    for (long i = 0; i < iters; i++) {
        const input_t *a = &ins[rng() % n_in], *b = &ins[rng() % n_in];
        size_t n = mutate(a, b, buf, cap);
        /* Copy to an exact-size heap block so ASan catches reads past the end. */
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    free(buf);
    for (size_t i = 0; i < n_in; i++)
        free(ins[i].data);
    free(ins);
    printf("fuzz driver: ok\n");
    return 0;
}
