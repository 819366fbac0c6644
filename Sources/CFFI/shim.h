// libffi 3.4 (Debian 12: libffi-dev; the header lives in /usr/include/<multiarch>/ffi.h).
// Host calls it from one file only, Sources/Host/CFunction/ForeignCall.swift.
#include <ffi.h>

// libffi's built-in type descriptions are mutable C globals, which Swift 6 refuses to reference from
// concurrent code; these accessors hand out their addresses instead (libffi never writes to them).
static inline ffi_type *cffi_type_void(void) { return &ffi_type_void; }
static inline ffi_type *cffi_type_pointer(void) { return &ffi_type_pointer; }
static inline ffi_type *cffi_type_uint8(void) { return &ffi_type_uint8; }
static inline ffi_type *cffi_type_sint32(void) { return &ffi_type_sint32; }
static inline ffi_type *cffi_type_uint32(void) { return &ffi_type_uint32; }
static inline ffi_type *cffi_type_sint64(void) { return &ffi_type_sint64; }
static inline ffi_type *cffi_type_uint64(void) { return &ffi_type_uint64; }
static inline ffi_type *cffi_type_float(void) { return &ffi_type_float; }
static inline ffi_type *cffi_type_double(void) { return &ffi_type_double; }
static inline ffi_abi cffi_default_abi(void) { return FFI_DEFAULT_ABI; }
