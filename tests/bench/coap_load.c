/* A CoAP load generator for m2m-cse (oneM2M CoAP binding, TS-0008): N
 * client sessions, each its own UDP socket, each keeping K requests
 * outstanding for D seconds, then a bounded drain. Requests are RETRIEVE
 * (GET) or CREATE (POST with oneM2M-TY) of one target, CON or NON.
 *
 * It writes CoAP itself (a fixed option prefix per run, MID, token and RQI
 * patched per request) rather than through libcoap's client API, whose
 * per-PDU work (option lists, the retransmission queue, session lookup) would
 * make the generator cost about what the server's libcoap side costs and so
 * share the machine's cores with the server it measures. It retransmits
 * nothing: loopback loses no datagrams; a request unanswered after
 * --timeout-ms is counted as a timeout and its slot reused.
 *
 * Prints one JSON line: requests sent/answered, answers by CoAP code and by
 * oneM2M-RSC, timeouts, req/s, latency percentiles (µs) and the generator's
 * own CPU seconds, so that a harness can put its cost beside the server's.
 *
 *   coap_load --port 5683 --path cse-in/bench/data/la --sessions 4 --window 16 --seconds 5
 *   coap_load --port 5683 --path cse-in/bench/data --op create --ty 4 --payload '{"m2m:cin":{"con":"1"}}'
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DATAGRAM 1400
#define HIST_US 200000           /* latency histogram: 1 µs buckets up to 200 ms, then one */
#define OPT_FR 279               /* oneM2M-FR (TS-0008 Table 6.2.2.4.0-1) */
#define OPT_RQI 283
#define OPT_RVI 271
#define OPT_TY 267
#define OPT_RSC 307
#define OPT_URI_PATH 11
#define OPT_CONTENT_FORMAT 12
#define OPT_URI_QUERY 15
#define CF_JSON 50

struct settings {
    const char *host, *path, *query, *origin, *payload;
    int port, sessions, window, ty, timeout_ms;
    long long requests;          /* stop sending after this many (0: only the time bounds) */
    double seconds;
    bool con, create;
};

struct slot {
    uint64_t sent_ns;            /* 0: free */
    uint32_t token;
};

struct session {
    int fd;
    uint16_t mid;
    uint32_t seq;                /* per-session request counter, in the token and RQI */
    struct slot *slots;
};

struct counts {
    uint64_t sent, answered, timeouts, stray, by_code[256];
    uint64_t answered_in_time;   /* answers that came while sending: the rate's numerator */
    uint64_t *hist;              /* [HIST_US + 1] */
    uint32_t by_rsc[8192];       /* RSC values are < 8192 */
};

/* The request's bytes before the RQI option (header and token excluded),
 * and after it (payload marker and payload). Built once per run. */
struct request_template {
    uint8_t opts[1024];
    size_t opts_len;
    unsigned last_opt;           /* number of the last option in opts */
    uint8_t tail[MAX_DATAGRAM];
    size_t tail_len;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- encoding ------------------------------------------------------------ */

static size_t opt_nibble(unsigned v, uint8_t *nib, uint8_t ext[2])
{
    if (v < 13) { *nib = (uint8_t)v; return 0; }
    if (v < 269) { *nib = 13; ext[0] = (uint8_t)(v - 13); return 1; }
    *nib = 14;
    ext[0] = (uint8_t)((v - 269) >> 8);
    ext[1] = (uint8_t)(v - 269);
    return 2;
}

/* Appends option `number` (after option `*last`) to buf; the new length, or
 * 0 when it does not fit. */
static size_t put_option(uint8_t *buf, size_t len, size_t cap, unsigned *last, unsigned number,
                         const void *value, size_t vlen)
{
    uint8_t dn, ln, dext[2], lext[2];
    size_t dx = opt_nibble(number - *last, &dn, dext), lx = opt_nibble((unsigned)vlen, &ln, lext);
    if (len + 1 + dx + lx + vlen > cap) return 0;
    buf[len++] = (uint8_t)(dn << 4 | ln);
    memcpy(buf + len, dext, dx);
    len += dx;
    memcpy(buf + len, lext, lx);
    len += lx;
    memcpy(buf + len, value, vlen);
    *last = number;
    return len + vlen;
}

static size_t uint_bytes(uint32_t v, uint8_t out[4])
{
    size_t n = v > 0xFFFFFF ? 4 : v > 0xFFFF ? 3 : v > 0xFF ? 2 : v ? 1 : 0;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n;
}

/* Splits s at sep and adds each non-empty piece as option `number`. */
static int put_split(struct request_template *t, unsigned number, const char *s, char sep)
{
    while (s && *s) {
        const char *end = strchr(s, sep);
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n) {
            t->opts_len = put_option(t->opts, t->opts_len, sizeof t->opts, &t->last_opt, number, s, n);
            if (!t->opts_len) return -1;
        }
        s = end ? end + 1 : NULL;
    }
    return 0;
}

