/* SPDX-License-Identifier: MIT */
/* Compile-time facts about the core, checked where the compiler can. */
#include "glue/glue.h"
#include "vqcore/vq.h"

_Static_assert(sizeof(struct vhost_desc) == 16, "vhost_desc is 16 bytes");
_Static_assert(sizeof(struct vhost_buf) == 24, "vhost_buf is 24 bytes");
