#include "console_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct session {
    char token[CONSOLE_TOKEN_LEN + 1];
    char originator[256];
    unsigned serial;
    int64_t until_us;          /* 0 = free slot */
};

struct console_sessions {
    int64_t ttl_us;
    unsigned next_serial;
    struct session slot[CONSOLE_SESSIONS];
};

struct console_sessions *console_sessions_create(int64_t ttl_us)
{
    struct console_sessions *s = calloc(1, sizeof *s);
    if (s) s->ttl_us = ttl_us;
    return s;
}

void console_sessions_free(struct console_sessions *s)
{
    if (s) explicit_bzero(s, sizeof *s);
    free(s);
}

/* Whole-length comparison: how long a guess matched does not show in time. */
static bool same_token(const char *a, const char *b)
{
    if (strlen(b) != CONSOLE_TOKEN_LEN) return false;
    unsigned char d = 0;
    for (int i = 0; i < CONSOLE_TOKEN_LEN; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static struct session *live(struct console_sessions *s, struct session *x, int64_t now_us)
{
    if (!x->until_us) return NULL;
    if (x->until_us > now_us) return x;
    explicit_bzero(x, sizeof *x);
    return NULL;
}

int console_session_open(struct console_sessions *s, const char *originator, int64_t now_us,
                         char token[CONSOLE_TOKEN_LEN + 1], unsigned *serial, int64_t *until_us)
{
    uint8_t rnd[CONSOLE_TOKEN_LEN / 2];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return -1;
    struct session *x = &s->slot[0];
    for (int i = 0; i < CONSOLE_SESSIONS; i++) {
        struct session *c = &s->slot[i];
        if (!live(s, c, now_us)) { x = c; break; }
        if (c->until_us < x->until_us) x = c;
    }
    explicit_bzero(x, sizeof *x);
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(x->token + 2 * i, 3, "%02x", rnd[i]);
    explicit_bzero(rnd, sizeof rnd);
    snprintf(x->originator, sizeof x->originator, "%s", originator);
    x->serial = ++s->next_serial;
    x->until_us = now_us + s->ttl_us;
    memcpy(token, x->token, CONSOLE_TOKEN_LEN + 1);
    *serial = x->serial;
    *until_us = x->until_us;
    return 0;
}

const char *console_session_find(struct console_sessions *s, const char *token, int64_t now_us,
                                 unsigned *serial, int64_t *until_us)
{
    for (int i = 0; s && token && i < CONSOLE_SESSIONS; i++) {
        struct session *x = live(s, &s->slot[i], now_us);
        if (x && same_token(x->token, token)) {
            *serial = x->serial;
            *until_us = x->until_us;
            return x->originator;
        }
    }
    return NULL;
}

const char *console_session_originator(struct console_sessions *s, unsigned serial, int64_t now_us)
{
    for (int i = 0; s && i < CONSOLE_SESSIONS; i++) {
        struct session *x = live(s, &s->slot[i], now_us);
        if (x && x->serial == serial) return x->originator;
    }
    return NULL;
}

bool console_session_close(struct console_sessions *s, const char *token)
{
    for (int i = 0; s && token && i < CONSOLE_SESSIONS; i++)
        if (s->slot[i].until_us && same_token(s->slot[i].token, token)) {
            explicit_bzero(&s->slot[i], sizeof s->slot[i]);
            return true;
        }
    return false;
}
