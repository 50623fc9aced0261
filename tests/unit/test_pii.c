/*
 * Unit tests for src/leads/pii.h: the keyed contact hash (known answers
 * computed independently with Python's hashlib.blake2b, determinism,
 * dependence on key, kind and every byte of the value) and the envelope
 * (a known-answer open of a ciphertext and wrapped key built independently
 * in Python, which pins the byte layout and the associated data; round trips;
 * fresh keys and nonces per seal; a table of ways to break an opening, each
 * of which must fail: another lead id, another master key, swapped parts,
 * truncation, extension, version bytes, every single flipped bit; buffer
 * capacities at and below the limit; the empty plaintext).
 */
#include "leads/pii.h"

#include <sodium.h>
#include <string.h>

#include "check.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t master[LX_PII_KEY_BYTES] = {
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
};
static const uint8_t lead_a[LX_PII_LEAD_ID_BYTES] = {
    0x01, 0x90, 0xa4, 0xb2, 0xc3, 0xd4, 0x7e, 0x5f, 0x8a, 0x9b, 0x0c, 0x1d, 0x2e, 0x3f, 0x40, 0x51,
};
static const uint8_t lead_b[LX_PII_LEAD_ID_BYTES] = {
    0x01, 0x90, 0xa4, 0xb2, 0xc3, 0xd4, 0x7e, 0x5f, 0x8a, 0x9b, 0x0c, 0x1d, 0x2e, 0x3f, 0x40, 0x52,
};
static const char contact[] = "{\"name\":\"Иван Петров\",\"phone\":\"+79161234567\"}";
#define CONTACT_LEN (sizeof(contact) - 1)

static int contains(const uint8_t *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay_len; i++)
        if (memcmp(hay + i, needle, n) == 0) return 1;
    return 0;
}

/* ---- keyed contact hash ---- */

static void test_hash_known_answers(void)
{
    /* hashlib.blake2b(b"leadx-contact-v1\0" + kind + b"\0" + value, key=bytes(range(32)), digest_size=32).
     * A change here orphans every stored hash: duplicates stop being found and erasure requests miss rows. */
    static const struct {
        lx_pii_kind_t kind;
        const char *value;
        uint8_t want[LX_PII_HASH_BYTES];
    } cases[] = {
        {LX_PII_PHONE, "+79161234567", {0x6b, 0x0d, 0x95, 0x51, 0x2b, 0xd9, 0xb5, 0x7c, 0x6b, 0x86, 0x98,
                                        0x26, 0xfa, 0xe7, 0x46, 0xdc, 0xd9, 0x23, 0x43, 0x7a, 0x89, 0x06,
                                        0xad, 0xc6, 0x3a, 0xe2, 0x0c, 0x4e, 0x03, 0x2a, 0x17, 0x42}},
        {LX_PII_EMAIL, "ivan.petrov@example.ru", {0x28, 0x18, 0xb5, 0x3f, 0x4a, 0x34, 0x24, 0xf5, 0x7b, 0xd0, 0x3b,
                                                  0xdb, 0x13, 0x12, 0x34, 0x35, 0x34, 0xf7, 0x46, 0x29, 0x57, 0x0d,
                                                  0x10, 0x86, 0x23, 0x50, 0x66, 0x54, 0xa6, 0x65, 0xdf, 0xa9}},
    };
    uint8_t key[LX_PII_KEY_BYTES], h[LX_PII_HASH_BYTES];
    for (int i = 0; i < LX_PII_KEY_BYTES; i++) key[i] = (uint8_t)i;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK_CTX("known answer %s", cases[i].kind == LX_PII_PHONE ? "phone" : "email");
        lx_pii_hash(key, cases[i].kind, cases[i].value, strlen(cases[i].value), h);
        CHECK(memcmp(h, cases[i].want, sizeof(h)) == 0);
    }
    CHECK_CTX("%s", "");
}

