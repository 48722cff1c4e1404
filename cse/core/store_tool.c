#include "store_tool.h"

#include "config.h"
#include "resource.h"
#include "rsc.h"
#include "../base/log.h"
#include "../base/sha256.h"
#include "../store/store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_FORMAT "ironbark-tree"
#define TREE_VERSION 1
#define PROGRESS_EVERY 50000

/* The tree's checksum: SHA-256 over the canonical lines of its rows (each
 * followed by "\n") in pre-order, the order export writes them in. Pre-order
 * with siblings in creation order (store.h) is the same for every backend
 * and, unlike an order by path, covers the order of siblings (la, ol). */
struct tree_sum {
    struct sha256 sha;
    long long rows;
    const char *verb;          /* for progress lines: "exported", "read", … */
};

static void sum_init(struct tree_sum *t, const char *verb)
{
    sha256_init(&t->sha);
    t->rows = 0;
    t->verb = verb;
}

static void sum_add(struct tree_sum *t, const char *line, size_t len)
{
    sha256_update(&t->sha, line, len);
    sha256_update(&t->sha, "\n", 1);
    if (++t->rows % PROGRESS_EVERY == 0) fprintf(stderr, "m2m-cse store: %lld rows %s\n", t->rows, t->verb);
}

static void sum_hex(struct tree_sum *t, char hex[2 * SHA256_BYTES + 1])
{
    sha256_hex(&t->sha, hex);
}

/* A sum left unfinished by a failure. */
static void sum_discard(struct tree_sum *t)
{
    sha256_discard(&t->sha);
}

/* A row's canonical line: its columns and its body in one JSON object,
 * keys sorted (at every level), compact. NULL when a value is not valid
 * UTF-8 (the store holds only what jansson wrote, so never in practice). */
static char *row_line(const struct resource *r)
{
    const char *ri = res_ri(r), *pi = res_pi(r), *et = res_str(r, "et");
    json_t *row = json_pack("{s:s, s:s, s:s, s:i, s:o, s:O}", "ri", ri ? ri : "", "path", r->path,
                            "pi", pi ? pi : "", "ty", r->ty, "et", et ? json_string(et) : json_null(),
                            "body", r->attrs);
    char *line = row ? json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(row);
    return line;
}

/* Every row in pre-order: the roots (pi "") in creation order, each followed
 * by its descendants. The roots are read before any subtree, so that no scan
 * runs inside another (one result at a time on a PostgreSQL connection).
 * Returns the visitor's non-zero value or a store RSC. */
struct resources {
    struct resource **r;
    size_t n, cap;
};

static int keep_resource(struct resource *res, void *data)
{
    struct resources *l = data;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct resource **r = realloc(l->r, cap * sizeof *r);
        if (!r) return -1;
        l->r = r;
        l->cap = cap;
    }
    return (l->r[l->n] = resource_dup(res)) ? (l->n++, 0) : -1;
}

static void resources_free(struct resources *l)
{
    for (size_t i = 0; i < l->n; i++) resource_free(l->r[i]);
    free(l->r);
    *l = (struct resources){ 0 };
}

static int walk_tree(struct store *s, store_visit_fn *visit, void *data)
{
    struct resources roots = { 0 };
    int rc = store_children(s, "", 0, keep_resource, &roots);
    for (size_t i = 0; !rc && i < roots.n; i++) {
        rc = visit(roots.r[i], data);
        if (!rc) rc = store_descendants(s, roots.r[i]->path, 0, visit, data);
    }
    resources_free(&roots);
    return rc;
}

/* Export (out set) or checksum (out NULL) of one row. */
struct dump {
    FILE *out;
    struct tree_sum sum;
};

