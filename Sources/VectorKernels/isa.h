/* The instruction sets every kernel is compiled for, widest first; the loader picks one per machine. */
#ifndef OPERATOR_ZOO_VECTOR_ISA_H
#define OPERATOR_ZOO_VECTOR_ISA_H

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define OZV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define OZV_CLONES
#endif

#endif