static void test_hash_properties(void)
{
    static const struct {
        lx_pii_kind_t kind;
        const char *value;
    } values[] = {
        {LX_PII_PHONE, "+79161234567"},
        {LX_PII_PHONE, "+79161234568"},
        {LX_PII_PHONE, "+7916123456"},
        {LX_PII_PHONE, "+14155550123"},
        {LX_PII_EMAIL, "ivan@example.ru"},
        {LX_PII_EMAIL, "ivan@example.com"},
        {LX_PII_EMAIL, "+79161234567"}, /* same string as the first phone: must not collide across kinds */
        {LX_PII_PHONE, ""},
        {LX_PII_EMAIL, ""},
    };
    uint8_t key[LX_PII_KEY_BYTES], key2[LX_PII_KEY_BYTES];
    uint8_t h[ARRAY_LEN(values)][LX_PII_HASH_BYTES], again[LX_PII_HASH_BYTES];
    randombytes_buf(key, sizeof(key));
    for (size_t i = 0; i < ARRAY_LEN(values); i++) {
        CHECK_CTX("value %zu (%s)", i, values[i].value);
        lx_pii_hash(key, values[i].kind, values[i].value, strlen(values[i].value), h[i]);
        /* deterministic */
        lx_pii_hash(key, values[i].kind, values[i].value, strlen(values[i].value), again);
        CHECK(memcmp(h[i], again, sizeof(again)) == 0);
        /* depends on the dedupe key */
        memcpy(key2, key, sizeof(key));
        key2[i % LX_PII_KEY_BYTES] ^= 0x01;
        lx_pii_hash(key2, values[i].kind, values[i].value, strlen(values[i].value), again);
        CHECK(memcmp(h[i], again, sizeof(again)) != 0);
        /* kind separation: the same bytes as the other kind */
        lx_pii_hash(key, values[i].kind == LX_PII_PHONE ? LX_PII_EMAIL : LX_PII_PHONE, values[i].value, strlen(values[i].value),
                    again);
        CHECK(memcmp(h[i], again, sizeof(again)) != 0);
    }
    /* all different from each other */
    for (size_t i = 0; i < ARRAY_LEN(values); i++)
        for (size_t j = i + 1; j < ARRAY_LEN(values); j++) {
            CHECK_CTX("values %zu and %zu", i, j);
            CHECK(memcmp(h[i], h[j], LX_PII_HASH_BYTES) != 0);
        }

    /* every byte of the value counts, and only `len` bytes are read (no NUL needed) */
    char buf[16];
    memcpy(buf, "+79161234567XXXX", sizeof(buf));
    lx_pii_hash(key, LX_PII_PHONE, buf, 12, again);
    CHECK_CTX("%s", "unterminated input");
    CHECK(memcmp(h[0], again, sizeof(again)) == 0);
    for (size_t i = 0; i < 12; i++) {
        CHECK_CTX("value byte %zu changed", i);
        buf[i] ^= 0x01;
        lx_pii_hash(key, LX_PII_PHONE, buf, 12, again);
        CHECK(memcmp(h[0], again, sizeof(again)) != 0);
        buf[i] ^= 0x01;
    }
    CHECK_CTX("%s", "");
}

/* ---- envelope ---- */

static void test_sizes(void)
{
    CHECK_EQ_INT(LX_PII_WRAPPED_KEY_BYTES, 73);
    CHECK_EQ_INT(LX_PII_OVERHEAD, 41);
    CHECK_EQ_INT(LX_PII_SEALED_SIZE(0), 41);
    CHECK_EQ_INT(LX_PII_SEALED_SIZE(CONTACT_LEN), CONTACT_LEN + 41);
    CHECK_EQ_INT(lx_pii_opened_size(0), 0);
    CHECK_EQ_INT(lx_pii_opened_size(40), 0);
    CHECK_EQ_INT(lx_pii_opened_size(41), 0);
    CHECK_EQ_INT(lx_pii_opened_size(42), 1);
    CHECK_EQ_INT(lx_pii_opened_size(LX_PII_SEALED_SIZE(1000)), 1000);
}

