#include "cred_admin.h"

#include "credentials.h"
#include "jose_module.h"
#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/store/store.h"
#include "../cse/store/store_pg.h"   /* pg_store_wanted: the credentials follow the db setting */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Opens a file that holds keys: a regular file nobody but its owner may read. */
static FILE *open_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
    } else if (st.st_mode & 077) {
        snprintf(err, errlen, "%s holds keys but group or others may read it (mode %04o): chmod 600 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
    } else {
        FILE *f = fdopen(fd, "r");
        if (f) return f;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    }
    close(fd);
    return NULL;
}

int cred_import_psk_lines(struct credentials *cs, FILE *in, const char *name, char *err, size_t errlen)
{
    /* All lines are parsed before any is stored: one bad line stores nothing. */
    struct cred_psk *all = NULL;
    size_t n = 0, cap = 0;
    char line[1024], msg[256];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, in)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(in)) {
            snprintf(err, errlen, "%s:%d: line too long", name, lineno);
            rc = -1;
            break;
        }
        char *s = line, *e = line + len;
        while (*s == ' ' || *s == '\t') s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (!*s || *s == '#') continue;
        if (n == cap) {
            struct cred_psk *grown = realloc(all, (cap = cap ? cap * 2 : 8) * sizeof *all);
            if (!grown) { snprintf(err, errlen, "%s: out of memory", name); rc = -1; break; }
            all = grown;
        }
        if (cred_parse_psk(s, &all[n], msg, sizeof msg)) {
            snprintf(err, errlen, "%s:%d: %s", name, lineno, msg);
            rc = -1;
        }
        n++;
    }
    memset(line, 0, sizeof line);
    for (size_t i = 0; !rc && i < n; i++)
        if (cred_put_psk(cs, &all[i])) {
            snprintf(err, errlen, "%s: cannot store the key '%s'", name, all[i].identity);
            rc = -1;
        }
    if (all) memset(all, 0, cap * sizeof *all);
    free(all);
    return rc ? -1 : (int)n;
}

static int import_psk_file(struct credentials *cs, const char *path)
{
    char err[1024];
    FILE *f = open_private(path, err, sizeof err);
    int rc = f ? cred_import_psk_lines(cs, f, path, err, sizeof err) : -1;
    if (f) fclose(f);
    if (rc < 0) log_error("credentials: psk-file %s", err);
    return rc < 0 ? -1 : 0;
}

struct credentials *cred_open_provisioned(const struct config *cfg)
{
    char path[400], root[400], err[256];
    mkdir(cfg->data_dir, 0700);
    cred_store_path(cfg, path, sizeof path);
    snprintf(root, sizeof root, "%s/%s", cfg->data_dir, CRED_ROOT_FILE);
    /* Keys are sealed at rest by ironbark-jose.so (m2m-cse maps no libcrypto). */
    const struct jose_module *m = jose_load(cfg);
    char printable[sizeof cfg->db_file];
    /* With a PostgreSQL db the credentials live in it too, shared by every
     * front-end (the root key stays in the data directory). */
    struct credentials *cs = pg_store_wanted(cfg->db_file)
        ? cred_open_shared(cfg->db_file, store_printable(cfg->db_file, printable, sizeof printable), root,
                           m ? m->seal() : NULL)
        : cred_open(path, root, m ? m->seal() : NULL);
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
    for (int i = 0; i < cfg->nesprim_key; i++) {
        struct cred_psk key;
        err[0] = 0;
        int rc = cred_parse_psk(cfg->esprim_key[i], &key, err, sizeof err);
        if (!rc) rc = cred_put_esprim_key(cs, &key);
        memset(&key, 0, sizeof key);
        if (rc) {
            log_error("credentials: config esprim-key #%d: %s", i + 1, err[0] ? err : "cannot store it");
            cred_close(cs);
            return NULL;
        }
    }
    if (cfg->psk_file[0] && import_psk_file(cs, cfg->psk_file)) {
        cred_close(cs);
        return NULL;
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
            "  list                    show PSK identities and trusted CAs\n"
            "  add-psk < FILE          add or replace the keys read from standard input,\n"
            "                          one IDENTITY:HEXKEY:ORIGINATORS a line\n"
            "  remove-psk IDENTITY\n"
            "  add-ca NAME FILE.pem    trust a CA for client certificates\n"
            "  remove-ca NAME\n"
            "The data directory (default ./var) must exist: the CSE's first start makes it.\n");
    return 2;
}

