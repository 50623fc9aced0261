/*
 * leadgen — an HTTP/2 (h2c, prior knowledge) load generator for leadx lead intake.
 *
 * h2load sends one fixed body, and the intake path deduplicates by phone and e-mail and screens by source IP
 * velocity, so a fixed body measures the duplicate path only. leadgen posts distinct, plausible leads:
 * every lead has its own phone and e-mail, names from Russian first/last name tables (Latin and Cyrillic),
 * source IPs spread over many addresses, a form fill time of 20-120 s and timestamps from the current clock.
 *
 *   cc -O2 -std=c17 -Wall -Wextra -Werror $(pkg-config --cflags libnghttp2 jansson) \
 *      -o build/leadgen tests/bench/leadgen.c $(pkg-config --libs libnghttp2 jansson)
 *
 * One thread, plain non-blocking sockets, epoll and a timerfd; libnghttp2 does the framing (mem_send/mem_recv).
 * Two ways to load the server:
 *   closed loop (default): every connection keeps -m streams busy; a new request starts when one finishes;
 *   open loop (--rate R): requests are scheduled at fixed times, R leads per second spread evenly, whether or
 *     not earlier ones have finished, and a request's latency runs from its scheduled time (a request that had
 *     to wait for a free stream is charged the wait: no coordinated omission).
 *
 * Distinct leads: lead number k of a run gets the global index idx = seed * 2^20 + k. The phone is a bijection
 * of idx mod 10^9 onto the Russian mobile range +7 9xx xxx-xx-xx, the e-mail's local part ends in idx itself,
 * so within a run every lead differs, and runs whose [seed, next_seed) ranges do not overlap (the result line
 * reports next_seed) never share a phone or an e-mail. Everything else about a lead (name, domain, formatting,
 * IP, sub_id, fill time, sale_mode under --sale-mode mix) is drawn from a generator seeded by idx, so a run can be
 * repeated exactly. Niches and regions rotate independently with idx: with N niches and R regions, lead idx goes to
 * niche idx mod N and region (idx div N) mod R, so every niche sees every region (with one niche, region idx mod R).
 *
 * Output: a human summary on stderr (unless -q) and one JSON line on stdout. Exit status 0; 1 if a connection
 * failed, a stream was reset, a response was 5xx or requests were left unanswered; 2 for bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h> /* isfinite only: no libm, so the one-line cc command needs no -lm */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nghttp2/nghttp2.h>

/* nghttp2 1.60 deprecated the ssize_t entry points in favour of *2 ones; Debian 12 ships 1.52. */
#if NGHTTP2_VERSION_NUM >= 0x013c00
typedef nghttp2_ssize lg_h2_ssize_t;
typedef nghttp2_data_provider2 lg_h2_data_provider_t;
#define lg_h2_mem_send       nghttp2_session_mem_send2
#define lg_h2_mem_recv       nghttp2_session_mem_recv2
#define lg_h2_submit_request nghttp2_submit_request2
#else
typedef ssize_t lg_h2_ssize_t;
typedef nghttp2_data_provider lg_h2_data_provider_t;
#define lg_h2_mem_send       nghttp2_session_mem_send
#define lg_h2_mem_recv       nghttp2_session_mem_recv
#define lg_h2_submit_request nghttp2_submit_request
#endif

#define LG_SEED_BLOCK_LEADS      (UINT64_C(1) << 20)  /* leads per seed before a run spills into the next seed's phones */
#define LG_PHONE_SPACE           UINT64_C(1000000000) /* 9xx xxx xx xx: nine free digits */
#define LG_RESPONSE_BYTES_MAX    (64u << 20)          /* a response body beyond this is counted as an error */
#define LG_OUT_CHUNK_BYTES       (64u << 10)          /* frames gathered from nghttp2 before one send() */
#define LG_NAMES_MAX             64                   /* distinct lead statuses / problem codes counted by name */
#define LG_STATUS_MAX            600
#define LG_PROBLEM_EXAMPLE_BYTES 600
#define LG_WINDOW_BYTES          (16 << 20) /* our receive window per stream and per connection */