static void test_known_answer_open(void)
{
    /* Built in Python from the layout in the header, with XChaCha20-Poly1305 = HChaCha20 subkey + IETF
     * ChaCha20-Poly1305 (the `cryptography` package), checked against the draft-irtf-cfrg-xchacha test vectors:
     * master key 0x40..0x5f, lead id lead_a, data key 0x80..0x9f, key nonce 0xc0..0xd7, data nonce 0xe0..0xf7,
     * associated data 0x01 || lead id. Rows written by this release must open in every later one. */
    static const uint8_t wrapped[LX_PII_WRAPPED_KEY_BYTES] = {
        0x01, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1,
        0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xda, 0xd0, 0x50, 0x69, 0x76, 0x73, 0x59, 0x02, 0xda, 0x03, 0xad, 0xf9, 0x12,
        0xa5, 0x97, 0xe2, 0x69, 0x13, 0xf7, 0xb3, 0x9f, 0x4d, 0x98, 0xc0, 0x47, 0x0e, 0x2e, 0xd5, 0xcc, 0x75, 0x94, 0x32,
        0x7c, 0x69, 0x96, 0x84, 0x7b, 0x28, 0x64, 0x21, 0x22, 0x0f, 0x41, 0x56, 0xc0, 0x3c, 0x51, 0xd0,
    };
    static const uint8_t sealed[] = {
        0x01, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf2,
        0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0x9b, 0x90, 0x56, 0x81, 0xa0, 0xa3, 0x70, 0x9e, 0xaf, 0x3f, 0x0e, 0xb9, 0x02, 0x3d, 0xc2,
        0xa7, 0x3f, 0x9f, 0x93, 0xf2, 0x32, 0xd6, 0x4c, 0x68, 0x6c, 0x9d, 0x3e, 0x20, 0x96, 0x84, 0xfe, 0xc2, 0xfc, 0x01, 0x59,
        0xf4, 0x52, 0xdf, 0x0d, 0x04, 0x71, 0xb8, 0xa2, 0x17, 0x22, 0xac, 0xee, 0x3a, 0x2e, 0x62, 0x6d, 0xc4, 0x56, 0x08, 0x89,
        0xef, 0x45, 0x89, 0x2a, 0x9d, 0x48, 0x15, 0xb7, 0x58, 0x17, 0xe1, 0x45, 0xcc, 0x9f, 0x6c, 0x96,
    };
    uint8_t plain[128];
    size_t plain_len = 99;
    CHECK_EQ_INT(sizeof(sealed), LX_PII_SEALED_SIZE(CONTACT_LEN));
    if (CHECK_EQ_INT(
            lx_pii_open(master, lead_a, wrapped, sizeof(wrapped), sealed, sizeof(sealed), plain, sizeof(plain), &plain_len), 0)) {
        CHECK_EQ_INT(plain_len, CONTACT_LEN);
        CHECK(memcmp(plain, contact, CONTACT_LEN) == 0);
    }
    CHECK_EQ_INT(lx_pii_open(master, lead_b, wrapped, sizeof(wrapped), sealed, sizeof(sealed), plain, sizeof(plain), &plain_len),
                 -1);
}

static void test_round_trip(void)
{
    static const size_t lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 255, 1000, 4096};
    static uint8_t plain[4096], back[4096], ct[LX_PII_SEALED_SIZE(4096)];
    randombytes_buf(plain, sizeof(plain));
    for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
        size_t n = lens[i], ct_len = 0, back_len = 12345;
        uint8_t wk[LX_PII_WRAPPED_KEY_BYTES];
        CHECK_CTX("plaintext of %zu bytes", n);
        if (!CHECK_EQ_INT(lx_pii_seal(master, lead_a, plain, n, ct, sizeof(ct), &ct_len, wk), 0)) continue;
        CHECK_EQ_INT(ct_len, LX_PII_SEALED_SIZE(n));
        CHECK_EQ_INT(ct[0], LX_PII_VERSION);
        CHECK_EQ_INT(wk[0], LX_PII_VERSION);
        /* the two nonces come from different parts of the random buffer */
        CHECK(memcmp(ct + 1, wk + 1, LX_PII_NONCE_BYTES) != 0);
        if (!CHECK_EQ_INT(lx_pii_open(master, lead_a, wk, sizeof(wk), ct, ct_len, back, n, &back_len), 0)) continue;
        CHECK_EQ_INT(back_len, n);
        CHECK(n == 0 || memcmp(back, plain, n) == 0);
    }
    CHECK_CTX("%s", "");

    /* the plaintext is nowhere in the stored bytes */
    uint8_t c[LX_PII_SEALED_SIZE(CONTACT_LEN)], wk[LX_PII_WRAPPED_KEY_BYTES];
    size_t c_len;
    if (CHECK_EQ_INT(lx_pii_seal(master, lead_a, (const uint8_t *)contact, CONTACT_LEN, c, sizeof(c), &c_len, wk), 0)) {
        CHECK(!contains(c, c_len, "+7916"));
        CHECK(!contains(c, c_len, "\"name\""));
    }
}

