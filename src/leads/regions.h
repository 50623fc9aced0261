/*
 * The region catalogue in memory: ISO 3166-1 countries and ISO 3166-2
 * subdivisions (migrations/0002_regions.sql). The catalogue is data shipped
 * with the code and never changes while a server runs, so `serve` loads it
 * once at start-up (before any event loop runs) and every thread reads it
 * without locks; a lead's region is then checked without a database round
 * trip, while the leads.region foreign key still guards the database.
 */
#ifndef LX_LEADS_REGIONS_H
#define LX_LEADS_REGIONS_H

#include <stddef.h>

#include "util/error.h"

#define LX_REGION_CODE_MAX 6 /* "RU-MOW" */

typedef struct st_lx_regions_t lx_regions_t;

/* Blocking: start-up only. Reads every region code from the database at `conninfo`. */
lx_status_t lx_regions_load(const char *conninfo, lx_regions_t **out, lx_error_t *err);
/* From a list of codes (tests, fuzzing). */
lx_regions_t *lx_regions_from_codes(const char *const codes[], size_t n);
void lx_regions_free(lx_regions_t *r);
size_t lx_regions_count(const lx_regions_t *r);

/* 1 when `code` (`len` bytes, exact case) is in the catalogue. */
int lx_regions_exists(const lx_regions_t *r, const char *code, size_t len);

#endif
