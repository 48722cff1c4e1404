/* das/keys.h: the signing key at rest and the issuers file. */
#include "keys.h"

#include "security/token.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The key file, refused when others may read it: a leaked key forges tokens. */
static char *read_key(const char *path, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > 65536)
        snprintf(err, cap, "%s is not a key file", path);
    else if (st.st_mode & 077)
        snprintf(err, cap, "%s may be read by group or others (mode %04o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
    else if ((text = calloc(1, (size_t)st.st_size + 1)) && read(fd, text, (size_t)st.st_size) != st.st_size) {
        snprintf(err, cap, "cannot read %s", path);
        free(text);
        text = NULL;
    }
    close(fd);
    return text;
}

static int write_file(const char *path, const char *text, mode_t mode, char *err, size_t cap)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    size_t n = strlen(text);
    bool ok = fd >= 0 && write(fd, text, n) == (ssize_t)n && !fsync(fd);
    if (fd >= 0) close(fd);
    if (!ok || rename(tmp, path)) {
        snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int write_issuers(const char *data_dir, const char *issuer, const char *private_jwk, char *err, size_t cap)
{
    char *pub = token_public_jwk(private_jwk);
    json_t *jwk = pub ? json_loads(pub, 0, NULL) : NULL;
    free(pub);
    if (!jwk) {
        snprintf(err, cap, "the signing key has no usable public half");
        return -1;
    }
    json_t *doc = json_pack("{s:[{s:s,s:o}]}", "issuers", "iss", issuer, "jwk", jwk);
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", data_dir, DAS_ISSUERS_FILE);
    /* Public: the CSEs that trust this DAS read it. */
    int rc = text ? write_file(path, text, 0644, err, cap) : -1;
    if (rc == 0) chmod(path, 0644);
    free(text);
    return rc;
}

char *das_key_open(const char *data_dir, const char *issuer, char *err, size_t cap)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", data_dir, DAS_KEY_FILE);
    err[0] = 0;
    char *key = read_key(path, err, cap);
    if (!key && err[0]) return NULL;
    if (!key) {
        if (!(key = token_new_key())) {
            snprintf(err, cap, "cannot make a signing key");
            return NULL;
        }
        if (write_file(path, key, 0600, err, cap)) {
            free(key);
            return NULL;
        }
    }
    if (write_issuers(data_dir, issuer, key, err, cap)) {
        free(key);
        return NULL;
    }
    return key;
}
