/* SPDX-License-Identifier: MIT */
/*
 * testring: a third ring format, built only into the test library
 * (vqcore_internal, with VQCORE_TEST_FORMATS).  It proves that a format
 * plugs in with its own folder and one line in formats/registry.c.  It is
 * not a virtio format: no driver or device outside the tests speaks it,
 * and the vhost-user code never selects it.
 *
 * Areas (all little-endian):
 *   descriptor  num descriptors of 16 bytes: addr (8), len (4), id (2),
 *               flags (2; NEXT, WRITE, INDIRECT as in virtio).  The
 *               driver fills them in ring order: a buffer takes
 *               consecutive slots (a chain: NEXT on all but the last),
 *               and its id is in its first descriptor.  An INDIRECT
 *               descriptor names a table of such descriptors, read in
 *               sequence (their NEXT flags and ids are ignored).
 *   driver      flags (bit 0: no interrupt), avail index (the free-running
 *               slot position the driver has filled up to), used event.
 *   device      flags (bit 0: no notify), used index (free-running count
 *               of used buffers), avail event, 2 bytes of padding, then
 *               num used entries of 8 bytes: id (4), len (4).
 *
 * A slot is the driver's again when the device has returned as many slots
 * as it took in all (the driver counts; the device has read a buffer's
 * descriptors before it returns any buffer after it).  With in-order, one
 * used entry may name the last buffer of a run; the used index still
 * moves by the run's length (as split).
 */
#ifndef VQCORE_FORMATS_TESTRING_H
#define VQCORE_FORMATS_TESTRING_H

/* A private format number, not in the public enum vqcore_format. */
#define VQ_FORMAT_TESTRING 0x7e57u

#endif
