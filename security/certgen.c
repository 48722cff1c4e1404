#include "certgen.h"

#include "../cse/core/config.h"
#include "../cse/base/log.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DER_MAX 4096
#define PEM_MAX 8192

struct der { unsigned char data[DER_MAX]; int len; };

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* The mode is the file's from its creation on: a key is never readable
     * by others, not even between an open and a chmod. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    FILE *f = fd >= 0 && !fchmod(fd, mode) ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        unlink(tmp);
        return -1;
    }
    int rc = fwrite(data, 1, len, f) == len ? 0 : -1;
    if (fclose(f)) rc = -1;
    if (!rc) rc = rename(tmp, path);
    if (rc) unlink(tmp);
    return rc;
}

static int read_file(const char *path, unsigned char *buf, int cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, (size_t)cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (int)n;
}

static int write_pem(const char *path, const struct der *der, int type, mode_t mode)
{
    unsigned char pem[PEM_MAX];
    int n = wc_DerToPem(der->data, (word32)der->len, pem, sizeof pem, type);
    return n > 0 ? write_file(path, pem, (size_t)n, mode) : -1;
}

static int append_file(const char *dst, const char *src)
{
    unsigned char buf[PEM_MAX];
    int n = read_file(src, buf, sizeof buf);
    FILE *f = n > 0 ? fopen(dst, "ab") : NULL;
    if (!f) return -1;
    int rc = fwrite(buf, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
    return fclose(f) || rc ? -1 : 0;
}

static int load_key(const char *path, ecc_key *key)
{
    unsigned char pem[PEM_MAX];
    struct der der;
    int n = read_file(path, pem, sizeof pem);
    if (n <= 0) return -1;
    der.len = wc_KeyPemToDer(pem, n, der.data, sizeof der.data, NULL);
    word32 idx = 0;
    return der.len > 0 && wc_EccPrivateKeyDecode(der.data, &idx, key, (word32)der.len) == 0 ? 0 : -1;
}

static int load_cert_der(const char *path, struct der *der)
{
    unsigned char pem[PEM_MAX];
    int n = read_file(path, pem, sizeof pem);
    if (n <= 0) return -1;
    der->len = wc_CertPemToDer(pem, n, der->data, sizeof der->data, CERT_TYPE);
    return der->len > 0 ? 0 : -1;
}

static int save_key(const char *path, ecc_key *key)
{
    struct der der;
    der.len = wc_EccKeyToDer(key, der.data, sizeof der.data);
    int rc = der.len > 0 ? write_pem(path, &der, ECC_PRIVATEKEY_TYPE, 0600) : -1;
    memset(&der, 0, sizeof der);
    return rc;
}

/* One DER element (tag, definite length, value) appended at out[*n]. */
static int put_tlv(unsigned char *out, int cap, int *n, unsigned char tag, const void *v, size_t len)
{
    unsigned char head[4] = { tag };
    int hl;
    if (len < 0x80) { head[1] = (unsigned char)len; hl = 2; }
    else if (len < 0x100) { head[1] = 0x81; head[2] = (unsigned char)len; hl = 3; }
    else if (len < 0x10000) { head[1] = 0x82; head[2] = (unsigned char)(len >> 8); head[3] = (unsigned char)len; hl = 4; }
    else return -1;
    if (*n + hl + (int)len > cap) return -1;
    memcpy(out + *n, head, (size_t)hl);
    memcpy(out + *n + hl, v, len);
    *n += hl + (int)len;
    return 0;
}

/* A host name as a certificate may carry it: labels of letters, digits and
 * hyphens, optionally a leading "*." wildcard label. */
static bool dns_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (!len || len > 253) return false;
    if (!strncmp(s, "*.", 2)) s += 2;
    for (const char *label = s; *label;) {
        size_t l = strcspn(label, ".");
        if (!l || l > 63 || label[0] == '-' || label[l - 1] == '-') return false;
        for (size_t i = 0; i < l; i++) {
            char c = label[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
        }
        label += l;
        if (*label == '.') label++;
    }
    return true;
}

/* One GeneralName: an iPAddress when name parses as IPv4 or IPv6, else a
 * dNSName. -1 for neither (logged). */
static int put_general_name(unsigned char *out, int cap, int *n, const char *name)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, name, addr) == 1) return put_tlv(out, cap, n, 0x87, addr, 4);
    if (inet_pton(AF_INET6, name, addr) == 1) return put_tlv(out, cap, n, 0x87, addr, 16);
    if (dns_name_ok(name)) return put_tlv(out, cap, n, 0x82, name, strlen(name));
    log_error("tls-extra-names: '%s' is neither an IP address nor a DNS name", name);
    return -1;
}

