/*
 * Unit tests for src/util/strbuf.h: the hard cap and its sticky overflow flag
 * (content kept as it was), reset, growth by append and by printf past the
 * 256-byte fast path, JSON string escaping byte for byte, and the UTF-8
 * validator (overlongs, surrogates, 4-byte sequences and the U+10FFFF limit,
 * truncated sequences, stray continuation bytes).
 */
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static void test_cap(void)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 10);
    CHECK_EQ_INT(sb.len, 0);
    CHECK_EQ_INT(sb.overflow, 0);
    lx_strbuf_puts(&sb, "hello");
    CHECK_EQ_STR(sb.base, "hello");
    lx_strbuf_append(&sb, "world", 5); /* exactly at the cap */
    CHECK_EQ_INT(sb.len, 10);
    CHECK_EQ_INT(sb.overflow, 0);
    CHECK_EQ_STR(sb.base, "helloworld");
    lx_strbuf_append(&sb, "!", 1); /* one past: refused, content kept */
    CHECK_EQ_INT(sb.overflow, 1);
    CHECK_EQ_INT(sb.len, 10);
    CHECK_EQ_STR(sb.base, "helloworld");
    lx_strbuf_reset(&sb);
    CHECK_EQ_INT(sb.overflow, 0);
    CHECK_EQ_INT(sb.len, 0);
    CHECK_EQ_STR(sb.base, "");
    /* overflow is sticky: once set, later appends that would fit are dropped too (check once at the end) */
    lx_strbuf_puts(&sb, "abc");
    lx_strbuf_append(&sb, "0123456789", 10);
    CHECK_EQ_INT(sb.overflow, 1);
    lx_strbuf_puts(&sb, "d");
    CHECK_EQ_STR(sb.base, "abc");
    lx_strbuf_printf(&sb, "%d", 1);
    CHECK_EQ_STR(sb.base, "abc");
    lx_strbuf_append_json_string(&sb, "x", 1);
    CHECK_EQ_STR(sb.base, "abc");
    lx_strbuf_free(&sb);
    CHECK(sb.base == NULL && sb.len == 0 && sb.max == 10);

    /* printf past the cap */
    lx_strbuf_init(&sb, 10);
    lx_strbuf_printf(&sb, "%s-%d", "abcdef", 1234);
    CHECK_EQ_INT(sb.overflow, 1);
    CHECK(sb.len == 0);
    lx_strbuf_free(&sb);
    lx_strbuf_init(&sb, 300);
    lx_strbuf_printf(&sb, "%0400d", 7); /* long path, over the cap */
    CHECK_EQ_INT(sb.overflow, 1);
    CHECK_EQ_INT(sb.len, 0);
    lx_strbuf_free(&sb);

    /* a zero cap holds only the empty string */
    lx_strbuf_init(&sb, 0);
    lx_strbuf_append(&sb, "", 0);
    CHECK_EQ_INT(sb.overflow, 0);
    lx_strbuf_append(&sb, "a", 1);
    CHECK_EQ_INT(sb.overflow, 1);
    lx_strbuf_free(&sb);
}

static void test_growth(void)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    /* many small appends */
    for (int i = 0; i < 10000; i++) lx_strbuf_append(&sb, "0123456789", 10);
    CHECK_EQ_INT(sb.len, 100000);
    CHECK(!sb.overflow);
    CHECK(sb.cap > sb.len);
    int ok = 1;
    for (size_t i = 0; i < sb.len; i++) ok &= sb.base[i] == (char)('0' + i % 10);
    CHECK(ok);
    CHECK(sb.base[sb.len] == '\0');
    lx_strbuf_reset(&sb);

    /* printf: short, exactly 255, 256 and long outputs (the 256-byte stack buffer and the direct path) */
    static const int widths[] = {2, 255, 256, 257, 1000, 70000};
    for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
        CHECK_CTX("width %d", widths[w]);
        lx_strbuf_reset(&sb);
        lx_strbuf_puts(&sb, "<");
        lx_strbuf_printf(&sb, "%0*d", widths[w], 42);
        lx_strbuf_puts(&sb, ">");
        CHECK(!sb.overflow);
        CHECK_EQ_INT(sb.len, (size_t)widths[w] + 2);
        CHECK_EQ_INT(strlen(sb.base), sb.len);
        CHECK(sb.base[0] == '<' && sb.base[sb.len - 1] == '>');
        CHECK(sb.base[sb.len - 3] == '4' && sb.base[sb.len - 2] == '2' && (widths[w] == 2 || sb.base[1] == '0'));
    }
    CHECK_CTX("%s", "");
    /* printf with a long %s argument */
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lx_strbuf_reset(&sb);
    lx_strbuf_printf(&sb, "[%s|%s]", big, "end");
    CHECK_EQ_INT(sb.len, 2 + 2999 + 1 + 3);
    CHECK(sb.len > 6 && memcmp(sb.base + sb.len - 5, "|end]", 5) == 0);
    lx_strbuf_free(&sb);
}

