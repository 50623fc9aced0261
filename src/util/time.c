#include "util/time.h"

#include <string.h>

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int lx_ts_from_pg(const char *pg, char out[LX_TS_LEN + 1])
{
    /* YYYY-MM-DD HH:MM:SS[.f{1,6}]+00 */
    size_t len = strlen(pg);
    if (len < 22 || !digits(pg, 4) || pg[4] != '-' || !digits(pg + 5, 2) || pg[7] != '-' || !digits(pg + 8, 2) ||
        pg[10] != ' ' || !digits(pg + 11, 2) || pg[13] != ':' || !digits(pg + 14, 2) || pg[16] != ':' || !digits(pg + 17, 2))
        return -1;
    size_t i = 19, nfrac = 0;
    char frac[7] = "000000";
    if (pg[i] == '.') {
        i++;
        while (i < len && pg[i] >= '0' && pg[i] <= '9') {
            if (nfrac == 6)
                return -1;
            frac[nfrac++] = pg[i++];
        }
        if (nfrac == 0)
            return -1;
    }
    if (strcmp(pg + i, "+00") != 0)
        return -1;
    memcpy(out, pg, 10);
    out[10] = 'T';
    memcpy(out + 11, pg + 11, 8);
    out[19] = '.';
    memcpy(out + 20, frac, 6);
    out[26] = 'Z';
    out[27] = '\0';
    return 0;
}

json_t *lx_ts_json(const PGresult *r, int row, int col)
{
    char buf[LX_TS_LEN + 1];
    if (PQgetisnull(r, row, col) || lx_ts_from_pg(PQgetvalue(r, row, col), buf) != 0)
        return json_null();
    return json_stringn(buf, LX_TS_LEN);
}