static int build_template(const struct settings *s, struct request_template *t)
{
    uint8_t u[4];
    memset(t, 0, sizeof *t);
    if (put_split(t, OPT_URI_PATH, s->path, '/')) return -1;
    if (s->create) {
        size_t n = uint_bytes(CF_JSON, u);
        t->opts_len = put_option(t->opts, t->opts_len, sizeof t->opts, &t->last_opt, OPT_CONTENT_FORMAT, u, n);
    }
    if (put_split(t, OPT_URI_QUERY, s->query, '&')) return -1;
    if (s->create) {
        size_t n = uint_bytes((uint32_t)s->ty, u);
        t->opts_len = put_option(t->opts, t->opts_len, sizeof t->opts, &t->last_opt, OPT_TY, u, n);
    }
    if (!t->opts_len) return -1;
    t->opts_len = put_option(t->opts, t->opts_len, sizeof t->opts, &t->last_opt, OPT_RVI, "3", 1);
    if (t->opts_len)
        t->opts_len = put_option(t->opts, t->opts_len, sizeof t->opts, &t->last_opt, OPT_FR, s->origin,
                                 strlen(s->origin));
    if (!t->opts_len) return -1;
    if (s->payload && *s->payload) {
        size_t n = strlen(s->payload);
        if (n + 1 > sizeof t->tail) return -1;
        t->tail[0] = 0xFF;
        memcpy(t->tail + 1, s->payload, n);
        t->tail_len = n + 1;
    }
    return 0;
}

/* One request: header, 4-byte token, the template's options, RQI
 * "<session>-<seq>", the payload. */
static size_t encode_request(const struct settings *s, const struct request_template *t, int sid,
                             struct session *ss, uint32_t token, uint8_t *buf)
{
    buf[0] = (uint8_t)(0x40 | (s->con ? 0 : 0x10) | 4);
    buf[1] = s->create ? 2 : 1;
    ss->mid++;
    buf[2] = (uint8_t)(ss->mid >> 8);
    buf[3] = (uint8_t)ss->mid;
    memcpy(buf + 4, &token, 4);
    memcpy(buf + 8, t->opts, t->opts_len);
    char rqi[24];
    int n = snprintf(rqi, sizeof rqi, "%x-%x", (unsigned)sid, (unsigned)ss->seq);
    unsigned last = t->last_opt;
    size_t len = put_option(buf, 8 + t->opts_len, MAX_DATAGRAM, &last, OPT_RQI, rqi, (size_t)n);
    if (!len || len + t->tail_len > MAX_DATAGRAM) return 0;
    memcpy(buf + len, t->tail, t->tail_len);
    return len + t->tail_len;
}

/* ---- responses ------------------------------------------------------------ */

