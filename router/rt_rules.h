/* The rules in force: the configuration's matchers compiled (regular expressions, wire-form
 * suffixes and top-level domains), tried in order against each query; the first rule whose
 * matches all hold decides. */
#ifndef PK_RT_RULES_H
#define PK_RT_RULES_H

#include <stddef.h>

#include "dns_msg.h"
#include "rt_config.h"

struct rt_rules;

/* Compiles the rules of cfg (which may be freed afterwards). Returns 0, -EINVAL for a rule
 * that does not compile (rt_config_finish reports those first), or -ENOMEM. */
int rt_rules_new(const struct rt_config *cfg, struct rt_rules **out);

/* Frees the compiled rules; NULL is a no-op. */
void rt_rules_free(struct rt_rules *r);

/* The index of the first rule that matches query q, or -1 when none does. */
int rt_rules_match(const struct rt_rules *r, const struct dns_query *q);

#endif
