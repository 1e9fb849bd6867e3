/* Fuzz target: the catalog parser. */
#include "catalog.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct catalog *cat = NULL;
	struct err e;

	if (catalog_parse((const char *)data, size, "fuzz.json", &cat, &e) == 0)
		catalog_free(cat);
	return 0;
}
