/* Fuzz target: the webhook/usage log reader (values separated by any white
 * space, caps, bad-value recovery), reading the input as a log file. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "logread.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/tally-fuzz-logread.XXXXXX";
	struct logread *r = NULL;
	struct logread_item it;
	struct err e;
	int fd = mkstemp(path), restarted, guard = 0;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	/* A small cap so the oversize path is reached with small inputs. */
	if (logread_open(path, NULL, 4096, &r, &restarted, NULL, 0, &e) == 0) {
		while (logread_next(r, &it, &e) == 0 && it.kind != LOGREAD_EOF && guard++ < 100000)
			;
		(void)logread_pending(r);
		logread_close(r);
	}
	unlink(path);
	return 0;
}