static void test_json_string(void)
{
    static const struct {
        const char *what;
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"empty", "", 0, "\"\""},
        {"plain", "abc", 3, "\"abc\""},
        {"quote", "a\"b", 3, "\"a\\\"b\""},
        {"backslash", "a\\b", 3, "\"a\\\\b\""},
        {"slash untouched", "a/b", 3, "\"a/b\""},
        {"short escapes", "\n\r\t", 3, "\"\\n\\r\\t\""},
        {"NUL (explicit length)", "a\0b", 3, "\"a\\u0000b\""},
        {"other C0", "\x01\x08\x0c\x1b\x1f", 5, "\"\\u0001\\u0008\\u000c\\u001b\\u001f\""},
        {"DEL copied", "\x7f", 1, "\"\x7f\""},
        {"space", " ", 1, "\" \""},
        {"valid UTF-8 copied", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"invalid byte",
         "a\xff"
         "b",
         3, "\"a\\ufffdb\""},
        {"surrogate", "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},
        {"truncated at end", "\xe2\x82", 2, "\"\\ufffd\\ufffd\""},
        {"length cuts a sequence", "\xc3\xa9", 1, "\"\\ufffd\""},
        {"escapes around a bad byte", "\"\x80\\", 3, "\"\\\"\\ufffd\\\\\""},
    };
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 4096);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("%s", cases[i].what);
        lx_strbuf_reset(&sb);
        lx_strbuf_append_json_string(&sb, cases[i].in, cases[i].len);
        CHECK(!sb.overflow);
        CHECK_EQ_STR(sb.base, cases[i].want);
        CHECK(lx_utf8_valid(sb.base, sb.len));
    }
    CHECK_CTX("%s", "");
    /* every single byte value escapes to valid UTF-8 with no raw control characters */
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        lx_strbuf_reset(&sb);
        lx_strbuf_append_json_string(&sb, &ch, 1);
        CHECK_CTX("byte 0x%02x", c);
        CHECK(lx_utf8_valid(sb.base, sb.len));
        int ctl = 0;
        for (size_t k = 0; k < sb.len; k++) ctl |= (unsigned char)sb.base[k] < 0x20;
        CHECK(!ctl);
    }
    CHECK_CTX("%s", "");
    lx_strbuf_free(&sb);
}

