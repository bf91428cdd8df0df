/* C prelude of the compiled module osl._native (API mode).
 *
 * build.py passes this text to ffibuilder.set_source(); the compiler then fills in the
 * values of every "#define NAME ..." in osl_native.cdef from these system headers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>      /* unshare, setns, CLONE_* (linux/sched.h) */
#include <sys/mount.h>  /* mount, umount2, MS_*, MNT_*, UMOUNT_NOFOLLOW */
