/*
 * parcore/common.h - definitions shared by every public header.
 *
 * Conventions of the whole API:
 *  - A fallible call returns int: 0 (or a count) on success, -errno on
 *    failure. No call sets errno.
 *  - Constructors fill a `struct pc_x **out` and leave it untouched on error.
 *  - A call with bad arguments returns -EINVAL and changes nothing.
 *  - Each call's comment says what it does when made from outside a uthread
 *    (from main() before multi-core mode, or from a plain pthread): it either
 *    works, blocking the calling thread if it has to, or returns -EPERM.
 */
#ifndef PARCORE_COMMON_H
#define PARCORE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define PC_BEGIN_DECLS extern "C" {
#define PC_END_DECLS }
#else
#define PC_BEGIN_DECLS
#define PC_END_DECLS
#endif

#if defined(PARCORE_BUILDING)
#define PC_EXPORT __attribute__((visibility("default")))
#else
#define PC_EXPORT
#endif

#define PC_NORETURN __attribute__((noreturn))

#endif /* PARCORE_COMMON_H */