/* DER of GeneralNames: the server name, the loopback addresses, and the
 * extra names (comma- or space-separated). */
static int build_alt_names(const char *dns, const char *extra, unsigned char *out, int cap)
{
    unsigned char body[4096];
    int n = 0;
    char list[600];
    snprintf(list, sizeof list, "%s,127.0.0.1,::1,%s", dns, extra ? extra : "");
    char *save = NULL;
    for (char *name = strtok_r(list, ", \t", &save); name; name = strtok_r(NULL, ", \t", &save))
        if (put_general_name(body, (int)sizeof body, &n, name)) return -1;
    int len = 0;
    return put_tlv(out, cap, &len, 0x30, body, (size_t)n) ? -1 : len;
}

/* The names a generated server certificate was made for, kept beside it
 * so that a changed tls-server-name or tls-extra-names makes a new one. */
static void names_line(const char *server_name, const char *extra, char *out, size_t cap)
{
    snprintf(out, cap, "%s|%s\n", server_name, extra ? extra : "");
}

static bool names_match(const char *path, const char *want)
{
    char have[700] = "";
    FILE *f = fopen(path, "r");
    if (!f) return strchr(want, '|')[1] == '\n';   /* made before names were kept: none extra then */
    size_t n = fread(have, 1, sizeof have - 1, f);
    fclose(f);
    have[n] = 0;
    return !strcmp(have, want);
}

static void name_cert(Cert *cert, const char *cn, int days)
{
    wc_InitCert(cert);
    cert->sigType = CTC_SHA256wECDSA;
    cert->daysValid = days;
    snprintf(cert->subject.country, sizeof cert->subject.country, "ZZ");
    snprintf(cert->subject.org, sizeof cert->subject.org, "Ironbark CSE");
    snprintf(cert->subject.commonName, sizeof cert->subject.commonName, "%s", cn);
}

/* Makes the body for subject_key and signs it with signer_key. */
static int make_signed(Cert *cert, ecc_key *subject_key, ecc_key *signer_key, WC_RNG *rng,
                       struct der *der)
{
    int n = wc_MakeCert_ex(cert, der->data, sizeof der->data, ECC_TYPE, subject_key, rng);
    if (n > 0)
        n = wc_SignCert_ex(cert->bodySz, cert->sigType, der->data, sizeof der->data, ECC_TYPE,
                           signer_key, rng);
    der->len = n;
    return n > 0 ? 0 : -1;
}

static int make_ca(const struct certgen_paths *p, ecc_key *ca_key, struct der *ca_der, WC_RNG *rng)
{
    /* A name of its own: a CSE trusting another generated CA (an MEF's) then
     * holds two CAs that name lookups (CRLs, chains) cannot confuse. */
    unsigned char tag[4];
    char cn[64];
    if (wc_RNG_GenerateBlock(rng, tag, sizeof tag)) return -1;
    snprintf(cn, sizeof cn, "Ironbark local CA %02x%02x%02x%02x", tag[0], tag[1], tag[2], tag[3]);
    Cert cert;
    name_cert(&cert, cn, 3650);
    cert.isCA = 1;
    if (wc_ecc_make_key(rng, 32, ca_key) ||
        wc_SetKeyUsage(&cert, "keyCertSign,cRLSign,digitalSignature") ||
        wc_SetSubjectKeyIdFromPublicKey_ex(&cert, ECC_TYPE, ca_key) ||
        make_signed(&cert, ca_key, ca_key, rng, ca_der))
        return -1;
    if (save_key(p->ca_key, ca_key) || write_pem(p->ca_cert, ca_der, CERT_TYPE, 0644)) return -1;
    return 0;
}

