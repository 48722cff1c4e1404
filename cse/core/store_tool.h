/* `m2m-cse store export|import|checksum`: moves a resource tree between
 * stores (SQLite and PostgreSQL alike: written against store.h only) and
 * proves the move with a checksum of the tree. The file format and the
 * checksum are described in docs/scale-out.md, "Migration". */
#ifndef IRONBARK_STORE_TOOL_H
#define IRONBARK_STORE_TOOL_H

/* Exit codes besides 0 (done): 1 failed (nothing imported), 2 usage,
 * 3 import refused because the target store already holds a tree. */
#define STORE_TOOL_NOT_EMPTY 3

/* argv[0] is "store". */
int store_tool_main(int argc, char **argv);

#endif
