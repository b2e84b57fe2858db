/* test_grid.c — the cell grid: text sanitising, clipping, frames and read-back. */
#include <criterion/criterion.h>
#include <string.h>

#include "grid.h"

Test(grid, text_is_clipped_and_sanitised)
{
    ui_grid g;
    cr_assert_eq(grid_init(&g, 10, 2), 0);
    int n = grid_text(&g, 7, 0, 10, "abcdef", UA_BOLD, UC_BAD);
    cr_assert_eq(n, 6); /* columns written; only 3 are inside the grid */
    char buf[64];
    grid_row_text(&g, 0, buf, sizeof buf);
    cr_assert_str_eq(buf, "       abc");
    cr_assert_eq(grid_cell(&g, 7, 0)->attr, UA_BOLD);
    cr_assert_eq(grid_cell(&g, 7, 0)->color, UC_BAD);
    grid_text(&g, 0, 1, 10, "a\x1b[2Jb\n\xff\xe2\x80", 0, 0); /* ESC, newline, bad UTF-8 */
    grid_row_text(&g, 1, buf, sizeof buf);
    cr_assert_str_eq(buf, "a?[2Jb ???");
    grid_free(&g);
}

Test(grid, utf8_braille_roundtrip_and_wide_refused)
{
    ui_grid g;
    cr_assert_eq(grid_init(&g, 4, 1), 0);
    grid_text(&g, 0, 0, 4, "\xe2\xa3\xbf\xe4\xb8\xad", 0, 0); /* U+28FF, U+4E2D (wide) */
    cr_assert_eq(grid_cell(&g, 0, 0)->ch, 0x28ff);
    cr_assert_eq(grid_cell(&g, 1, 0)->ch, '?');
    char buf[32];
    grid_row_text(&g, 0, buf, sizeof buf);
    cr_assert_str_eq(buf, "\xe2\xa3\xbf?  ");
    grid_free(&g);
}

Test(grid, box_ascii_and_unicode)
{
    ui_grid g;
    cr_assert_eq(grid_init(&g, 12, 3), 0);
    grid_box(&g, (ui_rect){0, 0, 12, 3}, "Ab", 0, 0);
    char buf[64];
    grid_row_text(&g, 0, buf, sizeof buf);
    cr_assert_str_eq(buf, "+- Ab -----+");
    grid_row_text(&g, 1, buf, sizeof buf);
    cr_assert_str_eq(buf, "|          |");
    grid_box(&g, (ui_rect){0, 0, 12, 3}, NULL, 1, 0);
    cr_assert_eq(grid_cell(&g, 0, 0)->ch, 0x256d);
    cr_assert_eq(grid_cell(&g, 11, 2)->ch, 0x256f);
    cr_assert_eq(grid_cell(&g, 5, 0)->ch, 0x2500);
    grid_free(&g);
}

Test(grid, find_style_and_bad_sizes)
{
    ui_grid g;
    cr_assert_eq(grid_init(&g, 0, 5), -1);
    cr_assert_eq(grid_init(&g, 20, 3), 0);
    grid_text(&g, 4, 2, 20, "needle", 0, 0);
    int x, y;
    cr_assert_eq(grid_find(&g, "needle", &x, &y), 1);
    cr_assert_eq(x, 4);
    cr_assert_eq(y, 2);
    cr_assert_eq(grid_find(&g, "nope", NULL, NULL), 0);
    grid_style(&g, (ui_rect){4, 2, 2, 1}, UA_REVERSE, UC_WARN);
    cr_assert_eq(grid_cell(&g, 5, 2)->attr, UA_REVERSE);
    cr_assert_eq(grid_cell(&g, 6, 2)->attr, 0);
    cr_assert_null(grid_at(&g, 20, 0));
    cr_assert_null(grid_at(&g, -1, 0));
    grid_put(&g, 99, 99, 'x', 0, 0); /* ignored, no crash */
    cr_assert_eq(grid_resize(&g, 30, 4), 0);
    cr_assert_eq(g.w, 30);
    cr_assert_eq(grid_cell(&g, 4, 2)->ch, ' ');
    grid_free(&g);
}
