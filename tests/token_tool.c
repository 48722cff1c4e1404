/* token_tool: the token module (security/token.h) from the command line,
 * for the interop and DAS tests. Keys and tokens are read from files or
 * arguments and written to stdout only.
 *
 *   token_tool new-key                          private EC P-256 JWK
 *   token_tool public-jwk KEYFILE               its public half
 *   token_tool sign KEYFILE CLAIMS              CLAIMS: JSON object of JWT claims
 *                                               (jti iss azp nbf exp aud tkvr tknm tkps tkex)
 *   token_tool verify TRUSTFILE JWT [--holder H] [--csi C] [--now S]
 *                                               prints the verdict (and the claims when valid);
 *                                               exit status = the enum token_verdict value
 *   token_tool peek JWT                         the claims, unchecked
 *
 * A JWT or CLAIMS argument "-" is read from stdin. */
#include "security/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *read_all(FILE *f)
{
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); return NULL; }
            buf = b;
        }
    }
    if (buf) buf[n] = 0;
    return buf;
}

static char *read_file(const char *path)
{
    if (!strcmp(path, "-")) return read_all(stdin);
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "token_tool: cannot read %s\n", path); return NULL; }
    char *s = read_all(f);
    fclose(f);
    return s;
}

/* A JWT argument: "-" = stdin; surrounding white space dropped. */
static char *jwt_arg(const char *arg)
{
    char *s = !strcmp(arg, "-") ? read_all(stdin) : strdup(arg);
    if (!s) return NULL;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = 0;
    return s;
}

static char *opt_string(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? strdup(v) : NULL;
}

static json_t *claims_json(const struct token_claims *c)
{
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s?, s:I, s:I}", "tkvr", c->version, "jti", c->id, "iss", c->issuer,
                          "azp", c->holder, "nbf", (json_int_t)c->not_before, "exp", (json_int_t)c->not_after);
    if (c->name) json_object_set_new(o, "tknm", json_string(c->name));
    if (c->extension) json_object_set_new(o, "tkex", json_string(c->extension));
    if (c->audience) json_object_set(o, "aud", c->audience);
    if (c->permissions) json_object_set(o, "tkps", c->permissions);
    return o;
}

static void print_claims(const struct token_claims *c)
{
    json_t *o = claims_json(c);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
}

static int cmd_sign(const char *keyfile, const char *claimsfile)
{
    char *key = read_file(keyfile), *text = read_file(claimsfile);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    int rc = 1;
    if (key && json_is_object(o)) {
        struct token_claims c = {
            .version = opt_string(o, "tkvr"), .id = opt_string(o, "jti"), .holder = opt_string(o, "azp"),
            .issuer = opt_string(o, "iss"), .name = opt_string(o, "tknm"), .extension = opt_string(o, "tkex"),
            .not_before = json_integer_value(json_object_get(o, "nbf")),
            .not_after = json_integer_value(json_object_get(o, "exp")),
            .audience = json_incref(json_object_get(o, "aud")),
            .permissions = json_incref(json_object_get(o, "tkps")),
        };
        char err[256] = "";
        char *jwt = token_sign(&c, key, err, sizeof err);
        if (jwt) { printf("%s\n", jwt); rc = 0; }
        else fprintf(stderr, "token_tool: %s\n", err);
        free(jwt);
        token_claims_free(&c);
    } else if (key && text) {
        fprintf(stderr, "token_tool: the claims are not a JSON object\n");
    }
    json_decref(o);
    free(text);
    if (key) explicit_bzero(key, strlen(key));
    free(key);
    return rc;
}

static int cmd_verify(int argc, char **argv)
{
    const char *holder = NULL, *csi = NULL;
    int64_t now = time(NULL);
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--holder")) holder = argv[i + 1];
        else if (!strcmp(argv[i], "--csi")) csi = argv[i + 1];
        else if (!strcmp(argv[i], "--now")) now = strtoll(argv[i + 1], NULL, 10);
        else { fprintf(stderr, "token_tool: unknown option %s\n", argv[i]); return 100; }
    }
    struct token_trust *t = token_trust_new();
    char err[512];
    if (!t || token_trust_load(t, argv[2], err, sizeof err)) {
        fprintf(stderr, "token_tool: %s\n", t ? err : "out of memory");
        token_trust_free(t);
        return 100;
    }
    char *jwt = jwt_arg(argv[3]);
    struct token_claims c;
    enum token_verdict v = token_verify(t, jwt, holder, csi, now, &c);
    printf("%s\n", token_verdict_text(v));
    if (v == TOKEN_OK) print_claims(&c);
    token_claims_free(&c);
    free(jwt);
    token_trust_free(t);
    return (int)v;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "new-key") && argc == 2) {
        char *k = token_new_key();
        if (!k) return 1;
        printf("%s\n", k);
        explicit_bzero(k, strlen(k));
        free(k);
        return 0;
    }
    if (!strcmp(cmd, "public-jwk") && argc == 3) {
        char *key = read_file(argv[2]);
        char *pub = key ? token_public_jwk(key) : NULL;
        if (key) explicit_bzero(key, strlen(key));
        free(key);
        if (!pub) { fprintf(stderr, "token_tool: not an EC or RSA private JWK\n"); return 1; }
        printf("%s\n", pub);
        free(pub);
        return 0;
    }
    if (!strcmp(cmd, "sign") && argc == 4) return cmd_sign(argv[2], argv[3]);
    if (!strcmp(cmd, "verify") && argc >= 4 && argc % 2 == 0) return cmd_verify(argc, argv);
    if (!strcmp(cmd, "peek") && argc == 3) {
        char *jwt = jwt_arg(argv[2]);
        struct token_claims c = { 0 };
        int rc = jwt ? token_peek(jwt, &c) : -1;
        if (!rc) print_claims(&c);
        else fprintf(stderr, "token_tool: not a compact JWS with a JSON payload\n");
        token_claims_free(&c);
        free(jwt);
        return rc ? 1 : 0;
    }
    fprintf(stderr, "usage: token_tool new-key | public-jwk KEYFILE | sign KEYFILE CLAIMS |\n"
                    "       verify TRUSTFILE JWT [--holder H] [--csi C] [--now S] | peek JWT\n");
    return 2;
}
