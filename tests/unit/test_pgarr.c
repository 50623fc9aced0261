/*
 * Unit tests for src/db/pgarr.h.
 *
 * The expected bytes are PostgreSQL 15's own answers: `SELECT encode(array_send(ARRAY[...]), 'hex')` for the same
 * values (array_send writes exactly the format array_recv reads). The API tests then send these arrays to a real
 * server on every intake batch.
 */
#include "db/pgarr.h"

#include "check.h"

#include <stdio.h>
#include <string.h>

static void check_hex(lx_pgarr_t *a, const char *want, const char *what)
{
    lx_pgarr_finish(a);
    char got[1024] = "";
    for (size_t i = 0; i < a->buf.len && 2 * i + 2 < sizeof(got); i++)
        snprintf(got + 2 * i, 3, "%02x", (unsigned char)a->buf.base[i]);
    CHECK_CTX("%s", what);
    CHECK_EQ_STR(got, want);
    CHECK_CTX("%s", "");
}

int main(void)
{
    lx_pgarr_t a = {0};

    lx_pgarr_start(&a, LX_PG_INT4);
    lx_pgarr_int4(&a, 1);
    lx_pgarr_null(&a);
    lx_pgarr_int4(&a, -2);
    check_hex(&a, "00000001000000010000001700000003000000010000000400000001ffffffff00000004fffffffe", "int4 with NULL");

    lx_pgarr_start(&a, LX_PG_INT4); /* reuse: start empties it */
    check_hex(&a, "000000000000000000000017", "empty int4");

    lx_pgarr_start(&a, LX_PG_UUID);
    lx_pgarr_uuid(&a, "0190c2b4-8f3a-7d2e-9b1c-4a5e6f708192");
    lx_pgarr_uuid(&a, "");
    check_hex(&a, "000000010000000100000b860000000200000001000000100190c2b48f3a7d2e9b1c4a5e6f708192ffffffff", "uuid");
    lx_pgarr_start(&a, LX_PG_UUID);
    lx_pgarr_uuid(&a, "0190C2B4-8F3A-7D2E-9B1C-4A5E6F708192");
    lx_pgarr_uuid(&a, "not-a-uuid");
    lx_pgarr_uuid(&a, NULL);
    check_hex(&a, "000000010000000100000b860000000300000001000000100190c2b48f3a7d2e9b1c4a5e6f708192ffffffffffffffff",
              "uuid upper case, malformed and NULL");

    lx_pgarr_start(&a, LX_PG_TIMESTAMPTZ);
    lx_pgarr_timestamptz(&a, 946684801500000LL); /* 2000-01-01T00:00:01.5Z */
    lx_pgarr_timestamptz(&a, 946684799000000LL); /* 1999-12-31T23:59:59Z */
    check_hex(&a, "0000000100000000000004a0000000020000000100000008000000000016e36000000008fffffffffff0bdc0", "timestamptz");

    lx_pgarr_start(&a, LX_PG_JSON);
    lx_pgarr_json(&a, "{\"a\": 1}", 8);
    check_hex(&a, "0000000100000000000000720000000100000001000000087b2261223a20317d", "json");

    lx_pgarr_start(&a, LX_PG_INT8);
    lx_pgarr_int8(&a, -5000000000LL);
    check_hex(&a, "000000010000000000000014000000010000000100000008fffffffed5fa0e00", "int8");

    lx_pgarr_start(&a, LX_PG_TEXT);
    lx_pgarr_text(&a, "h\xc3\xa9");
    lx_pgarr_bytes(&a, "", 0);
    check_hex(&a, "00000001000000000000001900000002000000010000000368c3a900000000", "text, empty text");
    lx_pgarr_start(&a, LX_PG_TEXT);
    lx_pgarr_text_or_null(&a, "");
    lx_pgarr_text(&a, NULL);
    check_hex(&a, "0000000100000001000000190000000200000001ffffffffffffffff", "text_or_null");

    lx_pgarr_start(&a, LX_PG_BYTEA);
    lx_pgarr_bytes(&a, "\x00\xff", 2);
    check_hex(&a, "00000001000000000000001100000001000000010000000200ff", "bytea");

    lx_pgarr_start(&a, LX_PG_BOOL);
    lx_pgarr_bool(&a, 1);
    lx_pgarr_bool(&a, 0);
    check_hex(&a, "000000010000000000000010000000020000000100000001010000000100", "bool");

    /* a large array: the header counts every element */
    lx_pgarr_start(&a, LX_PG_INT4);
    for (int i = 0; i < 100000; i++) lx_pgarr_int4(&a, i);
    lx_pgarr_finish(&a);
    CHECK_EQ_INT(a.buf.len, 20 + 100000 * 8);
    CHECK_EQ_INT((unsigned char)a.buf.base[12] << 24 | (unsigned char)a.buf.base[13] << 16 | (unsigned char)a.buf.base[14] << 8 |
                     (unsigned char)a.buf.base[15],
                 100000);

    lx_pgarr_free(&a);
    CHECK(a.buf.base == NULL);
    return check_summary();
}
