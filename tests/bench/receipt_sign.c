/*
 * receipt_sign — what issuing one sale receipt costs the server in C, per receipt, on one core: the CPU time of
 * lx_receipt_body_canon (RFC 8785 body), lx_sign_b64 (Ed25519 over the context and the body) and of the whole
 * lx_receipts_add (a UUIDv7, the body, the signature and the row's binary array elements: what
 * src/leads/intake.c's add_receipts calls once per receipt), and of lx_lead_digest (once per sold lead). The body
 * is a sale receipt like the intake's (src/billing/receipt.h lx_receipt_body_t), the key a fresh Ed25519 key.
 * tests/bench/receipts.sh builds it against the build's liblxcore.a:
 *
 *   cc -O2 -std=c17 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Isrc $(pkg-config --cflags libh2o-evloop jansson libsodium libpq) \
 *      -o build/receipt_sign tests/bench/receipt_sign.c build/liblxcore.a \
 *      $(pkg-config --libs libh2o-evloop jansson libsodium libpq) -lssl -lcrypto -lpthread -lm
 *   build/receipt_sign [seconds per measurement, default 0.5]
 *
 * Prints one line of name=value pairs (microseconds of thread CPU time; thread CPU time, not wall time, so that other
 * work on a busy machine does not count): canon_us sign_us add_us digest_us body_bytes row_bytes.
 */
#include "billing/receipts.h"
#include "keys.h"
#include "util/id.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *new_id(char out[LX_UUID_STRLEN + 1])
{
    lx_uuid_t u;
    lx_uuid_v7_fast(&u);
    lx_uuid_format(&u, out);
    return out;
}

int main(int argc, char **argv)
{
    double budget = argc > 1 ? atof(argv[1]) : 0.5;
    if (budget <= 0) budget = 0.5;
    if (sodium_init() < 0) return 1;
    static lx_keys_t keys; /* only the members receipts.c and lx_lead_digest read */
    crypto_sign_keypair(keys.signer.pk, keys.signer.sk);
    lx_receipt_key_id(keys.signer.pk, keys.signer.key_id);
    randombytes_buf(keys.lead_digest_key, sizeof keys.lead_digest_key);

    char account[LX_UUID_STRLEN + 1], txn[LX_UUID_STRLEN + 1], lead[LX_UUID_STRLEN + 1], sale[LX_UUID_STRLEN + 1],
        id[LX_UUID_STRLEN + 1], digest[LX_HASH_B64_LEN + 1], issued_at[LX_TS_LEN + 1], sig[LX_SIG_B64_LEN + 1];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    lx_ts_format_us((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, issued_at);
    lx_lead_digest(keys.lead_digest_key, new_id(lead), digest);
    lx_receipt_body_t body = {.id = new_id(id),
                              .kind = "sale",
                              .issued_at = issued_at,
                              .account = new_id(account),
                              .ledger_txn = new_id(txn),
                              .amount = -19900,
                              .currency = "RUB",
                              .lead_id = lead,
                              .lead_digest = digest,
                              .niche = "bench-microloans",
                              .region = "RU-MOW",
                              .mode = "shared",
                              .share_index = 1,
                              .sale_id = new_id(sale)};

    lx_strbuf_t canon;
    lx_strbuf_init(&canon, 1 << 20);
    lx_receipt_rows_t rows = {0};

    /* the canonical body alone */
    long n = 0;
    double t0 = cpu_s(), t;
    do {
        for (int i = 0; i < 1000; i++, n++) {
            lx_strbuf_reset(&canon);
            lx_receipt_body_canon(&body, &canon);
        }
    } while ((t = cpu_s() - t0) < budget);
    double canon_us = t * 1e6 / (double)n;
    size_t body_bytes = canon.len;

    /* the signature alone, over that body */
    n = 0;
    t0 = cpu_s();
    do {
        for (int i = 0; i < 100; i++, n++) lx_sign_b64(keys.signer.sk, LX_RECEIPT_CONTEXT, canon.base, canon.len, sig);
    } while ((t = cpu_s() - t0) < budget);
    double sign_us = t * 1e6 / (double)n;

    /* the whole receipt as the intake adds it (new id each), in documents of 512 receipts (a 256-lead batch) */
    body.id = NULL;
    n = 0;
    size_t row_bytes = 0;
    t0 = cpu_s();
    do {
        lx_receipts_start(&rows);
        for (int i = 0; i < 512; i++, n++) lx_receipts_add(&rows, lx_keys_signer(&keys), LX_BOOK_BALANCE, &body, NULL);
        row_bytes = 0;
        for (int c = 0; c < LX_RCPT_NCOLS; c++) row_bytes += rows.col[c].buf.len;
        row_bytes /= 512;
    } while ((t = cpu_s() - t0) < budget);
    double add_us = t * 1e6 / (double)n;

    /* the lead digest, once per sold lead */
    n = 0;
    t0 = cpu_s();
    do {
        for (int i = 0; i < 1000; i++, n++) lx_lead_digest(keys.lead_digest_key, lead, digest);
    } while ((t = cpu_s() - t0) < budget);
    double digest_us = t * 1e6 / (double)n;

    if (canon.overflow || canon.len == 0) {
        fprintf(stderr, "receipt_sign: a buffer overflowed or the body is empty\n");
        return 1;
    }
    printf("canon_us=%.3f sign_us=%.3f add_us=%.3f digest_us=%.3f body_bytes=%zu row_bytes=%zu\n", canon_us, sign_us, add_us,
           digest_us, body_bytes, row_bytes);
    lx_strbuf_free(&canon);
    lx_receipts_free(&rows);
    return 0;
}
