/* SPDX-License-Identifier: MIT */
/* guests-fit: shared between the host side (main.c) and a guest (guest.c). */
#ifndef GUESTS_FIT_H
#define GUESTS_FIT_H

#include <stdbool.h>
#include <stdint.h>

#define MiB (1024ull * 1024)

/* One byte messages on the host <-> guest socketpair. */
#define MSG_MEMFD 'M'  /* guest -> host, with the memfd attached */
#define MSG_WORKED 'W' /* guest -> host: touched its memory and freed it */
#define MSG_ERROR 'E'  /* guest -> host: setup failed */
#define MSG_QUIT 'Q'   /* host -> guest: tear down and exit */

struct guest_params {
	const char *socket_path; /* its balloon-report backend */
	uint64_t mem_bytes;      /* guest memory */
	bool reporting;
	unsigned delay_ms;       /* reporter delay */
	int sock;                /* socketpair end to the host */
};

/* The guest process body (in the forked child); returns the exit status. */
int guest_main(const struct guest_params *p);

#endif
