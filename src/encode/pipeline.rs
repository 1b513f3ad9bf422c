//! Which H.264 encoder to use, and the element chain for each. Pure data,
//! so both the Jetson and the software chains are unit-tested here even
//! though only one of them can run on a given machine.

use serde::Serialize;

use crate::config::EncoderPref;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum H264Encoder {
    /// Jetson Orin NX/AGX hardware encoder (NVENC through V4L2).
    Nvv4l2h264enc,
    /// x264, software: the reference quality.
    X264enc,
    /// Cisco's OpenH264, software: where x264 is not installed.
    Openh264enc,
}

impl H264Encoder {
    /// In order of preference for `auto`.
    pub const ALL: [H264Encoder; 3] = [
        H264Encoder::Nvv4l2h264enc,
        H264Encoder::X264enc,
        H264Encoder::Openh264enc,
    ];

    pub fn element(self) -> &'static str {
        match self {
            H264Encoder::Nvv4l2h264enc => "nvv4l2h264enc",
            H264Encoder::X264enc => "x264enc",
            H264Encoder::Openh264enc => "openh264enc",
        }
    }

    pub fn is_hardware(self) -> bool {
        self == H264Encoder::Nvv4l2h264enc
    }

    /// Every element this chain needs besides the encoder itself.
    pub fn companions(self) -> &'static [&'static str] {
        match self {
            H264Encoder::Nvv4l2h264enc => {
                &["appsrc", "nvvidconv", "h264parse", "mp4mux", "filesink"]
            }
            _ => &["appsrc", "videoconvert", "h264parse", "mp4mux", "filesink"],
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChoiceError {
    #[error("the configured encoder {0} is not installed (GStreamer element missing); install it or set encoder = \"auto\"")]
    Missing(&'static str),
    #[error("no H.264 encoder found in GStreamer: install gstreamer1.0-plugins-ugly (x264enc)")]
    None,
}

/// Picks the encoder from what the registry offers (`available` answers
/// "is this element installed?").
pub fn choose(
    pref: EncoderPref,
    available: impl Fn(&str) -> bool,
) -> Result<H264Encoder, ChoiceError> {
    let usable =
        |e: H264Encoder| available(e.element()) && e.companions().iter().all(|c| available(c));
    let wanted = match pref {
        EncoderPref::Auto => {
            return H264Encoder::ALL
                .into_iter()
                .find(|e| usable(*e))
                .ok_or(ChoiceError::None)
        }
        EncoderPref::Nvv4l2h264enc => H264Encoder::Nvv4l2h264enc,
        EncoderPref::X264enc => H264Encoder::X264enc,
        EncoderPref::Openh264enc => H264Encoder::Openh264enc,
    };
    if usable(wanted) {
        Ok(wanted)
    } else {
        Err(ChoiceError::Missing(wanted.element()))
    }
}

/// The `auto` choice once `broken` turned out not to work.
pub fn choose_without(
    broken: H264Encoder,
    available: impl Fn(&str) -> bool,
) -> Result<H264Encoder, ChoiceError> {
    choose(EncoderPref::Auto, |name| {
        name != broken.element() && available(name)
    })
}

/// What a stream is for: the clean download or the watermarked preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Full,
    Preview,
}

/// One element of the chain: factory name and properties as GStreamer
/// would parse them from a string (enum nicks, caps strings, numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub factory: &'static str,
    pub props: Vec<(&'static str, String)>,
}

fn stage(factory: &'static str, props: &[(&'static str, &str)]) -> Stage {
    Stage {
        factory,
        props: props.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
    }
}

