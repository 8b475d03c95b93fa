/* The dnsdist configuration subset: a dnsdist.conf is Lua, but the part the stack uses is a
 * list of calls (setLocal, newServer, addAction with RegexRule and PoolAction, setACL, ...).
 * This reader understands those calls without running Lua; anything else is an error naming
 * its line. docs/router.md lists what is supported. */
#ifndef PK_RT_LUA_H
#define PK_RT_LUA_H

#include <stddef.h>

#include "conf.h"
#include "rt_config.h"

/* Reads the dnsdist file at `path` into cfg (holding its defaults). Reports every error as
 * FILE:LINE through ctx. Returns 0, -EINVAL after errors, or -errno when unreadable. */
int rt_lua_read(struct rt_config *cfg, const char *path, struct conf_ctx *ctx);

/* As rt_lua_read, from text[0..len) (ctx->file names it in messages). */
int rt_lua_parse(struct rt_config *cfg, const char *text, size_t len, struct conf_ctx *ctx);

#endif