#define LG_ASSERT(c)                                                                                                               \
    do {                                                                                                                           \
        if (!(c)) {                                                                                                                \
            fprintf(stderr, "leadgen: assertion failed at %s:%d: %s\n", __FILE__, __LINE__, #c);                                   \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

/* ---- small utilities -------------------------------------------------------------------------------------------- */

static void *lg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL) {
        fprintf(stderr, "leadgen: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return q;
}

/* A growable byte buffer; `base` is NUL-terminated after every append. */
typedef struct st_lg_buf_t {
    char *base;
    size_t len, cap;
} lg_buf_t;

static void lg_buf_reserve(lg_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap < 256 ? 256 : b->cap;
    while (cap < b->len + extra + 1) cap *= 2;
    b->base = lg_xrealloc(b->base, cap);
    b->cap = cap;
}

static void lg_buf_append(lg_buf_t *b, const void *p, size_t n)
{
    lg_buf_reserve(b, n);
    memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
}

static void lg_buf_str(lg_buf_t *b, const char *s)
{
    lg_buf_append(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void lg_buf_printf(lg_buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        size_t room = b->cap > b->len ? b->cap - b->len : 0;
        va_start(ap, fmt);
        int n = vsnprintf(room > 0 ? b->base + b->len : NULL, room, fmt, ap);
        va_end(ap);
        LG_ASSERT(n >= 0);
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        lg_buf_reserve(b, (size_t)n);
    }
}

static void lg_buf_free(lg_buf_t *b)
{
    free(b->base);
    *b = (lg_buf_t){0};
}

static int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t lg_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Strict number parsing for the options (no atoi: garbage and overflow are errors). */
static int lg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '\0' || *s == '-' || *s == '+') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int lg_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* ---- options ---------------------------------------------------------------------------------------------------- */

static const char usage_text[] =
    "usage: leadgen --token T [options]\n"
    "\n"
    "Posts distinct, realistic leads to leadx over HTTP/2 cleartext (prior knowledge) and reports\n"
    "throughput, responses by HTTP status, leads by their status and latency percentiles.\n"
    "\n"
    "target\n"
    "  --url URL            http://HOST[:PORT][/PREFIX] (default http://127.0.0.1:8080)\n"
    "  --token T            webmaster API key, sent as 'authorization: Bearer T' (or env LEADX_TOKEN)\n"
    "  --batch N            N leads per request to POST /v1/leads/batch {\"leads\": [...]}\n"
    "                       (default: one lead per request to POST /v1/leads)\n"
    "lead content\n"
    "  --niche SLUG[,...]   niche slug(s), repeatable (default bench-loans)\n"
    "  --region CODE[,...]  region(s), repeatable (default RU-MOW); lead number i goes to niche i mod N\n"
    "                       and region (i div N) mod R (N niches, R regions): every niche sees every region\n"
    "  --sale-mode MODE     the leads' \"sale_mode\": any, exclusive or shared (default any), or mix:\n"
    "                       80 % any, 10 % exclusive, 10 % shared, drawn per lead number\n"
    "  --attributes JSON    the leads' \"attributes\" object, copied verbatim (default {})\n"
    "  --seed S             lead numbering: the run's k-th lead is number S*2^20+k, which fixes its phone,\n"
    "                       e-mail and every random choice; runs with different seeds never share a\n"
    "                       phone while a run stays under 2^20 leads (see next_seed in the result)\n"
    "                       (default 0)\n"
    "load\n"
    "  -c N                 connections (default 16)\n"
    "  -m N                 concurrent streams per connection (default 16)\n"
    "  -n N                 leads to send after the warm-up, or\n"
    "  -d SECONDS           duration after the warm-up (default 10 when neither is given)\n"
    "  --rate R             open loop: start R leads per second, evenly spaced (R/N requests per second\n"
    "                       with --batch N); latency counts from each request's scheduled start\n"
    "  --warmup SECONDS     load before measuring, excluded from every figure (default 0)\n"
    "  --timeout SECONDS    give up when no response arrives for this long (default 30)\n"
    "output\n"
    "  -q                   no human summary on stderr; only the JSON line on stdout\n"
    "  --trace FILE         one line per measured answer: ms from the first measured start to this\n"
    "                       request's reference time, its latency in ms and its HTTP status (0: failed)\n"
    "  --print N            print the first N request bodies, one per line, and exit (no network)\n"
    "  -h, --help           this text\n"
    "testing the generator itself\n"
    "  --path P             request path instead of /v1/leads or /v1/leads/batch\n"
    "  --body TEMPLATE      send TEMPLATE instead of a lead, with every {n} replaced by the lead number\n"
    "\n"
    "The result line (stdout) is one JSON object: requests, responses, http {status: count},\n"
    "leads {status: count} (the \"status\" of each lead object in 2xx answers), problems {code: count},\n"
    "errors, leads_per_s (leads answered 2xx), requests_per_s, latency_ms {p50, p90, p99, max},\n"
    "client_cpu_s, next_seed. Exit status: 0; 1 on a connection error, reset stream, any 5xx or\n"
    "unanswered requests; 2 on bad usage.\n";

typedef struct st_lg_opts_t {
    const char *host;
    const char *port;
    char authority[300];
    const char *prefix; /* path prefix from the URL, "" if none */
    char *bearer;       /* "Bearer <token>" */
    char **niches;
    size_t niche_count;
    char **regions;
    size_t region_count;
    const char *sale_mode; /* "any", "exclusive", "shared", or NULL for the mix */
    const char *attributes;
    uint64_t seed;
    uint64_t connections;
    uint64_t streams;
    uint64_t leads_total; /* -n; 0 = by duration */
    double duration_s;
    double rate;    /* leads/s; 0 = closed loop */
    uint64_t batch; /* 0 = the single route */
    double warmup_s;
    double timeout_s;
    int quiet;
    uint64_t print_count;
    const char *path;
    const char *body_template;
    const char *trace_path;
} lg_opts_t;

static lg_opts_t opts;

static void lg_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("leadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(leadgen --help for usage)\n", stderr);
    exit(2);
}

static int lg_is_token_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Appends the comma-separated tokens of `arg` (--niche, --region) to *list; `what` names one in messages. */
static void lg_add_tokens(const char *option, const char *what, const char *arg, char ***list, size_t *count)
{
    for (const char *p = arg;; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0) lg_usage_error("%s: empty %s in '%s'", option, what, arg);
        for (size_t i = 0; i < n; i++)
            if (!lg_is_token_char((unsigned char)p[i])) lg_usage_error("%s: '%.*s' is not a %s", option, (int)n, p, what);
        *list = lg_xrealloc(*list, (*count + 1) * sizeof(**list));
        char *tok = strndup(p, n);
        if (tok == NULL) exit(1);
        (*list)[(*count)++] = tok;
        p += n;
        if (*p == '\0') break;
    }
}

static void lg_parse_url(const char *url)
{
    static char host[256], port[8];
    const char *p = url;
    if (strncmp(p, "https://", 8) == 0) lg_usage_error("--url: only cleartext http:// (h2c) is supported");
    if (strncmp(p, "http://", 7) != 0) lg_usage_error("--url: expected http://HOST[:PORT][/PREFIX], got '%s'", url);
    p += 7;
    const char *slash = strchr(p, '/');
    size_t hostport_len = slash != NULL ? (size_t)(slash - p) : strlen(p);
    const char *colon = NULL;
    if (hostport_len > 0 && p[0] == '[') { /* [v6]:port */
        const char *close = memchr(p, ']', hostport_len);
        if (close == NULL) lg_usage_error("--url: unterminated IPv6 address");
        if (close + 1 < p + hostport_len && close[1] == ':') colon = close + 1;
        size_t n = (size_t)(close - p - 1);
        if (n == 0 || n >= sizeof(host)) lg_usage_error("--url: bad host");
        memcpy(host, p + 1, n);
        host[n] = '\0';
    } else {
        colon = memchr(p, ':', hostport_len);
        size_t n = colon != NULL ? (size_t)(colon - p) : hostport_len;
        if (n == 0 || n >= sizeof(host)) lg_usage_error("--url: bad host");
        memcpy(host, p, n);
        host[n] = '\0';
    }
    if (colon != NULL) {
        size_t n = (size_t)(p + hostport_len - colon - 1);
        uint64_t v;
        if (n == 0 || n >= sizeof(port)) lg_usage_error("--url: bad port");
        memcpy(port, colon + 1, n);
        port[n] = '\0';
        if (lg_parse_u64(port, 1, 65535, &v) != 0) lg_usage_error("--url: bad port '%s'", port);
    } else {
        memcpy(port, "80", 3);
    }
    if (hostport_len >= sizeof(opts.authority)) lg_usage_error("--url: host too long");
    memcpy(opts.authority, p, hostport_len);
    opts.authority[hostport_len] = '\0';
    opts.host = host;
    opts.port = port;
    opts.prefix = slash != NULL ? slash : "";
    /* "http://h:p/" and "http://h:p" mean the same */
    if (strcmp(opts.prefix, "/") == 0) opts.prefix = "";
}

static void lg_parse_options(int argc, char **argv)
{
    const char *url = "http://127.0.0.1:8080", *token = getenv("LEADX_TOKEN");
    int have_n = 0, have_d = 0;
    opts.sale_mode = "any";
    opts.attributes = "{}";
    opts.seed = 0;
    opts.connections = 16;
    opts.streams = 16;
    opts.timeout_s = 30;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (strcmp(a, "-q") == 0) {
            opts.quiet = 1;
            continue;
        }
        /* every other option takes a value: "--opt V" or "--opt=V" (long options only) */
        const char *v = NULL;
        char name[32];
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq != NULL) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof(name)) lg_usage_error("unknown option '%s'", a);
            memcpy(name, a, n);
            name[n] = '\0';
            v = eq + 1;
        } else {
            if (strlen(a) >= sizeof(name)) lg_usage_error("unknown option '%s'", a);
            memcpy(name, a, strlen(a) + 1);
            if (i + 1 >= argc) lg_usage_error("option '%s' needs a value", a);
            v = argv[++i];
        }
        if (strcmp(name, "--url") == 0) {
            url = v;
        } else if (strcmp(name, "--token") == 0) {
            token = v;
        } else if (strcmp(name, "--niche") == 0) {
            lg_add_tokens("--niche", "slug", v, &opts.niches, &opts.niche_count);
        } else if (strcmp(name, "--region") == 0) {
            lg_add_tokens("--region", "region code", v, &opts.regions, &opts.region_count);
        } else if (strcmp(name, "--sale-mode") == 0) {
            if (strcmp(v, "mix") == 0)
                opts.sale_mode = NULL;
            else if (strcmp(v, "any") == 0 || strcmp(v, "exclusive") == 0 || strcmp(v, "shared") == 0)
                opts.sale_mode = v;
            else
                lg_usage_error("--sale-mode: expected any, exclusive, shared or mix");
        } else if (strcmp(name, "--attributes") == 0) {
            json_error_t jerr;
            json_t *j = json_loads(v, JSON_REJECT_DUPLICATES, &jerr);
            if (j == NULL || !json_is_object(j))
                lg_usage_error("--attributes: not a JSON object (%s)", j == NULL ? jerr.text : "another JSON type");
            json_decref(j);
            opts.attributes = v;
        } else if (strcmp(name, "--seed") == 0) {
            if (lg_parse_u64(v, 0, UINT64_MAX >> 21, &opts.seed) != 0)
                lg_usage_error("--seed: expected a non-negative integer below 2^43");
        } else if (strcmp(name, "-c") == 0) {
            if (lg_parse_u64(v, 1, 4096, &opts.connections) != 0) lg_usage_error("-c: expected 1..4096");
        } else if (strcmp(name, "-m") == 0) {
            if (lg_parse_u64(v, 1, 1024, &opts.streams) != 0) lg_usage_error("-m: expected 1..1024");
        } else if (strcmp(name, "-n") == 0) {
            if (lg_parse_u64(v, 1, UINT64_C(1) << 40, &opts.leads_total) != 0) lg_usage_error("-n: expected a positive integer");
            have_n = 1;
        } else if (strcmp(name, "-d") == 0) {
            if (lg_parse_double(v, 0.001, 86400 * 7, &opts.duration_s) != 0)
                lg_usage_error("-d: expected seconds, 0.001 to 604800");
            have_d = 1;
        } else if (strcmp(name, "--rate") == 0) {
            if (lg_parse_double(v, 0.001, 1e7, &opts.rate) != 0)
                lg_usage_error("--rate: expected leads per second, 0.001 to 10000000");
        } else if (strcmp(name, "--batch") == 0) {
            if (lg_parse_u64(v, 1, 100000, &opts.batch) != 0) lg_usage_error("--batch: expected 1..100000");
        } else if (strcmp(name, "--warmup") == 0) {
            if (lg_parse_double(v, 0, 86400, &opts.warmup_s) != 0) lg_usage_error("--warmup: expected seconds, 0 to 86400");
        } else if (strcmp(name, "--timeout") == 0) {
            if (lg_parse_double(v, 0.1, 86400, &opts.timeout_s) != 0) lg_usage_error("--timeout: expected seconds, 0.1 to 86400");
        } else if (strcmp(name, "--print") == 0) {
            if (lg_parse_u64(v, 1, UINT64_C(1) << 40, &opts.print_count) != 0)
                lg_usage_error("--print: expected a positive integer");
        } else if (strcmp(name, "--path") == 0) {
            if (v[0] != '/') lg_usage_error("--path: must start with /");
            opts.path = v;
        } else if (strcmp(name, "--body") == 0) {
            opts.body_template = v;
        } else if (strcmp(name, "--trace") == 0) {
            opts.trace_path = v;
        } else {
            lg_usage_error("unknown option '%s'", a);
        }
    }

    if (have_n && have_d) lg_usage_error("-n and -d exclude each other");
    if (!have_n && !have_d) opts.duration_s = 10;
    if (opts.niche_count == 0) lg_add_tokens("--niche", "slug", "bench-loans", &opts.niches, &opts.niche_count);
    if (opts.region_count == 0) lg_add_tokens("--region", "region code", "RU-MOW", &opts.regions, &opts.region_count);
    lg_parse_url(url);
    if (opts.print_count == 0) {
        if (token == NULL || token[0] == '\0') lg_usage_error("--token (or LEADX_TOKEN) is required");
        for (const char *p = token; *p != '\0'; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f) lg_usage_error("--token: contains a space or control character");
        lg_buf_t b = {0};
        lg_buf_printf(&b, "Bearer %s", token);
        opts.bearer = b.base;
    }
    if (opts.path == NULL) {
        lg_buf_t b = {0};
        lg_buf_printf(&b, "%s%s", opts.prefix, opts.batch > 0 ? "/v1/leads/batch" : "/v1/leads");
        opts.path = b.base;
    }
}

