/* SPDX-License-Identifier: MIT */
/* Copies between flat buffers and iovec arrays (include/vqcore/vq.h). */
#include "glue/glue.h"
#include "vqcore/vq.h"

/* Walk @iov from byte @off, calling the copy for each piece. */
static size_t iov_copy(const struct iovec *iov, unsigned cnt, size_t off,
		       uint8_t *flat, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = VQ_MIN(iov[i].iov_len - off, len - done);
		if (to_iov)
			vq_memcpy((uint8_t *)iov[i].iov_base + off, flat + done, n);
		else
			vq_memcpy(flat + done, (const uint8_t *)iov[i].iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vqcore_iov_read(const struct iovec *iov, unsigned cnt, size_t off,
		       void *dst, size_t len)
{
	return iov_copy(iov, cnt, off, dst, len, false);
}

size_t vqcore_iov_write(const struct iovec *iov, unsigned cnt, size_t off,
			const void *src, size_t len)
{
	return iov_copy(iov, cnt, off, (uint8_t *)(uintptr_t)src, len, true);
}
