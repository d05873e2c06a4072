/* Unit tests for the scheduler's back-pressure decision in src/flows/flow_common.c (sync_pause_step): pause above
 * [server] pause_bulk_above, resume only once the backlog is down to half of it, never pause with the bound 0, and
 * report each change once so that the log says "paused" and "resumes" once per episode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "flows/flows.h"

static void test_sync_pause_above_the_bound_only(void **state)
{
    (void)state;
    bool paused = false;
    assert_int_equal(sync_pause_step(&paused, 0, 1000), SYNC_PAUSE_SAME);
    assert_int_equal(sync_pause_step(&paused, 1000, 1000), SYNC_PAUSE_SAME);   /* at the bound: not above it */
    assert_false(paused);
    assert_int_equal(sync_pause_step(&paused, 1001, 1000), SYNC_PAUSE_STARTED);
    assert_true(paused);
    assert_int_equal(sync_pause_step(&paused, 50000, 1000), SYNC_PAUSE_SAME);   /* once, not every tick */
    assert_true(paused);
}

static void test_sync_pause_resumes_at_half_the_bound(void **state)
{
    (void)state;
    bool paused = false;
    assert_int_equal(sync_pause_step(&paused, 1001, 1000), SYNC_PAUSE_STARTED);
    /* a backlog hovering around the bound does not flap */
    assert_int_equal(sync_pause_step(&paused, 999, 1000), SYNC_PAUSE_SAME);
    assert_int_equal(sync_pause_step(&paused, 1001, 1000), SYNC_PAUSE_SAME);
    assert_int_equal(sync_pause_step(&paused, 501, 1000), SYNC_PAUSE_SAME);
    assert_true(paused);
    assert_int_equal(sync_pause_step(&paused, 500, 1000), SYNC_PAUSE_RESUMED);
    assert_false(paused);
    assert_int_equal(sync_pause_step(&paused, 0, 1000), SYNC_PAUSE_SAME);
    /* a bound of 1 resumes when nothing is left */
    assert_int_equal(sync_pause_step(&paused, 2, 1), SYNC_PAUSE_STARTED);
    assert_int_equal(sync_pause_step(&paused, 1, 1), SYNC_PAUSE_SAME);
    assert_int_equal(sync_pause_step(&paused, 0, 1), SYNC_PAUSE_RESUMED);
}

static void test_sync_pause_never_with_bound_zero(void **state)
{
    (void)state;
    bool paused = false;
    assert_int_equal(sync_pause_step(&paused, 1000000, 0), SYNC_PAUSE_SAME);
    assert_false(paused);
    /* turned off while paused (or this node lost the scheduler's leadership): resumes, once */
    paused = true;
    assert_int_equal(sync_pause_step(&paused, 1000000, 0), SYNC_PAUSE_RESUMED);
    assert_false(paused);
    assert_int_equal(sync_pause_step(&paused, 1000000, 0), SYNC_PAUSE_SAME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_pause_above_the_bound_only),
        cmocka_unit_test(test_sync_pause_resumes_at_half_the_bound),
        cmocka_unit_test(test_sync_pause_never_with_bound_zero),
    };
    return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
