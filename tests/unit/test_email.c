/*
 * Unit tests for src/leads/email.h: addresses as forms deliver them (stray
 * blanks, upper-case domains, +tags, punctuation people really use), the
 * RFC 5321 length limits at and past their edges, the syntax we refuse and
 * why, the comparison key, the disposable-domain check with parent domains,
 * and that normalisation is a fixed point.
 */
#include "leads/email.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

typedef struct {
    const char *input;
    const char *normalized; /* NULL: must be refused */
    const char *canonical;  /* when accepted */
    int disposable;         /* when accepted */
    const char *why;        /* when refused: a substring of the reason */
} case_t;

static const case_t cases[] = {
    /* accepted */
    {"john.doe@example.com", "john.doe@example.com", "john.doe@example.com", 0, NULL},
    {"  John.Doe@Example.COM  ", "John.Doe@example.com", "john.doe@example.com", 0, NULL},
    {"\tIvan+Leads@Yandex.RU\r\n", "Ivan+Leads@yandex.ru", "ivan+leads@yandex.ru", 0, NULL},
    {"\xc2\xa0"
     "anna@example.de"
     "\xc2\xa0",
     "anna@example.de", "anna@example.de", 0, NULL},
    {"o'brien@example.ie", "o'brien@example.ie", "o'brien@example.ie", 0, NULL},
    {"user_name-1@Sub.Mail.Example.co.uk", "user_name-1@sub.mail.example.co.uk", "user_name-1@sub.mail.example.co.uk", 0, NULL},
    {"a@b.co", "a@b.co", "a@b.co", 0, NULL},
    {"info@XN--80A1ACNY.XN--P1AI", "info@xn--80a1acny.xn--p1ai", "info@xn--80a1acny.xn--p1ai", 0, NULL},
    {"!#$%&'*+-/=?^_`{|}~@example.org", "!#$%&'*+-/=?^_`{|}~@example.org", "!#$%&'*+-/=?^_`{|}~@example.org", 0, NULL},
    {"1234567890@123.com", "1234567890@123.com", "1234567890@123.com", 0, NULL},
    {"j@my-company.example", "j@my-company.example", "j@my-company.example", 0, NULL},
    {"x@gmail.com", "x@gmail.com", "x@gmail.com", 0, NULL},
    {"x@mail.ru", "x@mail.ru", "x@mail.ru", 0, NULL},
    {"test@mailinator.com", "test@mailinator.com", "test@mailinator.com", 1, NULL},
    {"Test@Sub.Mailinator.COM", "Test@sub.mailinator.com", "test@sub.mailinator.com", 1, NULL},
    {"x@guerrillamail.com", "x@guerrillamail.com", "x@guerrillamail.com", 1, NULL},
    {"x@YOPMAIL.FR", "x@yopmail.fr", "x@yopmail.fr", 1, NULL},
    {"x@10minutemail.com", "x@10minutemail.com", "x@10minutemail.com", 1, NULL},
    {"x@temp-mail.org", "x@temp-mail.org", "x@temp-mail.org", 1, NULL},
    {"x@trashmail.com", "x@trashmail.com", "x@trashmail.com", 1, NULL},
    {"x@0-mail.com", "x@0-mail.com", "x@0-mail.com", 1, NULL},    /* first in the list */
    {"x@zoemail.org", "x@zoemail.org", "x@zoemail.org", 1, NULL}, /* last in the list */
    {"x@mailinator.com.example.org", "x@mailinator.com.example.org", "x@mailinator.com.example.org", 0, NULL},
    {"x@notreallymailinator.com", "x@notreallymailinator.com", "x@notreallymailinator.com", 0, NULL},
    /* refused */
    {"", NULL, NULL, 0, "must not be empty"},
    {" \t\r\n ", NULL, NULL, 0, "must not be empty"},
    {"john.doe.example.com", NULL, NULL, 0, "must contain an @"},
    {"john@doe@example.com", NULL, NULL, 0, "single @"},
    {"\"john doe\"@example.com", NULL, NULL, 0, "quotes"},
    {"John Doe <john@example.com>", NULL, NULL, 0, "bare address"},
    {".john@example.com", NULL, NULL, 0, "start or end the part before the @ with a dot"},
    {"john.@example.com", NULL, NULL, 0, "start or end the part before the @ with a dot"},
    {"jo..hn@example.com", NULL, NULL, 0, "two dots in a row"},
    {"@example.com", NULL, NULL, 0, "name before the @"},
    {"john@", NULL, NULL, 0, "domain after the @"},
    {"john@localhost", NULL, NULL, 0, "at least two labels"},
    {"john@example", NULL, NULL, 0, "at least two labels"},
    {"john@1.2.3.4", NULL, NULL, 0, "all-numeric top-level domain"},
    {"john@[192.168.0.1]", NULL, NULL, 0, "IP address literal"},
    {"john@-example.com", NULL, NULL, 0, "starts or ends with a hyphen"},
    {"john@example-.com", NULL, NULL, 0, "starts or ends with a hyphen"},
    {"john@example..com", NULL, NULL, 0, "empty label"},
    {"john@.example.com", NULL, NULL, 0, "empty label"},
    {"john@example.com.", NULL, NULL, 0, "empty label"},
    {"john@exa_mple.com", NULL, NULL, 0, "letters, digits, hyphens and dots"},
    {"john@example.c", NULL, NULL, 0, "one-character top-level domain"},
    {"jo hn@example.com", NULL, NULL, 0, "spaces"},
    {"john@exam ple.com", NULL, NULL, 0, "spaces"},
    {"jo\x01hn@example.com", NULL, NULL, 0, "control characters"},
    {"\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@example.ru", NULL, NULL, 0, "ASCII"},
    {"ivan@\xd0\xbf\xd0\xbe\xd1\x87\xd1\x82\xd0\xb0.\xd1\x80\xd1\x84", NULL, NULL, 0, "xn-- form"},
    {"mailto:john@example.com", NULL, NULL, 0, "not allowed before the @"},
    {"john(comment)@example.com", NULL, NULL, 0, "not allowed before the @"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void test_cases(void)
{
    for (size_t i = 0; i < NCASES; i++) {
        const case_t *c = &cases[i];
        CHECK_CTX("case %zu: \"%s\"", i, c->input);
        char out[LX_EMAIL_SIZE];
        const char *why = NULL;
        int rc = lx_email_normalize(c->input, strlen(c->input), out, sizeof(out), &why);
        if (c->normalized != NULL) {
            if (!CHECK_EQ_INT(rc, 0)) {
                fprintf(stderr, "  reason: %s\n", why ? why : "(null)");
                continue;
            }
            CHECK_EQ_STR(out, c->normalized);
            char again[LX_EMAIL_SIZE];
            CHECK_EQ_INT(lx_email_normalize(out, strlen(out), again, sizeof(again), NULL), 0);
            CHECK_EQ_STR(again, out);
            char canon[LX_EMAIL_SIZE];
            lx_email_canonical(out, canon, sizeof(canon));
            CHECK_EQ_STR(canon, c->canonical);
            CHECK_EQ_INT(lx_email_is_disposable(out), c->disposable);
        } else {
            CHECK_EQ_INT(rc, -1);
            CHECK_EQ_STR(out, "");
            if (CHECK(why != NULL) && !CHECK(strstr(why, c->why) != NULL)) fprintf(stderr, "  reason: %s\n", why);
        }
    }
    CHECK_CTX("%s", "");
}

static int normalize(const char *s, char out[LX_EMAIL_SIZE], const char **why)
{
    return lx_email_normalize(s, strlen(s), out, LX_EMAIL_SIZE, why);
}

/* Copies a string with its NUL (strcpy is on the banned list). */
static void put(char *dst, const char *src)
{
    memcpy(dst, src, strlen(src) + 1);
}

/* RFC 5321 limits exactly at and one past the edge. */
static void test_limits(void)
{
    char buf[2048], out[LX_EMAIL_SIZE];
    const char *why = NULL;

    /* local part: 64 accepted, 65 refused */
    memset(buf, 'a', 64);
    put(buf + 64, "@example.com");
    CHECK_EQ_INT(normalize(buf, out, &why), 0);
    memset(buf, 'a', 65);
    put(buf + 65, "@example.com");
    CHECK_EQ_INT(normalize(buf, out, &why), -1);
    CHECK(strstr(why, "at most 64 characters before the @") != NULL);

    /* domain label: 63 accepted, 64 refused */
    put(buf, "x@");
    memset(buf + 2, 'd', 63);
    put(buf + 65, ".com");
    CHECK_EQ_INT(normalize(buf, out, &why), 0);
    memset(buf + 2, 'd', 64);
    put(buf + 66, ".com");
    CHECK_EQ_INT(normalize(buf, out, &why), -1);
    CHECK(strstr(why, "longer than 63") != NULL);

    /* whole address: 254 accepted, 255 refused (local 64 + @ + domain of 63-char labels) */
    for (size_t total = 254; total <= 255; total++) {
        size_t pos = 0;
        memset(buf, 'l', 64);
        pos = 64;
        buf[pos++] = '@';
        while (total - pos > 64) {
            memset(buf + pos, 'd', 63);
            pos += 63;
            buf[pos++] = '.';
        }
        memset(buf + pos, 'c', total - pos);
        buf[total] = '\0';
        CHECK_EQ_INT(strlen(buf), total);
        int rc = normalize(buf, out, &why);
        if (total == 254) {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT(strlen(out), 254);
        } else {
            CHECK_EQ_INT(rc, -1);
            CHECK(strstr(why, "at most 254 characters") != NULL);
        }
    }

    /* domain over 255 is named as such */
    put(buf, "x@");
    size_t pos = 2;
    for (int i = 0; i < 5; i++) {
        memset(buf + pos, 'd', 60);
        pos += 60;
        buf[pos++] = '.';
    }
    put(buf + pos, "com");
    CHECK_EQ_INT(normalize(buf, out, &why), -1);
    CHECK(strstr(why, "domain of at most 255") != NULL);

    /* trimming happens before the length check; inputs past the cap are not read */
    memset(buf, ' ', 100);
    put(buf + 100, "a@example.com");
    memset(buf + 113, ' ', 100);
    buf[213] = '\0';
    CHECK_EQ_INT(normalize(buf, out, &why), 0);
    CHECK_EQ_STR(out, "a@example.com");
    memset(buf, ' ', 1100);
    put(buf + 1100, "a@example.com");
    CHECK_EQ_INT(normalize(buf, out, &why), -1);
}

static void test_misc(void)
{
    char out[LX_EMAIL_SIZE];
    const char *why = NULL;
    /* only `len` bytes are read */
    CHECK_EQ_INT(lx_email_normalize("a@example.com@@@", 13, out, sizeof(out), &why), 0);
    CHECK_EQ_STR(out, "a@example.com");
    /* an embedded NUL is a character like any other, and refused */
    CHECK_EQ_INT(lx_email_normalize("a@exa\0mple.com", 14, out, sizeof(out), &why), -1);
    /* canonical in place */
    char s[LX_EMAIL_SIZE] = "Mixed.Case+Tag@Example.COM";
    lx_email_canonical(s, s, sizeof(s));
    CHECK_EQ_STR(s, "mixed.case+tag@example.com");
    /* dots and +tags are kept in the key: different keys */
    char k1[LX_EMAIL_SIZE], k2[LX_EMAIL_SIZE];
    lx_email_canonical("j.doe+x@gmail.com", k1, sizeof(k1));
    lx_email_canonical("jdoe@gmail.com", k2, sizeof(k2));
    CHECK(strcmp(k1, k2) != 0);
    /* disposable check on odd arguments */
    CHECK_EQ_INT(lx_email_is_disposable("mailinator.com"), 0);
    CHECK_EQ_INT(lx_email_is_disposable("x@"), 0);
    CHECK_EQ_INT(lx_email_is_disposable("x@MAILINATOR.COM"), 1);
    CHECK_EQ_INT(lx_email_is_disposable("x@com"), 0);
    const char *what = NULL;
    if (!CHECK_EQ_INT(lx_email__check_tables(&what), 0)) fprintf(stderr, "  table problem: %s\n", what);
}

int main(void)
{
    test_cases();
    test_limits();
    test_misc();
    printf("%zu e-mail cases\n", NCASES);
    return check_summary();
}