static void test_empty_plaintext(void)
{
    uint8_t ct[LX_PII_SEALED_SIZE(0)], wk[LX_PII_WRAPPED_KEY_BYTES], one[1];
    size_t ct_len = 99, plain_len = 99;
    static const uint8_t nothing[1];
    /* with a pointer */
    if (CHECK_EQ_INT(lx_pii_seal(master, lead_a, nothing, 0, ct, sizeof(ct), &ct_len, wk), 0)) {
        CHECK_EQ_INT(ct_len, 41);
        CHECK_EQ_INT(lx_pii_open(master, lead_a, wk, sizeof(wk), ct, ct_len, one, sizeof(one), &plain_len), 0);
        CHECK_EQ_INT(plain_len, 0);
        /* an empty plaintext is authenticated too */
        CHECK_EQ_INT(lx_pii_open(master, lead_b, wk, sizeof(wk), ct, ct_len, one, sizeof(one), &plain_len), -1);
        ct[40] ^= 0x80;
        CHECK_EQ_INT(lx_pii_open(master, lead_a, wk, sizeof(wk), ct, ct_len, one, sizeof(one), &plain_len), -1);
    }
    /* with NULL buffers and zero capacity */
    ct_len = 99;
    if (CHECK_EQ_INT(lx_pii_seal(master, lead_a, NULL, 0, ct, sizeof(ct), &ct_len, wk), 0)) {
        CHECK_EQ_INT(ct_len, 41);
        plain_len = 99;
        CHECK_EQ_INT(lx_pii_open(master, lead_a, wk, sizeof(wk), ct, ct_len, NULL, 0, &plain_len), 0);
        CHECK_EQ_INT(plain_len, 0);
        ct[20] ^= 0x01;
        CHECK_EQ_INT(lx_pii_open(master, lead_a, wk, sizeof(wk), ct, ct_len, NULL, 0, &plain_len), -1);
    }
}

static void test_fresh_per_seal(void)
{
    /* Same plaintext, same lead or another lead: never the same ciphertext, wrapped key or nonce. */
    enum { N = 64 };
    static uint8_t ct[N][LX_PII_SEALED_SIZE(CONTACT_LEN)], wk[N][LX_PII_WRAPPED_KEY_BYTES];
    for (int i = 0; i < N; i++) {
        size_t ct_len;
        CHECK_CTX("seal %d", i);
        CHECK_EQ_INT(lx_pii_seal(master, i % 2 ? lead_a : lead_b, (const uint8_t *)contact, CONTACT_LEN, ct[i], sizeof(ct[i]),
                                 &ct_len, wk[i]),
                     0);
    }
    int same = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            same += memcmp(ct[i], ct[j], sizeof(ct[i])) == 0;
            same += memcmp(ct[i] + 1, ct[j] + 1, LX_PII_NONCE_BYTES) == 0;
            same += memcmp(wk[i], wk[j], sizeof(wk[i])) == 0;
            same += memcmp(wk[i] + 1, wk[j] + 1, LX_PII_NONCE_BYTES) == 0;
        }
    CHECK_CTX("%s", "");
    CHECK_EQ_INT(same, 0);
}

