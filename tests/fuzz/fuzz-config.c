/* Fuzz target: the configuration file parser. */
#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct err e;

	config_init(&c);
	(void)config_parse(&c, (const char *)data, size, "fuzz.conf", &e);
	config_done(&c);
	return 0;
}
