/* blas_retune.h — programs (mptui, the benchmarks) re-execute themselves once with
 * OPENBLAS_CORETYPE forced when OpenBLAS fell back to its generic kernels. */
#ifndef MPTUI_BLAS_RETUNE_H
#define MPTUI_BLAS_RETUNE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"

/* OpenBLAS picks its kernels when it is loaded, so the variable only helps a new image;
 * once set, the next start keeps it and does not re-execute. MPTUI_NO_REEXEC=1 turns this
 * off. Returns only when nothing was done or exec failed (the slow kernels then stay). */
static inline void blas_retune(char **argv)
{
    const char *hint = bk_cpu_blas_coretype_hint();
    if (!hint || getenv("OPENBLAS_CORETYPE") || getenv("MPTUI_NO_REEXEC")) return;
    if (setenv("OPENBLAS_CORETYPE", hint, 1)) return;
    /* The real path, not /proc/self/exe, so that ps / top still call the process mptui. */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return;
    self[n] = '\0';
    execv(self, argv);
}

#endif
