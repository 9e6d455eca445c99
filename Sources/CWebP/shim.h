// libwebp, libwebpmux (ICC chunks) and libwebpdemux, exposed to Swift
// through the Imaging module only.
#ifndef HERD_CWEBP_SHIM_H
#define HERD_CWEBP_SHIM_H
#include <webp/decode.h>
#include <webp/encode.h>
#include <webp/mux.h>
#include <webp/demux.h>

// WebPConfigInit, WebPPictureInit and WebPGetFeatures are static inline
// wrappers around versioned functions; these give Swift a plain name.
static inline int herd_webp_config_init(WebPConfig *config) { return WebPConfigInit(config); }
static inline int herd_webp_picture_init(WebPPicture *picture) { return WebPPictureInit(picture); }
static inline VP8StatusCode herd_webp_get_features(const uint8_t *data, size_t size, WebPBitstreamFeatures *features) {
    return WebPGetFeatures(data, size, features);
}
static inline WebPMux *herd_webp_mux_new(void) { return WebPMuxNew(); }
static inline WebPDemuxer *herd_webp_demux(const WebPData *data) { return WebPDemux(data); }
static inline int herd_webp_anim_decoder_options_init(WebPAnimDecoderOptions *options) {
    return WebPAnimDecoderOptionsInit(options);
}
static inline WebPAnimDecoder *herd_webp_anim_decoder_new(const WebPData *data, const WebPAnimDecoderOptions *options) {
    return WebPAnimDecoderNew(data, options);
}
static inline int herd_webp_anim_encoder_options_init(WebPAnimEncoderOptions *options) {
    return WebPAnimEncoderOptionsInit(options);
}
static inline WebPAnimEncoder *herd_webp_anim_encoder_new(int width, int height, const WebPAnimEncoderOptions *options) {
    return WebPAnimEncoderNew(width, height, options);
}
#endif
