/* The router's native configuration: an INI file with a [router] section, [pool NAME],
 * [backend NAME] and, in the order they are tried, [rule NAME] sections. docs/router.md
 * describes every key. */
#ifndef PK_RT_INI_H
#define PK_RT_INI_H

#include "conf.h"
#include "rt_config.h"

/* Reads the INI file at `path` into cfg (already holding its defaults), reporting every error
 * as FILE:LINE through ctx. Returns 0, -EINVAL after errors, or -errno when unreadable. */
int rt_ini_read(struct rt_config *cfg, const char *path, struct conf_ctx *ctx);

#endif
