/* Fuzz target: the Stripe-Signature header parser and verifier. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sig.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const secrets[] = { "whsec_test_secret", "whsec_other" };
	struct sig_header h;
	char *hdr = malloc(size + 1);
	const uint8_t *body;
	size_t split = size / 2;

	if (hdr == NULL)
		return 0;
	/* First half: the header (as a string); second half: the body. */
	memcpy(hdr, data, split);
	hdr[split] = '\0';
	body = data + split;
	(void)sig_parse(hdr, &h);
	(void)sig_verify(hdr, body, size - split, secrets, 2, 1700000000, 300);
	free(hdr);
	return 0;
}
