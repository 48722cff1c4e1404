/* What contentInstance needs of its parent container. */
#ifndef IRONBARK_CONTAINER_H
#define IRONBARK_CONTAINER_H

#include "registry.h"

/* Deletes the oldest instances of `cnt` until one more instance of `incoming`
 * bytes fits within mni/mbs (incoming < 0: until the current ones fit).
 * Updates cni/cbs in cnt->attrs; the caller stores cnt. No notifications:
 * quota removals are not "delete of direct child" events. */
int container_make_room(struct op_ctx *ctx, struct resource *cnt, int64_t incoming);

#endif