/* ---- lead content ----------------------------------------------------------------------------------------------- */

typedef struct st_lg_name_t {
    const char *latin, *cyrillic;
} lg_name_t;

static const lg_name_t male_first[] = {
    {"Aleksandr", "Александр"}, {"Dmitry", "Дмитрий"}, {"Maksim", "Максим"}, {"Sergey", "Сергей"}, {"Andrey", "Андрей"},
    {"Alexey", "Алексей"},      {"Artem", "Артём"},    {"Ilya", "Илья"},     {"Kirill", "Кирилл"}, {"Mikhail", "Михаил"},
    {"Nikita", "Никита"},       {"Ivan", "Иван"},      {"Egor", "Егор"},     {"Roman", "Роман"},   {"Vladimir", "Владимир"},
    {"Pavel", "Павел"},         {"Denis", "Денис"},    {"Oleg", "Олег"},     {"Yury", "Юрий"},     {"Anton", "Антон"},
};
static const lg_name_t female_first[] = {
    {"Anastasia", "Анастасия"}, {"Maria", "Мария"},       {"Anna", "Анна"},           {"Elena", "Елена"},
    {"Olga", "Ольга"},          {"Natalia", "Наталья"},   {"Ekaterina", "Екатерина"}, {"Tatiana", "Татьяна"},
    {"Irina", "Ирина"},         {"Svetlana", "Светлана"}, {"Yulia", "Юлия"},          {"Daria", "Дарья"},
    {"Polina", "Полина"},       {"Victoria", "Виктория"}, {"Ksenia", "Ксения"},       {"Alina", "Алина"},
    {"Marina", "Марина"},       {"Galina", "Галина"},     {"Sofia", "София"},         {"Vera", "Вера"},
};
/* Male forms; the female form adds "a" in both scripts (Petrov/Petrova, Петров/Петрова). */
static const lg_name_t surnames[] = {
    {"Ivanov", "Иванов"},     {"Smirnov", "Смирнов"},     {"Kuznetsov", "Кузнецов"}, {"Popov", "Попов"},
    {"Vasiliev", "Васильев"}, {"Petrov", "Петров"},       {"Sokolov", "Соколов"},    {"Mikhailov", "Михайлов"},
    {"Novikov", "Новиков"},   {"Fedorov", "Фёдоров"},     {"Morozov", "Морозов"},    {"Volkov", "Волков"},
    {"Alekseev", "Алексеев"}, {"Lebedev", "Лебедев"},     {"Semenov", "Семёнов"},    {"Egorov", "Егоров"},
    {"Pavlov", "Павлов"},     {"Kozlov", "Козлов"},       {"Stepanov", "Степанов"},  {"Nikolaev", "Николаев"},
    {"Orlov", "Орлов"},       {"Andreev", "Андреев"},     {"Makarov", "Макаров"},    {"Nikitin", "Никитин"},
    {"Zakharov", "Захаров"},  {"Zaitsev", "Зайцев"},      {"Soloviev", "Соловьёв"},  {"Borisov", "Борисов"},
    {"Yakovlev", "Яковлев"},  {"Grigoriev", "Григорьев"}, {"Romanov", "Романов"},    {"Vorobiev", "Воробьёв"},
};
/* Free mailbox providers, repeated roughly by how common they are in Russian web forms. */
static const char *const email_domains[] = {
    "mail.ru", "mail.ru", "mail.ru",  "yandex.ru",  "yandex.ru", "yandex.ru",  "gmail.com",   "gmail.com",
    "bk.ru",   "list.ru", "inbox.ru", "rambler.ru", "ya.ru",     "icloud.com", "outlook.com", "yahoo.com",
};
static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.99 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
    "YaBrowser/24.4.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 "
    "Mobile Safari/537.36 YaApp_Android/24.35",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 "
    "Safari/605.1.15",
};
/* Landing pages; each ends in "/", and the consent was given on its "form" page. */
static const char *const landings[] = {
    "https://example.ru/",
    "https://zaim.example.ru/online/",
    "https://credit.example.com/ru/",
    "https://promo.example.ru/kredit-nalichnymi/",
    "https://example.org/ru/zayavka/",
};
/* First octets of address space Russian access networks use; the rest of the address is drawn at random. */
static const uint8_t ip_first_octets[] = {5,  31, 37, 46, 62,  77,  78,  79,  80,  81,  83,  85,  87,  89,  90,  91,
                                          92, 93, 94, 95, 109, 128, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217};
static const char consent_text[] = "Я даю согласие на обработку моих персональных данных и на получение рекламы по "
                                   "телефону и e-mail в соответствии с политикой конфиденциальности.";

#define LG_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Multiplier of the phone bijection on Z/10^9: odd and not a multiple of 5, so invertible. */
#define LG_PHONE_MUL UINT64_C(738219637)
#define LG_PHONE_ADD UINT64_C(123456789)

#define LG_STAMP_AGO_MAX 120 /* the longest form fill time, s */