/* The oneM2M-RSC option of a response, -1 when absent or unreadable. */
static long response_rsc(const uint8_t *p, size_t len)
{
    size_t tkl = p[0] & 0x0F, i = 4 + tkl;
    unsigned number = 0;
    while (i < len && p[i] != 0xFF) {
        unsigned d = p[i] >> 4, l = p[i] & 0x0F;
        i++;
        if (d == 15 || l == 15) return -1;
        if (d == 13) { if (i >= len) return -1; d = 13u + p[i++]; }
        else if (d == 14) { if (i + 1 >= len) return -1; d = 269u + (unsigned)(p[i] << 8 | p[i + 1]); i += 2; }
        if (l == 13) { if (i >= len) return -1; l = 13u + p[i++]; }
        else if (l == 14) { if (i + 1 >= len) return -1; l = 269u + (unsigned)(p[i] << 8 | p[i + 1]); i += 2; }
        number += d;
        if (i + l > len) return -1;
        if (number == OPT_RSC) {
            long v = 0;
            for (unsigned k = 0; k < l; k++) v = v << 8 | p[i + k];
            return v;
        }
        if (number > OPT_RSC) return -1;
        i += l;
    }
    return -1;
}

static int send_one(const struct settings *s, const struct request_template *t, struct session *ss,
                    int sid, int slot, struct counts *c)
{
    uint8_t buf[MAX_DATAGRAM];
    if (s->requests && (long long)c->sent >= s->requests) return 0;
    ss->seq++;
    uint32_t token = (ss->seq << 8) | (uint32_t)slot;   /* slot < 256 */
    size_t len = encode_request(s, t, sid, ss, token, buf);
    if (!len) return -1;
    ss->slots[slot].token = token;
    ss->slots[slot].sent_ns = now_ns();
    if (send(ss->fd, buf, len, 0) < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED) {
        perror("coap_load: send");
        return -1;
    }
    c->sent++;
    return 0;
}

/* Reads every datagram waiting on a session; answers free their slot and,
 * while sending, start the next request in it. */
