// libfcgi (Debian: libfcgi-dev), exposed to Swift through the FastCGI module only.
#ifndef HERD_CFASTCGI_SHIM_H
#define HERD_CFASTCGI_SHIM_H

#include <fcgiapp.h>

#endif