/* RFC 3339 UTC of `wall` - `ago_s` seconds; the strings are made once per second of `wall`. */
static const char *lg_stamp(time_t wall, unsigned ago_s)
{
    static time_t made_for = -1;
    static char stamps[LG_STAMP_AGO_MAX + 1][24];
    LG_ASSERT(ago_s <= LG_STAMP_AGO_MAX);
    if (wall != made_for) {
        for (unsigned i = 0; i <= LG_STAMP_AGO_MAX; i++) {
            struct tm tm;
            time_t t = wall - (time_t)i;
            gmtime_r(&t, &tm);
            LG_ASSERT(strftime(stamps[i], sizeof(stamps[i]), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
        }
        made_for = wall;
    }
    return stamps[ago_s];
}

static void lg_lower_into(lg_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        lg_buf_append(b, &c, 1);
    }
}

/* Appends lead number `idx` (global: seed * 2^20 + k) as one JSON object; `wall` is the current UTC time. */
static void lg_lead_write(lg_buf_t *b, uint64_t idx, time_t wall)
{
    uint64_t rng = idx ^ UINT64_C(0x6c65616467656e31);
    uint64_t r1 = lg_splitmix64(&rng), r2 = lg_splitmix64(&rng), r3 = lg_splitmix64(&rng), r4 = lg_splitmix64(&rng);

    /* name */
    int female = (int)(r1 & 1), cyrillic = (r1 >> 1) % 10 < 7, last_first = (r1 >> 5) % 4 == 0;
    const lg_name_t *first =
        female ? &female_first[(r1 >> 8) % LG_COUNT(female_first)] : &male_first[(r1 >> 8) % LG_COUNT(male_first)];
    const lg_name_t *last = &surnames[(r1 >> 16) % LG_COUNT(surnames)];
    const char *first_s = cyrillic ? first->cyrillic : first->latin, *last_s = cyrillic ? last->cyrillic : last->latin;
    const char *fem = !female ? "" : cyrillic ? "а" : "a";
    char name[160];
    if (last_first)
        snprintf(name, sizeof(name), "%s%s %s", last_s, fem, first_s);
    else
        snprintf(name, sizeof(name), "%s %s%s", first_s, last_s, fem);

    /* phone: a bijection of idx mod 10^9 onto 9xx xxx xx xx, written the ways people type it */
    uint64_t p = ((idx % LG_PHONE_SPACE) * LG_PHONE_MUL + LG_PHONE_ADD) % LG_PHONE_SPACE;
    char d[11];
    snprintf(d, sizeof(d), "9%09" PRIu64, p);
    char phone[40];
    switch ((r1 >> 24) % 6) {
    case 0:
    case 1:
        snprintf(phone, sizeof(phone), "+7 %.3s %.3s-%.2s-%.2s", d, d + 3, d + 6, d + 8);
        break;
    case 2:
        snprintf(phone, sizeof(phone), "8 (%.3s) %.3s-%.2s-%.2s", d, d + 3, d + 6, d + 8);
        break;
    case 3:
        snprintf(phone, sizeof(phone), "+7%s", d);
        break;
    case 4:
        snprintf(phone, sizeof(phone), "8%s", d);
        break;
    default:
        snprintf(phone, sizeof(phone), "+7 (%.3s) %.3s %.2s %.2s", d, d + 3, d + 6, d + 8);
        break;
    }

    /* e-mail: Latin name letters, then idx in decimal: unique because the names hold no digits */
    lg_buf_t email = {0};
    const char *lfem = female ? "a" : "";
    switch ((r1 >> 32) % 4) {
    case 0:
        lg_lower_into(&email, first->latin);
        lg_buf_str(&email, ".");
        lg_lower_into(&email, last->latin);
        lg_buf_str(&email, lfem);
        break;
    case 1:
        lg_lower_into(&email, last->latin);
        lg_buf_str(&email, lfem);
        lg_buf_str(&email, "_");
        lg_lower_into(&email, first->latin);
        break;
    case 2: {
        char initial[2] = {first->latin[0], '\0'};
        lg_lower_into(&email, initial);
        lg_lower_into(&email, last->latin);
        lg_buf_str(&email, lfem);
        break;
    }
    default:
        lg_lower_into(&email, first->latin);
        lg_lower_into(&email, last->latin);
        lg_buf_str(&email, lfem);
        break;
    }
    lg_buf_printf(&email, "%" PRIu64 "@%s", idx, email_domains[(r1 >> 40) % LG_COUNT(email_domains)]);

    /* source: one address per lead out of ~500 million, a sub_id out of 12, a fill time of 20-120 s */
    char ip[16];
    uint32_t host = (uint32_t)(r2 & 0xffffff);
    snprintf(ip, sizeof(ip), "%u.%u.%u.%u", ip_first_octets[(r2 >> 24) % LG_COUNT(ip_first_octets)], (host >> 16) & 0xff,
             (host >> 8) & 0xff, 1 + (host & 0xff) % 254);
    unsigned fill_s = 20 + (unsigned)(r3 % 101), consent_lag_s = (unsigned)((r3 >> 8) % 4);
    const char *submitted = lg_stamp(wall, 0), *given = lg_stamp(wall, consent_lag_s), *started = lg_stamp(wall, fill_s);
    const char *landing = landings[(r3 >> 16) % LG_COUNT(landings)];
    const char *ua = user_agents[(r3 >> 24) % LG_COUNT(user_agents)];
    const char *niche = opts.niches[idx % opts.niche_count];
    const char *region = opts.regions[(idx / opts.niche_count) % opts.region_count];
    const char *sale_mode = opts.sale_mode;
    if (sale_mode == NULL) { /* the mix */
        unsigned m = (unsigned)(r4 % 10);
        sale_mode = m == 0 ? "exclusive" : m == 1 ? "shared" : "any";
    }

    lg_buf_printf(b,
                  "{\"niche\":\"%s\",\"region\":\"%s\",\"sale_mode\":\"%s\","
                  "\"contact\":{\"name\":\"%s\",\"phone\":\"%s\",\"email\":\"%s\"},"
                  "\"attributes\":%s,"
                  "\"consent\":{\"text\":\"%s\",\"given_at\":\"%s\",\"ip\":\"%s\",\"user_agent\":\"%s\","
                  "\"page_url\":\"%sform\",\"personal_data\":true,\"advertising\":true},"
                  "\"source\":{\"sub_id\":\"s%u\",\"click_id\":\"c-%" PRIu64 "\",\"landing_url\":\"%s\",\"ip\":\"%s\","
                  "\"form_started_at\":\"%s\",\"form_submitted_at\":\"%s\"}}",
                  niche, region, sale_mode, name, phone, email.base, opts.attributes, consent_text, given, ip, ua, landing,
                  1 + (unsigned)((r3 >> 32) % 12), idx, landing, ip, started, submitted);
    lg_buf_free(&email);
}

/* --body TEMPLATE with every "{n}" replaced by idx. */
static void lg_template_write(lg_buf_t *b, uint64_t idx)
{
    const char *s = opts.body_template, *hit;
    while ((hit = strstr(s, "{n}")) != NULL) {
        lg_buf_append(b, s, (size_t)(hit - s));
        lg_buf_printf(b, "%" PRIu64, idx);
        s = hit + 3;
    }
    lg_buf_str(b, s);
}

static uint64_t lead_counter; /* leads generated so far in this run, warm-up included */

/* Fills `b` with one request body of `leads` leads and advances lead_counter. */
static void lg_body_write(lg_buf_t *b, uint32_t leads)
{
    time_t wall = time(NULL);
    b->len = 0;
    if (opts.batch > 0 && opts.body_template == NULL) lg_buf_str(b, "{\"leads\":[");
    for (uint32_t i = 0; i < leads; i++) {
        uint64_t idx = opts.seed * LG_SEED_BLOCK_LEADS + lead_counter++;
        if (i > 0) lg_buf_str(b, ",");
        if (opts.body_template != NULL)
            lg_template_write(b, idx);
        else
            lg_lead_write(b, idx, wall);
    }
    if (opts.batch > 0 && opts.body_template == NULL) lg_buf_str(b, "]}");
}

/* ---- statistics ------------------------------------------------------------------------------------------------- */

typedef struct st_lg_counter_t {
    char *names[LG_NAMES_MAX];
    uint64_t counts[LG_NAMES_MAX];
    size_t n;
    uint64_t other;
} lg_counter_t;

static void lg_counter_add(lg_counter_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0) {
            c->counts[i]++;
            return;
        }
    if (c->n == LG_NAMES_MAX) {
        c->other++;
        return;
    }
    c->names[c->n] = strdup(name);
    if (c->names[c->n] == NULL) exit(1);
    c->counts[c->n++] = 1;
}

typedef struct st_lg_stats_t {
    uint64_t requests;   /* measured requests started */
    uint64_t leads_sent; /* measured leads in them */
    uint64_t responses;  /* measured requests answered (any status) */
    uint64_t leads_ok;   /* measured leads answered 2xx (batch: per result item) */
    uint64_t http[LG_STATUS_MAX];
    lg_counter_t leads;     /* lead "status" values from lead objects */
    lg_counter_t problems;  /* problem "code" values */
    uint64_t unparsed;      /* 2xx JSON bodies that were not what the route returns */
    uint64_t stream_errors; /* reset or refused streams, oversize bodies, answers without :status */
    uint64_t conn_errors;
    uint64_t unfinished; /* measured requests neither answered nor failed when the run gave up */
    int64_t *lat_ns;
    size_t lat_n, lat_cap;
    int64_t last_done_ns;
    uint64_t max_backlog; /* open loop: most requests due but not yet started */
    uint64_t late_starts; /* open loop: requests started more than 1 ms after their scheduled time */
    int example_status;
    char example[LG_PROBLEM_EXAMPLE_BYTES + 1];
    const char *first_stream_error; /* static text */
} lg_stats_t;

