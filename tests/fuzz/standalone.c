/*
 * standalone: runs a fuzz target over files (a file, or every file of a
 * directory), for builds without libFuzzer.  Prints TAP: one line per input.
 * A crash or a sanitizer report ends the run with a failure, as under the
 * fuzzer.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int n;

static void
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, got;

	if (f == NULL) {
		printf("not ok %d - %s: cannot open\n", ++n, path);
		return;
	}
	do {
		if (len + 65536 > cap) {
			cap = (len + 65536) * 2;
			if ((data = realloc(data, cap)) == NULL)
				abort();
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	printf("ok %d - %s\n", ++n, path);
	fflush(stdout);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_path(const char *path)
{
	struct stat sb;
	struct dirent *de;
	char **names = NULL;
	size_t k, count = 0;
	DIR *d;

	if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		run_file(path);
		return;
	}
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		if ((p = malloc(strlen(path) + strlen(de->d_name) + 2)) == NULL ||
		    (names = realloc(names, (count + 1) * sizeof *names)) == NULL)
			abort();
		sprintf(p, "%s/%s", path, de->d_name);
		names[count++] = p;
	}
	closedir(d);
	qsort(names, count, sizeof *names, by_name);
	for (k = 0; k < count; k++) {
		run_path(names[k]);
		free(names[k]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("1..%d\n", n);
	return 0;
}