static int drain_socket(const struct settings *s, const struct request_template *t, struct session *ss,
                        int sid, bool refill, struct counts *c)
{
    uint8_t buf[MAX_DATAGRAM + 64];
    for (;;) {
        ssize_t n = recv(ss->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED ? 0 : -1;
        uint64_t now = now_ns();
        if (n < 4 || (buf[0] >> 6) != 1 || (buf[0] & 0x0F) != 4) { c->stray++; continue; }
        if ((buf[0] >> 4 & 3) == 0) {   /* a separate CON response: ACK it */
            uint8_t ack[4] = { 0x60, 0, buf[2], buf[3] };
            (void)send(ss->fd, ack, sizeof ack, 0);
        }
        if (buf[1] == 0) continue;       /* an empty ACK: the answer comes later */
        uint32_t token;
        memcpy(&token, buf + 4, 4);
        int slot = (int)(token & 0xFF);
        if (slot >= s->window || !ss->slots[slot].sent_ns || ss->slots[slot].token != token) {
            c->stray++;                  /* late, after its timeout */
            continue;
        }
        uint64_t us = (now - ss->slots[slot].sent_ns) / 1000;
        c->hist[us < HIST_US ? us : HIST_US]++;
        c->by_code[buf[1]]++;
        long rsc = response_rsc(buf, (size_t)n);
        if (rsc >= 0 && rsc < 8192) c->by_rsc[rsc]++;
        c->answered++;
        ss->slots[slot].sent_ns = 0;
        if (refill && send_one(s, t, ss, sid, slot, c)) return -1;
    }
}

/* Slots unanswered for longer than the timeout: counted, and reused. */
static int expire(const struct settings *s, const struct request_template *t, struct session *ss, int sid,
                  bool refill, uint64_t now, struct counts *c)
{
    for (int k = 0; k < s->window; k++) {
        struct slot *sl = &ss->slots[k];
        if (!sl->sent_ns || now - sl->sent_ns < (uint64_t)s->timeout_ms * 1000000u) continue;
        c->timeouts++;
        sl->sent_ns = 0;
        if (refill && send_one(s, t, ss, sid, k, c)) return -1;
    }
    return 0;
}

static double percentile(const struct counts *c, double p)
{
    if (!c->answered) return 0;
    uint64_t want = (uint64_t)(p * (double)c->answered + 0.5), seen = 0;
    if (want < 1) want = 1;
    for (uint64_t us = 0; us <= HIST_US; us++) {
        seen += c->hist[us];
        if (seen >= want) return (double)us;
    }
    return HIST_US;
}

static int open_session(const struct sockaddr_storage *to, socklen_t tolen)
{
    int fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int sz = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    if (connect(fd, (const struct sockaddr *)to, tolen)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: coap_load --port P [--host 127.0.0.1] [--path cse-in] [--query 'a=b&c=d']\n"
            "        [--op retrieve|create] [--ty 4] [--payload JSON] [--origin Cbench]\n"
            "        [--sessions 4] [--window 16] [--seconds 5] [--requests N] [--non] [--timeout-ms 2000]\n");
}

static int parse_args(int argc, char **argv, struct settings *s)
{
    static const struct option longopts[] = {
        { "host", 1, 0, 'h' }, { "port", 1, 0, 'p' }, { "path", 1, 0, 'P' }, { "query", 1, 0, 'q' },
        { "op", 1, 0, 'o' }, { "ty", 1, 0, 't' }, { "payload", 1, 0, 'b' }, { "origin", 1, 0, 'f' },
        { "sessions", 1, 0, 'n' }, { "window", 1, 0, 'w' }, { "seconds", 1, 0, 'd' },
        { "non", 0, 0, 'N' }, { "timeout-ms", 1, 0, 'T' }, { "requests", 1, 0, 'r' }, { 0, 0, 0, 0 },
    };
    *s = (struct settings){ .host = "127.0.0.1", .path = "cse-in", .origin = "Cbench", .sessions = 4,
                            .window = 16, .seconds = 5, .con = true, .ty = 4, .timeout_ms = 2000 };
    const char *op = "retrieve";
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': s->host = optarg; break;
        case 'p': s->port = atoi(optarg); break;
        case 'P': s->path = optarg; break;
        case 'q': s->query = optarg; break;
        case 'o': op = optarg; break;
        case 't': s->ty = atoi(optarg); break;
        case 'b': s->payload = optarg; break;
        case 'f': s->origin = optarg; break;
        case 'n': s->sessions = atoi(optarg); break;
        case 'w': s->window = atoi(optarg); break;
        case 'd': s->seconds = atof(optarg); break;
        case 'N': s->con = false; break;
        case 'T': s->timeout_ms = atoi(optarg); break;
        case 'r': s->requests = atoll(optarg); break;
        default: return -1;
        }
    }
    s->create = !strcmp(op, "create");
    if (!s->create && strcmp(op, "retrieve")) return -1;
    if (s->create && !s->payload) s->payload = "{\"m2m:cin\":{\"cnf\":\"text/plain:0\",\"con\":\"21.5\"}}";
    if (!s->create) s->payload = NULL;
    if (s->port <= 0 || s->port > 65535 || s->sessions < 1 || s->sessions > 1024 || s->window < 1 ||
        s->window > 255 || s->seconds <= 0 || s->seconds > 3600 || s->timeout_ms < 1 || s->ty < 1 || s->requests < 0)
        return -1;
    return 0;
}

static void print_result(const struct settings *s, const struct counts *c, double secs)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("{\"op\":\"%s\",\"type\":\"%s\",\"sessions\":%d,\"window\":%d,\"seconds\":%.3f,"
           "\"sent\":%llu,\"answered\":%llu,\"timeouts\":%llu,\"stray\":%llu,\"rps\":%.1f,",
           s->create ? "create" : "retrieve", s->con ? "CON" : "NON", s->sessions, s->window, secs,
           (unsigned long long)c->sent, (unsigned long long)c->answered, (unsigned long long)c->timeouts,
           (unsigned long long)c->stray, secs > 0 ? (double)c->answered_in_time / secs : 0.0);
    printf("\"codes\":{");
    const char *sep = "";
    for (int k = 0; k < 256; k++)
        if (c->by_code[k]) {
            printf("%s\"%d.%02d\":%llu", sep, k >> 5, k & 31, (unsigned long long)c->by_code[k]);
            sep = ",";
        }
    printf("},\"rsc\":{");
    sep = "";
    for (int k = 0; k < 8192; k++)
        if (c->by_rsc[k]) {
            printf("%s\"%d\":%u", sep, k, c->by_rsc[k]);
            sep = ",";
        }
    printf("},\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,\"cpu_s\":%.3f}\n",
           percentile(c, 0.50), percentile(c, 0.90), percentile(c, 0.99), percentile(c, 1.0), cpu);
}

