/*
 * Key files are raw bytes of a fixed length. Writing goes through a temporary
 * file created with O_EXCL and mode 0600 and a rename, so a crash never leaves
 * a short key file behind and an existing key is never overwritten.
 *
 * The receipt-signing key is the one key that rotates, so beside it lives a
 * public registry (receipt-keys.json) of every signing key ever used, with its
 * validity: a verifier needs the old public keys for old receipts, and a
 * receipt signed by a key outside that key's validity is rejected. Rotation
 * writes the new secret key to receipt-signing.key.next, then the new registry
 * (atomic rename: the commit point), then renames .next over the current key
 * and overwrites the retired key's bytes through a descriptor opened before
 * the rename. A crash before the registry's rename leaves the old key current
 * (.next is wiped by the next keygen); after it, the next keygen finishes the
 * rename. keygen runs take an exclusive flock on the directory, loads a shared
 * one, so a loading server never sees a key file and a registry of different
 * generations.
 *
 * Publication in the database (receipt_keys, for GET /v1/receipts/keys) happens
 * at `serve` start from the registry, and again whenever a running server sees
 * a rotation (billing/keywatch.h), so the endpoint lists every key any server
 * of the deployment has used; a retired key's not_after is filled in by the
 * first server that sees the rotation. The retired key stays valid for signing
 * LX_KEYS_ROTATION_GRACE_S after the rotation: servers sign with it until they
 * notice, and what they signed then must still verify.
 */
#include "keys.h"
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RECEIPT_KEY_FILE LX_KEYS_SIGNING_FILE
#define NEXT_KEY_FILE    "receipt-signing.key.next"

typedef struct {
    const char *file;
    size_t len;
    size_t offset; /* into lx_keys_t */
} keyfile_t;

static const keyfile_t keyfiles[] = {
    {RECEIPT_KEY_FILE, 64, offsetof(lx_keys_t, signer.sk)},
    {"data.key", 32, offsetof(lx_keys_t, data_key)},
    {"dedupe.key", 32, offsetof(lx_keys_t, dedupe_key)},
    {"apikey-hash.key", 32, offsetof(lx_keys_t, apikey_key)},
};
#define NKEYFILES (sizeof(keyfiles) / sizeof(keyfiles[0]))

static void path_of(char *out, size_t cap, const char *dir, const char *file)
{
    snprintf(out, cap, "%s/%s", dir, file);
}

