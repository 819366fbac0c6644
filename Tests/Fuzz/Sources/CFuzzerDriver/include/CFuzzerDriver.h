/* libFuzzer's driver, for executables whose `main` is their own (SwiftPM names an executable's entry point after
 * its module and links `main` to it, so libFuzzer's `main` cannot be used): the corresponding C function is
 * `LLVMFuzzerRunDriver` in compiler-rt's FuzzerInterface.h. */
#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
