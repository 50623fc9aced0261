/*
 * The key watcher: how a running server follows `leadx keygen --rotate` without a restart (keys.h).
 *
 * A background thread (db/bgjob.h) looks at the key directory's registry and signing-key file once a second. When
 * either changed, it loads the directory again under its shared lock (so never between a rotation's writes),
 * publishes the registry in the database on its own connection (the retired key's not_after, the new key), and only
 * then hands the new keys to lx_keys_adopt: from that moment every receipt and tree head is signed with the new key,
 * which GET /v1/receipts/keys already lists. A retired key stays valid for LX_KEYS_ROTATION_GRACE_S, so whatever the
 * server signed with it before noticing still verifies.
 *
 * Only the signing key is taken from a reload. The data, dedupe and API-key hashing keys never rotate; a directory
 * whose copies of them differ from the loaded ones is refused (logged, retried each round): it belongs to another
 * deployment, and mixing keys would strand sealed contacts and break duplicate detection.
 */
#ifndef LX_BILLING_KEYWATCH_H
#define LX_BILLING_KEYWATCH_H

#include <stdint.h>

#include "keys.h"

typedef struct st_lx_keywatch_t lx_keywatch_t;

#define LX_KEYWATCH_INTERVAL_MS 1000

/* Starts watching `dir` (copied) for `keys` (borrowed; must outlive the watcher). Never fails. */
lx_keywatch_t *lx_keywatch_start(const char *conninfo, const char *dir, lx_keys_t *keys);
/* Stops and joins the thread; frees `w`. */
void lx_keywatch_stop(lx_keywatch_t *w);

#endif