typedef enum {
    BREAK_LEAD_ID,         /* open under another lead's id */
    BREAK_MASTER_KEY,      /* open with another master key */
    BREAK_CT_FROM_OTHER,   /* this lead's wrapped key, another lead's ciphertext (re-labelled) */
    BREAK_WK_FROM_OTHER,   /* another lead's wrapped key, this lead's ciphertext */
    BREAK_BOTH_FROM_OTHER, /* another lead's whole envelope under this lead's id */
    BREAK_WK_OTHER_SEAL,   /* wrapped key from another seal of the same lead */
    BREAK_CT_VERSION,
    BREAK_WK_VERSION,
    BREAK_CT_TRUNCATE, /* to `arg` bytes */
    BREAK_WK_TRUNCATE,
    BREAK_CT_EXTEND, /* by one zero byte */
    BREAK_WK_EXTEND,
    BREAK_CT_SWAP_NONCE, /* the wrapped key's nonce in the ciphertext */
    BREAK_PLAIN_CAP,     /* plaintext buffer one byte short */
} break_t;

static void test_open_rejects(void)
{
    static const struct {
        const char *what;
        break_t how;
        size_t arg;
    } cases[] = {
        {"wrong lead id", BREAK_LEAD_ID, 0},
        {"wrong master key", BREAK_MASTER_KEY, 0},
        {"ciphertext moved from another lead", BREAK_CT_FROM_OTHER, 0},
        {"wrapped key moved from another lead", BREAK_WK_FROM_OTHER, 0},
        {"whole envelope moved from another lead", BREAK_BOTH_FROM_OTHER, 0},
        {"wrapped key of another seal of the same lead", BREAK_WK_OTHER_SEAL, 0},
        {"ciphertext version 0", BREAK_CT_VERSION, 0},
        {"ciphertext version 2", BREAK_CT_VERSION, 2},
        {"ciphertext version 255", BREAK_CT_VERSION, 255},
        {"wrapped key version 0", BREAK_WK_VERSION, 0},
        {"wrapped key version 2", BREAK_WK_VERSION, 2},
        {"ciphertext truncated to 0", BREAK_CT_TRUNCATE, 0},
        {"ciphertext truncated to 1", BREAK_CT_TRUNCATE, 1},
        {"ciphertext truncated to 25 (header only)", BREAK_CT_TRUNCATE, 25},
        {"ciphertext truncated to 40", BREAK_CT_TRUNCATE, 40},
        {"ciphertext truncated to 41", BREAK_CT_TRUNCATE, 41},
        {"ciphertext short by one", BREAK_CT_TRUNCATE, LX_PII_SEALED_SIZE(CONTACT_LEN) - 1},
        {"wrapped key truncated to 0", BREAK_WK_TRUNCATE, 0},
        {"wrapped key truncated to 25", BREAK_WK_TRUNCATE, 25},
        {"wrapped key short by one", BREAK_WK_TRUNCATE, LX_PII_WRAPPED_KEY_BYTES - 1},
        {"ciphertext one byte longer", BREAK_CT_EXTEND, 0},
        {"wrapped key one byte longer", BREAK_WK_EXTEND, 0},
        {"nonces swapped", BREAK_CT_SWAP_NONCE, 0},
        {"plaintext buffer one byte short", BREAK_PLAIN_CAP, 0},
    };
    uint8_t ct[LX_PII_SEALED_SIZE(CONTACT_LEN) + 1], wk[LX_PII_WRAPPED_KEY_BYTES + 1];
    uint8_t ct_b[LX_PII_SEALED_SIZE(CONTACT_LEN)], wk_b[LX_PII_WRAPPED_KEY_BYTES], wk_a2[LX_PII_WRAPPED_KEY_BYTES];
    uint8_t ct_a2[LX_PII_SEALED_SIZE(CONTACT_LEN)];
    size_t ct_len, ct_b_len, ct_a2_len;
    const uint8_t *p = (const uint8_t *)contact;
    if (!CHECK_EQ_INT(lx_pii_seal(master, lead_a, p, CONTACT_LEN, ct, sizeof(ct), &ct_len, wk), 0) ||
        !CHECK_EQ_INT(lx_pii_seal(master, lead_b, p, CONTACT_LEN, ct_b, sizeof(ct_b), &ct_b_len, wk_b), 0) ||
        !CHECK_EQ_INT(lx_pii_seal(master, lead_a, p, CONTACT_LEN, ct_a2, sizeof(ct_a2), &ct_a2_len, wk_a2), 0))
        return;
    uint8_t other_master[LX_PII_KEY_BYTES];
    memcpy(other_master, master, sizeof(master));
    other_master[0] ^= 0x01;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK_CTX("%s", cases[i].what);
        uint8_t c[sizeof(ct)], w[sizeof(wk)], plain[sizeof(ct)];
        size_t c_len = ct_len, w_len = LX_PII_WRAPPED_KEY_BYTES, cap = sizeof(plain), plain_len = 99;
        const uint8_t *mk = master, *id = lead_a;
        memcpy(c, ct, sizeof(c));
        memcpy(w, wk, sizeof(w));
        c[ct_len] = 0;
        w[LX_PII_WRAPPED_KEY_BYTES] = 0;
        switch (cases[i].how) {
        case BREAK_LEAD_ID:
            id = lead_b;
            break;
        case BREAK_MASTER_KEY:
            mk = other_master;
            break;
        case BREAK_CT_FROM_OTHER:
            memcpy(c, ct_b, ct_b_len);
            break;
        case BREAK_WK_FROM_OTHER:
            memcpy(w, wk_b, sizeof(wk_b));
            break;
        case BREAK_BOTH_FROM_OTHER:
            memcpy(c, ct_b, ct_b_len);
            memcpy(w, wk_b, sizeof(wk_b));
            break;
        case BREAK_WK_OTHER_SEAL:
            memcpy(w, wk_a2, sizeof(wk_a2));
            break;
        case BREAK_CT_VERSION:
            c[0] = (uint8_t)cases[i].arg;
            break;
        case BREAK_WK_VERSION:
            w[0] = (uint8_t)cases[i].arg;
            break;
        case BREAK_CT_TRUNCATE:
            c_len = cases[i].arg;
            break;
        case BREAK_WK_TRUNCATE:
            w_len = cases[i].arg;
            break;
        case BREAK_CT_EXTEND:
            c_len++;
            break;
        case BREAK_WK_EXTEND:
            w_len++;
            break;
        case BREAK_CT_SWAP_NONCE:
            memcpy(c + 1, wk + 1, LX_PII_NONCE_BYTES);
            memcpy(w + 1, ct + 1, LX_PII_NONCE_BYTES);
            break;
        case BREAK_PLAIN_CAP:
            cap = CONTACT_LEN - 1;
            break;
        }
        memset(plain, 0, sizeof(plain));
        CHECK_EQ_INT(lx_pii_open(mk, id, w, w_len, c, c_len, plain, cap, &plain_len), -1);
        CHECK_EQ_INT(plain_len, 0);
        CHECK(!contains(plain, sizeof(plain), "+7916"));
    }
    CHECK_CTX("%s", "");

    /* the untouched envelope still opens, with the exact capacity */
    uint8_t plain[CONTACT_LEN];
    size_t plain_len = 0;
    CHECK_EQ_INT(lx_pii_open(master, lead_a, wk, LX_PII_WRAPPED_KEY_BYTES, ct, ct_len, plain, sizeof(plain), &plain_len), 0);
    CHECK_EQ_INT(plain_len, CONTACT_LEN);
}