static int dump_row(struct resource *r, void *data)
{
    struct dump *d = data;
    char *line = row_line(r);
    if (!line) {
        fprintf(stderr, "m2m-cse store: the row at %s cannot be written as JSON\n", r->path);
        return -1;
    }
    size_t len = strlen(line);
    sum_add(&d->sum, line, len);
    bool ok = !d->out || (fwrite(line, 1, len, d->out) == len && putc('\n', d->out) != EOF);
    free(line);
    if (!ok) {
        fprintf(stderr, "m2m-cse store: cannot write the export: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Reports a failed walk: visitors said why themselves (-1). */
static void walk_failed(int rc, const char *what)
{
    if (rc > 0) fprintf(stderr, "m2m-cse store: %s failed: the store answered %d (see the log line above)\n", what, rc);
}

/* The ancestors of the last row imported, root first: in pre-order, a row's
 * parent is one of them, so each row's parent is checked without a lookup. */
struct ancestry {
    struct {
        char *ri, *path;
    } *at;
    size_t n, cap;
};

static void ancestry_pop(struct ancestry *a)
{
    a->n--;
    free(a->at[a->n].ri);
    free(a->at[a->n].path);
}

static void ancestry_free(struct ancestry *a)
{
    while (a->n) ancestry_pop(a);
    free(a->at);
}

/* Places the row (ri, pi, path) under its parent: NULL when it fits, else why not. */
static const char *ancestry_place(struct ancestry *a, const char *ri, const char *pi, const char *path)
{
    if (!*pi) {
        while (a->n) ancestry_pop(a);
    } else {
        while (a->n && strcmp(a->at[a->n - 1].ri, pi)) ancestry_pop(a);
        if (!a->n) return "its parent (pi) is not a row above it on the way from its root";
        const char *parent = a->at[a->n - 1].path;
        size_t n = strlen(parent);
        if (strncmp(path, parent, n) || path[n] != '/' || !path[n + 1] || strchr(path + n + 1, '/'))
            return "its path is not its parent's path and one more segment";
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        void *at = realloc(a->at, cap * sizeof *a->at);
        if (!at) return "out of memory";
        a->at = at;
        a->cap = cap;
    }
    a->at[a->n].ri = strdup(ri);
    a->at[a->n].path = strdup(path);
    if (!a->at[a->n].ri || !a->at[a->n].path) {
        free(a->at[a->n].ri);
        free(a->at[a->n].path);
        return "out of memory";
    }
    a->n++;
    return NULL;
}

static bool same_text(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

/* The resource a row line describes, or NULL with the reason in *why. The
 * columns must agree with the body, as the store derives them from it. */
static struct resource *row_resource_of(json_t *row, const char **why)
{
    const char *ri = json_string_value(json_object_get(row, "ri"));
    const char *path = json_string_value(json_object_get(row, "path"));
    const char *pi = json_string_value(json_object_get(row, "pi"));
    json_t *ty = json_object_get(row, "ty"), *et = json_object_get(row, "et");
    json_t *body = json_object_get(row, "body");
    *why = "a row needs exactly ri, path, pi (strings), ty (integer), et (string or null) and body (object)";
    if (json_object_size(row) != 6 || !ri || !*ri || !path || !*path || !pi || !json_is_integer(ty) ||
        json_integer_value(ty) <= 0 || json_integer_value(ty) > 100000 || !(json_is_string(et) || json_is_null(et)) ||
        !json_is_object(body))
        return NULL;
    struct resource *r = resource_new((int)json_integer_value(ty), json_incref(body), path);
    if (!r) {
        *why = "out of memory";
        return NULL;
    }
    const char *body_pi = res_pi(r) ? res_pi(r) : "";
    json_t *body_ty = json_object_get(body, "ty");
    *why = "its columns (ri, pi, ty, et) disagree with its body";
    if (!same_text(res_ri(r), ri) || strcmp(body_pi, pi) || !same_text(res_str(r, "et"), json_string_value(et)) ||
        (body_ty && !json_equal(body_ty, ty))) {
        resource_free(r);
        return NULL;
    }
    const char *rn = res_rn(r), *last = strrchr(path, '/');
    if (!rn || strcmp(rn, last ? last + 1 : path)) {
        *why = "its path does not end with its name (rn)";
        resource_free(r);
        return NULL;
    }
    return r;
}

/* Reads one line (without its newline) into *line; false at end of file. */
static bool next_line(FILE *in, char **line, size_t *cap, size_t *len, long *lineno)
{
    ssize_t n = getline(line, cap, in);
    if (n < 0) return false;
    (*lineno)++;
    if (n && (*line)[n - 1] == '\n') (*line)[--n] = 0;
    *len = (size_t)n;
    return true;
}

struct import {
    FILE *in;
    const char *name;
    long lineno;
    char *line;
    size_t cap, len;
    struct tree_sum sum;
    long long trailer_rows;
    char trailer_sha[2 * SHA256_BYTES + 1];
};

static int bad_input(struct import *im, const char *why)
{
    fprintf(stderr, "m2m-cse store import: %s:%ld: %s\n", im->name, im->lineno, why);
    return -1;
}

static int read_header(struct import *im)
{
    if (!next_line(im->in, &im->line, &im->cap, &im->len, &im->lineno))
        return bad_input(im, ferror(im->in) ? strerror(errno) : "empty file: no header line");
    json_t *h = json_loadb(im->line, im->len, JSON_REJECT_DUPLICATES, NULL);
    const char *format = json_string_value(json_object_get(h, "format"));
    bool ours = format && !strcmp(format, TREE_FORMAT);
    json_int_t version = json_integer_value(json_object_get(h, "version"));
    json_decref(h);
    if (!ours)
        return bad_input(im, "not an export of m2m-cse store export (the header line names no format \"" TREE_FORMAT "\")");
    if (version != TREE_VERSION) return bad_input(im, "an export format version this m2m-cse does not read (it reads 1)");
    return 0;
}

/* The trailer: row count and checksum of what came before it, and nothing after. */
static int read_trailer(struct import *im, json_t *t)
{
    const char *sha = json_string_value(json_object_get(t, "sha256"));
    json_t *rows = json_object_get(t, "rows");
    if (!json_is_integer(rows) || !sha || strlen(sha) != 2 * SHA256_BYTES)
        return bad_input(im, "the trailer needs rows (integer) and sha256 (64 hex digits)");
    im->trailer_rows = json_integer_value(rows);
    memcpy(im->trailer_sha, sha, sizeof im->trailer_sha);
    long at = im->lineno;
    while (next_line(im->in, &im->line, &im->cap, &im->len, &im->lineno))
        if (strspn(im->line, " \t\r") != im->len) return bad_input(im, "text after the trailer line");
    char hex[2 * SHA256_BYTES + 1];
    sum_hex(&im->sum, hex);
    im->lineno = at;
    if (im->trailer_rows != im->sum.rows) return bad_input(im, "the trailer's row count differs from the rows read: the file is damaged");
    if (strcmp(hex, im->trailer_sha)) return bad_input(im, "the trailer's checksum differs from the rows read: the file is damaged");
    return 0;
}

static const char *insert_failure(int rc)
{
    if (rc == RSC_CONFLICT) return "its path is taken in the target store";
    if (rc == RSC_ALREADY_EXISTS) return "its ri is taken in the target store";
    return "the store refused it (see the log line above)";
}

/* Rows read and not yet inserted, with their line numbers: they go into
 * the store STORE_INSERT_MANY_MAX at a time (on PostgreSQL one INSERT, not
 * a round trip per row). */
struct pending {
    struct resource *r[STORE_INSERT_MANY_MAX];
    long lineno[STORE_INSERT_MANY_MAX];
    size_t n;
};

static void pending_drop(struct pending *p)
{
    while (p->n) resource_free(p->r[--p->n]);
}

static int pending_flush(struct import *im, struct store *s, struct pending *p)
{
    size_t failed = 0;
    int rc = p->n ? store_insert_many(s, p->r, p->n, &failed) : 0;
    if (rc) {
        long at = im->lineno;
        im->lineno = p->lineno[failed < p->n ? failed : 0];
        bad_input(im, insert_failure(rc));
        im->lineno = at;
    }
    pending_drop(p);
    return rc ? -1 : 0;
}

/* The rows of the file into the open transaction, then the trailer. */
static int import_rows(struct import *im, struct store *s)
{
    struct ancestry anc = { 0 };
    struct pending pend = { .n = 0 };
    int rc = 0;
    bool ended = false;
    while (!ended && !rc && next_line(im->in, &im->line, &im->cap, &im->len, &im->lineno)) {
        json_error_t jerr;
        json_t *row = json_loadb(im->line, im->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(row)) {
            json_decref(row);
            char why[200];
            snprintf(why, sizeof why, "not a JSON object: %s", row ? "another JSON value" : jerr.text);
            rc = bad_input(im, why);
            break;
        }
        if (json_object_get(row, "end")) {
            ended = true;
            /* The rows first: a row the store refuses is named as before. */
            rc = pending_flush(im, s, &pend);
            if (!rc) rc = read_trailer(im, row);
            json_decref(row);
            break;
        }
        const char *why;
        struct resource *r = row_resource_of(row, &why);
        json_decref(row);
        if (!r) { rc = bad_input(im, why); break; }
        if ((why = ancestry_place(&anc, res_ri(r), res_pi(r) ? res_pi(r) : "", r->path))) {
            resource_free(r);
            rc = bad_input(im, why);
            break;
        }
        /* The checksum is over the canonical line, so a file reformatted
         * (keys reordered, spaces) still matches its trailer. */
        char *line = row_line(r);
        if (!line) {
            resource_free(r);
            rc = bad_input(im, insert_failure(RSC_INTERNAL_SERVER_ERROR));
            break;
        }
        sum_add(&im->sum, line, strlen(line));
        free(line);
        pend.lineno[pend.n] = im->lineno;
        pend.r[pend.n++] = r;
        if (pend.n == STORE_INSERT_MANY_MAX && (rc = pending_flush(im, s, &pend))) break;
    }
    pending_drop(&pend);
    if (!rc && !ended)
        rc = bad_input(im, ferror(im->in) ? strerror(errno) : "the file ends without its trailer line: it is truncated");
    ancestry_free(&anc);
    return rc;
}

/* Deletes the target's tree (--replace), or refuses a non-empty target. */
static int clear_target(struct store *s, bool replace)
{
    struct resources roots = { 0 };
    int rc = store_children(s, "", 0, keep_resource, &roots);
    if (rc) {
        walk_failed(rc, "reading the target store");
        resources_free(&roots);
        return 1;
    }
    if (roots.n && !replace) {
        fprintf(stderr, "m2m-cse store import: the target store is not empty (it holds %s): import only into an "
                "empty store, or give --replace to delete its tree first\n", roots.r[0]->path);
        resources_free(&roots);
        return STORE_TOOL_NOT_EMPTY;
    }
    for (size_t i = 0; !rc && i < roots.n; i++) rc = store_delete_subtree(s, roots.r[i], NULL, NULL);
    if (rc) walk_failed(rc, "deleting the target's tree");
    resources_free(&roots);
    return rc ? 1 : 0;
}

/* One transaction: the target's old tree (with --replace) goes, the file's
 * rows go in, the tree is read back and must have the file's checksum;
 * any failure rolls all of it back. */
static int run_import(struct store *s, FILE *in, const char *name, bool replace, char hex[2 * SHA256_BYTES + 1],
                      long long *rows)
{
    struct import im = { .in = in, .name = name };
    sum_init(&im.sum, "read");
    if (read_header(&im)) {
        free(im.line);
        sum_discard(&im.sum);
        fprintf(stderr, "m2m-cse store import: nothing was imported\n");
        return 1;
    }
    if (store_begin(s)) {
        free(im.line);
        sum_discard(&im.sum);
        fprintf(stderr, "m2m-cse store import: the target store cannot start a transaction\n");
        return 1;
    }
    int rc = clear_target(s, replace);
    if (!rc && import_rows(&im, s)) rc = 1;
    free(im.line);
    struct dump check = { 0 };
    sum_init(&check.sum, "checked");
    if (!rc) {
        int w = walk_tree(s, dump_row, &check);
        walk_failed(w, "reading the imported tree back");
        sum_hex(&check.sum, hex);
        *rows = check.sum.rows;
        if (w) rc = 1;
        else if (check.sum.rows != im.trailer_rows || strcmp(hex, im.trailer_sha)) {
            fprintf(stderr, "m2m-cse store import: the store's tree after the import (%lld rows, sha256 %s) differs "
                    "from the file's (%lld rows, sha256 %s)\n", check.sum.rows, hex, im.trailer_rows, im.trailer_sha);
            rc = 1;
        }
    }
    if (!rc && store_commit(s)) {
        fprintf(stderr, "m2m-cse store import: the commit failed\n");
        rc = 1;
    }
    sum_discard(&im.sum);
    sum_discard(&check.sum);
    if (rc) {
        store_rollback(s);
        fprintf(stderr, "m2m-cse store import: nothing was imported\n");
    }
    return rc;
}

/* Export (out set) or checksum (out NULL) in one snapshot, so that the
 * rows come from one state of the store even while front-ends write. */
static int run_dump(struct store *s, FILE *out, char hex[2 * SHA256_BYTES + 1], long long *rows)
{
    struct dump d = { .out = out };
    sum_init(&d.sum, out ? "exported" : "read");
    if (store_begin_snapshot(s)) {
        sum_discard(&d.sum);
        fprintf(stderr, "m2m-cse store: the store cannot start a transaction\n");
        return 1;
    }
    if (out) fprintf(out, "{\"format\":\"" TREE_FORMAT "\",\"version\":%d}\n", TREE_VERSION);
    int rc = walk_tree(s, dump_row, &d);
    store_rollback(s);
    walk_failed(rc, "reading the tree");
    if (rc) {
        sum_discard(&d.sum);
        return 1;
    }
    sum_hex(&d.sum, hex);
    *rows = d.sum.rows;
    if (out && fprintf(out, "{\"end\":\"" TREE_FORMAT "\",\"rows\":%lld,\"sha256\":\"%s\"}\n", d.sum.rows, hex) < 0) {
        fprintf(stderr, "m2m-cse store: cannot write the export: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

static bool is_url(const char *db) { return strstr(db, "://") != NULL; }

static int usage(void)
{
    fprintf(stderr,
            "usage: m2m-cse store export [FILE | -]     the tree to FILE (default: standard output)\n"
            "       m2m-cse store import [FILE | -] [--replace]\n"
            "                                           FILE's tree into an empty store (--replace: delete\n"
            "                                           the store's tree first, in the same transaction)\n"
            "       m2m-cse store checksum              the store's tree checksum\n"
            "  with the CSE's settings choosing the store: [--config F] [--data-dir D] [--db FILE|postgresql://...]\n"
            "  Each prints 'rows N sha256 HEX'. Stop the CSE first (docs/scale-out.md, \"Migration\").\n");
    return 2;
}

/* Opens the store the settings name; an SQLite file must exist unless it
 * is the import's target. */
static struct store *open_target(const struct config *cfg, bool create)
{
    struct stat st;
    char shown[sizeof cfg->db_file];
    store_printable(cfg->db_file, shown, sizeof shown);   /* a URI's password never shown */
    if (!strcmp(cfg->db_file, ":memory:") ||
        (!create && !is_url(cfg->db_file) && stat(cfg->db_file, &st))) {
        fprintf(stderr, "m2m-cse store: no store at %s: give --data-dir DIR, --db FILE or --config FILE\n", shown);
        return NULL;
    }
    char dir[sizeof cfg->db_file];
    snprintf(dir, sizeof dir, "%s", cfg->db_file);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (!is_url(cfg->db_file) && slash && (stat(*dir ? dir : "/", &st) || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "m2m-cse store: no directory %s for the store file: create it first\n", dir);
        return NULL;
    }
    struct store *s = NULL;
    if (store_open(&s, cfg->db_file, (enum store_sync)cfg->sync)) {
        fprintf(stderr, "m2m-cse store: cannot open the store at %s (%s)\n", shown,
                is_url(cfg->db_file) ? "is the database reachable?" : "is a CSE running on it? stop it first");
        return NULL;
    }
    return s;
}

/* An export goes to FILE.partial, renamed to FILE once complete: a failed
 * export leaves no file that looks whole. */
static int export_to(struct store *s, const char *file, char hex[2 * SHA256_BYTES + 1], long long *rows)
{
    if (!strcmp(file, "-")) return run_dump(s, stdout, hex, rows) || fflush(stdout) ? 1 : 0;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.partial", file) >= (int)sizeof tmp) {
        fprintf(stderr, "m2m-cse store export: the file name is too long\n");
        return 1;
    }
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fprintf(stderr, "m2m-cse store export: cannot create %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    int rc = run_dump(s, out, hex, rows);
    if (fflush(out) || fsync(fileno(out))) {
        if (!rc) fprintf(stderr, "m2m-cse store export: cannot write %s: %s\n", tmp, strerror(errno));
        rc = 1;
    }
    fclose(out);
    if (!rc && rename(tmp, file)) {
        fprintf(stderr, "m2m-cse store export: cannot rename %s to %s: %s\n", tmp, file, strerror(errno));
        rc = 1;
    }
    if (rc) unlink(tmp);
    return rc;
}

static int import_from(struct store *s, const char *file, bool replace, char hex[2 * SHA256_BYTES + 1],
                       long long *rows)
{
    bool stdin_ = !strcmp(file, "-");
    FILE *in = stdin_ ? stdin : fopen(file, "r");
    if (!in) {
        fprintf(stderr, "m2m-cse store import: cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }
    int rc = run_import(s, in, stdin_ ? "(standard input)" : file, replace, hex, rows);
    if (!stdin_) fclose(in);
    return rc;
}

int store_tool_main(int argc, char **argv)
{
    char *flags[64] = { "m2m-cse" };
    int nflags = 1;
    const char *verb = argc > 1 ? argv[1] : "", *file = NULL;
    bool replace = false, extra = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--replace")) replace = true;
        else if (!strncmp(argv[i], "--", 2) && nflags < 62) {
            flags[nflags++] = argv[i];
            if (!strchr(argv[i], '=') && i + 1 < argc) flags[nflags++] = argv[++i];
        } else if (!file) file = argv[i];
        else extra = true;
    }
    bool exporting = !strcmp(verb, "export"), importing = !strcmp(verb, "import");
    if ((!exporting && !importing && strcmp(verb, "checksum")) || extra || (replace && !importing) ||
        (file && !exporting && !importing))
        return usage();
    struct config cfg;
    config_defaults(&cfg);
    int rc = config_parse_args(&cfg, nflags, flags);
    if (rc) return rc > 0 ? 0 : 2;
    log_set_level(LOG_LVL_WARN);
    struct sha256 probe;
    if (sha256_init(&probe)) {
        fprintf(stderr, "m2m-cse store: the tree checksum needs OpenSSL's libcrypto.so.3 (Debian package libssl3), "
                        "which cannot be loaded\n");
        return 1;
    }
    sha256_discard(&probe);
    if (importing && !file) file = "-";
    struct store *s = open_target(&cfg, importing);
    if (!s) return 1;
    char hex[2 * SHA256_BYTES + 1] = "";
    long long rows = 0;
    if (exporting) rc = export_to(s, file ? file : "-", hex, &rows);
    else if (importing) rc = import_from(s, file, replace, hex, &rows);
    else rc = run_dump(s, NULL, hex, &rows);
    store_close(s);
    if (rc) return rc;
    /* Standard output carries the export itself when it goes there. */
    fprintf(exporting && !strcmp(file ? file : "-", "-") ? stderr : stdout, "rows %lld sha256 %s\n", rows, hex);
    return 0;
}
