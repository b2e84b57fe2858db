/* fmt.h — short human formats for the screen: 11.2k, 6m05s. */
#ifndef MPTUI_FMT_H
#define MPTUI_FMT_H

#include <stddef.h>

/* 950 -> "950", 11234 -> "11.2k", 3.4e6 -> "3.40M"; "-" when not finite or negative. */
void fmt_si(double v, char *buf, size_t n);
/* 42 -> "42s", 365 -> "6m05s", 7380 -> "2h03m", 200000 -> "2d07h"; "--" when unknown. */
void fmt_duration(double s, char *buf, size_t n);

#endif