static lg_stats_t stats;

static void lg_stats_latency(int64_t ns)
{
    if (stats.lat_n == stats.lat_cap) {
        stats.lat_cap = stats.lat_cap == 0 ? 65536 : stats.lat_cap * 2;
        stats.lat_ns = lg_xrealloc(stats.lat_ns, stats.lat_cap * sizeof(*stats.lat_ns));
    }
    stats.lat_ns[stats.lat_n++] = ns;
}

static void lg_count_problem(json_t *problem)
{
    json_t *code = json_object_get(problem, "code");
    lg_counter_add(&stats.problems, json_is_string(code) ? json_string_value(code) : "(no code)");
}

/* Counts one answered request's body: lead statuses, problem codes and leads answered 2xx. */
/*
 * The string value of the top-level member `key` of the JSON object in body[0..len), copied raw (escapes as
 * sent) into `out`, truncated to outlen - 1 bytes. Returns 0, or -1 if there is no such member or it is not a
 * string. Not a validator: it only tracks strings and nesting, which is all a well-formed answer needs, and it
 * costs a fraction of a full parse on the single-lead route, where the client shares the CPUs with the server.
 */
static int lg_json_top_string(const char *p, size_t len, const char *key, char *out, size_t outlen)
{
    const char *end = p + len;
    size_t keylen = strlen(key);
    int depth = 0, expect_key = 0;
    while (p < end) {
        char c = *p++;
        if (c == '{' || c == '[') {
            depth++;
            expect_key = depth == 1 && c == '{';
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',') {
            expect_key = depth == 1;
        } else if (c == '"') {
            const char *str = p;
            while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
            if (p >= end) return -1;
            size_t n = (size_t)(p++ - str);
            if (depth != 1 || !expect_key) continue;
            expect_key = 0;
            if (n != keylen || memcmp(str, key, n) != 0) continue;
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ':')) p++;
            if (p >= end || *p != '"') return -1;
            str = ++p;
            while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
            if (p >= end) return -1;
            n = (size_t)(p - str) < outlen - 1 ? (size_t)(p - str) : outlen - 1;
            memcpy(out, str, n);
            out[n] = '\0';
            return 0;
        }
    }
    return -1;
}

/* Counts one answered request's body: lead statuses, problem codes and leads answered 2xx. */
static void lg_stats_body(int status, const char *body, size_t len, uint32_t leads)
{
    int ok = status >= 200 && status < 300;
    char value[64];
    if (!ok) {
        if (stats.example_status == 0) {
            stats.example_status = status;
            size_t n = len < LG_PROBLEM_EXAMPLE_BYTES ? len : LG_PROBLEM_EXAMPLE_BYTES;
            memcpy(stats.example, body, n);
            stats.example[n] = '\0';
        }
        lg_counter_add(&stats.problems, lg_json_top_string(body, len, "code", value, sizeof(value)) == 0 ? value : "(no code)");
        return;
    }
    if (opts.batch == 0 || opts.body_template != NULL) {
        /* the single route answers the lead object itself */
        stats.leads_ok += leads;
        if (lg_json_top_string(body, len, "status", value, sizeof(value)) == 0)
            lg_counter_add(&stats.leads, value);
        else if (opts.body_template == NULL)
            stats.unparsed++;
        return;
    }
    /* the batch route: {"results": [{"index", "status_code", "lead": {...}} | {..., "problem": {...}}]} */
    json_t *root = json_loadb(body, len, 0, NULL), *results = json_object_get(root, "results");
    if (!json_is_array(results)) {
        stats.unparsed++;
        json_decref(root);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(results, i, item)
    {
        json_t *sc = json_object_get(item, "status_code"), *lead = json_object_get(item, "lead");
        json_int_t code = json_is_integer(sc) ? json_integer_value(sc) : 0;
        if (code >= 200 && code < 300) stats.leads_ok++;
        json_t *st = json_object_get(lead, "status");
        if (json_is_string(st))
            lg_counter_add(&stats.leads, json_string_value(st));
        else if (json_is_object(json_object_get(item, "problem")))
            lg_count_problem(json_object_get(item, "problem"));
        else
            stats.unparsed++;
    }
    json_decref(root);
}

static int lg_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted latencies, in ms. */
static double lg_pct_ms(double p)
{
    if (stats.lat_n == 0) return 0;
    double exact = p * (double)stats.lat_n;
    size_t rank = (size_t)exact;
    if ((double)rank < exact) rank++;
    if (rank < 1) rank = 1;
    return (double)stats.lat_ns[rank - 1] / 1e6;
}

/* ---- connections and streams ------------------------------------------------------------------------------------ */

typedef struct st_lg_conn_t lg_conn_t;

typedef struct st_lg_stream_t {
    lg_conn_t *conn;
    int in_use;
    int measured;
    uint32_t leads;
    int32_t stream_id;
    int status;
    int too_big;
    int64_t start_ns; /* latency reference: scheduled time (open loop) or submission time (closed loop) */
    lg_buf_t req;
    size_t req_off;
    char content_length[24];
    lg_buf_t resp;
} lg_stream_t;

struct st_lg_conn_t {
    int fd;
    int index;
    int connected; /* TCP connect finished */
    int ready;     /* the server's SETTINGS arrived */
    int dead;
    int goaway; /* the server sent GOAWAY: start nothing more here */
    int dirty;  /* nghttp2 may have frames to send */
    uint32_t epoll_events;
    nghttp2_session *h2;
    lg_buf_t out;
    size_t out_off;
    lg_stream_t *streams;
    uint32_t *free_slots;
    uint32_t free_n;
};

static lg_conn_t *conns;
static int epfd, tfd;
static uint64_t in_flight;        /* streams started and not finished, all connections */
static uint64_t started_requests; /* all requests started, warm-up included */
static int64_t last_progress_ns;
static FILE *trace;          /* --trace */
static int64_t t_measure_ns; /* end of the warm-up (set with t0_ns, below) */

static void lg_stream_finish(lg_stream_t *s, uint32_t error_code)
{
    lg_conn_t *c = s->conn;
    int64_t now = lg_now_ns();
    LG_ASSERT(s->in_use);
    last_progress_ns = now;
    if (s->measured) {
        if (trace != NULL)
            fprintf(trace, "%.3f %.3f %d\n", (double)(s->start_ns - t_measure_ns) / 1e6, (double)(now - s->start_ns) / 1e6,
                    error_code != NGHTTP2_NO_ERROR || s->too_big ? 0 : s->status);
        if (error_code != NGHTTP2_NO_ERROR || s->status == 0 || s->too_big) {
            stats.stream_errors++;
            if (stats.first_stream_error == NULL)
                stats.first_stream_error = error_code != NGHTTP2_NO_ERROR ? nghttp2_http2_strerror(error_code)
                                           : s->too_big                   ? "response body over 64 MiB"
                                                                          : "stream ended without a :status";
        } else {
            stats.responses++;
            stats.http[s->status < LG_STATUS_MAX ? s->status : 0]++;
            lg_stats_latency(now - s->start_ns);
            stats.last_done_ns = now;
            lg_stats_body(s->status, s->resp.base != NULL ? s->resp.base : "", s->resp.len, s->leads);
        }
    }
    s->in_use = 0;
    s->resp.len = 0;
    c->free_slots[c->free_n++] = (uint32_t)(s - c->streams);
    in_flight--;
}

static int lg_on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen, uint8_t flags, void *user)
{
    (void)flags, (void)user;
    if (frame->hd.type != NGHTTP2_HEADERS || namelen != 7 || memcmp(name, ":status", 7) != 0) return 0;
    lg_stream_t *s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (s != NULL && valuelen == 3 && value[0] >= '1' && value[0] <= '5' && value[1] >= '0' && value[1] <= '9' && value[2] >= '0' &&
        value[2] <= '9') {
        int st = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        if (st >= 200) /* an interim 1xx is followed by the real status */
            s->status = st;
    }
    return 0;
}

