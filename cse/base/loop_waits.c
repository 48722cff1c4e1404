/* Sites where the event loop waited itself (loop_waits.h). */
#include "loop_waits.h"

#include "log.h"
#include "loop.h"

#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FRAMES 24
#define SITE_FRAMES 8              /* names in a site, innermost first */

struct symbol {
    uintptr_t start, size;
    const char *name;
    const char *file;          /* a static function's source file, else NULL */
};

/* The executable's functions: its .symtab, since dladdr() reads only the
 * dynamic symbols and most of ours are static. Empty when stripped. */
static struct {
    bool prepared;
    struct symbol *syms;
    size_t n;
    char *names;
    uintptr_t base;            /* load address of the executable */
    const char *audit_file;    /* IRONBARK_FIBER_AUDIT (test setting) */
    const char *test_name;     /* IRONBARK_TEST_NAME, set by the test harness */
} table;

static struct loop_wait_site sites[LOOP_WAIT_SITES];
static size_t site_count;

static int by_start(const void *a, const void *b)
{
    const struct symbol *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static bool fits(size_t size, uint64_t offset, uint64_t len) { return offset <= size && len <= size - offset; }

static void read_symtab(const unsigned char *f, size_t size)
{
    const Elf64_Ehdr *eh = (const void *)f;
    if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || !fits(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        return;
    const Elf64_Shdr *sh = (const void *)(f + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        const Elf64_Shdr *syms = &sh[i];
        if (syms->sh_type != SHT_SYMTAB || syms->sh_link >= eh->e_shnum) continue;
        const Elf64_Shdr *strs = &sh[syms->sh_link];
        if (syms->sh_entsize != sizeof(Elf64_Sym) || !fits(size, syms->sh_offset, syms->sh_size) ||
            !fits(size, strs->sh_offset, strs->sh_size))
            return;
        const Elf64_Sym *s = (const void *)(f + syms->sh_offset);
        size_t n = syms->sh_size / sizeof *s, k = 0;
        table.names = malloc(strs->sh_size + 1);
        table.syms = calloc(n ? n : 1, sizeof *table.syms);
        if (!table.names || !table.syms) return;
        memcpy(table.names, f + strs->sh_offset, strs->sh_size);
        table.names[strs->sh_size] = 0;
        /* A file's static symbols follow its STT_FILE entry. */
        const char *file = NULL;
        for (size_t j = 0; j < n; j++) {
            if (s[j].st_name >= strs->sh_size) continue;
            const char *name = table.names + s[j].st_name;
            if (ELF64_ST_TYPE(s[j].st_info) == STT_FILE) file = name;
            if (ELF64_ST_TYPE(s[j].st_info) == STT_FUNC && s[j].st_size)
                table.syms[k++] = (struct symbol){ s[j].st_value, s[j].st_size, name,
                                                   ELF64_ST_BIND(s[j].st_info) == STB_LOCAL ? file : NULL };
        }
        qsort(table.syms, k, sizeof *table.syms, by_start);
        table.n = k;
        /* A position-independent executable's symbols are offsets. */
        Dl_info self;
        if (eh->e_type == ET_DYN && dladdr((void *)read_symtab, &self)) table.base = (uintptr_t)self.dli_fbase;
        return;
    }
}

void loop_waits_prepare(void)
{
    if (table.prepared) return;
    table.prepared = true;
    table.audit_file = getenv("IRONBARK_FIBER_AUDIT");
    table.test_name = getenv("IRONBARK_TEST_NAME");
    void *warm[1];
    backtrace(warm, 1);        /* loads the unwinder now, not in the loop */
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return;
    if (!fstat(fd, &st) && st.st_size > 0) {
        void *f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f != MAP_FAILED) {
            read_symtab(f, (size_t)st.st_size);
            munmap(f, (size_t)st.st_size);
        }
    }
    close(fd);
}

static const struct symbol *symbol_at(uintptr_t pc)
{
    if (pc < table.base || !table.n) return NULL;
    uintptr_t off = pc - table.base;
    size_t lo = 0, hi = table.n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (table.syms[mid].start <= off) lo = mid;
        else hi = mid;
    }
    const struct symbol *s = &table.syms[lo];
    return off >= s->start && off - s->start < s->size ? s : NULL;
}

/* A return address's function, or object+offset (addr2line reads it);
 * *file is a static function's source file. */
static const char *frame_name(void *ret, char *buf, size_t cap, const char **file)
{
    uintptr_t pc = (uintptr_t)ret - 1;     /* inside the call, not after it */
    const struct symbol *sym = symbol_at(pc);
    *file = sym ? sym->file : NULL;
    /* A static function is named with its file (several share a name);
     * gcc's clones (.part.0, .isra.0) by their origin. */
    if (sym && sym->file) {
        snprintf(buf, cap, "%s:%.*s", sym->file, (int)strcspn(sym->name, "."), sym->name);
        return buf;
    }
    if (sym) return sym->name;
    Dl_info di;
    bool found = dladdr((void *)pc, &di);
    if (found && di.dli_sname) return di.dli_sname;
    if (!found || !di.dli_fname) return "?";
    const char *object = strrchr(di.dli_fname, '/');
    snprintf(buf, cap, "%s+%#lx", object ? object + 1 : di.dli_fname, (unsigned long)(pc - (uintptr_t)di.dli_fbase));
    return buf;
}