static void test_every_bit_flip(void)
{
    /* "A flipped bit is always detected": every bit of the ciphertext and of the wrapped key, one at a time. */
    uint8_t ct[LX_PII_SEALED_SIZE(CONTACT_LEN)], wk[LX_PII_WRAPPED_KEY_BYTES], plain[CONTACT_LEN];
    size_t ct_len, plain_len;
    if (!CHECK_EQ_INT(lx_pii_seal(master, lead_a, (const uint8_t *)contact, CONTACT_LEN, ct, sizeof(ct), &ct_len, wk), 0)) return;
    unsigned long opened = 0, tried = 0;
    for (size_t part = 0; part < 2; part++) {
        uint8_t *buf = part == 0 ? ct : wk;
        size_t len = part == 0 ? ct_len : sizeof(wk);
        for (size_t i = 0; i < len; i++)
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (uint8_t)(1u << bit);
                tried++;
                if (lx_pii_open(master, lead_a, wk, sizeof(wk), ct, ct_len, plain, sizeof(plain), &plain_len) == 0) {
                    CHECK_CTX("%s byte %zu bit %d", part == 0 ? "ciphertext" : "wrapped key", i, bit);
                    CHECK(0);
                    opened++;
                }
                buf[i] ^= (uint8_t)(1u << bit);
            }
    }
    CHECK_CTX("%s", "");
    CHECK_EQ_INT(tried, 8 * (LX_PII_SEALED_SIZE(CONTACT_LEN) + LX_PII_WRAPPED_KEY_BYTES));
    CHECK_EQ_INT(opened, 0);
    /* and, restored, it opens */
    CHECK_EQ_INT(lx_pii_open(master, lead_a, wk, sizeof(wk), ct, ct_len, plain, sizeof(plain), &plain_len), 0);
    /* so do bit flips in the lead id */
    for (size_t i = 0; i < LX_PII_LEAD_ID_BYTES * 8; i++) {
        uint8_t id[LX_PII_LEAD_ID_BYTES];
        memcpy(id, lead_a, sizeof(id));
        id[i / 8] ^= (uint8_t)(1u << (i % 8));
        CHECK_CTX("lead id bit %zu", i);
        CHECK_EQ_INT(lx_pii_open(master, id, wk, sizeof(wk), ct, ct_len, plain, sizeof(plain), &plain_len), -1);
    }
    CHECK_CTX("%s", "");
}

