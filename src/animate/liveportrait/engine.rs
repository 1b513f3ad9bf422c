//! LivePortrait's networks on ONNX Runtime, each bound by tensor name
//! (the engines' I/O order differs from the ONNX files'; notes §1.3), on
//! the first execution provider that loads: TensorRT, then CUDA, then CPU.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::ep::{self, ExecutionProviderDispatch};
use ort::session::Session;
use ort::value::{Tensor, TensorElementType};

use super::LivePortraitError;

/// Which execution provider to use: the configuration's choice.
pub use crate::config::Provider;

/// A network's file and the tensors it must have.
pub struct Spec {
    pub file: &'static str,
    pub inputs: &'static [(&'static str, &'static [i64])],
    pub outputs: &'static [(&'static str, &'static [i64])],
    /// TensorRT in fp16 (the motion extractor stays fp32: notes §1.3).
    pub fp16: bool,
}

pub const APPEARANCE: Spec = Spec {
    file: "appearance_feature_extractor.onnx",
    inputs: &[("img", &[1, 3, 256, 256])],
    outputs: &[("output", &[1, 32, 16, 64, 64])],
    fp16: true,
};
pub const MOTION: Spec = Spec {
    file: "motion_extractor.onnx",
    inputs: &[("img", &[1, 3, 256, 256])],
    outputs: &[
        ("pitch", &[1, 66]),
        ("yaw", &[1, 66]),
        ("roll", &[1, 66]),
        ("t", &[1, 3]),
        ("exp", &[1, 63]),
        ("scale", &[1, 1]),
        ("kp", &[1, 63]),
    ],
    fp16: false,
};
pub const WARP: Spec = Spec {
    file: "warping_spade.onnx",
    inputs: &[
        ("feature_3d", &[1, 32, 16, 64, 64]),
        ("kp_driving", &[1, 21, 3]),
        ("kp_source", &[1, 21, 3]),
    ],
    outputs: &[("out", &[1, 3, 512, 512])],
    fp16: true,
};
/// The same network with its 5-D GridSample nodes handed to the
/// GridSample3D TensorRT plugin (`engines/build` writes it).
pub const WARP_TRT_FILE: &str = "warping_spade-fix.onnx";
pub const STITCHING: Spec = Spec {
    file: "stitching.onnx",
    inputs: &[("input", &[1, 126])],
    outputs: &[("output", &[1, 65])],
    fp16: true,
};
pub const STITCHING_LIP: Spec = Spec {
    file: "stitching_lip.onnx",
    inputs: &[("input", &[1, 65])],
    outputs: &[("output", &[1, 63])],
    fp16: true,
};
/// The plugin library `engines/build` compiles for the Jetson.
pub const PLUGIN_FILE: &str = "libgrid_sample_3d_plugin.so";

pub struct Net {
    session: Mutex<Session>,
    pub file: PathBuf,
    /// The first dimension of every input is dynamic: frames can go in
    /// batches.
    pub batched: bool,
}

/// Checks that `session` has every tensor of `spec` as float32 with a
/// compatible shape (a dynamic dimension matches anything).
fn check(session: &Session, spec: &Spec, path: &Path) -> Result<bool, LivePortraitError> {
    let bad = |message: String| LivePortraitError::Model {
        path: path.display().to_string(),
        message,
    };
    let mut batched = true;
    let sides = [
        (session.inputs(), spec.inputs, "input"),
        (session.outputs(), spec.outputs, "output"),
    ];
    for (outlets, wanted, kind) in sides {
        for (name, shape) in wanted {
            let outlet = outlets.iter().find(|o| o.name() == *name).ok_or_else(|| {
                let have: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
                bad(format!("no {kind} named `{name}` (it has {have:?})"))
            })?;
            let ty = outlet.dtype().tensor_type();
            if ty != Some(TensorElementType::Float32) {
                return Err(bad(format!(
                    "{kind} `{name}` is {ty:?}, expected float32 (export with fp32 I/O)"
                )));
            }
            let have: Vec<i64> = outlet
                .dtype()
                .tensor_shape()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            let fits = have.len() == shape.len()
                && have.iter().zip(shape.iter()).all(|(h, w)| *h < 0 || h == w);
            if !fits {
                return Err(bad(format!(
                    "{kind} `{name}` has shape {have:?}, expected {shape:?}"
                )));
            }
            if kind == "input" && have.first().is_none_or(|d| *d >= 0) {
                batched = false;
            }
        }
    }
    Ok(batched)
}

