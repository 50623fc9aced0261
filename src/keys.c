/*
 * Key files are raw bytes of a fixed length. Writing goes through a temporary
 * file created with O_EXCL and mode 0600 and a rename, so a crash never leaves
 * a short key file behind and an existing key is never overwritten.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *file;
    size_t len;
    size_t offset; /* into lx_keys_t */
} keyfile_t;

static const keyfile_t keyfiles[] = {
    {"receipt-signing.key", 64, offsetof(lx_keys_t, receipt_sk)},
    {"data.key", 32, offsetof(lx_keys_t, data_key)},
    {"dedupe.key", 32, offsetof(lx_keys_t, dedupe_key)},
    {"apikey-hash.key", 32, offsetof(lx_keys_t, apikey_key)},
};
#define NKEYFILES (sizeof(keyfiles) / sizeof(keyfiles[0]))

static int write_exact(int fd, const uint8_t *p, size_t n)
{
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

static lx_status_t write_key(const char *dir, const keyfile_t *kf, lx_error_t *err)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, kf->file);
    if (access(path, F_OK) == 0) return LX_OK;
    uint8_t buf[64], pk[32];
    if (kf->len == 64)
        crypto_sign_keypair(pk, buf);
    else
        randombytes_buf(buf, kf->len);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sodium_memzero(buf, sizeof(buf));
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot create %s: %s", tmp, strerror(errno));
    }
    int bad = write_exact(fd, buf, kf->len) != 0 || fsync(fd) != 0;
    sodium_memzero(buf, sizeof(buf));
    bad |= close(fd) != 0;
    if (bad || link(tmp, path) != 0) { /* link fails if another keygen won the race: keep theirs */
        int e = errno;
        unlink(tmp);
        if (!bad && e == EEXIST) return LX_OK;
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot write %s: %s", path, strerror(e));
    }
    unlink(tmp);
    printf("wrote %s\n", path);
    return LX_OK;
}

lx_status_t lx_keys_generate_missing(const char *dir, lx_error_t *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return lx_error_set(err, LX_ERR_INTERNAL, "cannot create key directory %s: %s", dir, strerror(errno));
    for (size_t i = 0; i < NKEYFILES; i++)
        if (write_key(dir, &keyfiles[i], err) != LX_OK) return err->status;
    return LX_OK;
}

lx_status_t lx_keys_load(const char *dir, lx_keys_t **out, lx_error_t *err)
{
    lx_keys_t *keys = sodium_malloc(sizeof(*keys));
    if (keys == NULL) return lx_error_set(err, LX_ERR_INTERNAL, "cannot allocate key memory");
    for (size_t i = 0; i < NKEYFILES; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, keyfiles[i].file);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            lx_keys_free(keys);
            return lx_error_set(err, LX_ERR_INTERNAL, "cannot open key file %s: %s (run `leadx keygen`)", path, strerror(errno));
        }
        struct stat st;
        uint8_t *dst = (uint8_t *)keys + keyfiles[i].offset;
        ssize_t n = fstat(fd, &st) == 0 && st.st_size == (off_t)keyfiles[i].len ? read(fd, dst, keyfiles[i].len) : -1;
        close(fd);
        if (n != (ssize_t)keyfiles[i].len) {
            lx_keys_free(keys);
            return lx_error_set(err, LX_ERR_INTERNAL, "key file %s must hold exactly %zu bytes", path, keyfiles[i].len);
        }
    }
    crypto_sign_ed25519_sk_to_pk(keys->receipt_pk, keys->receipt_sk);
    *out = keys;
    return LX_OK;
}

void lx_keys_free(lx_keys_t *keys)
{
    if (keys != NULL) sodium_free(keys); /* sodium_free zeroes the memory before releasing it */
}