static void test_seal_capacity(void)
{
    static const struct {
        size_t plain_len, cap;
        int want;
    } cases[] = {
        {CONTACT_LEN, LX_PII_SEALED_SIZE(CONTACT_LEN), 0},
        {CONTACT_LEN, LX_PII_SEALED_SIZE(CONTACT_LEN) + 7, 0},
        {CONTACT_LEN, LX_PII_SEALED_SIZE(CONTACT_LEN) - 1, -1},
        {CONTACT_LEN, LX_PII_OVERHEAD, -1},
        {CONTACT_LEN, LX_PII_OVERHEAD - 1, -1},
        {CONTACT_LEN, 0, -1},
        {0, LX_PII_OVERHEAD, 0},
        {0, LX_PII_OVERHEAD - 1, -1},
        {0, 0, -1},
        {1, LX_PII_OVERHEAD, -1},
        {SIZE_MAX - 10, LX_PII_SEALED_SIZE(CONTACT_LEN), -1}, /* no wrap-around in the size check */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint8_t ct[LX_PII_SEALED_SIZE(CONTACT_LEN) + 8], wk[LX_PII_WRAPPED_KEY_BYTES];
        static const uint8_t wk_untouched[LX_PII_WRAPPED_KEY_BYTES];
        size_t ct_len = 99;
        CHECK_CTX("plain %zu bytes, capacity %zu", cases[i].plain_len, cases[i].cap);
        memset(ct, 0xaa, sizeof(ct));
        memset(wk, 0, sizeof(wk));
        /* the overflow row must be refused before reading `plain`, so any pointer will do */
        int rc = lx_pii_seal(master, lead_a, (const uint8_t *)contact, cases[i].plain_len, ct, cases[i].cap, &ct_len, wk);
        if (!CHECK_EQ_INT(rc, cases[i].want)) continue;
        if (rc == 0) {
            CHECK_EQ_INT(ct_len, LX_PII_SEALED_SIZE(cases[i].plain_len));
            CHECK_EQ_INT(ct[ct_len], 0xaa); /* nothing past the sealed size */
        } else {
            CHECK_EQ_INT(ct_len, 0);
            CHECK_EQ_INT(ct[0], 0xaa);
            CHECK(memcmp(wk, wk_untouched, sizeof(wk)) == 0);
        }
    }
    CHECK_CTX("%s", "");
}

int main(void)
{
    if (!CHECK(sodium_init() >= 0)) return check_summary();
    test_hash_known_answers();
    test_hash_properties();
    test_sizes();
    test_known_answer_open();
    test_round_trip();
    test_empty_plaintext();
    test_fresh_per_seal();
    test_open_rejects();
    test_every_bit_flip();
    test_seal_capacity();
    return check_summary();
}
