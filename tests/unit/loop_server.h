/* A scripted HTTP server on the test's loop, on a loopback port: reads
 * each request (headers + Content-Length bytes), keeps the last one's text,
 * and answers every request with one fixed raw reply (NULL: never answers).
 * Shared by the unit tests of the HTTP client and of the outbound path. */
#ifndef IRONBARK_TEST_LOOP_SERVER_H
#define IRONBARK_TEST_LOOP_SERVER_H

#include "cse/base/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct server {
    struct loop *loop;
    int fd, port;
    int accepted, requests;
    const char *reply;             /* raw HTTP response; NULL = never answer */
    int conns[8];
    char in[8][4096];
    size_t in_len[8];
    char last[4096];               /* the last whole request, as received */
};

static void server_read(struct loop *loop, int fd, void *data, int mask)
{
    (void)mask;
    struct server *s = data;
    int k = 0;
    while (k < 8 && s->conns[k] != fd) k++;
    if (k == 8) return;
    ssize_t n = recv(fd, s->in[k] + s->in_len[k], sizeof s->in[k] - s->in_len[k] - 1, 0);
    if (n <= 0) {
        loop_unwatch(loop, fd, LOOP_READABLE);
        close(fd);
        s->conns[k] = -1;
        return;
    }
    s->in_len[k] += (size_t)n;
    s->in[k][s->in_len[k]] = 0;
    /* One request = headers + Content-Length bytes. */
    char *end = strstr(s->in[k], "\r\n\r\n");
    if (!end) return;
    const char *cl = strstr(s->in[k], "Content-Length: ");
    size_t body = cl ? (size_t)atoi(cl + 16) : 0;
    size_t whole = (size_t)(end + 4 - s->in[k]) + body;
    if (s->in_len[k] < whole) return;
    snprintf(s->last, sizeof s->last, "%.*s", (int)whole, s->in[k]);
    memmove(s->in[k], s->in[k] + whole, s->in_len[k] - whole);
    s->in_len[k] -= whole;
    s->requests++;
    if (s->reply) {
        ssize_t w = send(fd, s->reply, strlen(s->reply), MSG_NOSIGNAL);
        (void)w;
    }
}

static void server_accept(struct loop *loop, int fd, void *data, int mask)
{
    (void)mask;
    struct server *s = data;
    int c = accept(fd, NULL, NULL);
    if (c < 0) return;
    for (int k = 0; k < 8; k++) {
        if (s->conns[k] >= 0) continue;
        s->conns[k] = c;
        s->in_len[k] = 0;
        s->accepted++;
        loop_watch(loop, c, LOOP_READABLE, server_read, s);
        return;
    }
    close(c);
}

static void server_start(struct server *s, struct loop *loop, const char *reply)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < 8; k++) s->conns[k] = -1;
    s->loop = loop;
    s->reply = reply;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    loop_watch(loop, s->fd, LOOP_READABLE, server_accept, s);
}

static void server_stop(struct server *s)
{
    for (int k = 0; k < 8; k++)
        if (s->conns[k] >= 0) { loop_unwatch(s->loop, s->conns[k], LOOP_READABLE); close(s->conns[k]); }
    loop_unwatch(s->loop, s->fd, LOOP_READABLE);
    close(s->fd);
}

#endif
