/*
 * A tiny assertion helper for the unit tests (no framework).
 *
 * CHECK* macros never abort: a failed check prints file:line, the expression,
 * both values and the current context (set with CHECK_CTX, e.g. the row of a
 * table-driven test), then counts the failure and carries on, so one run shows
 * every broken case. main() ends with `return check_summary();`, which prints
 * a one-line tally and returns non-zero if anything failed.
 */
#ifndef LX_TESTS_CHECK_H
#define LX_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct {
    unsigned long checks;
    unsigned long failures;
    char ctx[256];
} check_state __attribute__((unused));

/* Sets a printf-style context shown with every failure until the next CHECK_CTX (empty string clears it). */
static inline void __attribute__((format(printf, 1, 2))) CHECK_CTX(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(check_state.ctx, sizeof(check_state.ctx), fmt, ap);
    va_end(ap);
}

static inline void check__fail_head(const char *file, int line)
{
    check_state.failures++;
    fprintf(stderr, "%s:%d: FAIL", file, line);
    if (check_state.ctx[0] != '\0') fprintf(stderr, " [%s]", check_state.ctx);
    fprintf(stderr, ": ");
}

static inline int check__bool(int ok, const char *expr, const char *file, int line)
{
    check_state.checks++;
    if (!ok) {
        check__fail_head(file, line);
        fprintf(stderr, "CHECK(%s)\n", expr);
    }
    return ok;
}

static inline int check__int(long long a, long long b, const char *ea, const char *eb, const char *file, int line)
{
    check_state.checks++;
    if (a != b) {
        check__fail_head(file, line);
        fprintf(stderr, "%s == %s: %lld != %lld\n", ea, eb, a, b);
        return 0;
    }
    return 1;
}

static inline int check__str(const char *a, const char *b, const char *ea, const char *eb, const char *file, int line)
{
    check_state.checks++;
    if (a == NULL || b == NULL ? a != b : strcmp(a, b) != 0) {
        check__fail_head(file, line);
        fprintf(stderr, "%s == %s: \"%s\" != \"%s\"\n", ea, eb, a ? a : "(null)", b ? b : "(null)");
        return 0;
    }
    return 1;
}

/* Each macro evaluates to 1 when the check passed, so a test can skip dependent checks: if (CHECK(p)) use(p). */
#define CHECK(cond)        check__bool((cond) ? 1 : 0, #cond, __FILE__, __LINE__)
#define CHECK_EQ_INT(a, b) check__int((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_EQ_STR(a, b) check__str((a), (b), #a, #b, __FILE__, __LINE__)

/* Prints the tally; returns the process exit status (0 = all passed). */
static inline int check_summary(void)
{
    fprintf(check_state.failures ? stderr : stdout, "%lu checks, %lu failed\n", check_state.checks, check_state.failures);
    return check_state.failures != 0;
}

#endif