static int lg_on_data(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len, void *user)
{
    (void)flags, (void)user;
    lg_stream_t *s = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (s == NULL || s->too_big) return 0;
    if (s->resp.len + len > LG_RESPONSE_BYTES_MAX) {
        s->too_big = 1;
        return 0;
    }
    lg_buf_append(&s->resp, data, len);
    return 0;
}

static int lg_on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code, void *user)
{
    (void)user;
    lg_stream_t *s = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (s != NULL && s->in_use && s->stream_id == stream_id) lg_stream_finish(s, error_code);
    return 0;
}

static int lg_on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
    (void)h2;
    lg_conn_t *c = user;
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) c->ready = 1;
    if (frame->hd.type == NGHTTP2_GOAWAY) c->goaway = 1;
    return 0;
}

static lg_h2_ssize_t lg_read_body(nghttp2_session *h2, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
                                  nghttp2_data_source *source, void *user)
{
    (void)h2, (void)stream_id, (void)user;
    lg_stream_t *s = source->ptr;
    size_t n = s->req.len - s->req_off;
    if (n > length) n = length;
    memcpy(buf, s->req.base + s->req_off, n);
    s->req_off += n;
    if (s->req_off == s->req.len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (lg_h2_ssize_t)n;
}

static void lg_epoll_set(lg_conn_t *c, uint32_t events)
{
    if (c->epoll_events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    LG_ASSERT(epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0);
    c->epoll_events = events;
}

static void lg_conn_fail(lg_conn_t *c, const char *fmt, ...)
{
    if (c->dead) return;
    if (stats.conn_errors < 5) {
        va_list ap;
        fprintf(stderr, "leadgen: connection %d: ", c->index);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    stats.conn_errors++;
    c->dead = 1;
    for (uint64_t i = 0; i < opts.streams; i++) {
        lg_stream_t *s = &c->streams[i];
        if (!s->in_use) continue;
        if (s->measured) stats.stream_errors++;
        s->measured = 0; /* counted here, not again in lg_stream_finish */
        lg_stream_finish(s, NGHTTP2_INTERNAL_ERROR);
    }
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* Sends whatever nghttp2 has queued; keeps EPOLLOUT on only while the socket is full. */
static void lg_conn_flush(lg_conn_t *c)
{
    if (c->dead || !c->connected) return;
    c->dirty = 0;
    for (;;) {
        if (c->out_off == c->out.len) {
            c->out.len = c->out_off = 0;
            while (c->out.len < LG_OUT_CHUNK_BYTES) {
                const uint8_t *data;
                lg_h2_ssize_t n = lg_h2_mem_send(c->h2, &data);
                if (n < 0) {
                    lg_conn_fail(c, "nghttp2: %s", nghttp2_strerror((int)n));
                    return;
                }
                if (n == 0) break;
                lg_buf_append(&c->out, data, (size_t)n);
            }
            if (c->out.len == 0) break;
        }
        ssize_t n = send(c->fd, c->out.base + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                lg_epoll_set(c, EPOLLIN | EPOLLOUT);
                return;
            }
            if (errno == EINTR) continue;
            lg_conn_fail(c, "send: %s", strerror(errno));
            return;
        }
        c->out_off += (size_t)n;
    }
    lg_epoll_set(c, EPOLLIN);
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
        lg_conn_fail(c, "the server ended the connection (GOAWAY)");
}

static void lg_conn_on_event(lg_conn_t *c, uint32_t events)
{
    if (c->dead) return;
    if (!c->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) {
            lg_conn_fail(c, "connect to %s:%s: %s", opts.host, opts.port, strerror(err));
            return;
        }
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
        c->connected = 1;
        c->dirty = 1;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        static uint8_t buf[256 << 10];
        for (;;) {
            ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
            if (n > 0) {
                lg_h2_ssize_t rv = lg_h2_mem_recv(c->h2, buf, (size_t)n);
                if (rv < 0) {
                    lg_conn_fail(c, "nghttp2: %s", nghttp2_strerror((int)rv));
                    return;
                }
                c->dirty = 1;
                if ((size_t)n < sizeof(buf)) break;
                continue;
            }
            if (n == 0) {
                lg_conn_fail(c, "the server closed the connection");
                return;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            lg_conn_fail(c, "recv: %s", strerror(errno));
            return;
        }
    }
    if (events & EPOLLOUT) c->dirty = 1;
}

static void lg_conn_open(lg_conn_t *c, int index, const struct addrinfo *ai)
{
    static const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, LG_WINDOW_BYTES},
    };
    nghttp2_session_callbacks *cb;
    *c = (lg_conn_t){.index = index};
    c->streams = calloc(opts.streams, sizeof(*c->streams));
    c->free_slots = calloc(opts.streams, sizeof(*c->free_slots));
    if (c->streams == NULL || c->free_slots == NULL) exit(1);
    for (uint64_t i = 0; i < opts.streams; i++) {
        c->streams[i].conn = c;
        c->free_slots[c->free_n++] = (uint32_t)(opts.streams - 1 - i);
    }
    LG_ASSERT(nghttp2_session_callbacks_new(&cb) == 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, lg_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, lg_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, lg_on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, lg_on_frame_recv);
    LG_ASSERT(nghttp2_session_client_new(&c->h2, cb, c) == 0);
    nghttp2_session_callbacks_del(cb);
    LG_ASSERT(nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, LG_COUNT(settings)) == 0);
    LG_ASSERT(nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, LG_WINDOW_BYTES) == 0);

    c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (c->fd < 0) {
        fprintf(stderr, "leadgen: socket: %s\n", strerror(errno));
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    LG_ASSERT(epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0);
    c->epoll_events = ev.events;
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
        lg_conn_fail(c, "connect to %s:%s: %s", opts.host, opts.port, strerror(errno));
}

/* Starts one request of `leads` leads on `c`; false if nghttp2 refused it (the connection is then failed). */
static int lg_request_start(lg_conn_t *c, int64_t start_ns, int measured, uint32_t leads)
{
    LG_ASSERT(c->free_n > 0 && !c->dead);
    lg_stream_t *s = &c->streams[c->free_slots[--c->free_n]];
    LG_ASSERT(!s->in_use);
    lg_body_write(&s->req, leads);
    s->req_off = 0;
    s->resp.len = 0;
    s->status = 0;
    s->too_big = 0;
    s->leads = leads;
    s->measured = measured;
    s->start_ns = start_ns;
    snprintf(s->content_length, sizeof(s->content_length), "%zu", s->req.len);
#define LG_NV(n, v, vlen)                                                                                                          \
    {                                                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE        \
    }
    const nghttp2_nv nva[] = {
        LG_NV(":method", "POST", 4),
        LG_NV(":scheme", "http", 4),
        LG_NV(":authority", opts.authority, strlen(opts.authority)),
        LG_NV(":path", opts.path, strlen(opts.path)),
        LG_NV("authorization", opts.bearer, strlen(opts.bearer)),
        LG_NV("content-type", "application/json", 16),
        LG_NV("content-length", s->content_length, strlen(s->content_length)),
    };
#undef LG_NV
    lg_h2_data_provider_t prd = {.source.ptr = s, .read_callback = lg_read_body};
    int32_t id = lg_h2_submit_request(c->h2, NULL, nva, LG_COUNT(nva), &prd, s);
    s->in_use = 1;
    in_flight++;
    started_requests++;
    if (measured) {
        stats.requests++;
        stats.leads_sent += leads;
    }
    if (id < 0) {
        lg_conn_fail(c, "nghttp2_submit_request: %s", nghttp2_strerror(id));
        return 0;
    }
    s->stream_id = id;
    c->dirty = 1;
    return 1;
}

/* ---- scheduling ------------------------------------------------------------------------------------------------- */

static int64_t t0_ns, t_end_ns; /* start, end of the measured period (-d) */
static uint64_t measured_leads_started;
static int schedule_done; /* no request will be started any more */
static size_t rr_next;    /* round-robin cursor over connections */

static uint32_t lg_leads_per_request(void)
{
    return opts.batch > 0 ? (uint32_t)opts.batch : 1;
}

