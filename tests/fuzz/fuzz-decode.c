/* Fuzz target: the Stripe response decoder (events and objects) and the
 * usage decoder, on any JSON. */
#include <jansson.h>

#include "fuzz.h"
#include "stripe-decode.h"
#include "usage.h"
#include "util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stripe_object o;
	struct stripe_event ev;
	struct usage_rec u;
	struct arena a;
	struct err e;
	json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);

	if (v == NULL)
		return 0;
	arena_init(&a);
	if (stripe_object_decode(&a, v, &o, &e) == 0)
		(void)stripe_object_customer(&o);
	arena_reset(&a);
	(void)stripe_event_decode(&a, v, &ev, &e);
	arena_reset(&a);
	(void)usage_decode(&a, v, &u, &e);
	arena_done(&a);
	json_decref(v);
	return 0;
}
