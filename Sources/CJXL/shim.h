// libjxl (JPEG XL), exposed to Swift through the Imaging module only.
#ifndef HERD_CJXL_SHIM_H
#define HERD_CJXL_SHIM_H
#include <jxl/encode.h>
#include <jxl/decode.h>
#endif