/* Next connection with a free stream, round robin; NULL if none. */
static lg_conn_t *lg_pick_conn(void)
{
    for (size_t i = 0; i < opts.connections; i++) {
        lg_conn_t *c = &conns[(rr_next + i) % opts.connections];
        if (!c->dead && !c->goaway && c->free_n > 0) {
            rr_next = (rr_next + i + 1) % opts.connections;
            return c;
        }
    }
    return NULL;
}

/*
 * Whether a request whose reference time is `t` may start, and with how many leads (0: no more requests at all).
 * Warm-up requests (t before t_measure) are always full; measured ones stop at -n leads or at t_end.
 */
static uint32_t lg_next_request_leads(int64_t t, int *measured)
{
    *measured = t >= t_measure_ns;
    if (!*measured) return lg_leads_per_request();
    if (opts.leads_total > 0) {
        uint64_t left = opts.leads_total - measured_leads_started;
        return left < lg_leads_per_request() ? (uint32_t)left : lg_leads_per_request();
    }
    return t < t_end_ns ? lg_leads_per_request() : 0;
}

/* Open loop: the scheduled start of request i (warm-up included). */
static int64_t lg_sched_ns(uint64_t i)
{
    return t0_ns + (int64_t)((double)i * 1e9 * (double)lg_leads_per_request() / opts.rate + 0.5);
}

/* Starts every request that is due; returns the monotonic time the scheduler next needs a wake-up, or 0. */
static int64_t lg_schedule(int64_t now)
{
    if (schedule_done) return 0;
    if (opts.rate > 0) {
        for (;;) {
            int64_t t = lg_sched_ns(started_requests);
            int measured;
            uint32_t leads = lg_next_request_leads(t, &measured);
            if (leads == 0) {
                schedule_done = 1;
                return 0;
            }
            if (t > now) return t;
            lg_conn_t *c = lg_pick_conn();
            if (c == NULL) { /* every stream busy: the backlog waits for a completion, charged to its latency */
                uint64_t backlog =
                    (uint64_t)((double)(now - t0_ns) * opts.rate / 1e9 / lg_leads_per_request()) + 1 - started_requests;
                if (backlog > stats.max_backlog) stats.max_backlog = backlog;
                return 0;
            }
            if (measured) {
                measured_leads_started += leads;
                if (now - t > 1000000) stats.late_starts++;
            }
            lg_request_start(c, t, measured, leads);
        }
    }
    for (;;) {
        int measured;
        uint32_t leads = lg_next_request_leads(now, &measured);
        if (leads == 0) {
            schedule_done = 1;
            return 0;
        }
        lg_conn_t *c = lg_pick_conn();
        if (c == NULL) return opts.leads_total == 0 ? t_end_ns : (now < t_measure_ns ? t_measure_ns : 0);
        if (measured) measured_leads_started += leads;
        lg_request_start(c, now, measured, leads);
    }
}

static int64_t timer_armed_ns = -1; /* what the timerfd is set to; -1 after it fired */

static void lg_timer_arm(int64_t at_ns)
{
    if (at_ns == timer_armed_ns) return;
    timer_armed_ns = at_ns;
    struct itimerspec its = {0};
    if (at_ns > 0) {
        its.it_value.tv_sec = at_ns / 1000000000;
        its.it_value.tv_nsec = at_ns % 1000000000;
    }
    LG_ASSERT(timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0);
}

static size_t lg_live_conns(void)
{
    size_t n = 0;
    for (size_t i = 0; i < opts.connections; i++) n += !conns[i].dead;
    return n;
}

/* One round of the event loop: waits for I/O or the timer and handles what arrived. */
static void lg_poll(void)
{
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, -1);
    if (n < 0) {
        LG_ASSERT(errno == EINTR);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == NULL) {
            uint64_t expirations;
            if (read(tfd, &expirations, sizeof(expirations)) < 0) LG_ASSERT(errno == EAGAIN || errno == EINTR);
            timer_armed_ns = -1;
            continue;
        }
        lg_conn_on_event(evs[i].data.ptr, evs[i].events);
    }
}

static void lg_flush_all(void)
{
    for (size_t i = 0; i < opts.connections; i++)
        if (conns[i].dirty) lg_conn_flush(&conns[i]);
}

/* ---- report ----------------------------------------------------------------------------------------------------- */

static double lg_round3(double x)
{
    return x >= 0 ? (double)(int64_t)(x * 1000 + 0.5) / 1000 : 0;
}

static json_t *lg_counter_json(const lg_counter_t *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < c->n; i++) json_object_set_new(o, c->names[i], json_integer((json_int_t)c->counts[i]));
    if (c->other > 0) json_object_set_new(o, "(other)", json_integer((json_int_t)c->other));
    return o;
}

static void lg_counter_print(const char *label, const lg_counter_t *c)
{
    if (c->n == 0 && c->other == 0) return;
    fprintf(stderr, "  %-11s", label);
    for (size_t i = 0; i < c->n; i++) fprintf(stderr, " %s %" PRIu64, c->names[i], c->counts[i]);
    if (c->other > 0) fprintf(stderr, " (other) %" PRIu64, c->other);
    fputc('\n', stderr);
}

static int lg_report(double window_s, double cpu_s)
{
    uint64_t http5xx = 0;
    for (int st = 500; st < 600; st++) http5xx += stats.http[st];
    double rps = window_s > 0 ? (double)stats.responses / window_s : 0;
    double lps = window_s > 0 ? (double)stats.leads_ok / window_s : 0;
    uint64_t next_seed = opts.seed + (lead_counter + LG_SEED_BLOCK_LEADS - 1) / LG_SEED_BLOCK_LEADS;
    if (next_seed == opts.seed) next_seed++;

    json_t *r = json_object(), *http = json_object(), *lat = json_object(), *err = json_object();
    json_object_set_new(r, "path", json_string(opts.path));
    json_object_set_new(r, "batch", json_integer((json_int_t)lg_leads_per_request()));
    json_object_set_new(r, "connections", json_integer((json_int_t)opts.connections));
    json_object_set_new(r, "streams", json_integer((json_int_t)opts.streams));
    json_object_set_new(r, "rate", json_real(opts.rate));
    json_object_set_new(r, "warmup_s", json_real(opts.warmup_s));
    json_object_set_new(r, "window_s", json_real(lg_round3(window_s)));
    json_object_set_new(r, "requests", json_integer((json_int_t)stats.requests));
    json_object_set_new(r, "leads_sent", json_integer((json_int_t)stats.leads_sent));
    json_object_set_new(r, "responses", json_integer((json_int_t)stats.responses));
    for (int st = 0; st < LG_STATUS_MAX; st++)
        if (stats.http[st] > 0) {
            char k[16];
            snprintf(k, sizeof(k), "%d", st);
            json_object_set_new(http, k, json_integer((json_int_t)stats.http[st]));
        }
    json_object_set_new(r, "http", http);
    json_object_set_new(r, "leads", lg_counter_json(&stats.leads));
    json_object_set_new(r, "problems", lg_counter_json(&stats.problems));
    json_object_set_new(err, "connection", json_integer((json_int_t)stats.conn_errors));
    json_object_set_new(err, "stream", json_integer((json_int_t)stats.stream_errors));
    json_object_set_new(err, "unfinished", json_integer((json_int_t)stats.unfinished));
    json_object_set_new(err, "unparsed", json_integer((json_int_t)stats.unparsed));
    json_object_set_new(r, "errors", err);
    json_object_set_new(r, "requests_per_s", json_real(lg_round3(rps)));
    json_object_set_new(r, "leads_per_s", json_real(lg_round3(lps)));
    json_object_set_new(lat, "p50", json_real(lg_round3(lg_pct_ms(0.50))));
    json_object_set_new(lat, "p90", json_real(lg_round3(lg_pct_ms(0.90))));
    json_object_set_new(lat, "p99", json_real(lg_round3(lg_pct_ms(0.99))));
    json_object_set_new(lat, "max", json_real(lg_round3(lg_pct_ms(1.0))));
    json_object_set_new(r, "latency_ms", lat);
    if (opts.rate > 0) {
        json_object_set_new(r, "max_backlog", json_integer((json_int_t)stats.max_backlog));
        json_object_set_new(r, "late_starts", json_integer((json_int_t)stats.late_starts));
    }
    json_object_set_new(r, "client_cpu_s", json_real(lg_round3(cpu_s)));
    json_object_set_new(r, "seed", json_integer((json_int_t)opts.seed));
    json_object_set_new(r, "next_seed", json_integer((json_int_t)next_seed));
    char *line = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    LG_ASSERT(line != NULL);
    puts(line);
    fflush(stdout);
    free(line);
    json_decref(r);

    if (!opts.quiet) {
        fprintf(stderr, "leadgen: POST %s, %" PRIu64 " connections x %" PRIu64 " streams, ", opts.path, opts.connections,
                opts.streams);
        if (opts.rate > 0)
            fprintf(stderr, "open loop at %.0f leads/s", opts.rate);
        else
            fprintf(stderr, "closed loop");
        if (opts.leads_total > 0)
            fprintf(stderr, ", %" PRIu64 " leads", opts.leads_total);
        else
            fprintf(stderr, ", %.1f s", opts.duration_s);
        fprintf(stderr, " (+%.1f s warm-up), seed %" PRIu64 "\n", opts.warmup_s, opts.seed);
        fprintf(stderr,
                "  requests    %" PRIu64 " sent (%" PRIu64 " leads), %" PRIu64 " answered; errors: %" PRIu64 " connection, %" PRIu64
                " stream, %" PRIu64 " unfinished\n",
                stats.requests, stats.leads_sent, stats.responses, stats.conn_errors, stats.stream_errors, stats.unfinished);
        fprintf(stderr, "  HTTP       ");
        for (int st = 0; st < LG_STATUS_MAX; st++)
            if (stats.http[st] > 0) fprintf(stderr, " %d: %" PRIu64, st, stats.http[st]);
        fputc('\n', stderr);
        lg_counter_print("leads", &stats.leads);
        lg_counter_print("problems", &stats.problems);
        if (stats.unparsed > 0)
            fprintf(stderr, "  unparsed    %" PRIu64 " 2xx answers or items without a lead status\n", stats.unparsed);
        fprintf(stderr, "  throughput  %.1f leads/s answered 2xx, %.1f requests/s over %.2f s\n", lps, rps, window_s);
        fprintf(stderr, "  latency     p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (from %s)\n", lg_pct_ms(0.5),
                lg_pct_ms(0.9), lg_pct_ms(0.99), lg_pct_ms(1.0), opts.rate > 0 ? "each request's scheduled start" : "submission");
        if (opts.rate > 0)
            fprintf(stderr, "  pacing      %" PRIu64 " requests started over 1 ms late, most waiting %" PRIu64 "\n",
                    stats.late_starts, stats.max_backlog);
        fprintf(stderr, "  client      %.2f s CPU; next free seed %" PRIu64 "\n", cpu_s, next_seed);
        if (stats.example_status != 0) fprintf(stderr, "  first non-2xx answer (%d): %s\n", stats.example_status, stats.example);
        if (stats.first_stream_error != NULL) fprintf(stderr, "  first stream error: %s\n", stats.first_stream_error);
    }
    return stats.conn_errors > 0 || stats.stream_errors > 0 || stats.unfinished > 0 || http5xx > 0;
}