/* The commands and their argument counts (the command word included). */
static const struct { const char *name; int argc; bool creates; } commands[] = {
    { "list", 1, false }, { "add-psk", 1, true }, { "remove-psk", 2, false },
    { "add-ca", 3, true }, { "remove-ca", 2, false },
};

static int add_psk_from_stdin(struct credentials *cs)
{
    char err[512];
    if (isatty(STDIN_FILENO)) fprintf(stderr, "IDENTITY:HEXKEY:ORIGINATORS lines, then Ctrl-D:\n");
    int n = cred_import_psk_lines(cs, stdin, "stdin", err, sizeof err);
    if (n < 0) fprintf(stderr, "%s (nothing stored)\n", err);
    else if (!n) fprintf(stderr, "add-psk: no IDENTITY:HEXKEY:ORIGINATORS line on standard input\n");
    else printf("added %d key%s\n", n, n == 1 ? "" : "s");
    return n > 0 ? 0 : 1;
}

static int run(struct credentials *cs, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (!strcmp(cmd, "list"))
        return cred_each_psk(cs, print_psk, NULL) || cred_each_ca(cs, print_ca, NULL);
    if (!strcmp(cmd, "add-psk")) return add_psk_from_stdin(cs);
    if (!strcmp(cmd, "remove-psk") || !strcmp(cmd, "remove-ca")) {
        int rc = cmd[7] == 'p' ? cred_remove_psk(cs, argv[1]) : cred_remove_ca(cs, argv[1]);
        if (rc) fprintf(stderr, "%s: no such entry\n", argv[1]);
        return rc != 0;
    }
    return put_ca_file(cs, argv[1], argv[2]) != 0;   /* add-ca */
}

/* Refuses what would store keys where they are visible, or make a store
 * nobody will read: 0 to go on, else the exit status. */
static int check_command(const struct config *cfg, int argc, char **argv)
{
    size_t i = 0, n = sizeof commands / sizeof commands[0];
    while (i < n && strcmp(commands[i].name, argv[0])) i++;
    if (i < n && !strcmp(argv[0], "add-psk") && argc > 1) {
        fprintf(stderr, "add-psk takes no argument: a key on the command line is readable by every "
                "local user (/proc/PID/cmdline). Give the IDENTITY:HEXKEY:ORIGINATORS lines on "
                "standard input:\n  m2m-cse credentials add-psk < keys.txt\n");
        return 2;
    }
    if (i == n || commands[i].argc != argc) return usage();
    struct stat st;
    if (stat(cfg->data_dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "m2m-cse credentials: no data directory %s. Run it where the CSE runs, or give "
                "--data-dir DIR or --config FILE (a new data directory is made by the CSE's first "
                "start, or by mkdir -m 700 DIR)\n", cfg->data_dir);
        return 1;
    }
    char path[400];
    cred_store_path(cfg, path, sizeof path);
    if (!commands[i].creates && !pg_store_wanted(cfg->db_file) && access(path, F_OK)) {
        fprintf(stderr, "m2m-cse credentials: no credential store %s: nothing is provisioned in %s yet "
                "(add-psk or add-ca creates it)\n", path, cfg->data_dir);
        return 1;
    }
    return 0;
}

/* Splits "--flag value" settings from the command words; the flags named
 * in own (NULL-terminated) are the command's and go to opts instead. */
struct admin_args {
    char *flags[64], *words[8], *opts[8];
    int nflags, nwords, nopts;
};

