// libcurl (Debian: libcurl4-openssl-dev), exposed to Swift through the
// Upstream module only.
//
// curl_easy_setopt and curl_easy_getinfo are variadic macros-over-functions
// that Swift cannot call. Each wrapper below fixes the argument type, so a
// Swift call site cannot pass a long where curl expects a pointer.
#ifndef HERD_CCURL_SHIM_H
#define HERD_CCURL_SHIM_H

#include <curl/curl.h>

#pragma clang assume_nonnull begin

static inline CURLcode herd_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode herd_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode herd_curl_setopt_string(CURL *handle, CURLoption option, const char *_Nullable value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode herd_curl_setopt_pointer(CURL *handle, CURLoption option, void *_Nullable value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode herd_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *_Nullable value) {
    return curl_easy_setopt(handle, option, value);
}

typedef size_t (*herd_curl_data_callback)(char *buffer, size_t size, size_t count, void *_Nullable context);
typedef int (*herd_curl_progress_callback)(void *_Nullable context, curl_off_t dltotal, curl_off_t dlnow,
                                           curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode herd_curl_setopt_write_function(CURL *handle, herd_curl_data_callback _Nullable callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

static inline CURLcode herd_curl_setopt_header_function(CURL *handle, herd_curl_data_callback _Nullable callback) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}

static inline CURLcode herd_curl_setopt_xferinfo_function(CURL *handle, herd_curl_progress_callback _Nullable callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

static inline CURLcode herd_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode herd_curl_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode herd_curl_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

#pragma clang assume_nonnull end

#endif
