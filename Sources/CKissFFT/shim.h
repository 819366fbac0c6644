// KISS FFT 131 (BSD-3-Clause), Debian 12: libkissfft-dev, headers in /usr/include/kissfft.
// Debian builds only the float variant (libkissfft-float.so, pkg-config `kissfft-float`, which adds
// -Dkiss_fft_scalar=float); there is no double library to link. SwiftPM drops pkg-config's -D flags ("prohibited
// flag(s)" warning), so the scalar is pinned here, matching the library. Called from one file only, Plugins/Hyena/KissRealFFT.swift.
#ifndef kiss_fft_scalar
#define kiss_fft_scalar float
#endif
#include <kissfft/kiss_fftr.h>