static bool starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* How a wait is made, the same for every site: the stores (the resource
 * store's entry points often tail-call into store_pg.c, so its own frames
 * may be all that is left of them), libpq's waits, fibers, this file. */
static bool in_store(const char *name, const char *file)
{
    static const char *const files[] = { "loop_waits.c", "fiber.c", "pq_lib.c", "store.c", "store_pg.c",
                                         "cred.c", "cred_pg.c" };
    for (size_t i = 0; file && i < sizeof files / sizeof *files; i++)
        if (!strcmp(file, files[i])) return true;
    return starts(name, "loop_wait") || starts(name, "pq_") || starts(name, "pg_") || starts(name, "fiber_") ||
           starts(name, "store_") || starts(name, "cred_");
}
static bool is_loop(const char *name)
{
    return !strcmp(name, "loop_run") || !strcmp(name, "main") || starts(name, "__libc_start");
}

static bool sanitizer_frame(const char *name)
{
    return starts(name, "libasan.") || starts(name, "libubsan.") || starts(name, "libtsan.") ||
           starts(name, "__interceptor_") || starts(name, "__sanitizer");
}

/* "pg_store_get < registration.c:wanted < registration.c:send_step <
 * registration.c:on_timer": the outermost store
 * frame (the operation), then its callers up to the loop. */
static void site_of(char *out, size_t cap)
{
    void *pcs[FRAMES];
    int n = backtrace(pcs, FRAMES);
    char bufs[FRAMES][64];
    const char *names[FRAMES];
    int first = 0;
    for (int i = 0; i < n; i++) {
        const char *file;
        names[i] = frame_name(pcs[i], bufs[i], sizeof bufs[i], &file);
        /* Leading frames: a sanitizer's backtrace() interceptor, then ours. */
        if (first == i && (in_store(names[i], file) || sanitizer_frame(names[i]))) first = i + 1;
    }
    if (first > 0 && !starts(names[first - 1], "loop_wait")) first--;
    size_t len = 0;
    out[0] = 0;
    for (int i = first, k = 0; i < n && k < SITE_FRAMES && !is_loop(names[i]); i++, k++) {
        int w = snprintf(out + len, cap - len, "%s%s", k ? " < " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
    }
    if (!out[0]) snprintf(out, cap, "?");
}

const char *loop_wait_kind_name(enum loop_wait_kind kind)
{
    return kind == LOOP_WAIT_DRIVEN ? "driven" : "round trip";
}

/* Test-only: one line per new site, so a whole suite's sites can be listed
 * with the tests that hit them (scripts/fiber-audit.sh). */
static void audit_append(const struct loop_wait_site *s)
{
    if (!table.audit_file || !*table.audit_file) return;
    char line[LOOP_WAIT_SITE_MAX + 160];
    int n = snprintf(line, sizeof line, "%s\t%s\t%s\n", table.test_name ? table.test_name : "-",
                     loop_wait_kind_name(s->kind), s->site);
    if (n <= 0) return;
    if ((size_t)n >= sizeof line) n = (int)sizeof line - 1;
    int fd = open(table.audit_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t w = write(fd, line, (size_t)n);     /* one write: lines of parallel CSEs stay whole */
    (void)w;
    close(fd);
}

bool loop_wait_note(enum loop_wait_kind kind)
{
    if (!loop_running()) return false;
    char site[LOOP_WAIT_SITE_MAX];
    site_of(site, sizeof site);
    /* Room is kept for "other" of both kinds. */
    if (site_count >= LOOP_WAIT_SITES - 2) snprintf(site, sizeof site, "other");
    for (size_t i = 0; i < site_count; i++)
        if (sites[i].kind == kind && !strcmp(sites[i].site, site)) {
            sites[i].count++;
            return true;
        }
    struct loop_wait_site *s = &sites[site_count++];
    s->kind = kind;
    snprintf(s->site, sizeof s->site, "%s", site);
    s->count = 1;
    log_warn("store wait outside a fiber: %s (%s)", s->site, loop_wait_kind_name(kind));
    audit_append(s);
    return true;
}

const struct loop_wait_site *loop_wait_sites(size_t *n)
{
    *n = site_count;
    return sites;
}

void loop_waits_log(void)
{
    for (size_t i = 0; i < site_count; i++)
        log_info("the loop waited %llu times outside a fiber (%s): %s", (unsigned long long)sites[i].count,
                 loop_wait_kind_name(sites[i].kind), sites[i].site);
}
