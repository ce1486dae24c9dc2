/* A program outside the tree: uses the installed headers and library. */
#include <stdio.h>
#include <string.h>
#include <vqcore/vqcore.h>

int main(int argc, char **argv)
{
	struct vqcore_mem *mem = vqcore_mem_new();
	static char area[8192];
	struct vqcore_mem_region r = { .gpa = 0x1000, .size = sizeof(area),
				       .hva = area, .fd = -1 };
	char out[6] = { 0 };

	if (vqcore_version() != VQCORE_VERSION_NUMBER) {
		fprintf(stderr, "header/library version mismatch\n");
		return 1;
	}
	if (!mem || vqcore_mem_add(mem, &r) || vqcore_mem_write(mem, 0x1100, "hello", 5) ||
	    vqcore_mem_read(mem, 0x1100, out, 5) || strcmp(out, "hello")) {
		fprintf(stderr, "memory table round trip failed\n");
		return 1;
	}
	vqcore_mem_free(mem);
	printf("consumer (%s): libvqcore %s ok\n", argc > 1 ? argv[1] : "?",
	       vqcore_version_string());
	return 0;
}
