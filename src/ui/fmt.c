/* fmt.c — compact number and duration formats for the header and panels. */
#include "fmt.h"

#include <math.h>
#include <stdio.h>

void fmt_si(double v, char *buf, size_t n)
{
    if (!isfinite(v) || v < 0) { snprintf(buf, n, "-"); return; }
    if (v < 1000) { snprintf(buf, n, "%.0f", v); return; }
    static const char unit[] = "kMGT";
    int u = -1;
    while (v >= 999.5 && u < 3) { v /= 1000; u++; }
    snprintf(buf, n, v < 9.995 ? "%.2f%c" : v < 99.95 ? "%.1f%c" : "%.0f%c", v, unit[u]);
}

void fmt_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) { snprintf(buf, n, "--"); return; }
    long t = (long)(s + 0.5);
    if (t < 60) snprintf(buf, n, "%lds", t);
    else if (t < 3600) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else if (t < 86400) snprintf(buf, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else snprintf(buf, n, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
}
