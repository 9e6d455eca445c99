// z, exposed to Swift through the Imaging module only.
#ifndef HERD_CZlib_SHIM_H
#define HERD_CZlib_SHIM_H
#include <zlib.h>
#endif
