/* test_layout.c — panel rectangles: inside the screen, disjoint, too-small detection. */
#include <criterion/criterion.h>

#include "layout.h"

static void check_layout(int w, int h)
{
    ui_layout l;
    cr_assert_eq(layout_compute(&l, w, h), 0);
    cr_assert_eq(l.too_small, 0);
    int area = 0;
    for (int i = 0; i < P_COUNT; i++) {
        cr_assert(rect_inside(l.r[i], w, h), "panel %d outside %dx%d", i, w, h);
        area += l.r[i].w * l.r[i].h;
        for (int j = i + 1; j < P_COUNT; j++)
            cr_assert(!rect_overlap(l.r[i], l.r[j]), "panels %d and %d overlap at %dx%d", i, j, w, h);
    }
    if (l.mem.w) { /* the Memory panel, where there is room, is part of the tiling */
        cr_assert(rect_inside(l.mem, w, h));
        for (int i = 0; i < P_COUNT; i++) cr_assert(!rect_overlap(l.r[i], l.mem));
        area += l.mem.w * l.mem.h;
    }
    cr_assert_eq(area, w * h, "the panels tile the screen");
    cr_assert_geq(l.r[P_MAP].w, 80);
    cr_assert_geq(l.r[P_MAP].h, 7);
    cr_assert_geq(l.r[P_LOSS].h, 11);
    cr_assert_geq(l.r[P_SCALE].w, 34);
}

Test(layout, fits_80x24) { check_layout(80, 24); }
Test(layout, fits_200x60)
{
    check_layout(200, 60);
    ui_layout small, big;
    layout_compute(&small, 80, 24);
    layout_compute(&big, 200, 60);
    cr_assert_gt(big.r[P_LOSS].w, small.r[P_LOSS].w);
    cr_assert_gt(big.r[P_MAP].h, small.r[P_MAP].h);
    cr_assert_eq(big.r[P_HEADER].h, 1);
    cr_assert_eq(small.r[P_HEADER].h, 2);
}
Test(layout, many_sizes)
{
    for (int w = 80; w <= 260; w += 7)
        for (int h = 24; h <= 90; h += 5) check_layout(w, h);
}

Test(layout, too_small)
{
    ui_layout l;
    cr_assert_eq(layout_too_small(79, 24), 1);
    cr_assert_eq(layout_too_small(80, 23), 1);
    cr_assert_eq(layout_too_small(80, 24), 0);
    cr_assert_eq(layout_compute(&l, 60, 20), -1);
    cr_assert_eq(l.too_small, 1);
    cr_assert_eq(l.r[P_LOSS].w, 0);
}

/* While comparing: a divergence band from the map, an eval row per replica. */
Test(layout, compare_tiles_the_screen)
{
    for (int w = 80; w <= 200; w += 30)
        for (int h = 24; h <= 60; h += 9)
            for (int n = 2; n <= 3; n++) {
                ui_layout l;
                cr_assert_eq(layout_compute_compare(&l, w, h, n, n == 3 ? 3 : 1), 0);
                int area = l.div.w * l.div.h + l.mem.w * l.mem.h;
                for (int i = 0; i < P_COUNT; i++) {
                    cr_assert(rect_inside(l.r[i], w, h));
                    cr_assert(!rect_overlap(l.r[i], l.div), "panel %d over the divergence band", i);
                    area += l.r[i].w * l.r[i].h;
                }
                cr_assert_eq(area, w * h);
                cr_assert_geq(l.div.h, (n == 3 ? 3 : 1) + 2);
                cr_assert_geq(l.r[P_EVAL].h, n + 2);
                cr_assert_geq(l.r[P_MAP].h, 4);
            }
    ui_layout l;
    cr_assert_eq(layout_compute_compare(&l, 80, 24, 0, 0), 0);
    cr_assert_eq(l.div.h, 0);
    cr_assert_eq(layout_compute_compare(&l, 79, 24, 2, 1), -1);
}

