#include "cred_admin.h"

#include "credentials.h"
#include "../cse/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PEM_FILE_MAX (64 * 1024)

void cred_store_path(const struct config *cfg, char *out, size_t cap)
{
    snprintf(out, cap, "%s/credentials.db", cfg->data_dir);
}

static char *read_pem_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(PEM_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, PEM_FILE_MAX, f) : 0;
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

static int put_ca_file(struct credentials *cs, const char *name, const char *file)
{
    char *pem = read_pem_file(file);
    int rc = pem ? cred_put_ca(cs, name, pem) : -1;
    if (rc) log_error("credentials: %s is not a readable PEM certificate", file);
    free(pem);
    return rc;
}

struct credentials *cred_open_provisioned(const struct config *cfg)
{
    char path[400], err[256];
    mkdir(cfg->data_dir, 0755);
    cred_store_path(cfg, path, sizeof path);
    struct credentials *cs = cred_open(path);
    if (!cs) return NULL;
    for (int i = 0; i < cfg->npsk; i++) {
        struct cred_psk psk;
        int rc = cred_parse_psk(cfg->psk[i], &psk, err, sizeof err);
        if (!rc) rc = cred_put_psk(cs, &psk);
        memset(&psk, 0, sizeof psk);
        if (rc) {
            log_error("credentials: config psk #%d: %s", i + 1, err);
            cred_close(cs);
            return NULL;
        }
    }
    for (int i = 0; i < cfg->ntrusted_ca; i++) {
        if (put_ca_file(cs, cfg->trusted_ca[i], cfg->trusted_ca[i])) {
            cred_close(cs);
            return NULL;
        }
    }
    return cs;
}

static int print_psk(void *arg, const struct cred_psk *psk)
{
    (void)arg;
    printf("psk %s -> %s (%zu-byte key)\n", psk->identity, psk->originators, psk->key_len);
    return 0;
}

static int print_ca(void *arg, const char *name, const char *pem)
{
    (void)arg; (void)pem;
    printf("ca  %s\n", name);
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: m2m-cse credentials [--data-dir D | --config F] <command>\n"
            "  list                                  show PSK identities and trusted CAs\n"
            "  add-psk IDENTITY:HEXKEY:ORIGINATORS   add or replace a pre-provisioned key\n"
            "  remove-psk IDENTITY\n"
            "  add-ca NAME FILE.pem                  trust a CA for client certificates\n"
            "  remove-ca NAME\n");
    return 2;
}

static int run(struct credentials *cs, int argc, char **argv)
{
    const char *cmd = argv[0];
    char err[256];
    if (!strcmp(cmd, "list") && argc == 1)
        return cred_each_psk(cs, print_psk, NULL) || cred_each_ca(cs, print_ca, NULL);
    if (!strcmp(cmd, "add-psk") && argc == 2) {
        struct cred_psk psk;
        err[0] = 0;
        if (!cred_parse_psk(argv[1], &psk, err, sizeof err) && cred_put_psk(cs, &psk))
            snprintf(err, sizeof err, "cannot store the key");
        if (err[0]) fprintf(stderr, "%s\n", err);
        else printf("added psk %s\n", psk.identity);
        memset(&psk, 0, sizeof psk);
        return err[0] != 0;
    }
    if ((!strcmp(cmd, "remove-psk") || !strcmp(cmd, "remove-ca")) && argc == 2) {
        int rc = cmd[7] == 'p' ? cred_remove_psk(cs, argv[1]) : cred_remove_ca(cs, argv[1]);
        if (rc) fprintf(stderr, "%s: no such entry\n", argv[1]);
        return rc != 0;
    }
    if (!strcmp(cmd, "add-ca") && argc == 3) return put_ca_file(cs, argv[1], argv[2]) != 0;
    return usage();
}

int cred_admin_main(int argc, char **argv)
{
    /* Split "--flag value" settings from the command words. */
    char *flags[64], *words[8];
    int nflags = 1, nwords = 0;
    flags[0] = "m2m-cse";
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--", 2) && nflags < 62) {
            flags[nflags++] = argv[i];
            if (!strchr(argv[i], '=') && i + 1 < argc) flags[nflags++] = argv[++i];
        } else if (nwords < 8) {
            words[nwords++] = argv[i];
        }
    }
    if (!nwords) return usage();
    struct config cfg;
    config_defaults(&cfg);
    int rc = config_parse_args(&cfg, nflags, flags);
    if (rc) return rc > 0 ? 0 : 2;
    log_set_level(LOG_LVL_WARN);
    struct credentials *cs = cred_open_provisioned(&cfg);
    if (!cs) return 1;
    rc = run(cs, nwords, words);
    cred_close(cs);
    return rc ? 1 : 0;
}