static int write_exact(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly `len` bytes of a file that must be exactly that long; *fd_out (when not NULL) keeps it open O_RDWR. */
static lx_status_t read_key_file(const char *path, uint8_t *dst, size_t len, int *fd_out, struct stat *st_out, lx_error_t *err)
{
    int fd = open(path, (fd_out != NULL ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot open key file %s: %s (run `leadx keygen`)", path, strerror(errno));
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && st.st_size == (off_t)len) {
        size_t got = 0;
        while (got < len) {
            ssize_t r = read(fd, dst + got, len - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        n = (ssize_t)got;
    }
    if (n != (ssize_t)len) {
        close(fd);
        return lx_error_set(err, LX_ERR_INTERNAL, "key file %s must hold exactly %zu bytes", path, len);
    }
    if (st_out != NULL) *st_out = st;
    if (fd_out != NULL)
        *fd_out = fd;
    else
        close(fd);
    return LX_OK;
}

/* Writes `len` bytes to a new file `path` (O_EXCL, 0600) and fsyncs it. */
static lx_status_t write_new_file(const char *path, const void *buf, size_t len, lx_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return lx_error_set(err, LX_ERR_INTERNAL, "cannot create %s: %s", path, strerror(errno));
    int bad = write_exact(fd, buf, len) != 0 || fsync(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (bad) {
        unlink(path);
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot write %s: %s", path, strerror(e));
    }
    return LX_OK;
}

static lx_status_t fsync_dir(int dirfd, const char *dir, lx_error_t *err)
{
    if (fsync(dirfd) != 0) return lx_error_set(err, LX_ERR_INTERNAL, "cannot fsync %s: %s", dir, strerror(errno));
    return LX_OK;
}

/* Overwrites a secret key file's bytes with zeros through `fd` (the file may already be unlinked), then closes it. */
static void wipe_fd(int fd, size_t len)
{
    uint8_t zero[64] = {0};
    if (len > sizeof(zero)) len = sizeof(zero);
    if (pwrite(fd, zero, len, 0) == (ssize_t)len) (void)fsync(fd);
    close(fd);
}

static lx_status_t write_key(const char *dir, const keyfile_t *kf, int *created, lx_error_t *err)
{
    char path[4096], tmp[4200];
    path_of(path, sizeof(path), dir, kf->file);
    *created = 0;
    if (access(path, F_OK) == 0) return LX_OK;
    uint8_t buf[64], pk[32];
    if (kf->len == 64)
        crypto_sign_keypair(pk, buf);
    else
        randombytes_buf(buf, kf->len);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* a leftover of a crashed run of this pid */
    lx_status_t st = write_new_file(tmp, buf, kf->len, err);
    sodium_memzero(buf, sizeof(buf));
    if (st != LX_OK) return st;
    if (link(tmp, path) != 0) { /* link fails if another keygen won the race: keep theirs */
        int e = errno;
        unlink(tmp);
        if (e == EEXIST) return LX_OK;
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot write %s: %s", path, strerror(e));
    }
    unlink(tmp);
    *created = 1;
    printf("wrote %s\n", path);
    return LX_OK;
}

/* ---- the registry ---- */

void lx_keys_registry_render(const lx_keyring_t *ring, lx_strbuf_t *out)
{
    lx_strbuf_puts(out, "{\"keys\": [");
    for (size_t i = 0; i < ring->n; i++) {
        const lx_pubkey_t *k = &ring->keys[i];
        char pk[LX_PK_B64_LEN + 1], nb[LX_TS_LEN + 1], na[LX_TS_LEN + 1];
        lx_b64url_encode(k->pk, 32, pk);
        lx_ts_format_us(k->not_before_us, nb);
        lx_strbuf_printf(out,
                         "%s\n  {\"key_id\": \"%s\", \"public_key\": \"%s\", \"not_before\": \"%s\", \"not_after\": ", i ? "," : "",
                         k->key_id, pk, nb);
        if (k->not_after_us == INT64_MAX) {
            lx_strbuf_puts(out, "null}");
        } else {
            lx_ts_format_us(k->not_after_us, na);
            lx_strbuf_printf(out, "\"%s\"}", na);
        }
    }
    lx_strbuf_puts(out, "\n]}\n");
}

/* A registry of one key valid from `not_before_us`. */
static void registry_single(lx_keyring_t *ring, const uint8_t pk[32], int64_t not_before_us)
{
    ring->keys = lx_calloc(1, sizeof(lx_pubkey_t));
    ring->n = 1;
    memcpy(ring->keys[0].pk, pk, 32);
    lx_receipt_key_id(pk, ring->keys[0].key_id);
    ring->keys[0].not_before_us = not_before_us;
    ring->keys[0].not_after_us = INT64_MAX;
}

static int64_t mtime_us(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000 + st->st_mtim.tv_nsec / 1000;
}

/* Reads and parses the registry. LX_ERR_NOT_FOUND (no error text) when the file does not exist. */
static lx_status_t registry_read(const char *dir, lx_keyring_t *ring, lx_error_t *err)
{
    char path[4096];
    path_of(path, sizeof(path), dir, LX_KEYS_REGISTRY_FILE);
    ring->keys = NULL;
    ring->n = 0;
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        if (errno == ENOENT) return LX_ERR_NOT_FOUND;
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot open %s: %s", path, strerror(errno));
    }
    char *buf = lx_malloc(LX_KEYS_REGISTRY_MAX_BYTES + 1);
    size_t n = fread(buf, 1, LX_KEYS_REGISTRY_MAX_BYTES + 1, f);
    int rerr = ferror(f);
    fclose(f);
    lx_status_t st = LX_OK;
    if (rerr)
        st = lx_error_set(err, LX_ERR_INTERNAL, "cannot read %s", path);
    else if (n > LX_KEYS_REGISTRY_MAX_BYTES)
        st = lx_error_set(err, LX_ERR_INTERNAL, "%s is larger than %zu bytes", path, LX_KEYS_REGISTRY_MAX_BYTES);
    else {
        lx_error_t perr;
        lx_error_init(&perr);
        if (lx_keyring_parse(buf, n, ring, &perr) != LX_OK) {
            st = lx_error_set(err, LX_ERR_INTERNAL, "%s is not a valid key registry: %s%s%s", path,
                              perr.nfields ? perr.fields[0].field : "", perr.nfields ? ": " : "",
                              perr.nfields ? perr.fields[0].message : perr.detail);
        } else if (ring->n == 0) {
            st = lx_error_set(err, LX_ERR_INTERNAL, "%s lists no key", path);
        }
    }
    free(buf);
    if (st != LX_OK) lx_keyring_free(ring);
    return st;
}

/* The registry must name `pk` as its one unretired key. */
static lx_status_t registry_check(const char *dir, const lx_keyring_t *ring, const uint8_t pk[32], lx_error_t *err)
{
    char kid[LX_KEY_ID_LEN + 1];
    lx_receipt_key_id(pk, kid);
    const lx_pubkey_t *cur = lx_keyring_find(ring, kid, LX_KEY_ID_LEN);
    if (cur == NULL || sodium_memcmp(cur->pk, pk, 32) != 0)
        return lx_error_set(err, LX_ERR_INTERNAL,
                            "%s/" RECEIPT_KEY_FILE " holds key %s, which " LX_KEYS_REGISTRY_FILE
                            " does not list (the two files belong to different key directories)",
                            dir, kid);
    if (cur->not_after_us != INT64_MAX) {
        char next[4096];
        path_of(next, sizeof(next), dir, NEXT_KEY_FILE);
        if (access(next, F_OK) == 0)
            return lx_error_set(err, LX_ERR_INTERNAL,
                                "%s/" RECEIPT_KEY_FILE " holds key %s, which " LX_KEYS_REGISTRY_FILE
                                " retired: a rotation was interrupted; run `leadx keygen` to finish it",
                                dir, kid);
        return lx_error_set(err, LX_ERR_INTERNAL,
                            "%s/" RECEIPT_KEY_FILE " holds key %s, which " LX_KEYS_REGISTRY_FILE
                            " retired: the signing key is older than the registry (restore the current key)",
                            dir, kid);
    }
    for (size_t i = 0; i < ring->n; i++)
        if (ring->keys[i].not_after_us == INT64_MAX && &ring->keys[i] != cur)
            return lx_error_set(err, LX_ERR_INTERNAL,
                                "%s/" LX_KEYS_REGISTRY_FILE " has two current keys (%s and %s); only one may sign", dir,
                                ring->keys[i].key_id, kid);
    return LX_OK;
}

/* Writes the registry atomically (temp file, fsync, rename, directory fsync). */
static lx_status_t registry_write(const char *dir, int dirfd, const lx_keyring_t *ring, lx_error_t *err)
{
    char path[4096], tmp[4200];
    path_of(path, sizeof(path), dir, LX_KEYS_REGISTRY_FILE);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp);
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, LX_KEYS_REGISTRY_MAX_BYTES);
    lx_keys_registry_render(ring, &sb);
    lx_status_t st = sb.overflow
                         ? lx_error_set(err, LX_ERR_INTERNAL, "the key registry outgrew %zu bytes", LX_KEYS_REGISTRY_MAX_BYTES)
                         : write_new_file(tmp, sb.base, sb.len, err);
    lx_strbuf_free(&sb);
    if (st != LX_OK) return st;
    if (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot write %s: %s", path, strerror(e));
    }
    return fsync_dir(dirfd, dir, err);
}

static int open_dir_locked(const char *dir, int how, lx_error_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        lx_error_set(err, LX_ERR_INTERNAL, "cannot open key directory %s: %s", dir, strerror(errno));
        return -1;
    }
    while (flock(fd, how) != 0) {
        if (errno == EINTR) continue;
        lx_error_set(err, LX_ERR_INTERNAL, "cannot lock key directory %s: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Finishes or undoes a rotation a crash interrupted (under the exclusive lock). `.next` exists only between the
 * rotation's first write and its final rename: when the registry already names it as the current key, the rotation
 * committed and the rename is redone (the retired key wiped); otherwise it never committed and `.next` is wiped.
 */
static lx_status_t finish_rotation(const char *dir, int dirfd, lx_error_t *err)
{
    char next_path[4096], cur_path[4096];
    path_of(next_path, sizeof(next_path), dir, NEXT_KEY_FILE);
    path_of(cur_path, sizeof(cur_path), dir, RECEIPT_KEY_FILE);
    if (access(next_path, F_OK) != 0) return LX_OK; /* nothing pending */
    uint8_t *sk = sodium_malloc(64);
    if (sk == NULL) return lx_error_set(err, LX_ERR_INTERNAL, "cannot allocate key memory");
    int next_fd = -1;
    lx_status_t st = read_key_file(next_path, sk, 64, &next_fd, NULL, err);
    if (st != LX_OK) {
        sodium_free(sk);
        return st;
    }
    uint8_t pk[32];
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    sodium_free(sk);
    lx_keyring_t ring;
    lx_error_t rerr;
    lx_error_init(&rerr);
    int committed = registry_read(dir, &ring, &rerr) == LX_OK && registry_check(dir, &ring, pk, &rerr) == LX_OK;
    if (ring.keys != NULL) lx_keyring_free(&ring);
    if (!committed) {
        wipe_fd(next_fd, 64);
        if (unlink(next_path) != 0 && errno != ENOENT)
            return lx_error_set(err, LX_ERR_INTERNAL, "cannot remove %s: %s", next_path, strerror(errno));
        printf("removed %s (a rotation that never committed)\n", next_path);
        return fsync_dir(dirfd, dir, err);
    }
    close(next_fd);
    int old_fd = open(cur_path, O_RDWR | O_CLOEXEC); /* the retired key, to wipe once it is unlinked */
    if (rename(next_path, cur_path) != 0) {
        int e = errno;
        if (old_fd >= 0) close(old_fd);
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot rename %s: %s", next_path, strerror(e));
    }
    st = fsync_dir(dirfd, dir, err);
    if (old_fd >= 0) wipe_fd(old_fd, 64);
    if (st == LX_OK) printf("finished an interrupted rotation: %s is now the current key\n", cur_path);
    return st;
}

/* Writes the registry for the current key when it is missing (not_before = the key file's modification time). */
static lx_status_t ensure_registry(const char *dir, int dirfd, lx_error_t *err)
{
    lx_keyring_t ring;
    lx_status_t st = registry_read(dir, &ring, err);
    if (st == LX_OK) {
        lx_keyring_free(&ring);
        return LX_OK;
    }
    if (st != LX_ERR_NOT_FOUND) return st;
    char path[4096];
    path_of(path, sizeof(path), dir, RECEIPT_KEY_FILE);
    uint8_t *sk = sodium_malloc(64);
    if (sk == NULL) return lx_error_set(err, LX_ERR_INTERNAL, "cannot allocate key memory");
    struct stat kst;
    st = read_key_file(path, sk, 64, NULL, &kst, err);
    uint8_t pk[32];
    if (st == LX_OK) crypto_sign_ed25519_sk_to_pk(pk, sk);
    sodium_free(sk);
    if (st != LX_OK) return st;
    int64_t nb = mtime_us(&kst), now = lx_ts_now_us();
    registry_single(&ring, pk, nb < now ? nb : now);
    st = registry_write(dir, dirfd, &ring, err);
    lx_keyring_free(&ring);
    if (st == LX_OK) printf("wrote %s/%s\n", dir, LX_KEYS_REGISTRY_FILE);
    return st;
}

lx_status_t lx_keys_generate_missing(const char *dir, lx_error_t *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot create key directory %s: %s", dir, strerror(errno));
    int dirfd = open_dir_locked(dir, LOCK_EX, err);
    if (dirfd < 0) return err->status;
    lx_status_t st = finish_rotation(dir, dirfd, err);
    if (st == LX_OK) {
        /* A registry without its secret key would make a fresh key that it does not list: refuse instead. */
        char path[4096], reg[4096];
        path_of(path, sizeof(path), dir, RECEIPT_KEY_FILE);
        path_of(reg, sizeof(reg), dir, LX_KEYS_REGISTRY_FILE);
        if (access(path, F_OK) != 0 && access(reg, F_OK) == 0)
            st = lx_error_set(err, LX_ERR_INTERNAL,
                              "%s exists but %s does not: restore the signing key from a backup (a new key would not "
                              "be in the registry)",
                              reg, path);
    }
    int created_any = 0;
    for (size_t i = 0; st == LX_OK && i < NKEYFILES; i++) {
        int created;
        st = write_key(dir, &keyfiles[i], &created, err);
        created_any |= created;
    }
    if (st == LX_OK && created_any) st = fsync_dir(dirfd, dir, err);
    if (st == LX_OK) st = ensure_registry(dir, dirfd, err);
    close(dirfd); /* releases the lock */
    return st;
}

lx_status_t lx_keys_rotate(const char *dir, lx_error_t *err)
{
    int dirfd = open_dir_locked(dir, LOCK_EX, err);
    if (dirfd < 0) return err->status;
    char cur_path[4096], next_path[4096];
    path_of(cur_path, sizeof(cur_path), dir, RECEIPT_KEY_FILE);
    path_of(next_path, sizeof(next_path), dir, NEXT_KEY_FILE);
    uint8_t *sk = sodium_malloc(128); /* old key, then new key */
    lx_keyring_t ring = {NULL, 0}, next = {NULL, 0};
    int old_fd = -1;
    lx_status_t st = sk == NULL ? lx_error_set(err, LX_ERR_INTERNAL, "cannot allocate key memory") : LX_OK;
    if (st == LX_OK) st = finish_rotation(dir, dirfd, err);
    if (st == LX_OK) st = ensure_registry(dir, dirfd, err);
    struct stat kst;
    if (st == LX_OK) st = read_key_file(cur_path, sk, 64, &old_fd, &kst, err);
    uint8_t old_pk[32], new_pk[32];
    if (st == LX_OK) {
        crypto_sign_ed25519_sk_to_pk(old_pk, sk);
        st = registry_read(dir, &ring, err);
        if (st == LX_ERR_NOT_FOUND) st = lx_error_set(err, LX_ERR_INTERNAL, "%s/%s vanished", dir, LX_KEYS_REGISTRY_FILE);
    }
    if (st == LX_OK) st = registry_check(dir, &ring, old_pk, err);
    int64_t now = lx_ts_now_us();
    char old_id[LX_KEY_ID_LEN + 1], new_id[LX_KEY_ID_LEN + 1];
    if (st == LX_OK) {
        lx_receipt_key_id(old_pk, old_id);
        const lx_pubkey_t *cur = lx_keyring_find(&ring, old_id, LX_KEY_ID_LEN);
        if (now <= cur->not_before_us)
            st = lx_error_set(err, LX_ERR_INTERNAL, "the clock is before the current key's not_before; not rotating");
    }
    if (st == LX_OK) {
        crypto_sign_keypair(new_pk, sk + 64);
        lx_receipt_key_id(new_pk, new_id);
        if (lx_keyring_find(&ring, new_id, LX_KEY_ID_LEN) != NULL) /* 2^-64: never, but never reuse an id either */
            st = lx_error_set(err, LX_ERR_INTERNAL, "the new key's id collides with a registered one; run again");
    }
    if (st == LX_OK) {
        unlink(next_path); /* finish_rotation removed any leftover; this one is ours */
        st = write_new_file(next_path, sk + 64, 64, err);
    }
    if (st == LX_OK) {
        next.n = ring.n + 1;
        next.keys = lx_calloc(next.n, sizeof(lx_pubkey_t));
        memcpy(next.keys, ring.keys, ring.n * sizeof(lx_pubkey_t));
        for (size_t i = 0; i < ring.n; i++)
            if (strcmp(next.keys[i].key_id, old_id) == 0)
                next.keys[i].not_after_us = now + LX_KEYS_ROTATION_GRACE_S * INT64_C(1000000);
        lx_pubkey_t *nk = &next.keys[ring.n];
        memcpy(nk->pk, new_pk, 32);
        memcpy(nk->key_id, new_id, sizeof(new_id));
        nk->not_before_us = now;
        nk->not_after_us = INT64_MAX;
        st = fsync_dir(dirfd, dir, err);
        if (st == LX_OK) st = registry_write(dir, dirfd, &next, err); /* the commit point */
        if (st != LX_OK) unlink(next_path);
    }
    if (st == LX_OK) {
        if (rename(next_path, cur_path) != 0)
            st = lx_error_set(err, LX_ERR_INTERNAL, "cannot rename %s: %s (run `leadx keygen` to finish the rotation)", next_path,
                              strerror(errno));
        else
            st = fsync_dir(dirfd, dir, err);
        if (st == LX_OK) {
            wipe_fd(old_fd, 64); /* the retired secret key's bytes, through the unlinked inode */
            old_fd = -1;
            char ts[LX_TS_LEN + 1];
            lx_ts_format_us(now, ts);
            printf("rotated the receipt-signing key at %s: retired %s (valid for signing %d s more), now signing with %s\n"
                   "running servers that use %s switch to the new key within a second\n",
                   ts, old_id, LX_KEYS_ROTATION_GRACE_S, new_id, dir);
        }
    }
    if (old_fd >= 0) close(old_fd);
    if (sk != NULL) sodium_free(sk);
    if (ring.keys != NULL) lx_keyring_free(&ring);
    free(next.keys);
    close(dirfd);
    return st;
}

lx_status_t lx_keys_load(const char *dir, lx_keys_t **out, lx_error_t *err)
{
    lx_keys_t *keys = sodium_malloc(sizeof(*keys));
    if (keys == NULL) return lx_error_set(err, LX_ERR_INTERNAL, "cannot allocate key memory");
    memset(keys, 0, sizeof(*keys));
    int dirfd = open_dir_locked(dir, LOCK_SH, err); /* never between a rotation's writes */
    if (dirfd < 0) {
        lx_keys_free(keys);
        return err->status;
    }
    struct stat kst;
    lx_status_t st = LX_OK;
    for (size_t i = 0; st == LX_OK && i < NKEYFILES; i++) {
        char path[4096];
        path_of(path, sizeof(path), dir, keyfiles[i].file);
        st = read_key_file(path, (uint8_t *)keys + keyfiles[i].offset, keyfiles[i].len, NULL, i == 0 ? &kst : NULL, err);
    }
    if (st == LX_OK) {
        crypto_sign_ed25519_sk_to_pk(keys->signer.pk, keys->signer.sk);
        lx_receipt_key_id(keys->signer.pk, keys->signer.key_id);
        st = registry_read(dir, &keys->registry, err);
        if (st == LX_ERR_NOT_FOUND) { /* made by an older keygen: the key alone, valid since it was written */
            int64_t nb = mtime_us(&kst), now = lx_ts_now_us();
            registry_single(&keys->registry, keys->signer.pk, nb < now ? nb : now);
            st = LX_OK;
        } else if (st == LX_OK) {
            st = registry_check(dir, &keys->registry, keys->signer.pk, err);
        }
    }
    close(dirfd);
    if (st != LX_OK) {
        lx_keys_free(keys);
        return st;
    }
    static const char ctx[] = "leadx-lead-digest-key-v1";
    crypto_generichash(keys->lead_digest_key, sizeof(keys->lead_digest_key), (const uint8_t *)ctx, sizeof(ctx) - 1,
                       keys->dedupe_key, sizeof(keys->dedupe_key));
    *out = keys;
    return LX_OK;
}

void lx_keys_free(lx_keys_t *keys)
{
    while (keys != NULL) {
        lx_keys_t *newer = atomic_load(&keys->newer);
        if (keys->registry.keys != NULL) lx_keyring_free(&keys->registry);
        sodium_free(keys); /* sodium_free zeroes the memory before releasing it */
        keys = newer;
    }
}

/*
 * Rotation while serving: readers on every thread follow the `newer` links to the last keys adopted. Nothing adopted
 * is freed before lx_keys_free, so a signer read just before an adoption stays valid while it is used; a retired
 * key's bytes thus stay in guarded memory until the server stops (a handful of rotations in a process's life).
 */
const lx_keys_t *lx_keys_newest(const lx_keys_t *keys)
{
    const lx_keys_t *next;
    while ((next = atomic_load_explicit(&keys->newer, memory_order_acquire)) != NULL) keys = next;
    return keys;
}

const lx_signer_t *lx_keys_signer(const lx_keys_t *keys)
{
    return &lx_keys_newest(keys)->signer;
}

void lx_keys_adopt(lx_keys_t *keys, lx_keys_t *fresh)
{
    lx_keys_t *last = (lx_keys_t *)lx_keys_newest(keys); /* ours: every link was adopted into `keys` */
    atomic_store_explicit(&last->newer, fresh, memory_order_release);
}

/* ---- publication ---- */

static lx_status_t pg_fail(PGconn *pg, PGresult *r, const char *what, lx_error_t *err)
{
    lx_error_set(err, LX_ERR_DB_UNAVAILABLE, "cannot %s: %s", what, r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    if (r != NULL) PQclear(r);
    return err->status;
}

lx_status_t lx_keys_publish(const char *conninfo, const lx_keys_t *keys, lx_error_t *err)
{
    const char *ck[] = {"dbname", "application_name", NULL};
    const char *cv[] = {conninfo, "leadx-keys", NULL};
    PGconn *pg = PQconnectdbParams(ck, cv, 1);
    lx_status_t st = PQstatus(pg) != CONNECTION_OK ? pg_fail(pg, NULL, "connect to publish the receipt keys", err)
                                                   : lx_keys_publish_on(pg, keys, err);
    PQfinish(pg);
    return st;
}

lx_status_t lx_keys_publish_on(PGconn *pg, const lx_keys_t *keys, lx_error_t *err)
{
    lx_strbuf_t doc;
    lx_strbuf_init(&doc, LX_KEYS_REGISTRY_MAX_BYTES * 2);
    lx_keys_registry_render(&keys->registry, &doc);
    lx_strbuf_append(&doc, "", 1);
    /* A retired key's not_after is set once and never moved; not_before is the first publication's. */
    const char *v1[] = {doc.base};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO receipt_keys (key_id, public_key, not_before, not_after) "
                               "SELECT k->>'key_id', k->>'public_key', (k->>'not_before')::timestamptz, "
                               "(k->>'not_after')::timestamptz FROM jsonb_array_elements($1::jsonb -> 'keys') AS k "
                               "ON CONFLICT (key_id) DO UPDATE SET not_after = EXCLUDED.not_after "
                               "WHERE receipt_keys.not_after IS NULL AND EXCLUDED.not_after IS NOT NULL",
                               1, NULL, v1, NULL, NULL, 0);
    lx_strbuf_free(&doc);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return pg_fail(pg, r, "publish the receipt keys", err);
    PQclear(r);
    char pk[LX_PK_B64_LEN + 1];
    lx_b64url_encode(keys->signer.pk, 32, pk);
    const char *v2[] = {keys->signer.key_id};
    r = PQexecParams(pg, "SELECT public_key, not_after FROM receipt_keys WHERE key_id = $1", 1, NULL, v2, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) return pg_fail(pg, r, "read back the receipt keys", err);
    lx_status_t st = LX_OK;
    if (strcmp(PQgetvalue(r, 0, 0), pk) != 0)
        st = lx_error_set(err, LX_ERR_INTERNAL, "the database registers key id %s with another public key", keys->signer.key_id);
    else if (!PQgetisnull(r, 0, 1))
        st = lx_error_set(err, LX_ERR_INTERNAL,
                          "receipt key %s was retired at %s (another server rotated it): this server's key directory "
                          "is out of date; give it the rotated key directory",
                          keys->signer.key_id, PQgetvalue(r, 0, 1));
    PQclear(r);
    return st;
}
