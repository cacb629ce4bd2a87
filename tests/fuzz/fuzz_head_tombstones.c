/* Fuzz target for the db's head tombstones file (engine/db_tombs.c). The input is the body of the file:
 * the target adds the magic and a correct CRC, so the fuzzer reaches the record parser instead of
 * stopping at the checksum; a decoded file must encode and decode to the same set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "engine/db_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_append(&b, "EMHTOMB1", 8);
    em_buf_append(&b, data, size);
    em_buf_put_be32(&b, em_crc32c(0, b.data, b.len));
    head_tombs_t *t = NULL;
    if (head_tombs_decode((const uint8_t *)b.data, b.len, &t, NULL) == EM_OK) {
        em_buf_t again = EM_BUF_INIT;
        head_tombs_encode(t, &again);
        head_tombs_t *t2 = NULL;
        if (head_tombs_decode((const uint8_t *)again.data, again.len, &t2, NULL) != EM_OK || t2->n != t->n)
            abort();
        for (size_t i = 0; i < t->n; i++) {
            const head_tomb_t *e = head_tombs_find(t2, t->v[i].hash, &t->v[i].ls);
            if (!e || e->n_iv != t->v[i].n_iv || memcmp(e->iv, t->v[i].iv, e->n_iv * sizeof(e->iv[0])) != 0)
                abort();
        }
        head_tombs_release(t2);
        em_buf_fini(&again);
        head_tombs_release(t);
    }
    em_buf_fini(&b);
    return 0;
}
