/*
 * The key watcher (billing/keywatch.h). A round is a stat of two files; only a change costs a reload, a publication
 * and an adoption, so the thread is idle in practice. A round that cannot reload or publish returns -1 (the bgjob
 * backs off and retries), leaving the files unmarked as seen: the rotation is taken by a later round, and until then
 * the old key, valid for the rotation's grace, keeps signing.
 */
#include "billing/keywatch.h"
#include "db/bgjob.h"
#include "util/strbuf.h"
#include "util/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    int exists;
} stamp_t;

struct st_lx_keywatch_t {
    lx_bgjob_t *job;
    char *dir;
    lx_keys_t *keys;
    stamp_t seen[2]; /* the registry, the signing key */
};

static void stamp_of(const char *dir, const char *file, stamp_t *out)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    struct stat st;
    memset(out, 0, sizeof(*out));
    if (stat(path, &st) != 0) return;
    out->exists = 1;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->size = st.st_size;
    out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

static void stamps(const lx_keywatch_t *w, stamp_t out[2])
{
    stamp_of(w->dir, LX_KEYS_REGISTRY_FILE, &out[0]);
    stamp_of(w->dir, LX_KEYS_SIGNING_FILE, &out[1]);
}

/* The keys that never rotate must be the ones this server runs with. */
static const char *foreign_key(const lx_keys_t *a, const lx_keys_t *b)
{
    if (sodium_memcmp(a->data_key, b->data_key, sizeof(a->data_key)) != 0) return "data.key";
    if (sodium_memcmp(a->dedupe_key, b->dedupe_key, sizeof(a->dedupe_key)) != 0) return "dedupe.key";
    if (sodium_memcmp(a->apikey_key, b->apikey_key, sizeof(a->apikey_key)) != 0) return "apikey-hash.key";
    return NULL;
}

static int round_cb(void *ctx, lx_bgjob_t *job, PGconn *pg)
{
    (void)job;
    lx_keywatch_t *w = ctx;
    stamp_t now[2];
    stamps(w, now);
    if (memcmp(now, w->seen, sizeof(now)) == 0) return 0;

    lx_error_t err;
    lx_error_init(&err);
    lx_keys_t *fresh = NULL;
    if (lx_keys_load(w->dir, &fresh, &err) != LX_OK) {
        lx_log(LX_LOG_ERROR, "keys_reload_failed", "%s; still signing with %s", err.detail, lx_keys_signer(w->keys)->key_id);
        return -1;
    }
    const lx_signer_t *current = lx_keys_signer(w->keys);
    const char *foreign = foreign_key(w->keys, fresh);
    int result = 0;
    if (foreign != NULL) {
        lx_log(LX_LOG_ERROR, "keys_reload_refused",
               "%s/%s is not the key this server runs with: the directory belongs to another deployment (restart "
               "with the right one); still signing with %s",
               w->dir, foreign, current->key_id);
        result = -1;
    } else if (strcmp(fresh->signer.key_id, current->key_id) == 0) {
        memcpy(w->seen, now, sizeof(now)); /* touched, not rotated */
    } else if (lx_keys_publish_on(pg, fresh, &err) != LX_OK) {
        lx_log(LX_LOG_ERROR, "keys_publish_failed", "%s; still signing with %s", err.detail, current->key_id);
        result = -1;
    } else {
        lx_log(LX_LOG_INFO, "keys_rotated", "now signing receipts and tree heads with key %s (was %s)", fresh->signer.key_id,
               current->key_id);
        lx_keys_adopt(w->keys, fresh);
        fresh = NULL;
        memcpy(w->seen, now, sizeof(now));
    }
    lx_keys_free(fresh);
    return result;
}

lx_keywatch_t *lx_keywatch_start(const char *conninfo, const char *dir, lx_keys_t *keys)
{
    lx_keywatch_t *w = lx_calloc(1, sizeof(*w));
    w->dir = lx_strdup(dir);
    w->keys = keys;
    /* Nothing counts as seen: the first round reloads once, so a rotation between the server's load and this start
     * is not missed. */
    lx_bgjob_config_t cfg = {"keys", LX_KEYWATCH_INTERVAL_MS, 1, round_cb, w};
    lx_bgjob_start(&w->job, conninfo, &cfg);
    return w;
}

void lx_keywatch_stop(lx_keywatch_t *w)
{
    if (w == NULL) return;
    lx_bgjob_stop(w->job);
    free(w->dir);
    free(w);
}
