/* What a <subscription>'s ntsr needs of <notificationTargetPolicy>: the
 * action that governs a notification target removing itself. */
#ifndef IRONBARK_NOTIFICATION_POLICY_H
#define IRONBARK_NOTIFICATION_POLICY_H

#include "registry.h"

/* notificationTargetPolicy actions (acn), as ACME applies them. */
enum ntp_action { NTP_ACCEPT = 1, NTP_REJECT = 2, NTP_SEEK_AUTHORIZATION = 3, NTP_INFORM = 4 };

/* The acn of the subscriber's own default policy (an NTP under the CSEBase
 * labelled Default whose cr is the subscriber), else of the system default
 * (defaultNTP); a policy without acn, or none at all: NTP_REJECT. */
int64_t ntp_action_for(struct cse *cse, const char *subscriber);

#endif
