#include "fd_limit.h"

#include "log.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>

long fd_reserve(long limit)
{
    long floor = limit / 2 < 64 ? limit / 2 : 64, r = limit / 4;
    if (r < floor) r = floor;
    return r > FD_RESERVE_MAX ? FD_RESERVE_MAX : r;
}

int fd_connections_fitting(long limit, int wanted)
{
    long room = limit - fd_reserve(limit);
    if (room < 1) room = 1;
    return room < wanted ? (int)room : wanted;
}

long fd_limit_wanted(int wanted)
{
    return (long)wanted + FD_RESERVE_MAX;
}

/* rlim_t to long, RLIM_INFINITY (and anything past INT_MAX) as INT_MAX. */
static long as_long(rlim_t v)
{
    return v == RLIM_INFINITY || v > (rlim_t)INT_MAX ? INT_MAX : (long)v;
}

long fd_limit_prepare(int *max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) {
        log_warn("cannot read the open file limit: %s", strerror(errno));
        return 1024;
    }
    int wanted = *max_connections;
    long soft = as_long(rl.rlim_cur), hard = as_long(rl.rlim_max);
    if (fd_connections_fitting(soft, wanted) < wanted && soft < hard) {
        long want = fd_limit_wanted(wanted);
        struct rlimit raised = { .rlim_cur = (rlim_t)(want < hard ? want : hard), .rlim_max = rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            log_info("open file limit raised from %ld to %ld for max-connections %d",
                     soft, (long)raised.rlim_cur, wanted);
            soft = (long)raised.rlim_cur;
        } else {
            log_warn("cannot raise the open file limit from %ld: %s", soft, strerror(errno));
        }
    }
    *max_connections = fd_connections_fitting(soft, wanted);
    if (*max_connections < wanted)
        log_warn("max-connections lowered from %d to %d: the open file limit is %ld (hard %ld) "
                 "and %ld descriptors are kept for the store, listeners, notifications, TLS and CoAP "
                 "(raise the limit: ulimit -n, or LimitNOFILE= under systemd)",
                 wanted, *max_connections, soft, hard, fd_reserve(soft));
    return soft;
}
