/* Username labels (prometheus-username-labels, src/turn/shared.c): the
 * registry holds at most its cap of distinct users, the same user always
 * gets the same row, users beyond the cap share the last row (the
 * TURN_LABEL_OTHER label). (That a finished allocation's traffic lands
 * in its user's row is checked end to end by it_prometheus.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "turn/internal.h"

static unsigned label(struct turn_shared *s, const char *name)
{
	return shared_label(s, (const uint8_t *)name, strlen(name));
}

static void test_bounded_registry(void **state)
{
	(void)state;
	struct turn_shared *s = turn_shared_new(0, 0);
	turn_shared_labels_on(s, 3);
	assert_int_equal(turn_shared_labels_cap(s), 3);
	assert_int_equal(label(s, "alice"), 0);
	assert_int_equal(label(s, "bob"), 1);
	assert_int_equal(label(s, "alice"), 0);
	assert_int_equal(label(s, "carol"), 2);
	/* full: every new user shares the others' row */
	assert_int_equal(label(s, "dave"), 3);
	assert_int_equal(label(s, "erin"), 3);
	assert_int_equal(label(s, "bob"), 1);
	assert_int_equal(turn_shared_nlabels(s), 3);
	assert_string_equal(turn_shared_label(s, 2), "carol");
	/* a prefix is another user */
	assert_int_equal(label(s, "ali"), 3);
	turn_shared_free(s, NULL);
}

static void test_off_by_default(void **state)
{
	(void)state;
	struct turn_shared *s = turn_shared_new(0, 0);
	assert_int_equal(turn_shared_labels_cap(s), 0);
	assert_int_equal(label(s, "alice"), 0); /* the others' row of an empty registry */
	assert_int_equal(turn_shared_nlabels(s), 0);
	turn_shared_free(s, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounded_registry),
	    cmocka_unit_test(test_off_by_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
