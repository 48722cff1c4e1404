/* What instance types (contentInstance, flexContainerInstance,
 * timeSeriesInstance) need of their parent: the mni/mbs/mia quotas and the
 * cni/cbs counts, kept the same way for container, flexContainer and timeSeries. */
#ifndef IRONBARK_CONTAINER_H
#define IRONBARK_CONTAINER_H

#include "registry.h"

/* Deletes the oldest instances (type inst_ty) of `parent` until one more
 * instance of `incoming` bytes fits within mni/mbs (incoming < 0: until the
 * current ones fit). Updates cni/cbs in parent->attrs; the caller stores
 * parent. No notifications: quota removals are not "delete of direct child"
 * events. */
int instances_make_room(struct op_ctx *ctx, struct resource *parent, int inst_ty, int64_t incoming);
/* Deletes every instance (type inst_ty) of parent; cni/cbs become 0. */
int instances_delete_all(struct op_ctx *ctx, struct resource *parent, int inst_ty);
/* Counts a new instance of cs bytes in parent (cni, cbs, lt); the caller stores parent. */
void instances_count_new(struct resource *parent, const struct resource *inst, int64_t cs);
/* An instance is going (DELETE, expiry): takes it out of its parent's cni/cbs and stores the parent. */
int instances_forget(struct op_ctx *ctx);
/* Caps the instance's et at ct + the parent's mia (seconds). */
void instances_cap_age(struct op_ctx *ctx, const struct resource *parent);
/* The size an instance's content counts for in mbs: a string's length, else its compact JSON. */
int64_t instances_content_size(json_t *con);
/* contentInfo (cnf): "text/plain:0", media type:encoding[:security]. */
bool instances_valid_cnf(const char *s);

#endif
