/* SPDX-License-Identifier: MIT */
/* libvqcore umbrella header: include this one. */
#ifndef VQCORE_VQCORE_H
#define VQCORE_VQCORE_H

#include "vqcore/common.h"
#include "vqcore/version.h"
#include "vqcore/mem.h"
#include "vqcore/vq.h"
#include "vqcore/drvq.h"
#include "vqcore/os.h"
#include "vqcore/vhost_user.h"
#include "vqcore/pagepool.h"
#include "vqcore/reporter.h"
#include "vqcore/balloon.h"
#include "vqcore/net.h"

#endif /* VQCORE_VQCORE_H */
