/* SPDX-License-Identifier: MIT */
/*
 * vqcore_vu_stop_on_signal(): a signal ends vqcore_vu_run().
 *
 * One device per signal number, in a table the handler reads with atomic
 * loads.  The handler only calls vqcore_vu_stop() (an eventfd write, which
 * is async-signal-safe, with errno kept).  vqcore_vu_free() takes the
 * device out of the table, puts the previous action back, and waits for
 * handlers that are running on other threads to leave, so that none
 * writes to the device's eventfd after it is closed.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "vhost-user/vu_priv.h"

#define VU_NSIG 65

static struct vqcore_vu_dev *sig_dev[VU_NSIG];
static struct sigaction sig_old[VU_NSIG];
static unsigned sig_busy; /* handlers between their load and their stop */

static void vu_on_signal(int signo)
{
	struct vqcore_vu_dev *d;

	__atomic_add_fetch(&sig_busy, 1, __ATOMIC_SEQ_CST);
	d = signo > 0 && signo < VU_NSIG ?
		__atomic_load_n(&sig_dev[signo], __ATOMIC_SEQ_CST) : NULL;
	if (d)
		vqcore_vu_stop(d);
	__atomic_sub_fetch(&sig_busy, 1, __ATOMIC_SEQ_CST);
}

int vqcore_vu_stop_on_signal(struct vqcore_vu_dev *d, int signo)
{
	struct sigaction sa, old;
	struct vqcore_vu_dev *cur;

	if (!d || signo <= 0 || signo >= VU_NSIG || signo == SIGKILL ||
	    signo == SIGSTOP)
		return -EINVAL;
	cur = __atomic_load_n(&sig_dev[signo], __ATOMIC_SEQ_CST);
	if (cur == d)
		return 0;
	if (cur)
		return -EBUSY;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vu_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	__atomic_store_n(&sig_dev[signo], d, __ATOMIC_SEQ_CST);
	if (sigaction(signo, &sa, &old) < 0) {
		int e = errno;

		__atomic_store_n(&sig_dev[signo], NULL, __ATOMIC_SEQ_CST);
		return -e;
	}
	sig_old[signo] = old;
	return 0;
}

void vu_signal_forget(struct vqcore_vu_dev *d)
{
	bool any = false;

	for (int s = 1; s < VU_NSIG; s++) {
		if (__atomic_load_n(&sig_dev[s], __ATOMIC_SEQ_CST) != d)
			continue;
		sigaction(s, &sig_old[s], NULL);
		__atomic_store_n(&sig_dev[s], NULL, __ATOMIC_SEQ_CST);
		any = true;
	}
	/* a handler that loaded @d before the store above finishes its
	 * eventfd write within a few instructions */
	while (any && __atomic_load_n(&sig_busy, __ATOMIC_SEQ_CST))
		;
}