int main(int argc, char **argv)
{
    struct settings s;
    if (parse_args(argc, argv, &s)) {
        usage();
        return 2;
    }
    struct request_template t;
    if (build_template(&s, &t)) {
        fprintf(stderr, "coap_load: the request does not fit one datagram\n");
        return 2;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                              .ai_flags = AI_NUMERICSERV }, *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", s.port);
    if (getaddrinfo(s.host, port, &hints, &ai) || !ai) {
        fprintf(stderr, "coap_load: cannot resolve %s\n", s.host);
        return 2;
    }
    struct sockaddr_storage to;
    socklen_t tolen = (socklen_t)ai->ai_addrlen;
    memcpy(&to, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);

    struct counts *c = calloc(1, sizeof *c);
    struct session *ss = calloc((size_t)s.sessions, sizeof *ss);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!c || !ss || ep < 0 || !(c->hist = calloc(HIST_US + 1, sizeof *c->hist))) {
        perror("coap_load");
        return 1;
    }
    srand((unsigned)now_ns());
    for (int i = 0; i < s.sessions; i++) {
        ss[i].fd = open_session(&to, tolen);
        ss[i].slots = calloc((size_t)s.window, sizeof *ss[i].slots);
        ss[i].mid = (uint16_t)rand();
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        if (ss[i].fd < 0 || !ss[i].slots || epoll_ctl(ep, EPOLL_CTL_ADD, ss[i].fd, &ev)) {
            perror("coap_load: socket");
            return 1;
        }
    }

    int rc = 0;
    uint64_t start = now_ns(), stop = start + (uint64_t)(s.seconds * 1e9), last_expiry = start;
    /* After the sending time, at most one timeout for the last answers. */
    uint64_t drain_until = stop + (uint64_t)s.timeout_ms * 1000000u;
    for (int i = 0; i < s.sessions && !rc; i++)
        for (int k = 0; k < s.window && !rc; k++) rc = send_one(&s, &t, &ss[i], i, k, c);
    uint64_t sent_end = 0;
    while (!rc) {
        uint64_t now = now_ns();
        bool sending = now < stop && (!s.requests || (long long)c->sent < s.requests);
        if (!sending && !sent_end) {
            sent_end = now;
            c->answered_in_time = c->answered;
        }
        if (!sending && (c->answered + c->timeouts >= c->sent || now >= drain_until)) break;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 10);
        if (n < 0 && errno != EINTR) { perror("coap_load: epoll_wait"); rc = 1; break; }
        for (int e = 0; e < n && !rc; e++) {
            int i = (int)evs[e].data.u32;
            if (drain_socket(&s, &t, &ss[i], i, sending, c)) rc = 1;
        }
        now = now_ns();
        if (now - last_expiry > 100000000u) {   /* every 100 ms */
            last_expiry = now;
            for (int i = 0; i < s.sessions && !rc; i++)
                if (expire(&s, &t, &ss[i], i, now < stop, now, c)) rc = 1;
        }
    }
    /* What is still outstanding at the end never came back. */
    for (int i = 0; i < s.sessions; i++)
        for (int k = 0; k < s.window; k++)
            if (ss[i].slots[k].sent_ns) c->timeouts++;
    /* Throughput over the sending time: answers to requests sent within it. */
    print_result(&s, c, (double)((sent_end ? sent_end : now_ns()) - start) / 1e9);
    for (int i = 0; i < s.sessions; i++) {
        close(ss[i].fd);
        free(ss[i].slots);
    }
    close(ep);
    int status = rc ? 1 : c->timeouts ? 3 : 0;
    free(c->hist);
    free(c);
    free(ss);
    return status;
}
