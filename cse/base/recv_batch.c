#include "recv_batch.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

typedef ssize_t recvmsg_fn(int fd, struct msghdr *msg, int flags);

/* The batch: RECV_BATCH_MAX datagrams as recvmmsg() left them, of one fd;
 * slot 0 is the caller's own buffers (handed out at once). */
static struct {
    bool armed;
    int fd;
    unsigned count, next;
    struct mmsghdr hdr[RECV_BATCH_MAX];
    struct iovec iov[RECV_BATCH_MAX];
    struct sockaddr_storage name[RECV_BATCH_MAX];
    /* room for the IPv6 packet info, the largest libcoap asks for */
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64]; } control[RECV_BATCH_MAX];
    unsigned char data[RECV_BATCH_MAX][RECV_BATCH_SLOT];
    unsigned long long served, batches;
    bool probed;     /* the probe call reached us */
} rb = { .fd = -1 };

static recvmsg_fn *libc_recvmsg(void)
{
    static recvmsg_fn *real;
    if (!real) real = (recvmsg_fn *)dlsym(RTLD_NEXT, "recvmsg");
    return real;
}

bool recv_batch_arm(bool on)
{
    bool was = rb.armed;
    rb.armed = on;
    return was;
}

size_t recv_batch_pending(void) { return rb.count - rb.next; }

void recv_batch_counts(unsigned long long *served, unsigned long long *batches)
{
    *served = rb.served;
    *batches = rb.batches;
}

/* A call as libcoap's endpoint read makes it: batching cannot change what
 * it gets. */
static bool batchable(const struct msghdr *msg, int flags)
{
    return flags == 0 && msg->msg_iovlen == 1 && msg->msg_iov[0].iov_len == RECV_BATCH_SLOT;
}

/* Takes what fd has queued, up to RECV_BATCH_MAX datagrams, the first
 * straight into the caller's msg (so a batch of one copies nothing): how
 * many, the first one's length in *len; -1 with errno as recvmsg() would
 * have set it. */
static int refill(int fd, struct msghdr *msg, ssize_t *len)
{
    if (!rb.hdr[1].msg_hdr.msg_iov) {   /* the slots' fixed parts, once */
        for (unsigned i = 1; i < RECV_BATCH_MAX; i++) {
            rb.iov[i] = (struct iovec){ rb.data[i], RECV_BATCH_SLOT };
            rb.hdr[i].msg_hdr = (struct msghdr){ .msg_name = &rb.name[i], .msg_iov = &rb.iov[i],
                                                 .msg_iovlen = 1, .msg_control = rb.control[i].buf };
        }
    }
    for (unsigned i = 1; i < RECV_BATCH_MAX; i++) {
        rb.hdr[i].msg_hdr.msg_namelen = sizeof rb.name[i];
        rb.hdr[i].msg_hdr.msg_controllen = sizeof rb.control[i].buf;
    }
    rb.hdr[0].msg_hdr = *msg;
    int n = recvmmsg(fd, rb.hdr, RECV_BATCH_MAX, MSG_DONTWAIT, NULL);
    if (n <= 0) return n;
    msg->msg_namelen = rb.hdr[0].msg_hdr.msg_namelen;
    msg->msg_controllen = rb.hdr[0].msg_hdr.msg_controllen;
    msg->msg_flags = rb.hdr[0].msg_hdr.msg_flags;
    rb.fd = fd;
    rb.count = (unsigned)n;
    rb.next = 1;
    rb.batches++;
    rb.served++;
    *len = (ssize_t)rb.hdr[0].msg_len;
    return n;
}

/* Hands the next batched datagram to msg as recvmsg() fills it. */
static ssize_t hand_out(struct msghdr *msg)
{
    struct msghdr *h = &rb.hdr[rb.next].msg_hdr;
    size_t len = rb.hdr[rb.next].msg_len;
    rb.next++;
    rb.served++;
    if (msg->msg_name) {
        memcpy(msg->msg_name, h->msg_name, h->msg_namelen < msg->msg_namelen ? h->msg_namelen : msg->msg_namelen);
        msg->msg_namelen = h->msg_namelen;
    }
    int flags = h->msg_flags;
    size_t clen = h->msg_controllen;
    if (clen > msg->msg_controllen) {
        clen = msg->msg_controllen;
        flags |= MSG_CTRUNC;
    }
    if (clen) memcpy(msg->msg_control, h->msg_control, clen);
    msg->msg_controllen = clen;
    memcpy(msg->msg_iov[0].iov_base, h->msg_iov[0].iov_base, len);
    msg->msg_flags = flags;
    return (ssize_t)len;
}

/* Overrides libc's recvmsg() in this process (see header). */
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (fd == -1 && !msg) {   /* the probe (recv_batch_probe_reached()) */
        rb.probed = true;
        errno = EBADF;
        return -1;
    }
    if (rb.next < rb.count && fd == rb.fd && batchable(msg, flags)) return hand_out(msg);
    if (rb.armed && rb.next == rb.count && batchable(msg, flags)) {
        ssize_t len = -1;
        int n = refill(fd, msg, &len);
        if (n < 0) return -1;
        if (n > 0) return len;
    }
    recvmsg_fn *real = libc_recvmsg();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, msg, flags);
}

bool recv_batch_probe_reached(void)
{
    bool reached = rb.probed;
    rb.probed = false;
    return reached;
}