/// The chain between `appsrc` (RGB frames) and `filesink`. H.264 High
/// profile, 4:2:0, a keyframe every two seconds: what iOS and Android play.
pub fn stages(encoder: H264Encoder, quality: Quality, fps: u32, pixels: u32) -> Vec<Stage> {
    let gop = (fps * 2).to_string();
    // Bits per pixel per frame, for the encoders that take a bitrate.
    let bpp = match quality {
        Quality::Full => 0.12,
        Quality::Preview => 0.08,
    };
    let kbps = ((pixels as f32 * fps as f32 * bpp) / 1000.0)
        .round()
        .clamp(500.0, 20_000.0) as u32;
    let h264_caps = "video/x-h264,profile=high,stream-format=avc,alignment=au";
    let mut chain = match encoder {
        H264Encoder::Nvv4l2h264enc => vec![
            stage("nvvidconv", &[]),
            stage(
                "capsfilter",
                &[("caps", "video/x-raw(memory:NVMM),format=NV12")],
            ),
            stage(
                "nvv4l2h264enc",
                &[
                    ("bitrate", &(kbps * 1000).to_string()),
                    ("profile", "4"),
                    ("iframeinterval", &gop),
                    ("insert-sps-pps", "true"),
                    ("maxperf-enable", "true"),
                ],
            ),
        ],
        H264Encoder::X264enc => vec![
            stage("videoconvert", &[("n-threads", "2")]),
            // Without this, videoconvert hands x264 4:4:4, which phones refuse.
            stage("capsfilter", &[("caps", "video/x-raw,format=I420")]),
            stage(
                "x264enc",
                &[
                    (
                        "speed-preset",
                        if quality == Quality::Full {
                            "faster"
                        } else {
                            "veryfast"
                        },
                    ),
                    ("pass", "qual"),
                    (
                        "quantizer",
                        if quality == Quality::Full { "20" } else { "26" },
                    ),
                    ("key-int-max", &gop),
                    // x264's default 40-frame lookahead holds ~0.5 GB of HD
                    // frames; 10 costs little quality on a gentle loop.
                    ("rc-lookahead", "10"),
                ],
            ),
            stage("capsfilter", &[("caps", h264_caps)]),
        ],
        H264Encoder::Openh264enc => vec![
            stage("videoconvert", &[("n-threads", "2")]),
            stage("capsfilter", &[("caps", "video/x-raw,format=I420")]),
            stage(
                "openh264enc",
                &[("bitrate", &(kbps * 1000).to_string()), ("gop-size", &gop)],
            ),
        ],
    };
    chain.push(stage("h264parse", &[]));
    chain.push(stage("mp4mux", &[("faststart", "true")]));
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(installed: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |e| installed.contains(&e)
    }

    const SOFTWARE: &[&str] = &[
        "appsrc",
        "videoconvert",
        "h264parse",
        "mp4mux",
        "filesink",
        "x264enc",
    ];
    const JETSON: &[&str] = &[
        "appsrc",
        "videoconvert",
        "nvvidconv",
        "h264parse",
        "mp4mux",
        "filesink",
        "x264enc",
        "nvv4l2h264enc",
    ];

    #[test]
    fn auto_prefers_hardware_then_x264_then_openh264() {
        assert_eq!(
            choose(EncoderPref::Auto, with(JETSON)),
            Ok(H264Encoder::Nvv4l2h264enc)
        );
        assert_eq!(
            choose(EncoderPref::Auto, with(SOFTWARE)),
            Ok(H264Encoder::X264enc)
        );
        let oh: &[&str] = &[
            "appsrc",
            "videoconvert",
            "h264parse",
            "mp4mux",
            "filesink",
            "openh264enc",
        ];
        assert_eq!(
            choose(EncoderPref::Auto, with(oh)),
            Ok(H264Encoder::Openh264enc)
        );
        // Orin Nano: the encoder element can exist without nvvidconv working.
        let nano: &[&str] = &[
            "appsrc",
            "videoconvert",
            "h264parse",
            "mp4mux",
            "filesink",
            "x264enc",
            "nvv4l2h264enc",
        ];
        assert_eq!(
            choose(EncoderPref::Auto, with(nano)),
            Ok(H264Encoder::X264enc)
        );
        assert_eq!(
            choose(EncoderPref::Auto, with(&["appsrc"])),
            Err(ChoiceError::None)
        );
    }

    #[test]
    fn a_broken_hardware_encoder_falls_back_to_software() {
        assert_eq!(
            choose_without(H264Encoder::Nvv4l2h264enc, with(JETSON)),
            Ok(H264Encoder::X264enc)
        );
        let only_hw: &[&str] = &[
            "appsrc",
            "nvvidconv",
            "h264parse",
            "mp4mux",
            "filesink",
            "nvv4l2h264enc",
        ];
        assert_eq!(
            choose_without(H264Encoder::Nvv4l2h264enc, with(only_hw)),
            Err(ChoiceError::None)
        );
    }

    #[test]
    fn a_configured_encoder_must_exist() {
        assert_eq!(
            choose(EncoderPref::X264enc, with(JETSON)),
            Ok(H264Encoder::X264enc)
        );
        assert_eq!(
            choose(EncoderPref::Nvv4l2h264enc, with(SOFTWARE)),
            Err(ChoiceError::Missing("nvv4l2h264enc"))
        );
    }

    #[test]
    fn software_chain_forces_420_before_x264() {
        let chain = stages(H264Encoder::X264enc, Quality::Full, 25, 1920 * 1276);
        let names: Vec<_> = chain.iter().map(|s| s.factory).collect();
        assert_eq!(
            names,
            [
                "videoconvert",
                "capsfilter",
                "x264enc",
                "capsfilter",
                "h264parse",
                "mp4mux"
            ]
        );
        assert_eq!(
            chain[1].props,
            vec![("caps", "video/x-raw,format=I420".to_string())]
        );
        assert!(chain[3].props[0].1.contains("profile=high"));
        assert!(chain[2].props.contains(&("key-int-max", "50".to_string())));
        assert!(chain[5].props.contains(&("faststart", "true".to_string())));
    }

    #[test]
    fn jetson_chain_feeds_nv12_in_nvmm_memory() {
        let chain = stages(H264Encoder::Nvv4l2h264enc, Quality::Full, 25, 1920 * 1080);
        let names: Vec<_> = chain.iter().map(|s| s.factory).collect();
        assert_eq!(
            names,
            [
                "nvvidconv",
                "capsfilter",
                "nvv4l2h264enc",
                "h264parse",
                "mp4mux"
            ]
        );
        assert_eq!(chain[1].props[0].1, "video/x-raw(memory:NVMM),format=NV12");
        let enc = &chain[2].props;
        assert!(enc.contains(&("profile", "4".to_string())), "High profile");
        assert!(enc.contains(&("bitrate", "6221000".to_string())), "{enc:?}");
        assert!(enc.contains(&("insert-sps-pps", "true".to_string())));
    }
}
