/* The credential store's size limits, shared by its interface
 * (credentials.h) and its backends. */
#ifndef IRONBARK_CRED_LIMITS_H
#define IRONBARK_CRED_LIMITS_H

#define CRED_ID_MAX 128        /* KpsaID length limit, '\0' included */
#define CRED_KEY_MAX 64        /* PSK bytes */
#define CRED_ORIG_MAX 512      /* comma-separated originator patterns */

#endif