/// Where TensorRT keeps its built engines and the plugin it needs.
pub struct TrtOptions<'a> {
    pub cache_dir: &'a Path,
    pub plugin: &'a Path,
}

fn providers(p: Provider, spec: &Spec, trt: &TrtOptions) -> Vec<ExecutionProviderDispatch> {
    match p {
        Provider::Tensorrt => {
            let mut trt_ep = ep::TensorRT::default()
                .with_fp16(spec.fp16)
                .with_engine_cache(true)
                .with_engine_cache_path(trt.cache_dir.display())
                .with_timing_cache(true)
                .with_timing_cache_path(trt.cache_dir.display());
            if spec.file == WARP.file {
                trt_ep = trt_ep.with_extra_plugin_lib_paths(trt.plugin.display());
            }
            // Nodes TensorRT cannot take run on CUDA, not on the CPU.
            vec![
                trt_ep.build().error_on_failure(),
                ep::CUDA::default().build(),
            ]
        }
        Provider::Cuda => vec![ep::CUDA::default().build().error_on_failure()],
        Provider::Cpu | Provider::Auto => vec![],
    }
}

/// Loads `spec` from `dir` on provider `p`.
pub fn load(
    env: &ort::environment::Environment,
    dir: &Path,
    spec: &Spec,
    p: Provider,
    trt: &TrtOptions,
    threads: usize,
) -> Result<Net, LivePortraitError> {
    let file = if p == Provider::Tensorrt && spec.file == WARP.file {
        WARP_TRT_FILE
    } else {
        spec.file
    };
    let path = dir.join(file);
    let fail = |e: &dyn std::fmt::Display| LivePortraitError::Model {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if !path.is_file() {
        return Err(LivePortraitError::Missing(path.display().to_string()));
    }
    let session = Session::builder(env)
        .map_err(|e| fail(&e))?
        .with_intra_threads(threads)
        .map_err(|e| fail(&e))?
        .with_execution_providers(providers(p, spec, trt))
        .map_err(|e| fail(&e))?
        .commit_from_file(&path)
        .map_err(|e| fail(&e))?;
    let batched = check(&session, spec, &path)?;
    Ok(Net {
        session: Mutex::new(session),
        file: path,
        batched,
    })
}

/// One input: its name, shape and values.
pub type Input<'a> = (&'a str, Vec<usize>, &'a [f32]);

impl Net {
    /// Runs the network and returns the named outputs, in the order asked.
    pub fn run(
        &self,
        inputs: &[Input],
        outputs: &[&str],
    ) -> Result<Vec<Vec<f32>>, LivePortraitError> {
        let fail = |e: &dyn std::fmt::Display| {
            LivePortraitError::Inference(format!("{}: {e}", self.file.display()))
        };
        let mut values = Vec::with_capacity(inputs.len());
        for (name, shape, data) in inputs {
            let tensor =
                Tensor::from_array((shape.clone(), data.to_vec())).map_err(|e| fail(&e))?;
            values.push((name.to_string(), tensor));
        }
        let mut session = self
            .session
            .lock()
            .map_err(|_| fail(&"session lock poisoned"))?;
        let result = session.run(values).map_err(|e| fail(&e))?;
        outputs
            .iter()
            .map(|name| {
                let value = result
                    .get(name)
                    .ok_or_else(|| fail(&format!("no output named {name}")))?;
                let (_, data) = value.try_extract_tensor::<f32>().map_err(|e| fail(&e))?;
                if data.iter().any(|v| !v.is_finite()) {
                    return Err(fail(&format!("output {name} is not finite")));
                }
                Ok(data.to_vec())
            })
            .collect()
    }
}
