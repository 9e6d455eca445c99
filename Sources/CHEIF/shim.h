// libheif (HEIC/HEIF input), exposed to Swift through the Imaging module only.
#ifndef HERD_CHEIF_SHIM_H
#define HERD_CHEIF_SHIM_H
#include <libheif/heif.h>
#endif
