/*
 * Unit tests for src/auth/apikey.h: the 79-character token format (known
 * answer and generate -> format -> parse round trips), strict rejection of
 * every malformed variant (prefix, id case and digits, separator, length,
 * base64url alphabet, padding, non-canonical last character), and the keyed
 * hash: a known answer computed independently (Python hashlib.blake2b),
 * determinism, dependence on hashing key, secret and id, lx_apikey_matches.
 */
#include "auth/apikey.h"

#include <sodium.h>
#include <string.h>

#include "check.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void fixed_key(lx_apikey_t *k)
{
    for (int i = 0; i < 16; i++) k->id.b[i] = (uint8_t)i;
    for (int i = 0; i < LX_APIKEY_SECRET_BYTES; i++) k->secret[i] = (uint8_t)i;
}

static void test_known_format(void)
{
    lx_apikey_t k, back;
    char tok[LX_APIKEY_TOKEN_LEN + 1];
    fixed_key(&k);
    lx_apikey_format(&k, tok);
    CHECK_EQ_STR(tok, "lx_000102030405060708090a0b0c0d0e0f_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    CHECK_EQ_INT(strlen(tok), LX_APIKEY_TOKEN_LEN);
    CHECK_EQ_INT(LX_APIKEY_TOKEN_LEN, 79);
    CHECK_EQ_INT(lx_apikey_parse(tok, strlen(tok), &back), 0);
    CHECK(memcmp(&back, &k, sizeof(k)) == 0);
}

static void test_round_trip(void)
{
    for (int i = 0; i < 500; i++) {
        lx_apikey_t k, back;
        char tok[LX_APIKEY_TOKEN_LEN + 1], again[LX_APIKEY_TOKEN_LEN + 1];
        lx_apikey_generate(&k);
        CHECK_EQ_INT(k.id.b[6] >> 4, 7); /* the id is a UUIDv7 */
        lx_apikey_format(&k, tok);
        CHECK_EQ_INT(strlen(tok), 79);
        CHECK(memcmp(tok, "lx_", 3) == 0 && tok[35] == '_');
        CHECK(strspn(tok + 3, "0123456789abcdef") == 32);
        CHECK(strspn(tok + 36, b64url) == 43);
        memset(&back, 0, sizeof(back));
        if (!CHECK_EQ_INT(lx_apikey_parse(tok, 79, &back), 0)) continue;
        CHECK(memcmp(back.id.b, k.id.b, 16) == 0);
        CHECK(memcmp(back.secret, k.secret, sizeof(k.secret)) == 0);
        lx_apikey_format(&back, again);
        CHECK_EQ_STR(again, tok);
    }
    /* two generated keys differ */
    lx_apikey_t a, b;
    lx_apikey_generate(&a);
    lx_apikey_generate(&b);
    CHECK(memcmp(a.secret, b.secret, sizeof(a.secret)) != 0);
    CHECK(memcmp(a.id.b, b.id.b, 16) != 0);
}

typedef enum { SET_CHAR, TRUNCATE, APPEND } mutation_t;

static void test_rejects(void)
{
    lx_apikey_t k;
    char good[LX_APIKEY_TOKEN_LEN + 1];
    fixed_key(&k);
    lx_apikey_format(&k, good);
    static const struct {
        const char *what;
        mutation_t op;
        int at;
        char c;
    } cases[] = {
        {"upper-case prefix", SET_CHAR, 0, 'L'},
        {"wrong prefix letter", SET_CHAR, 1, 'y'},
        {"prefix separator", SET_CHAR, 2, '-'},
        {"upper-case hex id", SET_CHAR, 3, 'A'},
        {"upper-case hex id (last digit)", SET_CHAR, 34, 'F'},
        {"non-hex id", SET_CHAR, 10, 'g'},
        {"dash in id", SET_CHAR, 11, '-'},
        {"wrong separator '-'", SET_CHAR, 35, '-'},
        {"wrong separator '.'", SET_CHAR, 35, '.'},
        {"'+' in secret", SET_CHAR, 40, '+'},
        {"'/' in secret", SET_CHAR, 50, '/'},
        {"'+' as last char", SET_CHAR, 78, '+'},
        {"'/' as last char", SET_CHAR, 78, '/'},
        {"padding '=' as last char", SET_CHAR, 78, '='},
        {"space in secret", SET_CHAR, 60, ' '},
        {"NUL in secret", SET_CHAR, 60, '\0'},
        {"NUL in id", SET_CHAR, 5, '\0'},
        {"high byte", SET_CHAR, 70, (char)0xc3},
        {"non-canonical last char (+1)", SET_CHAR, 78, '9'},
        {"non-canonical last char (+2)", SET_CHAR, 78, '-'},
        {"non-canonical last char (+3)", SET_CHAR, 78, '_'},
        {"short by one", TRUNCATE, 78, 0},
        {"short (no secret)", TRUNCATE, 36, 0},
        {"empty", TRUNCATE, 0, 0},
        {"long by one", APPEND, 0, 'A'},
        {"trailing padding", APPEND, 0, '='},
        {"trailing newline", APPEND, 0, '\n'},
    };
    /* The last character carries 4 data bits and 2 zero bits: '8' is index 60 = 0b111100, so '9', '-' and '_'
     * (61..63) decode to the same bytes with stray low bits set, a second spelling of the same token. */
    CHECK_EQ_INT(good[78], '8');
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("%s", cases[i].what);
        char t[LX_APIKEY_TOKEN_LEN + 8];
        size_t len = LX_APIKEY_TOKEN_LEN;
        memcpy(t, good, sizeof(good));
        switch (cases[i].op) {
        case SET_CHAR:
            t[cases[i].at] = cases[i].c;
            break;
        case TRUNCATE:
            len = (size_t)cases[i].at;
            break;
        case APPEND:
            t[len++] = cases[i].c;
            break;
        }
        lx_apikey_t out;
        CHECK_EQ_INT(lx_apikey_parse(t, len, &out), -1);
    }
    CHECK_CTX("%s", "");

    /* Non-canonical endings, exhaustively: of the 64 possible last characters, exactly 16 parse. */
    int accepted = 0;
    for (int v = 0; v < 64; v++) {
        char t[LX_APIKEY_TOKEN_LEN + 1];
        memcpy(t, good, sizeof(t));
        t[78] = b64url[v];
        lx_apikey_t out;
        int r = lx_apikey_parse(t, 79, &out);
        CHECK_CTX("last char '%c'", b64url[v]);
        CHECK_EQ_INT(r, (v & 3) == 0 ? 0 : -1);
        accepted += r == 0;
    }
    CHECK_CTX("%s", "");
    CHECK_EQ_INT(accepted, 16);

    /* lower-case hex ids of every digit are accepted */
    char t[LX_APIKEY_TOKEN_LEN + 1];
    memcpy(t, good, sizeof(t));
    memcpy(t + 3, "0123456789abcdeffedcba9876543210", 32);
    lx_apikey_t out;
    CHECK_EQ_INT(lx_apikey_parse(t, 79, &out), 0);
    CHECK_EQ_INT(out.id.b[0], 0x01);
    CHECK_EQ_INT(out.id.b[15], 0x10);
}

