/*
 * older_host.c -- a host built against ABI 1.1, in plain C: it passes the 1.1 size of oz_instance_info (40 bytes,
 * ending with fixed_length) to describe, in a larger buffer poisoned past that size, and reports whether the plugin
 * wrote beyond what the host's struct_size covers (a 1.2 plugin must not write `complexity` there).
 *
 *     older_host LIBRARY OPERATOR_ID GRID_H GRID_W
 * prints "ok fixed_length=N" or "FAIL: why", and exits 0 or 1.
 */
#include "OperatorABI.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE_1_1 40u /* offsetof(oz_instance_info, complexity): the 1.1 struct ended with fixed_length */
#define POISON 0xAB

int main(int argc, char **argv) {
    void *library;
    oz_plugin_entry_fn entry;
    const oz_plugin *plugin;
    const oz_operator *op = NULL;
    oz_create_args args;
    oz_instance *instance = NULL;
    unsigned char buffer[sizeof(oz_instance_info) + 64];
    oz_instance_info info;
    char message[256] = "";
    oz_error err = {sizeof(oz_error), sizeof message, message};
    uint32_t i;
    long gh, gw;
    if (argc != 5) {
        fprintf(stderr, "usage: older_host LIBRARY OPERATOR_ID GRID_H GRID_W\n");
        return 2;
    }
    gh = strtol(argv[3], NULL, 10);
    gw = strtol(argv[4], NULL, 10);
    library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return printf("FAIL: dlopen: %s\n", dlerror()), 1;
    *(void **)(&entry) = dlsym(library, OZ_ENTRY_SYMBOL);
    if (entry == NULL || (plugin = entry()) == NULL) return printf("FAIL: no plugin table\n"), 1;
    for (i = 0; i < plugin->num_operators; i++)
        if (strcmp(plugin->operators[i]->id, argv[2]) == 0) op = plugin->operators[i];
    if (op == NULL) return printf("FAIL: no operator %s\n", argv[2]), 1;
    memset(&args, 0, sizeof args);
    args.struct_size = sizeof args;
    args.dim = 16;
    args.grid_h = gh;
    args.grid_w = gw;
    if (op->create(op, &args, &instance, &err) != OZ_OK) return printf("FAIL: create: %s\n", message), 1;
    memset(buffer, POISON, sizeof buffer);
    memset(buffer, 0, SIZE_1_1);
    ((oz_instance_info *)(void *)buffer)->struct_size = SIZE_1_1;
    if (op->describe(instance, (oz_instance_info *)(void *)buffer, &err) != OZ_OK) {
        op->destroy(instance);
        return printf("FAIL: describe with a 1.1 struct_size: %s\n", message), 1;
    }
    op->destroy(instance);
    for (i = SIZE_1_1; i < sizeof buffer; i++)
        if (buffer[i] != POISON) return printf("FAIL: describe wrote byte %u, past the host's struct_size %u\n", i, SIZE_1_1), 1;
    memcpy(&info, buffer, SIZE_1_1);
    printf("ok fixed_length=%lld\n", (long long)info.fixed_length);
    return 0;
}
