// gif, exposed to Swift through the Imaging module only.
#ifndef HERD_CGIF_SHIM_H
#define HERD_CGIF_SHIM_H
#include <gif_lib.h>
#endif
