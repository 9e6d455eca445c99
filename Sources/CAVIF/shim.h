// avif, exposed to Swift through the Imaging module only.
#ifndef HERD_CAVIF_SHIM_H
#define HERD_CAVIF_SHIM_H
#include <avif/avif.h>
#endif
