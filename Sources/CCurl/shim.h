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

// Herd opens and closes the origin sockets itself: it then knows every
// connection libcurl keeps alive (and, for remote fetches, the exact address
// it is about to connect to).
typedef curl_socket_t (*herd_curl_opensocket_callback)(void *_Nullable context, curlsocktype purpose,
                                                       struct curl_sockaddr *address);
typedef int (*herd_curl_closesocket_callback)(void *_Nullable context, curl_socket_t socket);

static inline CURLcode herd_curl_setopt_opensocket_function(CURL *handle, herd_curl_opensocket_callback _Nullable callback) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, callback);
}

static inline CURLcode herd_curl_setopt_closesocket_function(CURL *handle, herd_curl_closesocket_callback _Nullable callback) {
    return curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, callback);
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