static void split_args(int argc, char **argv, const char *const *own, struct admin_args *a)
{
    memset(a, 0, sizeof *a);
    a->flags[a->nflags++] = "m2m-cse";
    for (int i = 1; i < argc; i++) {
        bool mine = false;
        for (const char *const *o = own; o && *o; o++) mine |= !strcmp(argv[i], *o);
        if (mine && i + 1 < argc && a->nopts < 7) {
            a->opts[a->nopts++] = argv[i];
            a->opts[a->nopts++] = argv[++i];
        } else if (!strncmp(argv[i], "--", 2) && a->nflags < 62) {
            a->flags[a->nflags++] = argv[i];
            if (!strchr(argv[i], '=') && i + 1 < argc) a->flags[a->nflags++] = argv[++i];
        } else if (a->nwords < 8) {
            a->words[a->nwords++] = argv[i];
        }
    }
}

int cred_admin_main(int argc, char **argv)
{
    struct admin_args a;
    split_args(argc, argv, NULL, &a);
    if (!a.nwords) return usage();
    struct config cfg;
    config_defaults(&cfg);
    int rc = config_parse_args(&cfg, a.nflags, a.flags);
    if (rc) return rc > 0 ? 0 : 2;
    if ((rc = check_command(&cfg, a.nwords, a.words))) return rc;
    log_set_level(LOG_LVL_WARN);
    struct credentials *cs = cred_open_provisioned(&cfg);
    if (!cs) return 1;
    rc = run(cs, a.nwords, a.words);
    cred_close(cs);
    return rc ? 1 : 0;
}

/* Unambiguous when read aloud or typed: no 0/O, 1/I/L. */
static const char code_alphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

int console_login_main(int argc, char **argv)
{
    static const char *const own[] = { "--as", "--ttl", NULL };
    struct admin_args a;
    split_args(argc, argv, own, &a);
    struct config cfg;
    config_defaults(&cfg);
    int rc = config_parse_args(&cfg, a.nflags, a.flags);
    if (rc) return rc > 0 ? 0 : 2;
    const char *as = cfg.admin;
    long ttl = 120;
    for (int i = 0; i + 1 < a.nopts; i += 2) {
        if (!strcmp(a.opts[i], "--as")) as = a.opts[i + 1];
        else ttl = strtol(a.opts[i + 1], NULL, 10);
    }
    if (a.nwords || ttl < 1 || ttl > 3600 || !*as || strlen(as) >= 256) {
        fprintf(stderr, "usage: m2m-cse console-login [--as ORIGINATOR] [--ttl SECONDS (1..3600, default 120)]\n"
                "  [--data-dir D | --config F]: prints a single-use login code for the web console\n");
        return 2;
    }
    struct stat st;
    if (stat(cfg.data_dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "m2m-cse console-login: no data directory %s: run it where the CSE runs, or give "
                "--data-dir DIR or --config FILE\n", cfg.data_dir);
        return 1;
    }
    uint8_t rnd[CONSOLE_CODE_LEN];
    char code[CONSOLE_CODE_LEN + 1];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return 1;
    for (size_t i = 0; i < sizeof rnd; i++) code[i] = code_alphabet[rnd[i] % (sizeof code_alphabet - 1)];
    code[CONSOLE_CODE_LEN] = 0;
    log_set_level(LOG_LVL_WARN);
    struct credentials *cs = cred_open_provisioned(&cfg);
    if (!cs) return 1;
    int64_t now = clock_now_us();
    rc = cred_put_login_code(cs, code, as, now, now + ttl * 1000000);
    cred_close(cs);
    if (rc) {
        fprintf(stderr, "m2m-cse console-login: the code could not be stored\n");
        return 1;
    }
    printf("%s\n", code);
    fprintf(stderr, "login code for %s, valid once for %ld s: open https://%s:%d/console/\n", as, ttl,
            cfg.tls_server_name, cfg.https_port);
    return 0;
}