static void test_utf8(void)
{
    static const struct {
        const char *what;
        const char *s;
        size_t len;
        int valid;
    } cases[] = {
        {"empty", "", 0, 1},
        {"ascii", "hello", 5, 1},
        {"NUL is ASCII", "a\0b", 3, 1},
        {"2-byte min U+0080", "\xc2\x80", 2, 1},
        {"2-byte max U+07FF", "\xdf\xbf", 2, 1},
        {"overlong 2-byte C0 80", "\xc0\x80", 2, 0},
        {"overlong 2-byte C1 BF", "\xc1\xbf", 2, 0},
        {"3-byte min U+0800", "\xe0\xa0\x80", 3, 1},
        {"overlong 3-byte E0 80 80", "\xe0\x80\x80", 3, 0},
        {"overlong 3-byte E0 9F BF", "\xe0\x9f\xbf", 3, 0},
        {"U+D7FF", "\xed\x9f\xbf", 3, 1},
        {"surrogate ED A0 80", "\xed\xa0\x80", 3, 0},
        {"surrogate ED BF BF", "\xed\xbf\xbf", 3, 0},
        {"surrogate pair as CESU-8", "\xed\xa0\xbd\xed\xb8\x80", 6, 0},
        {"U+E000", "\xee\x80\x80", 3, 1},
        {"U+FFFF", "\xef\xbf\xbf", 3, 1},
        {"4-byte emoji", "\xf0\x9f\x98\x80", 4, 1},
        {"4-byte min U+10000", "\xf0\x90\x80\x80", 4, 1},
        {"overlong 4-byte F0 8F BF BF", "\xf0\x8f\xbf\xbf", 4, 0},
        {"overlong 4-byte F0 80 80 80", "\xf0\x80\x80\x80", 4, 0},
        {"max U+10FFFF", "\xf4\x8f\xbf\xbf", 4, 1},
        {"above max F4 90 80 80", "\xf4\x90\x80\x80", 4, 0},
        {"F5 lead", "\xf5\x80\x80\x80", 4, 0},
        {"FE", "\xfe", 1, 0},
        {"FF", "\xff", 1, 0},
        {"lone continuation", "\x80", 1, 0},
        {"lone continuation BF", "a\xbf", 2, 0},
        {"truncated 2-byte", "\xc3", 1, 0},
        {"truncated 3-byte", "\xe2\x82", 2, 0},
        {"truncated 4-byte", "\xf0\x9f\x98", 3, 0},
        {"truncated then ASCII",
         "\xe2\x82"
         "a",
         3, 0},
        {"bad 2nd continuation", "\xe2\x28\xa1", 3, 0},
        {"bad 3rd continuation", "\xe2\x82\x28", 3, 0},
        {"bad 4th continuation", "\xf0\x9f\x98\x28", 4, 0},
        {"5-byte form", "\xf8\x88\x80\x80\x80", 5, 0},
        {"mixed valid", "a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80!", 11, 1},
        {"valid then bad tail", "\xc3\xa9\xc3", 3, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("%s", cases[i].what);
        CHECK_EQ_INT(lx_utf8_valid(cases[i].s, cases[i].len), cases[i].valid);
    }
    CHECK_CTX("%s", "");
    /* the length argument bounds the look-ahead: a sequence cut by len is invalid even if the bytes continue */
    CHECK_EQ_INT(lx_utf8_valid("\xf0\x9f\x98\x80", 3), 0);
    CHECK_EQ_INT(lx_utf8_sequence_length("\xf0\x9f\x98\x80", 4, 0), 4);
    CHECK_EQ_INT(lx_utf8_sequence_length("\xf0\x9f\x98\x80", 3, 0), 0);
    CHECK_EQ_INT(lx_utf8_sequence_length("a\xc3\xa9", 3, 1), 2);
    CHECK_EQ_INT(lx_utf8_sequence_length("a\xc3\xa9", 3, 2), 0);
    CHECK_EQ_INT(lx_utf8_sequence_length("a", 1, 0), 0); /* ASCII is not a multi-byte sequence */
}

static void test_alloc_helpers(void)
{
    char *d = lx_strdup("dup");
    CHECK_EQ_STR(d, "dup");
    free(d);
    void *p = lx_malloc(0); /* zero-size requests still return a unique pointer */
    CHECK(p != NULL);
    p = lx_realloc(p, 0);
    CHECK(p != NULL);
    free(p);
    int *z = lx_calloc(4, sizeof(int));
    CHECK(z[0] == 0 && z[3] == 0);
    free(z);
}

static void test_str_copy(void)
{
    char d[5];
    memset(d, 'x', sizeof(d));
    CHECK_EQ_INT(lx_str_copy(d, sizeof(d), "abcd"), 0); /* fits exactly */
    CHECK_EQ_STR(d, "abcd");
    CHECK_EQ_INT(lx_str_copy(d, sizeof(d), "abcdef"), 1); /* cut, still terminated */
    CHECK_EQ_STR(d, "abcd");
    CHECK_EQ_INT(lx_str_copy(d, sizeof(d), ""), 0);
    CHECK_EQ_STR(d, "");
    CHECK_EQ_INT(lx_str_copy(d, sizeof(d), NULL), 0);
    CHECK_EQ_STR(d, "");
    CHECK_EQ_INT(lx_str_copy(d, 1, "a"), 1);
    CHECK_EQ_STR(d, "");
}

int main(void)
{
    test_cap();
    test_growth();
    test_json_string();
    test_utf8();
    test_alloc_helpers();
    test_str_copy();
    return check_summary();
}
