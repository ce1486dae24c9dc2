/* SPDX-License-Identifier: MIT */
/* balloon-report: the virtio-balloon device (device.c) used by main.c. */
#ifndef BALLOON_REPORT_BALLOON_H
#define BALLOON_REPORT_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include <vqcore/vqcore.h>

/* Queues: inflate, deflate, reporting (no stats vq, no free page hint). */
#define BR_NUM_QUEUES 3

/* Config space: num_pages, actual (struct virtio_balloon_config up to the
 * fields of the features offered). */
#define BR_CONFIG_SIZE 8u

/* Features offered (--no-packed takes RING_PACKED out). */
#define BR_FEATURES                                                     \
	(VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) | \
	 VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |                              \
	 VQCORE_BIT(VQCORE_F_RING_PACKED) |                                \
	 VQCORE_BIT(VQCORE_BALLOON_F_FREE_PAGE_REPORTING))

/* What happened on one connection (and in total). */
struct br_counters {
	uint64_t buffers;  /* reporting buffers returned */
	uint64_t ranges;   /* ranges discarded */
	uint64_t bytes;    /* bytes discarded */
	uint64_t rejected; /* ranges refused (outside the table, unaligned...) */
	uint64_t errors;   /* discards the kernel refused */
	uint64_t other;    /* inflate/deflate buffers returned untouched */
};

/* A checked range of a reporting buffer, for the overlap check. */
struct br_range {
	uint64_t addr, end;
	const struct vhost_desc *ds;
	bool overlap;
};

struct br_device {
	bool madv_free;      /* --madv-free */
	bool madv_free_warned;
	bool verbose;
	uint32_t num_pages;  /* config space */
	uint32_t actual;
	unsigned logged;     /* rejection lines printed on this connection */
	struct br_counters conn, total;
	/* per-queue fetch arrays (sized at queue start) */
	struct vhost_desc *desc[BR_NUM_QUEUES];
	unsigned ndesc[BR_NUM_QUEUES];
	struct br_range *ranges; /* one per descriptor of the reporting queue */
};

/* The callbacks of the device. */
extern const struct vqcore_vu_ops br_ops;

#endif
