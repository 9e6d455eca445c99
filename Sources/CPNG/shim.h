// png16, exposed to Swift through the Imaging module only.
#ifndef HERD_CPNG_SHIM_H
#define HERD_CPNG_SHIM_H
#include <png.h>
#endif