static void test_hash(void)
{
    static const uint8_t want[LX_APIKEY_HASH_BYTES] = {
        0x20, 0x11, 0xc0, 0xc8, 0x0c, 0x4a, 0xec, 0xda, 0x34, 0x1b, 0xed, 0x81, 0x22, 0x22, 0xd0, 0x9f,
        0x26, 0xe2, 0x15, 0x24, 0xf2, 0x83, 0xba, 0xcd, 0xf1, 0x3f, 0xd0, 0x5f, 0x6c, 0xac, 0xc6, 0x46,
    };
    uint8_t hk[LX_APIKEY_HASHING_KEY_BYTES], hk2[LX_APIKEY_HASHING_KEY_BYTES];
    uint8_t h1[LX_APIKEY_HASH_BYTES], h2[LX_APIKEY_HASH_BYTES];
    lx_apikey_t k, k2;
    memset(hk, 0x42, sizeof(hk));
    fixed_key(&k);

    /* Known answer: keyed BLAKE2b-256 over "leadx-api-key-v1" || secret || id (computed with Python's hashlib).
     * A change here invalidates every stored key hash. */
    lx_apikey_hash(&k, hk, h1);
    CHECK(memcmp(h1, want, sizeof(want)) == 0);

    /* deterministic */
    lx_apikey_hash(&k, hk, h2);
    CHECK(memcmp(h1, h2, sizeof(h1)) == 0);

    /* depends on the hashing key */
    memcpy(hk2, hk, sizeof(hk));
    hk2[31] ^= 1;
    lx_apikey_hash(&k, hk2, h2);
    CHECK(memcmp(h1, h2, sizeof(h1)) != 0);

    /* depends on the secret */
    k2 = k;
    k2.secret[0] ^= 0x80;
    lx_apikey_hash(&k2, hk, h2);
    CHECK(memcmp(h1, h2, sizeof(h1)) != 0);

    /* depends on the id */
    k2 = k;
    k2.id.b[15] ^= 1;
    lx_apikey_hash(&k2, hk, h2);
    CHECK(memcmp(h1, h2, sizeof(h1)) != 0);

    /* matches */
    CHECK_EQ_INT(lx_apikey_matches(&k, hk, want), 1);
    CHECK_EQ_INT(lx_apikey_matches(&k, hk2, want), 0);
    CHECK_EQ_INT(lx_apikey_matches(&k2, hk, want), 0);
    uint8_t bad[LX_APIKEY_HASH_BYTES];
    for (int i = 0; i < LX_APIKEY_HASH_BYTES; i++) {
        memcpy(bad, want, sizeof(bad));
        bad[i] ^= 0x01;
        CHECK_CTX("hash byte %d flipped", i);
        CHECK_EQ_INT(lx_apikey_matches(&k, hk, bad), 0);
    }
    CHECK_CTX("%s", "");

    /* a freshly generated key matches its own hash and no other key's */
    lx_apikey_t g;
    lx_apikey_generate(&g);
    lx_apikey_hash(&g, hk, h2);
    CHECK_EQ_INT(lx_apikey_matches(&g, hk, h2), 1);
    CHECK_EQ_INT(lx_apikey_matches(&k, hk, h2), 0);

    /* wipe */
    lx_apikey_wipe(&g);
    static const lx_apikey_t zero;
    CHECK(memcmp(&g, &zero, sizeof(g)) == 0);
}

int main(void)
{
    if (!CHECK(sodium_init() >= 0)) return check_summary();
    test_known_format();
    test_round_trip();
    test_rejects();
    test_hash();
    return check_summary();
}