static int make_server(const struct certgen_paths *p, const char *name, const char *extra, ecc_key *ca_key,
                       const struct der *ca_der, WC_RNG *rng)
{
    Cert cert;
    ecc_key key;
    struct der der;
    name_cert(&cert, name, 825);
    int rc = wc_ecc_init(&key);
    if (!rc) rc = wc_ecc_make_key(rng, 32, &key);
    if (!rc) rc = wc_SetIssuerBuffer(&cert, ca_der->data, ca_der->len);
    if (!rc) rc = wc_SetKeyUsage(&cert, "digitalSignature,keyAgreement");
    if (!rc) rc = wc_SetExtKeyUsage(&cert, "serverAuth,clientAuth");
    if (!rc) rc = wc_SetAuthKeyIdFromPublicKey_ex(&cert, ECC_TYPE, ca_key);
    if (!rc) rc = wc_SetSubjectKeyIdFromPublicKey_ex(&cert, ECC_TYPE, &key);
    if (!rc) {
        cert.altNamesSz = build_alt_names(name, extra, cert.altNames, sizeof cert.altNames);
        rc = cert.altNamesSz > 0 ? 0 : -1;
    }
    if (!rc) rc = make_signed(&cert, &key, ca_key, rng, &der);
    if (!rc) rc = save_key(p->server_key, &key);
    /* The server presents its chain: its own certificate, then the CA's. */
    if (!rc) rc = write_pem(p->server_cert, &der, CERT_TYPE, 0644);
    if (!rc) rc = append_file(p->server_cert, p->ca_cert);
    wc_ecc_free(&key);
    return rc ? -1 : 0;
}

static void set_paths(const char *dir, struct certgen_paths *p)
{
    snprintf(p->ca_cert, sizeof p->ca_cert, "%s/ca.pem", dir);
    snprintf(p->ca_key, sizeof p->ca_key, "%s/ca.key", dir);
    snprintf(p->server_cert, sizeof p->server_cert, "%s/server.pem", dir);
    snprintf(p->server_key, sizeof p->server_key, "%s/server.key", dir);
}

int certgen_ensure(const char *dir, const char *server_name, const char *extra_names,
                   struct certgen_paths *out, bool *created)
{
    set_paths(dir, out);
    *created = false;
    char names_path[600], names[700];
    snprintf(names_path, sizeof names_path, "%s/server.names", dir);
    names_line(server_name, extra_names, names, sizeof names);
    if (file_exists(out->server_cert) && file_exists(out->server_key) && file_exists(out->ca_cert) &&
        names_match(names_path, names))
        return 0;
    if (mkdir(dir, 0700) && errno != EEXIST) {
        log_error("tls: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    WC_RNG rng;
    ecc_key ca_key;
    struct der ca_der;
    if (wc_InitRng(&rng)) return -1;
    int rc = wc_ecc_init(&ca_key);
    bool have_ca = file_exists(out->ca_cert) && file_exists(out->ca_key);
    if (!rc && have_ca) rc = load_key(out->ca_key, &ca_key) || load_cert_der(out->ca_cert, &ca_der);
    else if (!rc) rc = make_ca(out, &ca_key, &ca_der, &rng);
    if (!rc) rc = make_server(out, server_name, extra_names, &ca_key, &ca_der, &rng);
    wc_ecc_free(&ca_key);
    wc_FreeRng(&rng);
    /* Debian's wolfSSL is built with FP_ECC: the point multiplications above
     * left a table of precomputed points (about 800 KiB of heap) that
     * nothing uses again until the next certificate is made. */
    wc_ecc_fp_free();
    if (rc) {
        log_error("tls: cannot create certificates under %s", dir);
        return -1;
    }
    int fd = open(names_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, names, strlen(names)) != (ssize_t)strlen(names))
        log_warn("tls: cannot record the certificate's names in %s", names_path);
    if (fd >= 0) close(fd);
    *created = true;
    return 0;
}

int certgen_server_identity(const struct config *cfg, struct certgen_paths *out)
{
    memset(out, 0, sizeof *out);
    if (cfg->tls_cert[0]) {
        snprintf(out->server_cert, sizeof out->server_cert, "%s", cfg->tls_cert);
        snprintf(out->server_key, sizeof out->server_key, "%s", cfg->tls_key);
        return 0;
    }
    char dir[300];
    bool created;
    snprintf(dir, sizeof dir, "%s/tls", cfg->data_dir);
    if (certgen_ensure(dir, cfg->tls_server_name, cfg->tls_extra_names, out, &created)) return -1;
    if (created)
        log_info("tls: created server certificate %s for %s, 127.0.0.1, ::1%s%s, signed by the CA %s "
                 "(clients trust it)", out->server_cert, cfg->tls_server_name,
                 cfg->tls_extra_names[0] ? ", " : "", cfg->tls_extra_names, out->ca_cert);
    return 0;
}