/* ---- main ------------------------------------------------------------------------------------------------------- */

static double lg_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    lg_parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    if (opts.print_count > 0) {
        lg_buf_t b = {0};
        for (uint64_t i = 0; i < opts.print_count;) {
            lg_body_write(&b, lg_leads_per_request());
            fwrite(b.base, 1, b.len, stdout);
            fputc('\n', stdout);
            i++;
        }
        lg_buf_free(&b);
        return 0;
    }

    if (opts.trace_path != NULL && (trace = fopen(opts.trace_path, "w")) == NULL) {
        fprintf(stderr, "leadgen: --trace %s: %s\n", opts.trace_path, strerror(errno));
        return 2;
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(opts.host, opts.port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "leadgen: %s:%s: %s\n", opts.host, opts.port, gai_strerror(gai));
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    LG_ASSERT(epfd >= 0 && tfd >= 0);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    LG_ASSERT(epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev) == 0);
    conns = calloc(opts.connections, sizeof(*conns));
    if (conns == NULL) return 1;
    for (size_t i = 0; i < opts.connections; i++) lg_conn_open(&conns[i], (int)i, ai);
    freeaddrinfo(ai);

    /* Connect everything and exchange SETTINGS before the clock starts. */
    int64_t deadline = lg_now_ns() + (int64_t)(opts.timeout_s * 1e9);
    for (;;) {
        size_t ready = 0, live = 0;
        for (size_t i = 0; i < opts.connections; i++) {
            live += !conns[i].dead;
            ready += !conns[i].dead && conns[i].ready;
        }
        if (live == 0 || ready == live) break;
        if (lg_now_ns() > deadline) {
            for (size_t i = 0; i < opts.connections; i++)
                if (!conns[i].ready)
                    lg_conn_fail(&conns[i], "no HTTP/2 SETTINGS from the server within %.1f s (not h2c?)", opts.timeout_s);
            break;
        }
        lg_timer_arm(deadline);
        lg_poll();
        lg_flush_all();
    }

    double cpu0 = lg_cpu_s();
    t0_ns = lg_now_ns();
    t_measure_ns = t0_ns + (int64_t)(opts.warmup_s * 1e9);
    t_end_ns = t_measure_ns + (int64_t)(opts.duration_s * 1e9);
    last_progress_ns = t0_ns;
    while (lg_live_conns() > 0) {
        int64_t now = lg_now_ns();
        int64_t wake = lg_schedule(now);
        lg_flush_all();
        if (schedule_done && in_flight == 0) break;
        int64_t watchdog = (in_flight > 0 ? last_progress_ns : now) + (int64_t)(opts.timeout_s * 1e9);
        if (now >= watchdog && in_flight > 0) {
            fprintf(stderr, "leadgen: no response for %.1f s; giving up on %" PRIu64 " requests in flight\n", opts.timeout_s,
                    in_flight);
            break;
        }
        lg_timer_arm(wake > 0 && wake < watchdog ? wake : watchdog);
        lg_poll();
    }
    double cpu_s = lg_cpu_s() - cpu0;

    /* What is still open is unfinished; requests due but never started (open loop) too. */
    for (size_t i = 0; i < opts.connections; i++)
        for (uint64_t j = 0; j < opts.streams; j++)
            if (conns[i].streams[j].in_use && conns[i].streams[j].measured) stats.unfinished++;
    if (!schedule_done && opts.rate > 0) {
        for (;;) { /* count the measured requests the schedule still owed */
            int64_t t = lg_sched_ns(started_requests);
            int measured;
            uint32_t leads = lg_next_request_leads(t, &measured);
            if (leads == 0 || (opts.leads_total == 0 && t > lg_now_ns())) break;
            if (measured) {
                stats.unfinished++;
                measured_leads_started += leads;
            }
            started_requests++;
        }
    } else if (!schedule_done && opts.leads_total > 0) {
        stats.unfinished += (opts.leads_total - measured_leads_started + lg_leads_per_request() - 1) / lg_leads_per_request();
    }

    if (stats.lat_n > 0) qsort(stats.lat_ns, stats.lat_n, sizeof(*stats.lat_ns), lg_cmp_i64);
    double window_s = stats.last_done_ns > t_measure_ns ? (double)(stats.last_done_ns - t_measure_ns) / 1e9 : 0;
    int failed = lg_report(window_s, cpu_s);

    for (size_t i = 0; i < opts.connections; i++) {
        lg_conn_t *c = &conns[i];
        if (!c->dead) {
            nghttp2_session_del(c->h2);
            close(c->fd);
        }
        for (uint64_t j = 0; j < opts.streams; j++) {
            lg_buf_free(&c->streams[j].req);
            lg_buf_free(&c->streams[j].resp);
        }
        free(c->streams);
        free(c->free_slots);
        lg_buf_free(&c->out);
    }
    free(conns);
    for (size_t i = 0; i < stats.leads.n; i++) free(stats.leads.names[i]);
    for (size_t i = 0; i < stats.problems.n; i++) free(stats.problems.names[i]);
    free(stats.lat_ns);
    if (trace != NULL && fclose(trace) != 0) {
        fprintf(stderr, "leadgen: --trace %s: %s\n", opts.trace_path, strerror(errno));
        failed = 1;
    }
    close(tfd);
    close(epfd);
    return failed;
}
