/* SPDX-License-Identifier: MIT */
/*
 * Background thread for the balloon sink (hosted glue): waits on the
 * reporting queue's call eventfd (or polls), then collects used buffers
 * with vqcore_balloon_process().  A private eventfd stops it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "balloon_priv.h"
#include "vqcore/os.h"

struct bl_thread {
	pthread_t tid;
	int stop_fd;
	bool running;
};

static void *bl_main(void *arg)
{
	struct vqcore_balloon *b = arg;
	struct bl_thread *t = b->thread;
	struct pollfd p[2] = {
		{ .fd = t->stop_fd, .events = POLLIN },
		{ .fd = b->call_fd, .events = POLLIN },
	};
	nfds_t np = b->call_fd >= 0 ? 2 : 1;
	int timeout = b->call_fd >= 0 ? -1 : (int)((b->poll_ns + 999999) / 1000000);

	for (;;) {
		int r = poll(p, np, timeout);

		if (r < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (np == 2 && p[1].revents)
			vqcore_eventfd_drain(b->call_fd);
		if (vqcore_balloon_process(b) == -EIO)
			break; /* broken queue: nothing more will come */
	}
	return NULL;
}

static void bl_stop_and_free(struct vqcore_balloon *b)
{
	struct bl_thread *t = b->thread;

	vqcore_balloon_stop(b);
	close(t->stop_fd);
	b->thread = NULL;
	b->thread_stop = NULL;
	vq_free(t);
}

int vqcore_balloon_start(struct vqcore_balloon *b)
{
	struct bl_thread *t = b->thread;
	int err;

	if (!t) {
		t = vq_calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->stop_fd = vqcore_eventfd_new();
		if (t->stop_fd < 0) {
			err = t->stop_fd;
			vq_free(t);
			return err;
		}
		b->thread = t;
		b->thread_stop = bl_stop_and_free;
	}
	if (t->running)
		return -EBUSY;
	vqcore_eventfd_drain(t->stop_fd);
	err = pthread_create(&t->tid, NULL, bl_main, b);
	if (err)
		return -err;
	t->running = true;
	return 0;
}

void vqcore_balloon_stop(struct vqcore_balloon *b)
{
	struct bl_thread *t = b->thread;

	if (!t || !t->running)
		return;
	vqcore_eventfd_signal(t->stop_fd);
	pthread_join(t->tid, NULL);
	t->running = false;
}
