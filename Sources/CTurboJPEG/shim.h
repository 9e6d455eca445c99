// turbojpeg, exposed to Swift through the Imaging module only.
#ifndef HERD_CTurboJPEG_SHIM_H
#define HERD_CTurboJPEG_SHIM_H
#include <turbojpeg.h>
#endif
