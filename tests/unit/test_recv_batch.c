/* recvmsg() served from recvmmsg() batches (cse/base/recv_batch.c) against
 * libc's own recvmsg() on the same datagrams: real UDP sockets on loopback,
 * the receiver with IP_PKTINFO on as libcoap's endpoints have it, calls
 * shaped as libcoap's endpoint read makes them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cse/base/recv_batch.h"

typedef ssize_t recvmsg_fn(int fd, struct msghdr *msg, int flags);

/* What one recvmsg() returned. */
struct got {
    ssize_t n;
    int err;
    unsigned char data[RECV_BATCH_SLOT];
    struct sockaddr_storage from;
    socklen_t fromlen;
    char control[256];
    size_t controllen;
    int flags;
};

/* A call as libcoap 4.3.1's coap_network_read() makes it, through fn. */
static void read_one(recvmsg_fn *fn, int fd, struct got *g)
{
    memset(g, 0, sizeof *g);
    struct iovec iov = { g->data, RECV_BATCH_SLOT };
    struct msghdr m = { .msg_name = &g->from, .msg_namelen = sizeof g->from, .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = g->control, .msg_controllen = 64 };
    errno = 0;
    g->n = fn(fd, &m, 0);
    g->err = errno;
    g->fromlen = m.msg_namelen;
    g->controllen = m.msg_controllen;
    g->flags = m.msg_flags;
}

static int udp_socket(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

/* The same 40 datagrams (sizes 0 to 2000, the larger cut at the slot, from
 * two senders) to rx: sent, then given time to arrive. */
static void send_burst(const struct sockaddr_in *rx, int s1, int s2)
{
    unsigned char buf[2000];
    for (int k = 0; k < 40; k++) {
        size_t len = k == 7 ? 0 : k == 13 ? 2000 : k == 14 ? RECV_BATCH_SLOT : (size_t)(k * 37 % 1400);
        for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)(k * 31 + i);
        assert_int_equal(sendto(k % 3 ? s1 : s2, buf, len, 0, (const struct sockaddr *)rx, sizeof *rx), (ssize_t)len);
    }
    usleep(20000);
}

static ssize_t ours(int fd, struct msghdr *msg, int flags) { return recvmsg(fd, msg, flags); }

/* Armed, libcoap-shaped calls return what libc's recvmsg() returns for the
 * same datagrams, in the same order, with fewer system calls. */
static void batches_as_libc_reads(void **state)
{
    (void)state;
    recvmsg_fn *libc = (recvmsg_fn *)dlsym(RTLD_NEXT, "recvmsg");
    assert_non_null(libc);
    struct sockaddr_in rx, a1, a2;
    int fd = udp_socket(&rx), s1 = udp_socket(&a1), s2 = udp_socket(&a2);
    int on = 1;
    assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on), 0);
    static struct got want[41], have[41];
    send_burst(&rx, s1, s2);
    for (int k = 0; k < 41; k++) read_one(libc, fd, &want[k]);
    assert_int_equal(want[40].n, -1);   /* then empty */
    unsigned long long served0, batches0, served1, batches1;
    recv_batch_counts(&served0, &batches0);
    send_burst(&rx, s1, s2);
    assert_false(recv_batch_arm(true));
    for (int k = 0; k < 41; k++) read_one(ours, fd, &have[k]);
    assert_true(recv_batch_arm(false));
    recv_batch_counts(&served1, &batches1);
    for (int k = 0; k < 41; k++) {
        assert_int_equal(have[k].n, want[k].n);
        assert_int_equal(have[k].err == EAGAIN, want[k].err == EAGAIN);
        if (want[k].n < 0) continue;
        assert_memory_equal(have[k].data, want[k].data, (size_t)want[k].n);
        assert_int_equal(have[k].fromlen, want[k].fromlen);
        assert_memory_equal(&have[k].from, &want[k].from, want[k].fromlen);
        assert_int_equal(have[k].controllen, want[k].controllen);
        assert_memory_equal(have[k].control, want[k].control, want[k].controllen);
        assert_int_equal(have[k].flags, want[k].flags);
    }
    assert_true(want[13].flags & MSG_TRUNC);   /* the 2000-byte one, cut at the slot as libc cuts it */
    assert_int_equal(served1 - served0, 40);
    assert_true(batches1 - batches0 <= 40 / RECV_BATCH_MAX + 2);
    assert_int_equal(recv_batch_pending(), 0);
    close(fd);
    close(s1);
    close(s2);
}

/* What is batched is handed out first, armed or not, to the same socket
 * only; another socket, or a call of another shape, goes to libc as it is. */
static void pending_kept_in_order(void **state)
{
    (void)state;
    struct sockaddr_in rx, rx2, a1;
    int fd = udp_socket(&rx), other = udp_socket(&rx2), s1 = udp_socket(&a1);
    for (unsigned char k = 0; k < 5; k++) assert_int_equal(sendto(s1, &k, 1, 0, (struct sockaddr *)&rx, sizeof rx), 1);
    unsigned char x = 99;
    assert_int_equal(sendto(s1, &x, 1, 0, (struct sockaddr *)&rx2, sizeof rx2), 1);
    usleep(20000);
    struct got g;
    recv_batch_arm(true);
    read_one(ours, fd, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.data[0], 0);
    assert_int_equal(recv_batch_pending(), 4);
    read_one(ours, other, &g);   /* another socket: libc's read, the batch kept */
    assert_int_equal(g.n, 1);
    assert_int_equal(g.data[0], 99);
    assert_int_equal(recv_batch_pending(), 4);
    recv_batch_arm(false);
    read_one(ours, fd, &g);      /* disarmed: still the batch first */
    assert_int_equal(g.data[0], 1);
    unsigned char big[4000];     /* another shape: libc's, the batch kept */
    struct iovec iov = { big, sizeof big };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    errno = 0;
    assert_int_equal(recvmsg(fd, &m, 0), -1);
    assert_int_equal(errno, EAGAIN);
    for (unsigned char k = 2; k < 5; k++) {
        read_one(ours, fd, &g);
        assert_int_equal(g.n, 1);
        assert_int_equal(g.data[0], k);
    }
    assert_int_equal(recv_batch_pending(), 0);
    read_one(ours, fd, &g);      /* disarmed and empty: libc's answer */
    assert_int_equal(g.n, -1);
    assert_int_equal(g.err, EAGAIN);
    close(fd);
    close(other);
    close(s1);
}

static void probe_reaches_ours(void **state)
{
    (void)state;
    assert_int_equal(recvmsg(-1, NULL, 0), -1);
    assert_true(recv_batch_probe_reached());
    assert_false(recv_batch_probe_reached());   /* cleared */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_as_libc_reads),
        cmocka_unit_test(pending_kept_in_order),
        cmocka_unit_test(probe_reaches_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
